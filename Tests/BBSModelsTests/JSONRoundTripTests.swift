import BBSModels
import Foundation
import Testing

/// The conformance suite's `every_action_kind` and `full_definition` (bbsconf/builders.py)
/// as models: every field of every action kind and all 28 definition fields set. Map
/// entries are in key order, the order JSON decoding produces.
enum JSONFixtures {
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
        run.resourceLimits = ResourceLimits(nofile: 1024, nproc: 512)
        run.logSource = "APP/TASK/run"
        run.suppressLogOutput = true
        run.volumeMountedFiles = [File(path: "/etc/secret", content: "s3cr3t")]

        var sleep = RunAction(path: "/bin/sleep", user: "vcap")
        sleep.args = ["1"]
        var timeout = TimeoutAction()
        timeout.action = Action(.run(sleep))
        timeout.deprecatedTimeoutNs = 15_000_000_000
        timeout.logSource = "TO"
        timeout.timeoutMs = 15000

        var emit = EmitProgressAction()
        emit.action = Action(.run(RunAction(path: "/bin/echo", user: "vcap")))
        emit.startMessage = "starting"
        emit.successMessage = "done"
        emit.failureMessagePrefix = "failed:"
        emit.logSource = "EP"

        var tryAction = TryAction()
        tryAction.action = Action(.run(RunAction(path: "/bin/false", user: "vcap")))
        tryAction.logSource = "TRY"

        var codependent = CodependentAction(actions: [
            Action(.run(RunAction(path: "/bin/a", user: "vcap"))), Action(.run(RunAction(path: "/bin/b", user: "vcap"))),
        ])
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

    static func fullDefinition() -> TaskDefinition {
        var definition = TaskDefinition()
        definition.rootFs = "docker:///cloudfoundry/cflinuxfs4#latest"
        definition.environmentVariables = [
            EnvironmentVariable(name: "LANG", value: "en_US.UTF-8"),
            EnvironmentVariable(name: "UNICODE", value: "h\u{e9}llo \u{2603}"),
            EnvironmentVariable(name: "MULTILINE", value: "a\nb\tc"),
        ]
        definition.action = everyActionKind()
        definition.diskMb = 2048
        definition.memoryMb = 512
        definition.cpuWeight = 37
        definition.privileged = true
        definition.logSource = "APP/TASK"
        definition.logGuid = "log-guid-123"
        definition.metricsGuid = "metrics-guid-456"
        definition.resultFile = "/tmp/result.json"
        definition.completionCallbackUrl = "http://127.0.0.1:8080/callback?x=<1>&y=2"
        definition.annotation = #"{"staging":"annotation","n":1}"#

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
        definition.egressRules = [tcp, udp, icmp, all, icmpv6]

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
        definition.cachedDependencies = [buildpack, lifecycle]

        definition.legacyDownloadUser = "vcap"
        definition.trustedSystemCertificatesPath = "/etc/cf-system-certificates"

        var nfs = VolumeMount()
        nfs.driver = "nfsdriver"
        nfs.containerDir = "/var/vcap/data/nfs"
        nfs.mode = "rw"
        nfs.shared = SharedDevice(volumeId: "vol-1", mountConfig: #"{"uid":"1000"}"#)
        var smb = VolumeMount()
        smb.driver = "smbdriver"
        smb.containerDir = "/mnt/dedicated"
        smb.mode = "r"
        var device = DedicatedDevice()
        device.mounterId = "m-1"
        device.mountConfig = "{}"
        device.deviceConfig = #"{"dev":"sdb"}"#
        smb.dedicated = device
        definition.volumeMounts = [nfs, smb]

        var network = Network()
        network.properties = [MapEntry(key: "app_id", value: "some-app"), MapEntry(key: "space_id", value: "some-space")]
        definition.network = network
        definition.placementTags = ["zone-a", "isolation-segment"]
        definition.maxPids = 1024
        var certificates = CertificateProperties()
        certificates.organizationalUnit = ["app:1234", "space:5678"]
        definition.certificateProperties = certificates
        definition.imageUsername = "registry-user"
        definition.imagePassword = "registry-pass"

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
        definition.imageLayers = [shared, exclusive]

        definition.logRateLimit = LogRateLimit(bytesPerSecond: 4096)
        var index = MetricTagValue()
        index.dynamic = 1
        var instance = MetricTagValue()
        instance.dynamic = 2
        var source = MetricTagValue()
        source.static = "metrics-guid-456"
        definition.metricTags = [
            MapEntry(key: "index", value: index), MapEntry(key: "instance", value: instance),
            MapEntry(key: "source_id", value: source),
        ]
        definition.volumeMountedFiles = [
            File(path: "/redis/username", content: "user"), File(path: "/redis/password", content: "pa\u{df}word"),
        ]
        return definition
    }

    static func fullTask() -> BBSTask {
        var task = BBSTask()
        task.taskDefinition = fullDefinition()
        task.taskGuid = "task-guid"
        task.domain = "domain"
        task.createdAt = 1_700_000_000_123_456_789
        task.updatedAt = 1_700_000_001_123_456_789
        task.firstCompletedAt = 1_700_000_002_123_456_789
        task.state = .completed
        task.cellId = "cell-1"
        task.result = "result\u{0}with NUL"
        task.failed = true
        task.failureReason = "failure <reason> & more"
        task.rejectionCount = 3
        task.rejectionReason = "busy"
        return task
    }
}

@Suite("Go JSON round trips")
struct JSONRoundTripTests {
    private func roundTripped<Message: GoJSONCodable>(_ message: Message) throws -> Message {
        try Message(goJSON: message.goJSONBytes())
    }

    @Test("a definition with all 28 fields survives model -> JSON -> model")
    func fullDefinition() throws {
        let definition = JSONFixtures.fullDefinition()
        #expect(try roundTripped(definition) == definition)
        // Every one of the 28 keys is in the text, none twice.
        let object = try parsedGoJSON(definition)
        #expect(object.count == 28)
    }

    @Test("a task with its definition and every field survives the round trip")
    func fullTask() throws {
        let task = JSONFixtures.fullTask()
        #expect(try roundTripped(task) == task)
        let object = try parsedGoJSON(task)
        #expect(object.count == 28 + 12)
        #expect(object["task_definition"] == nil)
        #expect(object["state"] as? String == "Completed")
    }

    @Test("every action kind survives the round trip", arguments: {
        guard case .serial(let serial)? = JSONFixtures.everyActionKind().value else { return [Action]() }
        var actions = serial.actions
        for action in serial.actions {
            if case .parallel(let parallel)? = action.value { actions += parallel.actions }
        }
        return actions + [JSONFixtures.everyActionKind()]
    }())
    func actionKinds(action: Action) throws {
        #expect(try roundTripped(action) == action)
    }

    @Test("the action tree has every kind under its short key")
    func actionKeys() throws {
        let text = goJSONText(JSONFixtures.everyActionKind())
        for key in ["download", "upload", "run", "timeout", "emit_progress", "try", "parallel", "serial", "codependent"] {
            #expect(text.contains("{\"\(key)\":{"), "no \(key) action")
        }
        #expect(text.contains(#""timeout":15000000000,"log_source":"TO","timeout_ms":15000"#))
    }

    @Test("requests, responses, errors and events survive the round trip")
    func otherMessages() throws {
        let task = JSONFixtures.fullTask()
        var desire = DesireTaskRequest()
        desire.taskDefinition = JSONFixtures.fullDefinition()
        desire.taskGuid = "g"
        desire.domain = "d"
        #expect(try roundTripped(desire) == desire)
        var complete = CompleteTaskRequest()
        complete.taskGuid = "g"
        complete.cellId = "c"
        complete.failed = true
        complete.failureReason = "f"
        complete.result = "r"
        #expect(try roundTripped(complete) == complete)
        #expect(try roundTripped(StartTaskRequest(taskGuid: "g", cellId: "c")) == StartTaskRequest(taskGuid: "g", cellId: "c"))
        #expect(try roundTripped(StartTaskResponse(error: .resourceConflict, shouldStart: true)) ==
                StartTaskResponse(error: .resourceConflict, shouldStart: true))
        #expect(try roundTripped(TaskResponse(error: .resourceNotFound)) == TaskResponse(error: .resourceNotFound))
        #expect(try roundTripped(TaskResponse(task: task)) == TaskResponse(task: task))
        #expect(try roundTripped(TasksResponse(tasks: [task, BBSTask()])) == TasksResponse(tasks: [task, BBSTask()]))
        #expect(try roundTripped(TaskLifecycleResponse(error: .invalidTransition(from: .pending, to: .resolving))) ==
                TaskLifecycleResponse(error: .invalidTransition(from: .pending, to: .resolving)))
        #expect(try roundTripped(TaskChangedEvent(before: task, after: task)) == TaskChangedEvent(before: task, after: task))
        #expect(try roundTripped(TaskCreatedEvent(task: task)) == TaskCreatedEvent(task: task))
        #expect(try roundTripped(TaskRemovedEvent(task: task)) == TaskRemovedEvent(task: task))
        #expect(try roundTripped(DomainsResponse(domains: ["a", "b"])) == DomainsResponse(domains: ["a", "b"]))
        #expect(try roundTripped(UpsertDomainRequest(domain: "d", ttl: 60)) == UpsertDomainRequest(domain: "d", ttl: 60))
        #expect(try roundTripped(PingResponse(available: true)) == PingResponse(available: true))
        var callback = TaskCallbackResponse()
        callback.taskGuid = "g"
        callback.annotation = "a"
        callback.createdAt = -5
        #expect(try roundTripped(callback) == callback)
    }

    @Test("JSON and protobuf carry the same message")
    func sameAsProtobuf() throws {
        let task = JSONFixtures.fullTask()
        let viaJSON = try BBSTask(goJSON: task.goJSONBytes())
        #expect(viaJSON.protobufBytes() == task.protobufBytes())
        let fromProtobuf = try BBSTask(protobuf: task.protobufBytes())
        #expect(fromProtobuf.goJSONBytes() == task.goJSONBytes())
    }

    @Test("the output is valid UTF-8 JSON that Foundation parses back to the same values")
    func independentParser() throws {
        let object = try parsedGoJSON(JSONFixtures.fullTask())
        #expect(object["failure_reason"] as? String == "failure <reason> & more")
        #expect(object["result"] as? String == "result\u{0}with NUL")
        let env = try #require(object["env"] as? [[String: Any]])
        #expect(env[1]["value"] as? String == "h\u{e9}llo \u{2603}")
        let layers = try #require(object["image_layers"] as? [[String: Any]])
        #expect(layers.map { $0["layer_type"] as? String } == ["SHARED", "EXCLUSIVE"])
        let tags = try #require(object["metric_tags"] as? [String: [String: Any]])
        #expect(tags["index"]?["dynamic"] as? String == "INDEX")
        #expect(tags["instance"]?["dynamic"] as? String == "INSTANCE_GUID")
    }
}
