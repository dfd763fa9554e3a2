import BBSModels
import ProtoWire
import Testing

private typealias F = CodecFixtures

@Suite("Protobuf codec: worked encodings of messages.md §8")
struct ProtobufGoldenTests {
    @Test func desireTaskRequest() throws {
        var definition = TaskDefinition()
        definition.rootFs = "preloaded:cflinuxfs4"
        definition.memoryMb = 256
        definition.action = Action(.run(RunAction(path: "/bin/true", user: "vcap")))
        var request = DesireTaskRequest()
        request.taskDefinition = definition
        request.taskGuid = "task-1"
        request.domain = "my-domain"
        let golden = wire("""
            0a 2e
               0a 14 "preloaded:cflinuxfs4"
               1a 13
                  1a 11
                     0a 09 "/bin/true"
                     32 04 "vcap"
               28 80 02
            12 06 "task-1"
            1a 09 "my-domain"
            """)
        #expect(request.protobufBytes() == golden)
        #expect(request.encodedSize() == golden.count)
        #expect(try DesireTaskRequest(protobuf: golden) == request)
    }

    @Test func resourceExistsResponse() throws {
        let response = TaskLifecycleResponse(error: .resourceExists)
        let golden = wire(#"0a 29 08 0c 12 25 "the requested resource already exists""#)
        #expect(response.protobufBytes() == golden)
        #expect(try TaskLifecycleResponse(protobuf: golden) == response)
    }

    @Test func pingAndStartResponses() throws {
        #expect(PingResponse(available: true).protobufBytes() == [0x08, 0x01])
        #expect(StartTaskResponse(shouldStart: true).protobufBytes() == [0x10, 0x01])
        #expect(try StartTaskResponse(protobuf: [0x10, 0x01]).shouldStart)
    }

    @Test func successfulResponsesAreEmpty() {
        #expect(TaskLifecycleResponse().protobufBytes().isEmpty)
        #expect(TasksResponse().protobufBytes().isEmpty)
        #expect(StartTaskResponse(shouldStart: false).protobufBytes().isEmpty)
        #expect(TaskResponse().protobufBytes().isEmpty)
        #expect(UpsertDomainResponse().protobufBytes().isEmpty)
        #expect(DomainsResponse().protobufBytes().isEmpty)
        #expect(PingResponse().protobufBytes().isEmpty)
    }

    @Test func negativeMemoryIsATenByteVarint() throws {
        var definition = TaskDefinition()
        definition.memoryMb = -1
        let golden = wire("28 ff ff ff ff ff ff ff ff ff 01")
        #expect(definition.protobufBytes() == golden)
        #expect(try TaskDefinition(protobuf: golden).memoryMb == -1)
    }

    @Test func portsAreWrittenUnpackedAndReadInBothForms() throws {
        var rule = SecurityGroupRule()
        rule.ports = [53, 443]
        #expect(rule.protobufBytes() == wire("18 35 18 bb 03"))
        #expect(try SecurityGroupRule(protobuf: wire("18 35 18 bb 03")).ports == [53, 443])
        #expect(try SecurityGroupRule(protobuf: wire("1a 03 35 bb 03")).ports == [53, 443])
        // Forms may be mixed, and a port of 0 is still an element.
        #expect(try SecurityGroupRule(protobuf: wire("1a 03 35 bb 03 18 00 1a 00")).ports == [53, 443, 0])
        rule.ports = [0]
        #expect(rule.protobufBytes() == wire("18 00"))
    }

    @Test func metricTagsEntry() throws {
        var value = MetricTagValue()
        value.static = "g"
        var definition = TaskDefinition()
        definition.metricTags = [MapEntry(key: "source_id", value: value)]
        let golden = wire(#"da 01 10 0a 09 "source_id" 12 03 0a 01 "g""#)
        #expect(definition.protobufBytes() == golden)
        #expect(try TaskDefinition(protobuf: golden) == definition)
    }
}

@Suite("Protobuf codec: presence and map entries")
struct ProtobufPresenceTests {
    @Test func emptySubMessagesStayPresent() throws {
        var definition = TaskDefinition()
        definition.logRateLimit = LogRateLimit()
        definition.network = Network()
        definition.certificateProperties = CertificateProperties()
        var run = RunAction()
        run.resourceLimits = ResourceLimits()
        definition.action = Action(.run(run))
        let bytes = definition.protobufBytes()
        #expect(bytes == wire("1a 04 1a 02 2a 00  9a 01 00  b2 01 00  d2 01 00"))
        let decoded = try TaskDefinition(protobuf: bytes)
        #expect(decoded == definition)
        #expect(decoded.logRateLimit != nil && decoded.network != nil && decoded.certificateProperties != nil)
        #expect(decoded.action?.runAction?.resourceLimits != nil)
        #expect(try TaskDefinition(protobuf: []).logRateLimit == nil)
    }

    @Test func resourceLimitsMembersAreWrittenWhenSetEvenIfZero() throws {
        #expect(ResourceLimits(nofile: 0).protobufBytes() == wire("08 00"))
        #expect(ResourceLimits(nproc: 0).protobufBytes() == wire("10 00"))
        #expect(ResourceLimits(nofile: 1024, nproc: 0).protobufBytes() == wire("08 80 08 10 00"))
        let decoded = try ResourceLimits(protobuf: wire("08 00"))
        #expect(decoded.nofile == 0)
        #expect(decoded.nproc == nil)
    }

    @Test func errorFieldIsAbsentWhenNilAndWrittenWhenPresent() throws {
        #expect(BBSError(type: .unknownError, message: "x").protobufBytes() == wire(#"12 01 "x""#))
        // A present error is an error, even an empty one: it is not dropped.
        #expect(TaskLifecycleResponse(error: BBSError()).protobufBytes() == wire("0a 00"))
        #expect(try TaskLifecycleResponse(protobuf: wire("0a 00")).error == BBSError())
        #expect(try TaskLifecycleResponse(protobuf: []).error == nil)
        let notFound = TaskResponse(error: .resourceNotFound)
        #expect(try TaskResponse(protobuf: notFound.protobufBytes()) == notFound)
    }

    @Test func networkEntriesWriteKeyAndValueEvenWhenEmpty() throws {
        var network = Network()
        network.properties = [MapEntry(key: "", value: ""), MapEntry(key: "k", value: "v")]
        let golden = wire(#"0a 04 0a 00 12 00  0a 06 0a 01 "k" 12 01 "v""#)
        #expect(network.protobufBytes() == golden)
        #expect(try Network(protobuf: golden) == network)
        // An entry missing its key or value decodes to empty strings.
        #expect(try Network(protobuf: wire(#"0a 03 12 01 "v" 0a 00"#)).properties
            == [MapEntry(key: "", value: "v"), MapEntry(key: "", value: "")])
    }

    @Test func metricTagEntryWithoutValueKeepsANilValue() throws {
        var definition = TaskDefinition()
        definition.metricTags = [MapEntry(key: "source_id", value: nil), MapEntry(key: "empty", value: MetricTagValue())]
        let golden = wire(#"da 01 0b 0a 09 "source_id"  da 01 09 0a 05 "empty" 12 00"#)
        #expect(definition.protobufBytes() == golden)
        let decoded = try TaskDefinition(protobuf: golden)
        #expect(decoded.metricTags.map(\.key) == ["source_id", "empty"])
        #expect(decoded.metricTags[0].value == nil)
        #expect(decoded.metricTags[1].value == MetricTagValue())
    }

    @Test func duplicatedMapKeysAreKeptInWireOrder() throws {
        // Re-emitting every entry keeps the meaning: any protobuf reader lets the last win.
        let bytes = wire(#"0a 08 0a 01 "k" 12 03 "one"  0a 08 0a 01 "k" 12 03 "two""#)
        let network = try Network(protobuf: bytes)
        #expect(network.properties == [MapEntry(key: "k", value: "one"), MapEntry(key: "k", value: "two")])
        #expect(network.protobufBytes() == bytes)
    }

    @Test func mapEntryFieldsFollowTheUsualRules() throws {
        // Unknown fields inside an entry are skipped; a repeated value merges.
        let bytes = wire(#"da 01 10 0a 01 "k" 18 07 12 03 0a 01 "a" 12 02 10 02 12 00"#)
        let entry = try #require(try TaskDefinition(protobuf: bytes).metricTags.first)
        var expected = MetricTagValue()
        expected.static = "a"
        expected.dynamic = 2
        #expect(entry == MapEntry<MetricTagValue?>(key: "k", value: expected))
        #expect(throws: ProtoDecodingError.wrongWireType) { try Network(protobuf: wire("0a 02 08 01")) }
    }

    @Test func unknownEnumValuesAreKept() throws {
        var task = BBSTask()
        task.state = TaskState(rawValue: 99)
        var layer = ImageLayer()
        layer.layerType = 7
        layer.mediaType = -2
        let error = BBSError(type: .init(rawValue: 1000), message: "m")
        #expect(try BBSTask(protobuf: task.protobufBytes()).state.rawValue == 99)
        #expect(try ImageLayer(protobuf: layer.protobufBytes()) == layer)
        #expect(try BBSError(protobuf: error.protobufBytes()).type.rawValue == 1000)
    }
}

@Suite("Protobuf codec: round trips")
struct ProtobufRoundTripTests {
    @Test func fullDefinitionWithAll28Fields() throws {
        let definition = F.fullDefinition()
        let bytes = definition.protobufBytes()
        #expect(bytes.count == definition.encodedSize())
        let numbers = try F.fieldNumbers(bytes)
        #expect(Set(numbers) == Set(1...28))
        #expect(numbers == numbers.sorted(), "fields in ascending number order")
        let decoded = try TaskDefinition(protobuf: bytes)
        #expect(decoded == definition)
        #expect(decoded.protobufBytes() == bytes)
    }

    @Test func everyActionKind() throws {
        let action = F.everyActionKind()
        let decoded = try Action(protobuf: action.protobufBytes())
        #expect(decoded == action)
        guard case .serial(let serial)? = decoded.value else {
            Issue.record("expected a serial action")
            return
        }
        let kinds = serial.actions.map { action -> String in
            switch action.value {
            case .download: "download"
            case .upload: "upload"
            case .run: "run"
            case .timeout: "timeout"
            case .emitProgress: "emit_progress"
            case .try: "try"
            case .parallel: "parallel"
            case .serial: "serial"
            case .codependent: "codependent"
            case nil: "none"
            }
        }
        #expect(kinds == ["parallel", "run", "timeout", "emit_progress", "try", "upload"])
        #expect(serial.actions[2].timeoutAction?.action?.runAction?.args == ["1"])
        #expect(serial.actions[1].runAction?.args == ["-c", "echo hello; exit 0", ""])
    }

    @Test func actionWithSeveralMembersKeepsThemAll() throws {
        var action = Action(.run(RunAction(path: "/bin/a", user: "u")))
        action.downloadAction = DownloadAction()
        action.codependentAction = CodependentAction()
        let bytes = action.protobufBytes()
        #expect(try F.fieldNumbers(bytes) == [1, 3, 9])
        let decoded = try Action(protobuf: bytes)
        #expect(decoded == action)
        #expect(decoded.value == .download(DownloadAction()))
    }

    @Test func taskAndResponsesAndEvents() throws {
        let task = F.fullTask()
        let taskBytes = task.protobufBytes()
        #expect(try F.fieldNumbers(taskBytes) == Array(1...13))
        #expect(try BBSTask(protobuf: taskBytes) == task)

        var pending = BBSTask()
        pending.taskGuid = "other"
        pending.state = .pending
        let tasks = TasksResponse(tasks: [task, pending])
        #expect(try TasksResponse(protobuf: tasks.protobufBytes()) == tasks)
        let one = TaskResponse(task: task)
        #expect(try TaskResponse(protobuf: one.protobufBytes()) == one)

        let created = TaskCreatedEvent(task: task)
        #expect(created.protobufBytes() == RawField.bytes(1, taskBytes))
        #expect(try TaskCreatedEvent(protobuf: created.protobufBytes()) == created)
        let changed = TaskChangedEvent(before: pending, after: task)
        #expect(try F.fieldNumbers(changed.protobufBytes()) == [1, 2])
        #expect(try TaskChangedEvent(protobuf: changed.protobufBytes()) == changed)
        let removed = TaskRemovedEvent(task: task)
        #expect(try TaskRemovedEvent(protobuf: removed.protobufBytes()) == removed)
    }

    @Test func requests() throws {
        #expect(StartTaskRequest(taskGuid: "g", cellId: "c").protobufBytes() == wire(#"0a 01 "g" 12 01 "c""#))
        #expect(FailTaskRequest(taskGuid: "g", failureReason: "r").protobufBytes() == wire(#"0a 01 "g" 12 01 "r""#))
        #expect(RejectTaskRequest(taskGuid: "g", rejectionReason: "r").protobufBytes() == wire(#"0a 01 "g" 12 01 "r""#))
        #expect(TaskGuidRequest(taskGuid: "g").protobufBytes() == wire(#"0a 01 "g""#))
        #expect(TaskByGuidRequest(taskGuid: "g").protobufBytes() == wire(#"0a 01 "g""#))
        #expect(TasksRequest(domain: "d", cellId: "c").protobufBytes() == wire(#"0a 01 "d" 12 01 "c""#))
        var complete = CompleteTaskRequest()
        complete.taskGuid = "g"
        complete.cellId = "c"
        complete.failed = true
        complete.failureReason = "f"
        complete.result = "r"
        let completeBytes = wire(#"0a 01 "g" 12 01 "c" 18 01 22 01 "f" 2a 01 "r""#)
        #expect(complete.protobufBytes() == completeBytes)
        #expect(try CompleteTaskRequest(protobuf: completeBytes) == complete)
    }

    @Test func domainMessages() throws {
        let upsert = UpsertDomainRequest(domain: "d", ttl: 60)
        #expect(upsert.protobufBytes() == wire(#"0a 01 "d" 10 3c"#))
        #expect(try UpsertDomainRequest(protobuf: wire(#"0a 01 "d" 10 3c"#)) == upsert)
        let domains = DomainsResponse(domains: ["a", ""])
        #expect(domains.protobufBytes() == wire(#"12 01 "a" 12 00"#))
        #expect(try DomainsResponse(protobuf: domains.protobufBytes()) == domains)
        let failed = UpsertDomainResponse(error: .badRequest)
        #expect(try UpsertDomainResponse(protobuf: failed.protobufBytes()) == failed)
    }

    @Test func deeplyNestedActions() throws {
        // The conformance suite's 40 alternating wrappers: about 80 message levels.
        var action = F.run()
        for level in 0..<40 {
            switch level % 4 {
            case 0: action = Action(.serial(SerialAction(actions: [action])))
            case 1:
                var wrapper = TryAction()
                wrapper.action = action
                action = Action(.try(wrapper))
            case 2: action = Action(.parallel(ParallelAction(actions: [action, F.run("/bin/x")])))
            default:
                var wrapper = EmitProgressAction()
                wrapper.action = action
                action = Action(.emitProgress(wrapper))
            }
        }
        var request = DesireTaskRequest()
        request.taskDefinition = F.minimalDefinition()
        request.taskDefinition?.action = action
        #expect(try DesireTaskRequest(protobuf: request.protobufBytes()) == request)
    }

    @Test func nestingBeyondTheLimitIsRejected() {
        var action = F.run()
        for _ in 0..<60 {
            var wrapper = TryAction()
            wrapper.action = action
            action = Action(.try(wrapper))
        }
        #expect(throws: ProtoDecodingError.depthLimitExceeded) { try Action(protobuf: action.protobufBytes()) }
    }

    @Test func unicodeAndLargeValues() throws {
        var definition = F.minimalDefinition()
        definition.environmentVariables = (0..<1000).map {
            EnvironmentVariable(name: "VAR_\($0)", value: String(repeating: "\u{e9}\u{4e2d}\u{1F600}", count: 20))
        }
        definition.annotation = String(repeating: "\u{2603}", count: 3000)
        #expect(try TaskDefinition(protobuf: definition.protobufBytes()) == definition)
    }

    @Test func invalidUTF8IsRepaired() throws {
        let bytes = RawField.bytes(1, [0x64, 0xFF, 0x78])
        let definition = try TaskDefinition(protobuf: bytes)
        #expect(definition.rootFs == "d\u{FFFD}x")
    }
}

@Suite("Protobuf codec: merge semantics and unknown fields")
struct ProtobufMergeTests {
    @Test func splitSubMessageIsMerged() throws {
        let part1 = RawField.bytes(3, Action(.run(RunAction(path: "/bin/a"))).protobufBytes())
        let part2 = RawField.bytes(3, Action(.run(RunAction(user: "vcap"))).protobufBytes())
        let definition = try TaskDefinition(protobuf: RawField.bytes(1, "docker:///x") + part1 + part2)
        let run = try #require(definition.action?.runAction)
        #expect(run.path == "/bin/a")
        #expect(run.user == "vcap")
    }

    @Test func splitBoxedActionIsMerged() throws {
        // TimeoutAction.action is stored indirectly; merging must still reach into it.
        let part1 = RawField.bytes(1, RawField.bytes(3, RawField.bytes(1, "/bin/a")))
        let part2 = RawField.bytes(1, RawField.bytes(3, RawField.bytes(6, "vcap"))) + RawField.varint(4, 5)
        let timeout = try TimeoutAction(protobuf: part1 + part2)
        #expect(timeout.action?.runAction == RunAction(path: "/bin/a", user: "vcap"))
        #expect(timeout.timeoutMs == 5)
    }

    @Test func fieldsInAnyOrderAndLastScalarWins() throws {
        let definition = RawField.varint(5, 128) + RawField.bytes(3, F.run().protobufBytes())
            + RawField.bytes(1, "docker:///first") + RawField.varint(5, 256) + RawField.bytes(1, "docker:///second")
        let body = RawField.bytes(3, "domain") + RawField.bytes(2, "guid") + RawField.bytes(1, definition)
        let request = try DesireTaskRequest(protobuf: body)
        #expect(request.taskDefinition?.rootFs == "docker:///second")
        #expect(request.taskDefinition?.memoryMb == 256)
        #expect(request.taskGuid == "guid")
        #expect(request.domain == "domain")
    }

    @Test func explicitDefaultValuesAreAcceptedAndNotWrittenBack() throws {
        let minimal = F.minimalDefinition().protobufBytes()
        let withDefaults = minimal + RawField.varint(7, 0) + RawField.varint(4, 0) + RawField.bytes(8, "")
            + RawField.varint(21, 0)
        let decoded = try TaskDefinition(protobuf: withDefaults)
        #expect(decoded == F.minimalDefinition())
        #expect(decoded.protobufBytes() == minimal)
    }

    @Test func unknownFieldsSurviveAtEveryDepth() throws {
        let unknown = RawField.unknown
        let run = RunAction(path: "/bin/true", user: "vcap").protobufBytes() + unknown
        let action = RawField.bytes(3, run) + unknown
        let definition = RawField.bytes(1, "docker:///x") + RawField.bytes(3, action) + unknown + RawField.varint(5, 64)
        let body = unknown + RawField.bytes(1, definition) + RawField.bytes(2, "g") + RawField.bytes(3, "d") + unknown
        let request = try DesireTaskRequest(protobuf: body)
        #expect(request.unknownFields == unknown + unknown)
        let td = try #require(request.taskDefinition)
        #expect(td.unknownFields == unknown)
        #expect(td.action?.unknownFields == unknown)
        #expect(td.action?.runAction?.unknownFields == unknown)
        #expect(td.rootFs == "docker:///x")
        #expect(td.memoryMb == 64)

        // Written back after each message's known fields.
        let expectedDefinition = RawField.bytes(1, "docker:///x")
            + RawField.bytes(3, RawField.bytes(3, run) + unknown) + RawField.varint(5, 64) + unknown
        let expected = RawField.bytes(1, expectedDefinition) + RawField.bytes(2, "g") + RawField.bytes(3, "d")
            + unknown + unknown
        #expect(request.protobufBytes() == expected)
        #expect(try DesireTaskRequest(protobuf: expected) == request)

        // Without them, the value is what a current client sent.
        var stripped = td
        stripped.unknownFields = []
        stripped.action?.unknownFields = []
        stripped.action?.runAction?.unknownFields = []
        var expectedValue = F.minimalDefinition()
        expectedValue.rootFs = "docker:///x"
        expectedValue.memoryMb = 64
        #expect(stripped == expectedValue)
    }

    @Test func unknownGroupsAreKept() throws {
        let group = RawField.group(77, RawField.varint(1, 5) + RawField.group(78, RawField.bytes(2, "x")))
        let definition = try TaskDefinition(protobuf: F.minimalDefinition().protobufBytes() + group)
        #expect(definition.rootFs == "docker:///busybox")
        #expect(definition.unknownFields == group)
        #expect(definition.protobufBytes() == F.minimalDefinition().protobufBytes() + group)
    }

    @Test func unknownFieldsInsideTasksOfAResponse() throws {
        var task = BBSTask()
        task.taskGuid = "g"
        task.unknownFields = RawField.varint(50, 1)
        task.taskDefinition = F.minimalDefinition()
        task.taskDefinition?.volumeMounts = [VolumeMount()]
        task.taskDefinition?.volumeMounts[0].unknownFields = RawField.bytes(9, "future")
        let response = TasksResponse(tasks: [task])
        let decoded = try TasksResponse(protobuf: response.protobufBytes())
        #expect(decoded == response)
        #expect(decoded.tasks[0].taskDefinition?.volumeMounts[0].unknownFields == RawField.bytes(9, "future"))
    }
}

@Suite("Protobuf codec: legacy volume mount fields")
struct LegacyVolumeMountFieldTests {
    private static var legacyMount: VolumeMount {
        var mount = VolumeMount()
        mount.driver = "d"
        mount.containerDir = "/c"
        mount.mode = "rw"
        return mount
    }

    @Test func reservedFieldsAreReadFromUnknownFields() throws {
        let legacy = RawField.bytes(2, "old-volume") + RawField.varint(4, 1) + RawField.bytes(5, Array("{}".utf8))
        let bytes = Self.legacyMount.protobufBytes() + legacy
        let mount = try VolumeMount(protobuf: bytes)
        #expect(mount.driver == "d" && mount.containerDir == "/c" && mount.mode == "rw")
        #expect(mount.unknownFields == legacy)
        #expect(mount.legacyFields() == LegacyVolumeMountFields(volumeId: "old-volume", mode: 1, config: Array("{}".utf8)))
        #expect(mount.protobufBytes() == bytes)
    }

    @Test func absentLegacyFieldsAreDefaults() throws {
        #expect(VolumeMount().legacyFields() == LegacyVolumeMountFields())
        let mixed = RawField.varint(9, 3) + RawField.bytes(2, "a") + RawField.varint(2, 7) + RawField.bytes(2, "b")
        let mount = try VolumeMount(protobuf: mixed)
        // Last value wins; a record of the wrong wire type is ignored.
        #expect(mount.legacyFields() == LegacyVolumeMountFields(volumeId: "b", mode: 0, config: []))
    }

    @Test func desireR1UpConversionUsesThem() throws {
        let legacy = RawField.bytes(2, "vol") + RawField.varint(4, 1) + RawField.bytes(5, Array(#"{"a":1}"#.utf8))
        let old = RawField.bytes(1, "nfs") + legacy + RawField.bytes(3, "/data")
        var definition = F.minimalDefinition()
        definition.volumeMounts = [try VolumeMount(protobuf: old), try VolumeMount(protobuf: RawField.bytes(1, "ro"))]
        let upgraded = definition.upgradedFromR1VolumeMounts()
        #expect(upgraded.volumeMounts[0].driver == "nfs")
        #expect(upgraded.volumeMounts[0].containerDir == "/data")
        #expect(upgraded.volumeMounts[0].mode == "rw")
        #expect(upgraded.volumeMounts[0].shared == SharedDevice(volumeId: "vol", mountConfig: #"{"a":1}"#))
        #expect(upgraded.volumeMounts[0].unknownFields.isEmpty)
        #expect(upgraded.volumeMounts[1].mode == "r")
        #expect(upgraded.volumeMounts[1].shared == SharedDevice())
    }
}

@Suite("Protobuf codec: malformed bodies (conformance MALFORMED table)")
struct ProtobufMalformedTests {
    static let minimal = F.minimalDefinition().protobufBytes()

    static let malformed: [(String, [UInt8])] = [
        ("garbage", [0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
        ("text", Array("hello, this is not protobuf".utf8)),
        ("truncated length-delimited", RawField.bytes(2, "g") + RawField.bytes(1, minimal).dropLast(4)),
        ("truncated nested message", RawField.bytes(2, "g") + RawField.key(1, 2) + RawField.varint(50) + wire(#"0a 05 "abc""#)),
        ("length past end", RawField.key(2, 2) + RawField.varint(1000) + Array("abc".utf8)),
        ("truncated varint", [0x28, 0x80, 0x80]),
        ("varint over 10 bytes", RawField.key(99, 0) + [UInt8](repeating: 0xFF, count: 10) + [0x01]),
        ("field number zero", [0x02, 0x01, 0x78]),
        ("wire type 6", RawField.key(99, 6) + [0x00]),
        ("wire type 7", RawField.key(99, 7) + [0x00]),
        ("wrong wire type for known string", RawField.varint(2, 5)),
        ("wrong wire type for known message", RawField.varint(1, 5)),
        ("wrong wire type for known int in nested", RawField.bytes(1, RawField.bytes(5, "12"))),
        ("end group without start", RawField.key(99, 4)),
        ("unterminated group", RawField.key(99, 3) + RawField.varint(1, 1)),
        ("truncated fixed64", RawField.key(99, 1) + [0x01, 0x02, 0x03]),
        ("truncated fixed32", RawField.key(99, 5) + [0x01]),
        ("garbage inside task definition", RawField.bytes(1, [0xFF, 0xFF, 0xFF]) + RawField.bytes(2, "g")),
        ("length of 2^32-1 on every route", [0x0A, 0xFF, 0xFF, 0xFF, 0x0F]),
    ]

    @Test(arguments: malformed)
    func desireTaskRequestRejects(name: String, body: [UInt8]) {
        #expect(throws: ProtoDecodingError.self, "\(name)") { try DesireTaskRequest(protobuf: body) }
    }

    @Test func everyRouteRejectsTheTruncatedBody() {
        let body: [UInt8] = [0x0A, 0xFF, 0xFF, 0xFF, 0x0F]
        #expect(throws: ProtoDecodingError.self) { try StartTaskRequest(protobuf: body) }
        #expect(throws: ProtoDecodingError.self) { try CompleteTaskRequest(protobuf: body) }
        #expect(throws: ProtoDecodingError.self) { try TaskGuidRequest(protobuf: body) }
        #expect(throws: ProtoDecodingError.self) { try FailTaskRequest(protobuf: body) }
        #expect(throws: ProtoDecodingError.self) { try RejectTaskRequest(protobuf: body) }
        #expect(throws: ProtoDecodingError.self) { try TaskByGuidRequest(protobuf: body) }
        #expect(throws: ProtoDecodingError.self) { try TasksRequest(protobuf: body) }
    }

    @Test func emptyBodyIsAnEmptyMessage() throws {
        #expect(try DesireTaskRequest(protobuf: []) == DesireTaskRequest())
        #expect(try TasksRequest(protobuf: []) == TasksRequest())
    }
}
