import BBSModels
import Foundation
import Testing

/// The JSON text of a message, for comparing with what Go's `json.Marshal` writes.
func goJSONText(_ message: some GoJSONCodable) -> String {
    String(decoding: message.goJSONBytes(), as: UTF8.self)
}

/// The JSON of a message parsed back by an independent parser (Foundation's), so a test
/// can look at one member without spelling out the whole text.
func parsedGoJSON(_ message: some GoJSONCodable) throws -> [String: Any] {
    let parsed = try JSONSerialization.jsonObject(with: Data(message.goJSONBytes()))
    return try #require(parsed as? [String: Any])
}

/// A RunAction and its JSON, the leaf of most action trees below.
let runLeaf = Action(.run(RunAction(path: "/p", user: "u")))
let runLeafJSON = #"{"run":{"path":"/p","user":"u","suppress_log_output":false,"volume_mounted_files":null}}"#

@Suite("Go JSON encoding")
struct JSONEncodingTests {
    @Test("the desire request has Go's keys, order, zero values and nulls")
    func desireRequestShape() {
        var run = RunAction(path: "/bin/echo", user: "vcap")
        run.args = ["hi"]
        var definition = TaskDefinition()
        definition.rootFs = "docker:///busybox"
        definition.action = Action(.run(run))
        definition.environmentVariables = [EnvironmentVariable(name: "A", value: "1")]
        definition.memoryMb = 128
        var request = DesireTaskRequest()
        request.taskDefinition = definition
        request.taskGuid = "task-1"
        request.domain = "my-domain"

        #expect(goJSONText(request) == #"""
            {"task_definition":{"rootfs":"docker:///busybox","env":[{"name":"A","value":"1"}],\#
            "action":{"run":{"path":"/bin/echo","args":["hi"],"user":"vcap","suppress_log_output":false,\#
            "volume_mounted_files":null}},"disk_mb":0,"memory_mb":128,"cpu_weight":0,"privileged":false,\#
            "log_source":"","log_guid":"","metrics_guid":"","result_file":"","max_pids":0,\#
            "image_username":"","image_password":"","volume_mounted_files":null},\#
            "task_guid":"task-1","domain":"my-domain"}
            """#)
    }

    @Test("a desire request without definition writes task_definition as null (no omitempty)")
    func desireRequestWithoutDefinition() {
        var request = DesireTaskRequest()
        request.taskGuid = "g"
        #expect(goJSONText(request) == #"{"task_definition":null,"task_guid":"g","domain":""}"#)
    }

    @Test("a task has its definition's members inlined before its own, and state as a name")
    func taskInlinesDefinition() {
        var definition = TaskDefinition()
        definition.rootFs = "preloaded:cflinuxfs4"
        definition.action = Action(.run(RunAction(path: "/bin/true", user: "vcap")))
        var task = BBSTask()
        task.taskDefinition = definition
        task.taskGuid = "t"
        task.domain = "d"
        task.createdAt = 1_700_000_000_123_456_789
        task.updatedAt = 1_700_000_000_987_654_321
        task.state = .running
        task.cellId = "cell-1"

        #expect(goJSONText(task) == #"""
            {"rootfs":"preloaded:cflinuxfs4","action":{"run":{"path":"/bin/true","user":"vcap",\#
            "suppress_log_output":false,"volume_mounted_files":null}},"disk_mb":0,"memory_mb":0,\#
            "cpu_weight":0,"privileged":false,"log_source":"","log_guid":"","metrics_guid":"",\#
            "result_file":"","max_pids":0,"image_username":"","image_password":"",\#
            "volume_mounted_files":null,"task_guid":"t","domain":"d","created_at":1700000000123456789,\#
            "updated_at":1700000000987654321,"first_completed_at":0,"state":"Running","cell_id":"cell-1",\#
            "result":"","failed":false,"failure_reason":"","rejection_count":0,"rejection_reason":""}
            """#)
    }

    @Test("a task without definition has none of the definition's keys")
    func taskWithoutDefinition() throws {
        var task = BBSTask()
        task.taskGuid = "t"
        task.state = .pending
        let object = try parsedGoJSON(task)
        #expect(Set(object.keys) == [
            "task_guid", "domain", "created_at", "updated_at", "first_completed_at", "state",
            "cell_id", "result", "failed", "failure_reason", "rejection_count", "rejection_reason",
        ])
        #expect(object["state"] as? String == "Pending")
    }

    @Test("every task state is written as its name", arguments: [
        (TaskState.invalid, "Invalid"), (.pending, "Pending"), (.running, "Running"),
        (.completed, "Completed"), (.resolving, "Resolving"), (TaskState(rawValue: 9), "9"),
    ])
    func taskStateNames(state: TaskState, name: String) throws {
        var task = BBSTask()
        task.state = state
        #expect(try parsedGoJSON(task)["state"] as? String == name)
    }

    @Test("errors are {type: name, message}; absent errors are omitted")
    func errors() {
        #expect(goJSONText(TaskResponse(error: .resourceNotFound)) ==
                #"{"error":{"type":"ResourceNotFound","message":"the requested resource could not be found"}}"#)
        #expect(goJSONText(TaskLifecycleResponse(error: .validation(["Invalid field: task_guid"]))) ==
                #"{"error":{"type":"InvalidRequest","message":"Invalid field: task_guid"}}"#)
        #expect(goJSONText(TaskLifecycleResponse(error: BBSError(type: .unknownError, message: "boom"))) ==
                #"{"error":{"type":"UnknownError","message":"boom"}}"#)
        #expect(goJSONText(BBSError(type: BBSError.ErrorType(rawValue: 99), message: "")) ==
                #"{"type":"99","message":""}"#)
        #expect(goJSONText(TaskLifecycleResponse()) == "{}")
        #expect(goJSONText(TaskResponse()) == "{}")
        #expect(goJSONText(TasksResponse()) == "{}")
        #expect(goJSONText(StartTaskResponse(shouldStart: false)) == #"{"should_start":false}"#)
        #expect(goJSONText(StartTaskResponse(error: .resourceConflict, shouldStart: false)) ==
                #"{"error":{"type":"ResourceConflict","message":"the requested resource is in a conflicting state"},"should_start":false}"#)
    }

    @Test("every action kind is keyed by its short name", arguments: [
        ({ () -> Action in
            var download = DownloadAction()
            download.artifact = "a"
            download.from = "f"
            download.to = "t"
            download.user = "u"
            return Action(.download(download))
        }(), #"{"download":{"artifact":"a","from":"f","to":"t","cache_key":"","user":"u"}}"#),
        ({ () -> Action in
            var upload = UploadAction()
            upload.from = "f"
            upload.to = "t"
            upload.user = "u"
            return Action(.upload(upload))
        }(), #"{"upload":{"from":"f","to":"t","user":"u"}}"#),
        (runLeaf, runLeafJSON),
        ({ () -> Action in
            var timeout = TimeoutAction()
            timeout.action = runLeaf
            timeout.timeoutMs = 1000
            return Action(.timeout(timeout))
        }(), #"{"timeout":{"action":\#(runLeafJSON),"timeout_ms":1000}}"#),
        ({ () -> Action in
            var timeout = TimeoutAction()
            timeout.action = runLeaf
            timeout.deprecatedTimeoutNs = 7
            timeout.logSource = "L"
            timeout.timeoutMs = 1000
            return Action(.timeout(timeout))
        }(), #"{"timeout":{"action":\#(runLeafJSON),"timeout":7,"log_source":"L","timeout_ms":1000}}"#),
        ({ () -> Action in
            var emit = EmitProgressAction()
            emit.action = runLeaf
            emit.startMessage = "s"
            return Action(.emitProgress(emit))
        }(), #"{"emit_progress":{"action":\#(runLeafJSON),"start_message":"s","success_message":"","failure_message_prefix":""}}"#),
        ({ () -> Action in
            var tryAction = TryAction()
            tryAction.action = runLeaf
            return Action(.try(tryAction))
        }(), #"{"try":{"action":\#(runLeafJSON)}}"#),
        (Action(.parallel(ParallelAction(actions: [runLeaf, runLeaf]))), #"{"parallel":{"actions":[\#(runLeafJSON),\#(runLeafJSON)]}}"#),
        (Action(.serial(SerialAction(actions: [runLeaf]))), #"{"serial":{"actions":[\#(runLeafJSON)]}}"#),
        (Action(.codependent(CodependentAction(actions: [runLeaf]))), #"{"codependent":{"actions":[\#(runLeafJSON)]}}"#),
        (Action(.serial(SerialAction())), #"{"serial":{}}"#),
        (Action(), "{}"),
    ])
    func actionKinds(action: Action, json: String) {
        #expect(goJSONText(action) == json)
    }

    @Test("an action with several members keeps them all, in field order")
    func actionWithSeveralMembers() {
        var action = Action()
        action.tryAction = TryAction()
        action.runAction = RunAction(path: "/p", user: "u")
        #expect(goJSONText(action) == #"{"run":{"path":"/p","user":"u","suppress_log_output":false,"volume_mounted_files":null},"try":{}}"#)
    }

    @Test("run action members: args, dir, env, resource limits, log source, files")
    func runActionMembers() {
        var run = RunAction(path: "/bin/sh", user: "vcap")
        run.args = ["-c", ""]
        run.dir = "/home"
        run.env = [EnvironmentVariable(name: "EMPTY", value: "")]
        run.resourceLimits = ResourceLimits(nofile: 1024)
        run.logSource = "APP"
        run.suppressLogOutput = true
        run.volumeMountedFiles = [File(path: "/etc/x", content: "c")]
        #expect(goJSONText(Action(.run(run))) == #"""
            {"run":{"path":"/bin/sh","args":["-c",""],"dir":"/home","env":[{"name":"EMPTY","value":""}],\#
            "resource_limits":{"nofile":1024},"user":"vcap","log_source":"APP","suppress_log_output":true,\#
            "volume_mounted_files":[{"path":"/etc/x","content":"c"}]}}
            """#)
    }

    @Test("resource limits write exactly the set members, zero included", arguments: [
        (ResourceLimits(), "{}"),
        (ResourceLimits(nofile: 0), #"{"nofile":0}"#),
        (ResourceLimits(nproc: 0), #"{"nproc":0}"#),
        (ResourceLimits(nofile: UInt64.max, nproc: 512), #"{"nofile":18446744073709551615,"nproc":512}"#),
    ])
    func resourceLimits(limits: ResourceLimits, json: String) {
        #expect(goJSONText(limits) == json)
    }

    @Test("image layer enums are names; digest_algorithm 0 and empty optional strings are omitted")
    func imageLayerEnums() {
        var layer = ImageLayer()
        layer.name = "l"
        layer.url = "http://x/l"
        layer.destinationPath = "/l"
        layer.layerType = ImageLayer.LayerType.exclusive
        layer.mediaType = ImageLayer.MediaType.zip
        layer.digestAlgorithm = ImageLayer.DigestAlgorithm.sha256
        layer.digestValue = "abc"
        #expect(goJSONText(layer) == #"""
            {"name":"l","url":"http://x/l","destination_path":"/l","layer_type":"EXCLUSIVE",\#
            "media_type":"ZIP","digest_algorithm":"SHA256","digest_value":"abc"}
            """#)

        var bare = ImageLayer()
        bare.layerType = ImageLayer.LayerType.shared
        bare.mediaType = ImageLayer.MediaType.tgz
        #expect(goJSONText(bare) == #"{"url":"","destination_path":"","layer_type":"SHARED","media_type":"TGZ"}"#)

        var unnamed = ImageLayer()
        unnamed.layerType = 7
        unnamed.mediaType = ImageLayer.MediaType.tar
        unnamed.digestAlgorithm = ImageLayer.DigestAlgorithm.sha512
        #expect(goJSONText(unnamed) == #"""
            {"url":"","destination_path":"","layer_type":"7","media_type":"TAR","digest_algorithm":"SHA512"}
            """#)
        #expect(goJSONText(ImageLayer()) == #"""
            {"url":"","destination_path":"","layer_type":"LayerTypeInvalid","media_type":"MediaTypeInvalid"}
            """#)
    }

    @Test("metric tag values: static, dynamic by name, unnamed dynamic as \"\" (Go's map lookup)")
    func metricTagValues() {
        var index = MetricTagValue()
        index.dynamic = 1
        var guid = MetricTagValue()
        guid.dynamic = 2
        var fixed = MetricTagValue()
        fixed.static = "s"
        var unnamed = MetricTagValue()
        unnamed.dynamic = 5
        #expect(goJSONText(index) == #"{"dynamic":"INDEX"}"#)
        #expect(goJSONText(guid) == #"{"dynamic":"INSTANCE_GUID"}"#)
        #expect(goJSONText(fixed) == #"{"static":"s"}"#)
        #expect(goJSONText(unnamed) == #"{"dynamic":""}"#)
        #expect(goJSONText(MetricTagValue()) == "{}")
    }

    @Test("maps are objects with keys in byte order, the last of a repeated key winning")
    func maps() {
        var network = Network()
        network.properties = [
            MapEntry(key: "space_id", value: "s"), MapEntry(key: "app_id", value: "first"),
            MapEntry(key: "Z", value: "upper"), MapEntry(key: "é", value: "e-acute"),
            MapEntry(key: "e\u{301}", value: "e-combining"), MapEntry(key: "app_id", value: "last"),
        ]
        #expect(goJSONText(network) == #"{"properties":{"Z":"upper","app_id":"last","e\#u{301}":"e-combining","space_id":"s","é":"e-acute"}}"#)
        #expect(goJSONText(Network()) == "{}")

        var definition = TaskDefinition()
        var dynamic = MetricTagValue()
        dynamic.dynamic = 1
        var fixed = MetricTagValue()
        fixed.static = "g"
        definition.metricTags = [
            MapEntry(key: "source_id", value: fixed), MapEntry(key: "index", value: dynamic),
            MapEntry(key: "absent", value: nil),
        ]
        let members = goJSONText(definition)
        #expect(members.contains(#""metric_tags":{"absent":{},"index":{"dynamic":"INDEX"},"source_id":{"static":"g"}}"#))
        #expect(!goJSONText(TaskDefinition()).contains("metric_tags"))
    }

    @Test("64-bit and negative integers are plain JSON numbers")
    func wideIntegers() throws {
        var task = BBSTask()
        task.createdAt = Int64.max
        task.updatedAt = Int64.min
        task.firstCompletedAt = -1
        task.rejectionCount = Int32.min
        var definition = TaskDefinition()
        definition.memoryMb = -1
        definition.cpuWeight = UInt32.max
        definition.logRateLimit = LogRateLimit(bytesPerSecond: -1)
        task.taskDefinition = definition
        let text = goJSONText(task)
        #expect(text.contains(#""created_at":9223372036854775807,"updated_at":-9223372036854775808,"first_completed_at":-1,"#))
        #expect(text.contains(#""rejection_count":-2147483648"#))
        #expect(text.contains(#""memory_mb":-1,"cpu_weight":4294967295,"#))
        #expect(text.contains(#""log_rate_limit":{"bytes_per_second":-1}"#))
        let object = try parsedGoJSON(task)
        #expect((object["created_at"] as? NSNumber)?.int64Value == Int64.max)
    }

    @Test("present-but-empty sub-messages are written as {} and absent ones omitted")
    func presence() {
        var definition = TaskDefinition()
        definition.network = Network()
        definition.certificateProperties = CertificateProperties()
        definition.logRateLimit = LogRateLimit()
        let text = goJSONText(definition)
        #expect(text.contains(#""network":{},"max_pids":0,"certificate_properties":{},"#))
        #expect(text.contains(#""log_rate_limit":{},"volume_mounted_files":null}"#))
        #expect(!goJSONText(TaskDefinition()).contains("network"))
    }

    @Test("volume mounts write both device members, the absent one as null")
    func volumeMounts() {
        var shared = VolumeMount()
        shared.driver = "nfs"
        shared.containerDir = "/d"
        shared.mode = "rw"
        shared.shared = SharedDevice(volumeId: "v", mountConfig: #"{"uid":"1000"}"#)
        #expect(goJSONText(shared) == #"""
            {"driver":"nfs","container_dir":"/d","mode":"rw","shared":{"volume_id":"v",\#
            "mount_config":"{\"uid\":\"1000\"}"},"dedicated":null}
            """#)
        var dedicated = VolumeMount()
        var device = DedicatedDevice()
        device.mounterId = "m"
        dedicated.dedicated = device
        #expect(goJSONText(dedicated) == #"""
            {"driver":"","container_dir":"","mode":"","shared":null,"dedicated":{"mounter_id":"m",\#
            "mount_config":"","device_config":""}}
            """#)
    }

    @Test("security group rules: omitempty members, ports as numbers, log always")
    func securityGroupRules() {
        var rule = SecurityGroupRule()
        rule.protocol = "tcp"
        rule.destinations = ["10.0.0.0/8"]
        rule.ports = [80, 443]
        rule.portRange = PortRange(start: 1, end: 2)
        rule.icmpInfo = ICMPInfo(type: 8, code: 0)
        rule.annotations = ["a"]
        #expect(goJSONText(rule) == #"""
            {"protocol":"tcp","destinations":["10.0.0.0/8"],"ports":[80,443],"port_range":{"start":1,"end":2},\#
            "icmp_info":{"type":8,"code":0},"log":false,"annotations":["a"]}
            """#)
        #expect(goJSONText(SecurityGroupRule()) == #"{"log":false}"#)
    }

    @Test("cached dependencies write everything but the checksum pair when empty")
    func cachedDependencies() {
        var dependency = CachedDependency()
        dependency.from = "f"
        #expect(goJSONText(dependency) == #"{"name":"","from":"f","to":"","cache_key":"","log_source":""}"#)
        dependency.checksumAlgorithm = "md5"
        dependency.checksumValue = "x"
        #expect(goJSONText(dependency).hasSuffix(#""log_source":"","checksum_algorithm":"md5","checksum_value":"x"}"#))
    }

    @Test("strings are escaped as Go escapes them")
    func goStringEscaping() {
        let cases: [(String, String)] = [
            ("<a href=\"x\">&</a>", #""\u003ca href=\"x\"\u003e\u0026\u003c/a\u003e""#),
            ("line\u{2028}para\u{2029}", #""line\u2028para\u2029""#),
            ("\u{0}\u{1}\u{1f}", #""\u0000\u0001\u001f""#),
            ("\u{8}\u{c}\n\r\t", #""\b\f\n\r\t""#),
            ("back\\slash", #""back\\slash""#),
            ("\u{7f}/'", "\"\u{7f}/'\""),
            ("héllo ☃ 😀", "\"héllo ☃ 😀\""),
        ]
        for (value, json) in cases {
            var bytes: [UInt8] = []
            GoJSONWriter.appendQuoted(value, to: &bytes)
            #expect(String(decoding: bytes, as: UTF8.self) == json, "escaping \(value.debugDescription)")
        }
        var env = EnvironmentVariable(name: "K<", value: "a\u{2028}b")
        env.unknownFields = [0x18, 0x01]
        #expect(goJSONText(env) == #"{"name":"K\u003c","value":"a\u2028b"}"#)
    }

    @Test("unknown protobuf fields kept by the models are never written")
    func unknownFieldsAreNotWritten() {
        var task = BBSTask()
        task.unknownFields = [0xa0, 0x06, 0x01]
        var definition = TaskDefinition()
        definition.unknownFields = [0xa0, 0x06, 0x01]
        var action = Action(.run(RunAction(path: "/p", user: "u")))
        action.unknownFields = [0x50, 0x01]
        definition.action = action
        task.taskDefinition = definition
        var clean = task
        clean.unknownFields = []
        clean.taskDefinition?.unknownFields = []
        clean.taskDefinition?.action?.unknownFields = []
        #expect(goJSONText(task) == goJSONText(clean))
    }

    @Test("the callback body is the Go struct's JSON, annotation omitted when empty")
    func callbackBody() {
        var callback = TaskCallbackResponse()
        callback.taskGuid = "g"
        callback.failed = true
        callback.failureReason = "r"
        callback.annotation = "a"
        callback.createdAt = 1
        #expect(goJSONText(callback) ==
                #"{"task_guid":"g","failed":true,"failure_reason":"r","result":"","annotation":"a","created_at":1}"#)
        callback.annotation = ""
        #expect(goJSONText(callback) ==
                #"{"task_guid":"g","failed":true,"failure_reason":"r","result":"","created_at":1}"#)
    }

    @Test("requests, ping, domains and events")
    func otherMessages() {
        #expect(goJSONText(PingResponse(available: true)) == #"{"available":true}"#)
        #expect(goJSONText(StartTaskRequest(taskGuid: "g", cellId: "c")) == #"{"task_guid":"g","cell_id":"c"}"#)
        var complete = CompleteTaskRequest()
        complete.taskGuid = "g"
        complete.result = "r"
        #expect(goJSONText(complete) == #"{"task_guid":"g","cell_id":"","failed":false,"failure_reason":"","result":"r"}"#)
        #expect(goJSONText(FailTaskRequest(taskGuid: "g", failureReason: "f")) == #"{"task_guid":"g","failure_reason":"f"}"#)
        #expect(goJSONText(RejectTaskRequest(taskGuid: "g", rejectionReason: "r")) == #"{"task_guid":"g","rejection_reason":"r"}"#)
        #expect(goJSONText(TaskGuidRequest(taskGuid: "g")) == #"{"task_guid":"g"}"#)
        #expect(goJSONText(TaskByGuidRequest(taskGuid: "g")) == #"{"task_guid":"g"}"#)
        #expect(goJSONText(TasksRequest()) == #"{"domain":"","cell_id":""}"#)
        #expect(goJSONText(UpsertDomainRequest(domain: "d", ttl: 0)) == #"{"domain":"d","ttl":0}"#)
        #expect(goJSONText(UpsertDomainResponse()) == "{}")
        #expect(goJSONText(DomainsResponse(domains: ["a", "b"])) == #"{"domains":["a","b"]}"#)
        #expect(goJSONText(DomainsResponse()) == "{}")

        var task = BBSTask()
        task.taskGuid = "g"
        let taskJSON = goJSONText(task)
        #expect(goJSONText(TaskCreatedEvent(task: task)) == #"{"task":\#(taskJSON)}"#)
        #expect(goJSONText(TaskRemovedEvent(task: task)) == #"{"task":\#(taskJSON)}"#)
        #expect(goJSONText(TaskChangedEvent(before: task, after: task)) == #"{"before":\#(taskJSON),"after":\#(taskJSON)}"#)
        #expect(goJSONText(TaskChangedEvent()) == "{}")
        #expect(goJSONText(TasksResponse(tasks: [task, task])) == #"{"tasks":[\#(taskJSON),\#(taskJSON)]}"#)
        #expect(goJSONText(TaskResponse(task: task)) == #"{"task":\#(taskJSON)}"#)
    }
}

// Parameterized tests show actions and limits as their JSON.
extension Action: CustomTestStringConvertible {
    public var testDescription: String { goJSONText(self) }
}

extension ResourceLimits: CustomTestStringConvertible {
    public var testDescription: String { goJSONText(self) }
}
