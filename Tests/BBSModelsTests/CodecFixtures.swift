import BBSModels
import ProtoWire

/// Bytes written the way messages.md §8 prints them: hex pairs and "quoted" ASCII text,
/// separated by blanks.
func wire(_ notation: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var pendingNibble: UInt8?
    var inText = false
    for scalar in notation.unicodeScalars {
        if inText {
            if scalar == "\"" { inText = false } else { bytes.append(contentsOf: Array(String(scalar).utf8)) }
            continue
        }
        if scalar == "\"" {
            inText = true
        } else if let nibble = UInt8(String(scalar), radix: 16) {
            if let high = pendingNibble {
                bytes.append(high << 4 | nibble)
                pendingNibble = nil
            } else {
                pendingNibble = nibble
            }
        } else {
            precondition(scalar == " " || scalar == "\n", "unexpected \(scalar) in wire notation")
        }
    }
    precondition(pendingNibble == nil && !inText, "odd wire notation")
    return bytes
}

/// Raw field records (the conformance suite's `rawproto`), for bodies our encoder would
/// never write: unknown fields, groups, wrong wire types, truncations.
enum RawField {
    static func varint(_ value: UInt64) -> [UInt8] {
        var writer = ProtoWriter()
        writer.writeVarint(value)
        return writer.bytes
    }

    static func key(_ field: UInt64, _ wireType: UInt64) -> [UInt8] { varint(field << 3 | wireType) }
    static func varint(_ field: UInt64, _ value: UInt64) -> [UInt8] { key(field, 0) + varint(value) }
    static func varint(_ field: UInt64, signed value: Int64) -> [UInt8] { varint(field, UInt64(bitPattern: value)) }
    static func bytes(_ field: UInt64, _ payload: [UInt8]) -> [UInt8] { key(field, 2) + varint(UInt64(payload.count)) + payload }
    static func bytes(_ field: UInt64, _ text: String) -> [UInt8] { bytes(field, Array(text.utf8)) }
    static func fixed32(_ field: UInt64, _ value: UInt32) -> [UInt8] {
        key(field, 5) + (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
    }
    static func fixed64(_ field: UInt64, _ value: UInt64) -> [UInt8] {
        key(field, 1) + (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
    }
    static func group(_ field: UInt64, _ inner: [UInt8] = []) -> [UInt8] { key(field, 3) + inner + key(field, 4) }
    static func packed(_ field: UInt64, _ values: [UInt64]) -> [UInt8] { bytes(field, values.flatMap { varint($0) }) }

    /// The conformance suite's UNKNOWN: one field of every wire type the tests send.
    static let unknown = varint(99, 12345) + bytes(100, [0x01, 0x02] + Array("garbage".utf8))
        + fixed32(101, 7) + fixed64(102, 9) + varint(536_870_911, 1)
}

/// The conformance suite's builders (`bbsconf/builders.py`), as model values.
enum CodecFixtures {
    static func run(_ path: String = "/bin/true", user: String = "vcap") -> Action {
        Action(.run(RunAction(path: path, user: user)))
    }

    static func minimalDefinition() -> TaskDefinition {
        var definition = TaskDefinition()
        definition.rootFs = "docker:///busybox"
        definition.action = run()
        return definition
    }

    /// One action tree with every action kind and every field of every action message.
    static func everyActionKind() -> Action {
        var download = DownloadAction()
        download.artifact = "droplet"
        download.from = "http://example.com/droplet.tgz"
        download.to = "/home/vcap"
        download.cacheKey = "droplet-cache"
        download.logSource = "DL"
        download.user = "vcap"
        download.checksumAlgorithm = "sha256"
        download.checksumValue = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

        var upload = UploadAction()
        upload.artifact = "result"
        upload.from = "/tmp/result.json"
        upload.to = "http://example.com/upload"
        upload.logSource = "UL"
        upload.user = "root"

        var run = RunAction(path: "/bin/sh", user: "vcap")
        run.args = ["-c", "echo hello; exit 0", ""]
        run.dir = "/home/vcap"
        run.env = [EnvironmentVariable(name: "A", value: "1"), EnvironmentVariable(name: "EMPTY", value: "")]
        run.logSource = "APP/TASK/run"
        run.suppressLogOutput = true
        run.volumeMountedFiles = [File(path: "/etc/secret", content: "s3cr3t")]
        run.resourceLimits = ResourceLimits(nofile: 1024, nproc: 512)

        var sleep = RunAction(path: "/bin/sleep", user: "vcap")
        sleep.args = ["1"]
        var timeout = TimeoutAction()
        timeout.action = Action(.run(sleep))
        timeout.deprecatedTimeoutNs = 15_000_000_000
        timeout.logSource = "TO"
        timeout.timeoutMs = 15000

        var emit = EmitProgressAction()
        emit.action = Self.run("/bin/echo")
        emit.startMessage = "starting"
        emit.successMessage = "done"
        emit.failureMessagePrefix = "failed:"
        emit.logSource = "EP"

        var tryAction = TryAction()
        tryAction.action = Self.run("/bin/false")
        tryAction.logSource = "TRY"

        var codependent = CodependentAction(actions: [Self.run("/bin/a"), Self.run("/bin/b")])
        codependent.logSource = "CO"
        var parallel = ParallelAction(actions: [Action(.download(download)), Action(.codependent(codependent))])
        parallel.logSource = "PAR"
        var serial = SerialAction(actions: [
            Action(.parallel(parallel)), Action(.run(run)), Action(.timeout(timeout)),
            Action(.emitProgress(emit)), Action(.try(tryAction)), Action(.upload(upload)),
        ])
        serial.logSource = "SER"
        return Action(.serial(serial))
    }

    /// A definition with every one of its 28 fields set.
    static func fullDefinition() -> TaskDefinition {
        var td = TaskDefinition()
        td.rootFs = "docker:///cloudfoundry/cflinuxfs4#latest"
        td.environmentVariables = [
            EnvironmentVariable(name: "LANG", value: "en_US.UTF-8"),
            EnvironmentVariable(name: "UNICODE", value: "h\u{e9}llo \u{2603}"),
            EnvironmentVariable(name: "MULTILINE", value: "a\nb\tc"),
        ]
        td.action = everyActionKind()
        td.diskMb = 2048
        td.memoryMb = 512
        td.cpuWeight = 37
        td.privileged = true
        td.logSource = "APP/TASK"
        td.logGuid = "log-guid-123"
        td.metricsGuid = "metrics-guid-456"
        td.resultFile = "/tmp/result.json"
        td.completionCallbackUrl = "http://127.0.0.1:1/never-called"
        td.annotation = #"{"staging":"annotation","n":1}"#

        var tcp = SecurityGroupRule()
        tcp.protocol = "tcp"
        tcp.destinations = ["10.0.0.0/8", "192.168.1.1"]
        tcp.ports = [80, 443, 8080]
        tcp.log = true
        tcp.annotations = ["security_group_id:abc"]
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
        td.egressRules = [tcp, udp, icmp, all, icmpv6]

        var buildpack = CachedDependency()
        buildpack.name = "buildpack"
        buildpack.from = "http://example.com/bp.zip"
        buildpack.to = "/tmp/buildpacks/bp"
        buildpack.cacheKey = "bp-key"
        buildpack.logSource = "CD"
        buildpack.checksumAlgorithm = "md5"
        buildpack.checksumValue = "d41d8cd98f00b204e9800998ecf8427e"
        var lifecycle = CachedDependency()
        lifecycle.name = "lifecycle"
        lifecycle.from = "http://example.com/lc.tgz"
        lifecycle.to = "/tmp/lifecycle"
        lifecycle.cacheKey = "lc-key"
        td.cachedDependencies = [buildpack, lifecycle]

        td.legacyDownloadUser = "vcap"
        td.trustedSystemCertificatesPath = "/etc/cf-system-certificates"

        var nfs = VolumeMount()
        nfs.driver = "nfsdriver"
        nfs.containerDir = "/var/vcap/data/nfs"
        nfs.mode = "rw"
        nfs.shared = SharedDevice(volumeId: "vol-1", mountConfig: #"{"uid":"1000"}"#)
        var smb = VolumeMount()
        smb.driver = "smbdriver"
        smb.containerDir = "/mnt/dedicated"
        smb.mode = "r"
        var dedicated = DedicatedDevice()
        dedicated.mounterId = "m-1"
        dedicated.mountConfig = "{}"
        dedicated.deviceConfig = #"{"dev":"sdb"}"#
        smb.dedicated = dedicated
        td.volumeMounts = [nfs, smb]

        var network = Network()
        network.properties = [MapEntry(key: "app_id", value: "some-app"), MapEntry(key: "space_id", value: "some-space")]
        td.network = network
        td.placementTags = ["zone-a", "isolation-segment"]
        td.maxPids = 1024
        var certificates = CertificateProperties()
        certificates.organizationalUnit = ["app:1234", "space:5678"]
        td.certificateProperties = certificates
        td.imageUsername = "registry-user"
        td.imagePassword = "registry-pass"

        var shared = ImageLayer()
        shared.name = "shared-layer"
        shared.url = "http://example.com/shared.tgz"
        shared.destinationPath = "/tmp/shared"
        shared.layerType = ImageLayer.LayerType.shared
        shared.mediaType = ImageLayer.MediaType.tgz
        shared.digestAlgorithm = ImageLayer.DigestAlgorithm.sha256
        shared.digestValue = "abc123"
        var exclusive = ImageLayer()
        exclusive.name = "exclusive-layer"
        exclusive.url = "http://example.com/excl.zip"
        exclusive.destinationPath = "/tmp/excl"
        exclusive.layerType = ImageLayer.LayerType.exclusive
        exclusive.mediaType = ImageLayer.MediaType.zip
        exclusive.digestAlgorithm = ImageLayer.DigestAlgorithm.sha512
        exclusive.digestValue = "def456"
        td.imageLayers = [shared, exclusive]

        td.logRateLimit = LogRateLimit(bytesPerSecond: 4096)
        var sourceID = MetricTagValue()
        sourceID.static = "metrics-guid-456"
        var instance = MetricTagValue()
        instance.dynamic = 2
        var index = MetricTagValue()
        index.dynamic = 1
        td.metricTags = [
            MapEntry(key: "source_id", value: sourceID), MapEntry(key: "instance", value: instance),
            MapEntry(key: "index", value: index),
        ]
        td.volumeMountedFiles = [File(path: "/redis/username", content: "user"), File(path: "/redis/password", content: "pa\u{df}word")]
        return td
    }

    static func fullTask() -> BBSTask {
        var task = BBSTask()
        task.taskDefinition = fullDefinition()
        task.taskGuid = "task-guid"
        task.domain = "domain"
        task.createdAt = 1_700_000_000_000_000_000
        task.updatedAt = 1_700_000_000_500_000_000
        task.firstCompletedAt = 1_700_000_000_400_000_000
        task.state = .completed
        task.cellId = "cell-1"
        task.result = "out"
        task.failed = true
        task.failureReason = "boom"
        task.rejectionCount = 2
        task.rejectionReason = "no room"
        return task
    }

    /// The top-level field numbers of an encoded message, in wire order.
    static func fieldNumbers(_ bytes: [UInt8]) throws -> [Int] {
        var reader = ProtoReader(bytes)
        var numbers: [Int] = []
        while let (field, wireType) = try reader.nextField() {
            numbers.append(field)
            try reader.skipField(wireType)
        }
        return numbers
    }
}
