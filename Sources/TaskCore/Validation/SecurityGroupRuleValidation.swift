import BBSModels

/// Egress rule checks (lifecycle.md §8.6). For tasks only the verdict matters: a bad rule
/// adds one `Invalid field: egress_rules` to the definition's errors, whatever is wrong
/// with it, so this answers a Bool instead of collecting the reference's per-rule texts.
extension SecurityGroupRule {
    /// Whether the reference's `SecurityGroupRule.Validate` accepts this rule.
    var isValid: Bool {
        portsAndProtocolAreValid && destinationsAreValid
    }

    private var portsAndProtocolAreValid: Bool {
        // `ports` cannot be told apart from an absent field on the wire once empty, so
        // "present" means at least one element.
        let hasPorts = !ports.isEmpty
        switch self.protocol {
        case "tcp", "udp":
            guard icmpInfo == nil else { return false }
            switch (hasPorts, portRange) {
            case (false, nil), (true, .some):
                return false  // exactly one of ports and port_range is required
            case (false, .some(let range)):
                return range.start >= 1 && range.end >= 1 && range.start <= range.end
            case (true, nil):
                return ports.allSatisfy { $0 >= 1 }
            }
        case "icmp", "icmpv6":
            return portRange == nil && !hasPorts && icmpInfo != nil
        case "all":
            return portRange == nil && !hasPorts && icmpInfo == nil
        default:
            return false
        }
    }

    /// Every comma-separated entry of every destination must be an address, a CIDR, or a
    /// range `a-b` with `a` ≤ `b` (as `models/security_groups.go` decides it: the first
    /// `-` or `/` picks the form).
    private var destinationsAreValid: Bool {
        guard !destinations.isEmpty else { return false }
        for destination in destinations {
            var destination = destination
            let valid = destination.withUTF8 { bytes in
                // Go's strings.Split: every comma separates, so "a," holds an empty entry.
                var entryStart = 0
                for index in 0...bytes.count where index == bytes.count || bytes[index] == UInt8(ascii: ",") {
                    guard Self.isValidDestinationEntry(UnsafeBufferPointer(rebasing: bytes[entryStart..<index])) else {
                        return false
                    }
                    entryStart = index + 1
                }
                return true
            }
            if !valid { return false }
        }
        return true
    }

    private static func isValidDestinationEntry(_ entry: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let separator = entry.firstIndex(where: { $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "/") }) else {
            return GoIPAddress.parse(entry) != nil
        }
        if entry[separator] == UInt8(ascii: "/") {
            return GoIPAddress.isValidCIDR(entry)
        }
        guard let first = GoIPAddress.parse(UnsafeBufferPointer(rebasing: entry[..<separator])),
              let last = GoIPAddress.parse(UnsafeBufferPointer(rebasing: entry[(separator + 1)...]))
        else { return false }
        return !first.sortsAfter(last)
    }
}
