import BBSModels
import Testing

@testable import TaskCore

/// Egress rules (lifecycle.md §8.6): each bad rule adds one `Invalid field: egress_rules`.
@Suite("Egress rule validation")
struct ValidationEgressRuleTests {
    typealias F = ValidationFixtures

    private static func rule(
        _ proto: String,
        destinations: [String] = ["10.0.0.0/8"],
        ports: [UInt32] = [],
        range: PortRange? = nil,
        icmp: ICMPInfo? = nil
    ) -> SecurityGroupRule {
        var rule = SecurityGroupRule()
        rule.protocol = proto
        rule.destinations = destinations
        rule.ports = ports
        rule.portRange = range
        rule.icmpInfo = icmp
        return rule
    }

    private static func errors(_ rules: [SecurityGroupRule]) -> BBSError? {
        F.desireError(F.definition { $0.egressRules = rules })
    }

    static let badRules: [(String, SecurityGroupRule)] = [
        ("unknown protocol", rule("sctp", ports: [1])),
        ("empty protocol", rule("", ports: [1])),
        ("protocol names are case-sensitive", rule("TCP", ports: [1])),
        ("tcp without ports", rule("tcp")),
        ("tcp with ports and range", rule("tcp", ports: [80], range: PortRange(start: 1, end: 2))),
        ("tcp with icmp info", rule("tcp", ports: [80], icmp: ICMPInfo())),
        ("tcp with one port zero", rule("tcp", ports: [80, 0])),
        ("udp port zero", rule("udp", ports: [0])),
        ("udp range start zero", rule("udp", range: PortRange(start: 0, end: 5))),
        ("udp range end zero", rule("udp", range: PortRange(start: 5, end: 0))),
        ("udp range reversed", rule("udp", range: PortRange(start: 9, end: 5))),
        ("icmp without info", rule("icmp")),
        ("icmp with ports", rule("icmp", ports: [1], icmp: ICMPInfo())),
        ("icmp with range", rule("icmp", range: PortRange(start: 1, end: 2), icmp: ICMPInfo())),
        ("all with ports", rule("all", ports: [80])),
        ("all with range", rule("all", range: PortRange(start: 1, end: 2))),
        ("all with icmp", rule("all", icmp: ICMPInfo())),
        ("icmpv6 without info", rule("icmpv6")),
        ("icmpv6 with ports", rule("icmpv6", destinations: ["::/0"], ports: [1], icmp: ICMPInfo())),
        ("no destinations", rule("all", destinations: [])),
        ("bad ip", rule("all", destinations: ["1.2.3"])),
        ("bad cidr", rule("all", destinations: ["10.0.0.0/33"])),
        ("reversed range", rule("all", destinations: ["10.0.0.5-10.0.0.1"])),
        ("range with bad ip", rule("all", destinations: ["10.0.0.1-nope"])),
        ("one bad in comma list", rule("all", destinations: ["1.1.1.1,banana"])),
        ("empty entry in comma list", rule("all", destinations: ["1.1.1.1,"])),
        ("one bad in list", rule("all", destinations: ["1.1.1.1", "300.0.0.1"])),
        ("empty destination", rule("all", destinations: [""])),
    ]

    @Test(arguments: badRules)
    func invalidRule(name: String, rule: SecurityGroupRule) {
        #expect(Self.errors([rule]) == F.invalid("egress_rules"), "\(name)")
    }

    @Test func eachInvalidRuleIsReported() {
        let rules = [Self.rule("tcp"), Self.rule("all", ports: [1]), Self.rule("udp", ports: [53])]
        #expect(Self.errors(rules) == F.invalid("egress_rules", "egress_rules"))
    }

    static let goodRules: [(String, SecurityGroupRule)] = [
        ("tcp ports", rule("tcp", ports: [22, 65535])),
        ("udp range", rule("udp", range: PortRange(start: 1, end: 65535))),
        ("udp single port range", rule("udp", range: PortRange(start: 53, end: 53))),
        ("icmp zero info", rule("icmp", icmp: ICMPInfo(type: 0, code: 0))),
        ("icmpv6", rule("icmpv6", destinations: ["::/0"], icmp: ICMPInfo(type: 128))),
        ("all", rule("all")),
        ("ip range", rule("all", destinations: ["10.0.0.1-10.0.1.0"])),
        ("range of one address", rule("all", destinations: ["10.0.0.1-10.0.0.1"])),
        ("comma list", rule("all", destinations: ["1.1.1.1,10.0.0.0/24,2.2.2.2-2.2.2.3"])),
        ("ipv6", rule("tcp", destinations: ["2001:db8::/32"], ports: [443])),
        ("single ip", rule("tcp", destinations: ["8.8.8.8"], ports: [443])),
        ("several destinations", rule("all", destinations: ["10.0.0.0/8", "192.168.1.1", "::1"])),
        // 16-byte comparison: ::1 sorts before ::ffff:1.2.3.4.
        ("range from ipv6 to ipv4", rule("all", destinations: ["::1-1.2.3.4"])),
    ]

    @Test(arguments: goodRules)
    func validRule(name: String, rule: SecurityGroupRule) {
        #expect(Self.errors([rule]) == nil, "\(name)")
    }

    @Test(arguments: [
        ("1.2.3.4-::1", false),  // ::ffff:1.2.3.4 sorts after ::1
        ("10.0.0.0/8-x", false),  // the `/` comes first: a CIDR with a bad prefix
        ("10.0.0.1-10.0.0.2/8", false),  // the `-` comes first: the second end is no address
        ("10.0.0.1-10.0.0.2-10.0.0.3", false),
        ("2001:db8::1-2001:db8::ff", true),
        ("::ffff:10.0.0.1-10.0.0.2", true),  // the same address family in 16-byte form
    ])
    func destinationForms(destination: String, valid: Bool) {
        #expect((Self.errors([Self.rule("all", destinations: [destination])]) == nil) == valid)
    }
}

/// Go's `net.ParseIP` / `net.ParseCIDR` acceptance, which destinations are checked with.
@Suite("Go IP address syntax")
struct ValidationIPAddressTests {
    @Test(arguments: [
        "0.0.0.0", "1.2.3.4", "255.255.255.255", "10.0.0.0",
        "::", "::1", "1::", "2001:db8::68", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8",
        "FFFF::abcd", "0000:0000::0", "::ffff:1.2.3.4", "::1.2.3.4", "1:2:3:4:5:6:1.2.3.4", "1::1.2.3.4",
    ])
    func acceptedAddresses(text: String) {
        #expect(GoIPAddress.parse(text) != nil)
    }

    @Test(arguments: [
        "", "1", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1..2.3", ".1.2.3", "1.2.3.", "01.2.3.4", "1.2.3.04",
        "1.2.3.4 ", " 1.2.3.4", "1.2.3.a", "a.b.c.d",
        ":", ":1", "1:", "1:::2", "1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", "::1:2:3:4:5:6:7:8",
        "1:2:3:4:5:6:7:8::", "1:2:3:4:5:1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4", "::1.2.3", "::01.2.3.4",
        "fe80::1%eth0", "fe80::1%", "%eth0", "g::", "::g", "1.2.3.4:80",
    ])
    func refusedAddresses(text: String) {
        #expect(GoIPAddress.parse(text) == nil)
    }

    @Test func ipv4IsKeptInItsIPv6MappedForm() throws {
        let dotted = try #require(GoIPAddress.parse("1.2.3.4"))
        let mapped = try #require(GoIPAddress.parse("::ffff:1.2.3.4"))
        #expect(dotted.high == 0 && dotted.low == 0x0000_FFFF_0102_0304)
        #expect((mapped.high, mapped.low) == (dotted.high, dotted.low))
        #expect(dotted.bitLength == 32 && mapped.bitLength == 128)
    }

    @Test func ellipsisExpandsInPlace() throws {
        let address = try #require(GoIPAddress.parse("2001:db8::68"))
        #expect(address.high == 0x2001_0DB8_0000_0000 && address.low == 0x0000_0000_0000_0068)
        let trailing = try #require(GoIPAddress.parse("1:2:3:4:5:6:7::"))
        #expect(trailing.high == 0x0001_0002_0003_0004 && trailing.low == 0x0005_0006_0007_0000)
    }

    @Test func rangeEndsCompareByteWise() throws {
        let low = try #require(GoIPAddress.parse("10.0.0.5"))
        let high = try #require(GoIPAddress.parse("10.0.1.0"))
        #expect(high.sortsAfter(low))
        #expect(!low.sortsAfter(high))
        #expect(!low.sortsAfter(low))
    }

    @Test(arguments: [
        ("10.0.0.0/8", true), ("10.0.0.0/0", true), ("10.0.0.0/32", true), ("10.0.0.0/33", false),
        ("10.0.0.0/08", true), ("10.0.0.0/", false), ("10.0.0.0/+8", false), ("10.0.0.0/8 ", false),
        ("/8", false), ("10.0.0/8", false), ("::/0", true), ("::/128", true), ("::/129", false),
        ("::ffff:1.2.3.4/96", true), ("::ffff:1.2.3.4/120", true), ("fe80::%eth0/64", false),
        ("10.0.0.0/99999999999999999999", false), ("2001:db8::/32", true),
    ])
    func cidr(text: String, valid: Bool) {
        #expect(GoIPAddress.isValidCIDR(text) == valid)
    }
}
