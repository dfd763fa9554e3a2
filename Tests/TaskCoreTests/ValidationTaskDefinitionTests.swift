import BBSModels
import Testing

@testable import TaskCore

/// TaskDefinition rules of lifecycle.md §8.2, §8.5 and §8.7, in the conformance suite's
/// cases, with the exact texts and their order.
@Suite("TaskDefinition validation")
struct ValidationTaskDefinitionTests {
    typealias F = ValidationFixtures

    @Test func minimalDefinitionIsValid() {
        #expect(F.definition().validationErrors() == [])
    }

    // MARK: rootfs

    @Test func missingRootFS() {
        #expect(F.desireError(F.definition { $0.rootFs = "" }) == F.invalid("rootfs"))
    }

    @Test(arguments: ["busybox", "/var/vcap/rootfs", "://nothing", "docker:///busy\nbox", "%zz"])
    func invalidRootFSURL(rootFs: String) {
        #expect(F.desireError(F.definition { $0.rootFs = rootFs }) == F.invalid("rootfs"))
    }

    @Test(arguments: ["docker:///busybox", "preloaded:cflinuxfs4",
                      "docker://registry.example.com:5000/org/img#v1", "http://example.com/rootfs.tar"])
    func validRootFSURL(rootFs: String) {
        #expect(F.desireError(F.definition { $0.rootFs = rootFs }) == nil)
    }

    // MARK: action presence

    @Test func missingActionIsAnInvalidActionType() {
        let definition = F.definition { $0.action = nil }
        #expect(definition.validationErrors() == ["invalid action type"])
        #expect(F.desireError(definition) == F.invalid("!invalid action type"))
    }

    @Test func actionWithoutMemberIsAnInvalidInnerAction() {
        #expect(F.desireError(F.definition { $0.action = Action() }) == F.invalid("action", "inner-action"))
    }

    // MARK: resources and sizes

    @Test func negativeMemory() {
        #expect(F.desireError(F.definition { $0.memoryMb = -1 }) == F.invalid("memory_mb"))
    }

    @Test func negativeDisk() {
        #expect(F.desireError(F.definition { $0.diskMb = -1 }) == F.invalid("disk_mb"))
    }

    @Test func negativeMaxPids() {
        #expect(F.desireError(F.definition { $0.maxPids = -1 }) == F.invalid("max_pids"))
    }

    @Test func zeroResourcesAreAccepted() {
        #expect(F.desireError(F.definition { $0.memoryMb = 0; $0.diskMb = 0; $0.maxPids = 0 }) == nil)
    }

    @Test func logRateLimitBelowMinusOne() {
        #expect(F.desireError(F.definition { $0.logRateLimit = LogRateLimit(bytesPerSecond: -2) })
            == F.invalid("log_rate_limit"))
    }

    @Test(arguments: [Int64(-1), 0, 1 << 40])
    func logRateLimitAcceptedValues(bytesPerSecond: Int64) {
        #expect(F.desireError(F.definition { $0.logRateLimit = LogRateLimit(bytesPerSecond: bytesPerSecond) }) == nil)
    }

    @Test func annotationOverTenKiB() {
        #expect(F.desireError(F.definition { $0.annotation = String(repeating: "a", count: 10 * 1024 + 1) })
            == F.invalid("annotation"))
    }

    @Test func annotationAtTheLimitIsAccepted() {
        #expect(F.desireError(F.definition { $0.annotation = String(repeating: "a", count: 10 * 1024) }) == nil)
    }

    @Test func annotationLimitCountsBytesNotCharacters() {
        // 3500 three-byte characters are 10500 bytes; 3413 are 10239.
        #expect(F.desireError(F.definition { $0.annotation = String(repeating: "\u{2603}", count: 3500) })
            == F.invalid("annotation"))
        #expect(F.desireError(F.definition { $0.annotation = String(repeating: "\u{2603}", count: 3413) }) == nil)
    }

    // MARK: ordering

    @Test func manyErrorsInReferenceOrder() {
        let definition = F.definition {
            $0.rootFs = ""
            $0.action = nil
            $0.memoryMb = -1
            $0.diskMb = -1
            $0.maxPids = -1
            $0.annotation = String(repeating: "a", count: 10241)
            $0.imagePassword = "p"
            $0.logRateLimit = LogRateLimit(bytesPerSecond: -7)
            var rule = SecurityGroupRule()
            rule.protocol = "bogus"
            rule.destinations = ["1.2.3.4"]
            $0.egressRules = [rule]
            var dependency = CachedDependency()
            dependency.to = "/tmp"
            $0.cachedDependencies = [dependency]
            $0.imageLayers = [Self.layer { $0.mediaType = 0 }]
        }
        #expect(F.desireError(definition) == F.invalid(
            "rootfs", "!invalid action type", "memory_mb", "disk_mb",
            "log_rate_limit", "max_pids", "annotation", "egress_rules",
            "image_username", "cached_dependency", "from", "image_layer",
            "media_type"))
    }

    @Test func everyRuleAtOnceIncludingActionAndLegacyUser() {
        let definition = F.definition {
            $0.action = F.run(path: "")
            $0.imageUsername = "me"
            $0.imageLayers = [Self.layer { $0.layerType = ImageLayer.LayerType.exclusive }]
        }
        #expect(definition.validationErrors() == [
            "Invalid field: action", "Invalid field: path",
            "Invalid field: image_password",
            "Invalid field: image_layer", "Invalid field: digest_algorithm", "Invalid field: digest_value",
            "Invalid field: legacy_download_user",
        ])
    }

    // MARK: image credentials

    @Test func imagePasswordWithoutUsername() {
        #expect(F.desireError(F.definition { $0.imagePassword = "secret" }) == F.invalid("image_username"))
    }

    @Test func imageUsernameWithoutPassword() {
        #expect(F.desireError(F.definition { $0.imageUsername = "me" }) == F.invalid("image_password"))
    }

    @Test func imageCredentialsTogetherAreAccepted() {
        #expect(F.desireError(F.definition { $0.imageUsername = "me"; $0.imagePassword = "secret" }) == nil)
    }

    // MARK: cached dependencies (§8.5)

    private static func dependency(_ configure: (inout CachedDependency) -> Void) -> CachedDependency {
        var dependency = CachedDependency()
        dependency.from = "http://example.com/x"
        dependency.to = "/tmp/x"
        configure(&dependency)
        return dependency
    }

    @Test(arguments: [
        (dependency { $0.from = "" }, ["from"]),
        (dependency { $0.to = "" }, ["to"]),
        (dependency { $0.from = ""; $0.to = "" }, ["from", "to"]),
        (dependency { $0.checksumValue = "x" }, ["checksum algorithm"]),
        (dependency { $0.checksumAlgorithm = "sha1" }, ["checksum value"]),
        (dependency { $0.checksumAlgorithm = "sha384"; $0.checksumValue = "x" }, ["invalid algorithm"]),
    ])
    func cachedDependencyRules(dependency: CachedDependency, fields: [String]) {
        #expect(F.desireError(F.definition { $0.cachedDependencies = [dependency] })
            == F.invalid(["cached_dependency"] + fields))
    }

    @Test(arguments: ["md5", "sha1", "sha256", "SHA256", "Md5"])
    func cachedDependencyChecksumAlgorithmsAccepted(algorithm: String) {
        let dependency = Self.dependency { $0.checksumAlgorithm = algorithm; $0.checksumValue = "abc" }
        #expect(F.desireError(F.definition { $0.cachedDependencies = [dependency] }) == nil)
    }

    @Test func eachInvalidCachedDependencyReported() {
        var missingFrom = CachedDependency()
        missingFrom.to = "/a"
        var missingTo = CachedDependency()
        missingTo.from = "http://b"
        let definition = F.definition {
            $0.cachedDependencies = [missingFrom, Self.dependency { _ in }, missingTo]
        }
        #expect(F.desireError(definition) == F.invalid("cached_dependency", "from", "cached_dependency", "to"))
    }

    // MARK: image layers (§8.7)

    private static func layer(_ configure: (inout ImageLayer) -> Void = { _ in }) -> ImageLayer {
        var layer = ImageLayer()
        layer.url = "http://example.com/l.tgz"
        layer.destinationPath = "/l"
        layer.layerType = ImageLayer.LayerType.shared
        layer.mediaType = ImageLayer.MediaType.tgz
        configure(&layer)
        return layer
    }

    @Test(arguments: [
        (layer { $0.url = "" }, ["url"]),
        (layer { $0.destinationPath = "" }, ["destination_path"]),
        (layer { $0.layerType = 0 }, ["layer_type"]),
        (layer { $0.layerType = 7 }, ["layer_type"]),
        (layer { $0.mediaType = 0 }, ["media_type"]),
        (layer { $0.mediaType = 9 }, ["media_type"]),
        // A digest without algorithm is reported twice, as by the reference.
        (layer { $0.digestValue = "abc" }, ["digest_algorithm", "digest_algorithm"]),
        (layer { $0.digestAlgorithm = 1 }, ["digest_value"]),
        (layer { $0.digestAlgorithm = 5; $0.digestValue = "abc" }, ["digest_algorithm"]),
        (layer { $0.url = ""; $0.destinationPath = ""; $0.layerType = 0; $0.mediaType = 0 },
         ["url", "destination_path", "layer_type", "media_type"]),
    ])
    func imageLayerRules(layer: ImageLayer, fields: [String]) {
        #expect(F.desireError(F.definition { $0.imageLayers = [layer] }) == F.invalid(["image_layer"] + fields))
    }

    @Test func exclusiveLayerNeedsDigestAndLegacyDownloadUser() {
        let layer = Self.layer { $0.layerType = ImageLayer.LayerType.exclusive }
        #expect(F.desireError(F.definition { $0.imageLayers = [layer] })
            == F.invalid("image_layer", "digest_algorithm", "digest_value", "legacy_download_user"))
    }

    @Test func exclusiveLayerWithDigestNeedsLegacyDownloadUser() {
        let layer = Self.layer {
            $0.layerType = ImageLayer.LayerType.exclusive
            $0.digestAlgorithm = ImageLayer.DigestAlgorithm.sha256
            $0.digestValue = "abc"
        }
        #expect(F.desireError(F.definition { $0.imageLayers = [layer] }) == F.invalid("legacy_download_user"))
    }

    @Test func legacyDownloadUserIsReportedOnceAfterEveryLayer() {
        let exclusive = Self.layer { $0.layerType = ImageLayer.LayerType.exclusive }
        let definition = F.definition { $0.imageLayers = [exclusive, Self.layer { $0.url = "" }, exclusive] }
        #expect(F.desireError(definition) == F.invalid(
            "image_layer", "digest_algorithm", "digest_value",
            "image_layer", "url",
            "image_layer", "digest_algorithm", "digest_value",
            "legacy_download_user"))
    }

    @Test func completeExclusiveLayerIsAccepted() {
        let layer = Self.layer {
            $0.layerType = ImageLayer.LayerType.exclusive
            $0.digestAlgorithm = ImageLayer.DigestAlgorithm.sha512
            $0.digestValue = "abc"
            $0.mediaType = ImageLayer.MediaType.tar
        }
        #expect(F.desireError(F.definition { $0.legacyDownloadUser = "vcap"; $0.imageLayers = [layer] }) == nil)
    }

    @Test func sharedLayerWithoutDigestIsAccepted() {
        #expect(F.desireError(F.definition { $0.imageLayers = [Self.layer { $0.mediaType = ImageLayer.MediaType.zip }] }) == nil)
    }

    // MARK: the wire suite's full definition

    /// The conformance suite's `full_definition` (every field set) must be accepted.
    @Test func fullDefinitionIsValid() {
        let definition = F.definition {
            $0.rootFs = "docker:///cloudfoundry/cflinuxfs4#latest"
            var timeout = TimeoutAction()
            timeout.action = F.run(path: "/bin/sleep")
            timeout.timeoutMs = 15000
            timeout.deprecatedTimeoutNs = 15_000_000_000
            $0.action = Action(.serial(SerialAction(actions: [F.run(), Action(.timeout(timeout))])))
            $0.diskMb = 2048
            $0.memoryMb = 512
            $0.cpuWeight = 37
            $0.annotation = #"{"staging":"annotation","n":1}"#
            var tcp = SecurityGroupRule()
            tcp.protocol = "tcp"
            tcp.destinations = ["10.0.0.0/8", "192.168.1.1"]
            tcp.ports = [80, 443, 8080]
            var udp = SecurityGroupRule()
            udp.protocol = "udp"
            udp.destinations = ["10.0.0.1-10.0.0.255"]
            udp.portRange = PortRange(start: 53, end: 54)
            var icmp = SecurityGroupRule()
            icmp.protocol = "icmp"
            icmp.destinations = ["0.0.0.0/0"]
            icmp.icmpInfo = ICMPInfo(type: 8, code: 0)
            var all = SecurityGroupRule()
            all.protocol = "all"
            all.destinations = ["1.1.1.1,2.2.2.2"]
            var icmpv6 = SecurityGroupRule()
            icmpv6.protocol = "icmpv6"
            icmpv6.destinations = ["::/0"]
            icmpv6.icmpInfo = ICMPInfo(type: 128, code: 0)
            $0.egressRules = [tcp, udp, icmp, all, icmpv6]
            $0.cachedDependencies = [
                Self.dependency { $0.checksumAlgorithm = "md5"; $0.checksumValue = "d41d8cd98f00b204e9800998ecf8427e" },
                Self.dependency { $0.cacheKey = "lc-key" },
            ]
            $0.legacyDownloadUser = "vcap"
            $0.imageUsername = "registry-user"
            $0.imagePassword = "registry-pass"
            $0.imageLayers = [
                Self.layer { $0.digestAlgorithm = ImageLayer.DigestAlgorithm.sha256; $0.digestValue = "abc123" },
                Self.layer {
                    $0.layerType = ImageLayer.LayerType.exclusive
                    $0.mediaType = ImageLayer.MediaType.zip
                    $0.digestAlgorithm = ImageLayer.DigestAlgorithm.sha512
                    $0.digestValue = "def456"
                },
            ]
            $0.logRateLimit = LogRateLimit(bytesPerSecond: 4096)
            $0.maxPids = 1024
        }
        #expect(definition.validationErrors() == [])
    }

    // MARK: fields the reference does not validate for tasks

    @Test func fieldsTheReferenceDoesNotValidateForTasks() {
        let definition = F.definition {
            $0.cpuWeight = 5000
            $0.metricsGuid = "m"
            var mount = VolumeMount()
            mount.mode = "bogus"
            $0.volumeMounts = [mount]
            $0.environmentVariables = [EnvironmentVariable(name: "", value: "v")]
            $0.placementTags = [""]
            var tag = MetricTagValue()
            tag.static = "x"
            $0.metricTags = [MapEntry(key: "anything", value: tag)]
            $0.completionCallbackUrl = "not a url at all"
            $0.resultFile = ""
            $0.volumeMountedFiles = [File(path: "", content: "")]
            $0.network = Network()
            $0.certificateProperties = CertificateProperties()
        }
        #expect(F.desireError(definition) == nil)
    }
}
