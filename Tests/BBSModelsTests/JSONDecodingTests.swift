import BBSModels
import ProtoWire
import Testing

/// Decodes a JSON text as a request body.
func decodeGoJSON<Message: GoJSONCodable>(_ type: Message.Type, _ text: String) throws -> Message {
    try Message(goJSON: Array(text.utf8))
}

/// The error decoding `bytes` as `type` throws (nil, and a recorded failure, if none).
func goJSONDecodingError<Message: GoJSONCodable>(_ type: Message.Type, _ bytes: [UInt8],
                                                 sourceLocation: SourceLocation = #_sourceLocation) -> GoJSONDecodingError? {
    #expect(throws: GoJSONDecodingError.self, sourceLocation: sourceLocation) { try Message(goJSON: bytes) }
}

@Suite("Go JSON decoding")
struct JSONDecodingTests {
    @Test("the minimal desire body a person types with curl")
    func minimalDesire() throws {
        let request = try decodeGoJSON(DesireTaskRequest.self, """
            {"task_guid": "g-1", "domain": "d", "task_definition": {
              "rootfs": "docker:///busybox",
              "action": {"run": {"path": "/bin/echo", "args": ["hi"], "user": "vcap"}},
              "env": [{"name": "A", "value": "1"}],
              "memory_mb": 128}}
            """)
        var run = RunAction(path: "/bin/echo", user: "vcap")
        run.args = ["hi"]
        var definition = TaskDefinition()
        definition.rootFs = "docker:///busybox"
        definition.action = Action(.run(run))
        definition.environmentVariables = [EnvironmentVariable(name: "A", value: "1")]
        definition.memoryMb = 128
        var expected = DesireTaskRequest()
        expected.taskGuid = "g-1"
        expected.domain = "d"
        expected.taskDefinition = definition
        #expect(request == expected)
    }

    @Test("the other request bodies")
    func requests() throws {
        #expect(try decodeGoJSON(StartTaskRequest.self, #"{"task_guid":"g","cell_id":"c"}"#) ==
                StartTaskRequest(taskGuid: "g", cellId: "c"))
        let complete = try decodeGoJSON(CompleteTaskRequest.self,
                                        #"{"task_guid":"g","cell_id":"c","failed":true,"failure_reason":"nope","result":"r"}"#)
        #expect((complete.taskGuid, complete.cellId, complete.failed, complete.failureReason, complete.result) ==
                ("g", "c", true, "nope", "r"))
        #expect(try decodeGoJSON(FailTaskRequest.self, #"{"task_guid":"g","failure_reason":"f"}"#) ==
                FailTaskRequest(taskGuid: "g", failureReason: "f"))
        #expect(try decodeGoJSON(RejectTaskRequest.self, #"{"task_guid":"g","rejection_reason":"busy"}"#) ==
                RejectTaskRequest(taskGuid: "g", rejectionReason: "busy"))
        #expect(try decodeGoJSON(TaskGuidRequest.self, #"{"task_guid":"g"}"#) == TaskGuidRequest(taskGuid: "g"))
        #expect(try decodeGoJSON(TaskByGuidRequest.self, #"{"task_guid":"g"}"#) == TaskByGuidRequest(taskGuid: "g"))
        #expect(try decodeGoJSON(TasksRequest.self, #"{"domain":"d","cell_id":"c"}"#) == TasksRequest(domain: "d", cellId: "c"))
        #expect(try decodeGoJSON(TasksRequest.self, "{}") == TasksRequest())
        #expect(try decodeGoJSON(UpsertDomainRequest.self, #"{"domain":"d","ttl":4294967295}"#) ==
                UpsertDomainRequest(domain: "d", ttl: UInt32.max))
    }

    @Test("unknown keys are ignored at every level")
    func unknownKeys() throws {
        let request = try decodeGoJSON(DesireTaskRequest.self, """
            {"task_guid": "g", "domain": "d", "something_new": {"x": 1},
             "task_definition": {"rootfs": "docker:///x", "future_field": [1, 2, {"deep": null}],
               "action": {"run": {"path": "/a", "user": "u", "extra": true}, "sleep": {"for": 1.5e300}},
               "TASK_GUID": 5}}
            """)
        #expect(request.taskGuid == "g")
        #expect(request.taskDefinition?.rootFs == "docker:///x")
        #expect(request.taskDefinition?.action == Action(.run(RunAction(path: "/a", user: "u"))))
    }

    @Test("the values of ignored members are not looked at, as Go skips them")
    func ignoredMembersAreNotDecoded() throws {
        let invalidUTF8 = Array(#"{"task_guid": "g", "x": ""#.utf8) + [0xc3, 0x28] + Array(#""}"#.utf8)
        #expect(try TaskGuidRequest(goJSON: invalidUTF8) == TaskGuidRequest(taskGuid: "g"))
        let deep = #"{"task_guid": "g", "x": "# + String(repeating: #"{"a":["#, count: 250) + String(repeating: "]}", count: 250) + "}"
        #expect(try decodeGoJSON(TaskGuidRequest.self, deep) == TaskGuidRequest(taskGuid: "g"))
    }

    @Test("null means absent: the field keeps its default")
    func nullIsAbsent() throws {
        let request = try decodeGoJSON(DesireTaskRequest.self, """
            {"task_guid": null, "domain": "d", "task_definition": {"rootfs": "r", "action": null,
             "env": null, "memory_mb": null, "privileged": null, "network": null, "metric_tags": null,
             "placement_tags": null, "volume_mounted_files": null}}
            """)
        var expected = DesireTaskRequest()
        expected.domain = "d"
        expected.taskDefinition = TaskDefinition()
        expected.taskDefinition?.rootFs = "r"
        #expect(request == expected)
        #expect(try decodeGoJSON(DesireTaskRequest.self, #"{"task_definition": null}"#) == DesireTaskRequest())
        #expect(try decodeGoJSON(DesireTaskRequest.self, "null") == DesireTaskRequest())
        #expect(try decodeGoJSON(ResourceLimits.self, #"{"nofile": null, "nproc": 3}"#) == ResourceLimits(nproc: 3))
    }

    @Test("null list elements and map values are empty elements and entries without value")
    func nullElements() throws {
        let definition = try decodeGoJSON(TaskDefinition.self, """
            {"placement_tags": ["a", null], "env": [null], "metric_tags": {"k": null},
             "network": {"properties": {"p": null}}, "egress_rules": [{"ports": [80, null]}]}
            """)
        #expect(definition.placementTags == ["a", ""])
        #expect(definition.environmentVariables == [EnvironmentVariable()])
        #expect(definition.metricTags == [MapEntry(key: "k", value: nil)])
        #expect(definition.network?.properties == [MapEntry(key: "p", value: "")])
        #expect(definition.egressRules.first?.ports == [80, 0])
    }

    @Test("bodies that are not JSON objects throw", arguments: [
        Array("{not json".utf8), Array("".utf8), Array("{\"a\":1} trailing".utf8), [0xff, 0xfe],
        Array("{\"task_guid\": \"\u{0}\"}".utf8), Array(#"{"task_guid": "\ud800"}"#.utf8),
        Array(#"{"task_guid": "g", "x": [}"#.utf8),
        Array(#"{"task_guid": ""#.utf8) + [0xc3, 0x28] + Array(#""}"#.utf8),
    ])
    func malformed(body: [UInt8]) {
        #expect(goJSONDecodingError(DesireTaskRequest.self, body) == .malformed)
    }

    @Test("a body that is JSON but not an object is a type mismatch", arguments: [
        "[1,2,3]", "5", "\"g\"", "true",
    ])
    func notAnObject(body: String) {
        let error = goJSONDecodingError(DesireTaskRequest.self, Array(body.utf8))
        #expect(error == .typeMismatch)
        #expect(error?.path == "")
    }

    @Test("values of the wrong JSON type throw, naming the member", arguments: [
        (#"{"task_guid": 5}"#, "task_guid"),
        (#"{"task_guid": "g", "domain": "d", "task_definition": {"memory_mb": "lots"}}"#, "task_definition.memory_mb"),
        (#"{"task_definition": {"memory_mb": true}}"#, "task_definition.memory_mb"),
        (#"{"task_definition": {"privileged": 1}}"#, "task_definition.privileged"),
        (#"{"task_definition": {"privileged": "true"}}"#, "task_definition.privileged"),
        (#"{"task_definition": {"env": {"name": "A"}}}"#, "task_definition.env"),
        (#"{"task_definition": {"env": [{"name": 1}]}}"#, "task_definition.env[0].name"),
        (#"{"task_definition": {"action": "run"}}"#, "task_definition.action"),
        (#"{"task_definition": {"action": {"timeout": {"action": {"run": {"args": "x"}}}}}}"#,
         "task_definition.action.timeout.action.run.args"),
        (#"{"task_definition": {"placement_tags": [1]}}"#, "task_definition.placement_tags[0]"),
        (#"{"task_definition": {"network": {"properties": {"a": 1}}}}"#, "task_definition.network.properties[a]"),
        (#"{"task_definition": {"metric_tags": {"a": "INDEX"}}}"#, "task_definition.metric_tags[a]"),
        (#"{"task_definition": {"log_rate_limit": {"bytes_per_second": "5"}}}"#,
         "task_definition.log_rate_limit.bytes_per_second"),
        (#"{"task_definition": {"image_layers": [{"layer_type": true}]}}"#, "task_definition.image_layers[0].layer_type"),
        (#"{"task_definition": {"task_definition": null, "rootfs": ["x"]}}"#, "task_definition.rootfs"),
    ])
    func typeMismatch(body: String, path: String) {
        let error = goJSONDecodingError(DesireTaskRequest.self, Array(body.utf8))
        #expect(error == .typeMismatch)
        #expect(error?.path == path)
    }

    @Test("booleans are only true and false, numbers only numbers")
    func booleansAndNumbersStayApart() throws {
        #expect(try decodeGoJSON(CompleteTaskRequest.self, #"{"failed": true}"#).failed == true)
        #expect(try decodeGoJSON(CompleteTaskRequest.self, #"{"failed": false}"#).failed == false)
        #expect(goJSONDecodingError(CompleteTaskRequest.self, Array(#"{"failed": 1}"#.utf8)) == .typeMismatch)
        #expect(goJSONDecodingError(CompleteTaskRequest.self, Array(#"{"failed": 0}"#.utf8)) == .typeMismatch)
        #expect(try decodeGoJSON(UpsertDomainRequest.self, #"{"ttl": 1}"#).ttl == 1)
        #expect(try decodeGoJSON(UpsertDomainRequest.self, #"{"ttl": 0}"#).ttl == 0)
        #expect(goJSONDecodingError(UpsertDomainRequest.self, Array(#"{"ttl": true}"#.utf8)) == .typeMismatch)
        #expect(goJSONDecodingError(UpsertDomainRequest.self, Array(#"{"ttl": false}"#.utf8)) == .typeMismatch)
    }

    @Test("integers must fit their field", arguments: [
        (#"{"memory_mb": 2147483648}"#, "memory_mb"),
        (#"{"memory_mb": 1.5}"#, "memory_mb"),
        (#"{"max_pids": 1e400}"#, "max_pids"),
        (#"{"memory_mb": -2147483649}"#, "memory_mb"),
        (#"{"cpu_weight": -1}"#, "cpu_weight"),
        (#"{"cpu_weight": 4294967296}"#, "cpu_weight"),
        (#"{"log_rate_limit": {"bytes_per_second": 9223372036854775808}}"#, "log_rate_limit.bytes_per_second"),
        (#"{"action": {"run": {"resource_limits": {"nofile": -1}}}}"#, "action.run.resource_limits.nofile"),
        (#"{"image_layers": [{"layer_type": 2147483648}]}"#, "image_layers[0].layer_type"),
    ])
    func integerRange(body: String, path: String) {
        let error = goJSONDecodingError(TaskDefinition.self, Array(body.utf8))
        #expect(error == .numberOutOfRange)
        #expect(error?.path == path)
    }

    @Test("the extremes of every integer width are read exactly")
    func integerExtremes() throws {
        let task = try decodeGoJSON(BBSTask.self, """
            {"created_at": 9223372036854775807, "updated_at": -9223372036854775808, "rejection_count": -2147483648,
             "memory_mb": -1, "cpu_weight": 4294967295,
             "action": {"run": {"resource_limits": {"nofile": 18446744073709551615, "nproc": 0}}}}
            """)
        #expect(task.createdAt == Int64.max)
        #expect(task.updatedAt == Int64.min)
        #expect(task.rejectionCount == Int32.min)
        #expect(task.taskDefinition?.memoryMb == -1)
        #expect(task.taskDefinition?.cpuWeight == UInt32.max)
        #expect(task.taskDefinition?.action?.runAction?.resourceLimits == ResourceLimits(nofile: UInt64.max, nproc: 0))
    }

    @Test("a whole number written with a fraction or exponent is taken as that number")
    func wholeNumbersInOtherNotations() throws {
        // Go refuses these for integer fields; JSONDecoder hands them over as integers.
        #expect(try decodeGoJSON(TaskDefinition.self, #"{"memory_mb": 128.0}"#).memoryMb == 128)
        #expect(try decodeGoJSON(TaskDefinition.self, #"{"memory_mb": 1e3}"#).memoryMb == 1000)
    }

    @Test("enums are read from names, numbers and decimal strings")
    func enums() throws {
        let task = try decodeGoJSON(BBSTask.self, """
            {"state": "Completed", "image_layers": [
               {"layer_type": "EXCLUSIVE", "media_type": "ZIP", "digest_algorithm": "SHA512"},
               {"layer_type": 1, "media_type": "2", "digest_algorithm": 1},
               {"layer_type": "7"}],
             "metric_tags": {"a": {"dynamic": "INSTANCE_GUID"}, "b": {"dynamic": 1, "static": "s"}}}
            """)
        #expect(task.state == .completed)
        let layers = try #require(task.taskDefinition?.imageLayers)
        #expect(layers.map(\.layerType) == [2, 1, 7])
        #expect(layers.map(\.mediaType) == [3, 2, 0])
        #expect(layers.map(\.digestAlgorithm) == [2, 1, 0])
        #expect(task.taskDefinition?.metricTags.map(\.value?.dynamic) == [2, 1])
        #expect(try decodeGoJSON(BBSTask.self, #"{"state": 2}"#).state == .running)
        let error = try decodeGoJSON(BBSError.self, #"{"type": "InvalidRequest", "message": "m"}"#)
        #expect(error == BBSError(type: .invalidRequest, message: "m"))
        #expect(try decodeGoJSON(BBSError.self, #"{"type": "99"}"#).type.rawValue == 99)
    }

    @Test("an enum string that is no name of the enum throws", arguments: [
        (#"{"state": "pending"}"#, "state"),
        (#"{"state": ""}"#, "state"),
        (#"{"image_layers": [{"media_type": "tgz"}]}"#, "image_layers[0].media_type"),
        (#"{"metric_tags": {"t": {"dynamic": "index"}}}"#, "metric_tags[t].dynamic"),
    ])
    func unknownEnumNames(body: String, path: String) {
        let error = goJSONDecodingError(BBSTask.self, Array(body.utf8))
        #expect(error == .unknownEnumName)
        #expect(error?.path == path)
    }

    @Test("resource limits keep presence per member, zero included")
    func resourceLimitsPresence() throws {
        #expect(try decodeGoJSON(ResourceLimits.self, #"{"nofile": 0}"#) == ResourceLimits(nofile: 0))
        #expect(try decodeGoJSON(ResourceLimits.self, #"{"nproc": 12}"#) == ResourceLimits(nproc: 12))
        #expect(try decodeGoJSON(ResourceLimits.self, "{}") == ResourceLimits())
        let run = try decodeGoJSON(RunAction.self, #"{"resource_limits": {}}"#)
        #expect(run.resourceLimits == ResourceLimits())
        #expect(try decodeGoJSON(RunAction.self, "{}").resourceLimits == nil)
    }

    @Test("maps are read into entries sorted by key")
    func maps() throws {
        let definition = try decodeGoJSON(TaskDefinition.self, """
            {"network": {"properties": {"space_id": "s", "app_id": "a"}},
             "metric_tags": {"source_id": {"static": "g"}, "index": {"dynamic": "INDEX"}}}
            """)
        #expect(definition.network?.properties == [MapEntry(key: "app_id", value: "a"), MapEntry(key: "space_id", value: "s")])
        var index = MetricTagValue()
        index.dynamic = 1
        var source = MetricTagValue()
        source.static = "g"
        #expect(definition.metricTags == [MapEntry(key: "index", value: Optional(index)), MapEntry(key: "source_id", value: Optional(source))])
    }

    @Test("a task object carries its definition's members inline")
    func taskWithInlineDefinition() throws {
        let task = try decodeGoJSON(BBSTask.self, """
            {"rootfs": "docker:///x", "action": {"run": {"path": "/p", "user": "u"}}, "memory_mb": 5,
             "task_guid": "g", "domain": "d", "state": "Pending", "created_at": 1700000000123456789}
            """)
        #expect(task.taskGuid == "g")
        #expect(task.domain == "d")
        #expect(task.state == .pending)
        #expect(task.createdAt == 1_700_000_000_123_456_789)
        var definition = TaskDefinition()
        definition.rootFs = "docker:///x"
        definition.action = Action(.run(RunAction(path: "/p", user: "u")))
        definition.memoryMb = 5
        #expect(task.taskDefinition == definition)

        #expect(try decodeGoJSON(BBSTask.self, #"{"task_guid": "g", "state": "Running"}"#).taskDefinition == nil)
        // Go allocates the embedded definition as soon as one of its keys appears.
        #expect(try decodeGoJSON(BBSTask.self, #"{"task_guid": "g", "rootfs": null}"#).taskDefinition == TaskDefinition())
    }

    @Test("escaped strings are unescaped")
    func stringEscapes() throws {
        let request = try decodeGoJSON(TaskGuidRequest.self, #"{"task_guid": "\u003c\u0026\u003e \ud83d\ude00 \n\t\"\\ \u2028"}"#)
        #expect(request.taskGuid == "<&> 😀 \n\t\"\\ \u{2028}")
    }

    @Test("nesting: JSON takes exactly the sub-message depth the protobuf decoder takes", arguments: [
        0, 1, 47, 48, 49, 50, 60,
    ])
    func nestingMatchesProtobuf(tryLevels: Int) throws {
        // DesireTaskRequest > task_definition > action > try > action > … > run.
        var action = runLeaf
        for _ in 0..<tryLevels {
            var tryAction = TryAction()
            tryAction.action = action
            action = Action(.try(tryAction))
        }
        var request = DesireTaskRequest()
        request.taskDefinition = TaskDefinition()
        request.taskDefinition?.action = action

        let protobufAccepts = (try? DesireTaskRequest(protobuf: request.protobufBytes())) != nil
        let json = request.goJSONBytes()
        if protobufAccepts {
            #expect(try DesireTaskRequest(goJSON: json) == request)
        } else {
            #expect(goJSONDecodingError(DesireTaskRequest.self, json) == .depthLimitExceeded)
        }
    }

    @Test("the deepest accepted nesting is the protobuf decoder's limit")
    func nestingLimitIsReached() throws {
        func request(tryLevels: Int) -> [UInt8] {
            var action = runLeaf
            for _ in 0..<tryLevels {
                var tryAction = TryAction()
                tryAction.action = action
                action = Action(.try(tryAction))
            }
            var request = DesireTaskRequest()
            request.taskDefinition = TaskDefinition()
            request.taskDefinition?.action = action
            return request.goJSONBytes()
        }
        // Levels: task_definition 1, action 2, then two per try, the run at the bottom.
        let deepest = (ProtoReader.maximumDepth - 4) / 2
        _ = try DesireTaskRequest(goJSON: request(tryLevels: deepest))
        #expect(goJSONDecodingError(DesireTaskRequest.self, request(tryLevels: deepest + 1)) == .depthLimitExceeded)
    }

    @Test("JSON nested beyond the parser's limit is refused, not a crash")
    func parserNestingLimit() {
        let deep = "{\"x\": " + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000) + "}"
        #expect(goJSONDecodingError(TaskGuidRequest.self, Array(deep.utf8)) == .malformed)
    }

    @Test("the decoding error says where and what")
    func errorDescription() {
        let error = goJSONDecodingError(DesireTaskRequest.self, Array(#"{"task_definition": {"memory_mb": "lots"}}"#.utf8))
        #expect(error?.description == "JSON decoding failed at task_definition.memory_mb: expected a whole number within Int32")
    }
}
