import BBSModels
import Testing

@testable import TaskCore

/// Action rules of lifecycle.md §8.4: texts follow `Invalid field: action`, flattened in
/// tree order; only an action's first present member counts.
@Suite("Action validation")
struct ValidationActionTests {
    typealias F = ValidationFixtures

    private static func errors(_ action: Action) -> BBSError? {
        F.desireError(F.definition { $0.action = action })
    }

    private static func download(_ configure: (inout DownloadAction) -> Void = { _ in }) -> Action {
        var download = DownloadAction()
        download.from = "http://example.com/a"
        download.to = "/tmp/a"
        download.user = "vcap"
        configure(&download)
        return Action(.download(download))
    }

    private static func upload(_ configure: (inout UploadAction) -> Void = { _ in }) -> Action {
        var upload = UploadAction()
        upload.from = "/tmp/out"
        upload.to = "http://example.com/up"
        upload.user = "vcap"
        configure(&upload)
        return Action(.upload(upload))
    }

    private static func timeout(_ inner: Action?, ms: Int64 = 1000, ns: Int64 = 0) -> Action {
        var timeout = TimeoutAction()
        timeout.action = inner
        timeout.timeoutMs = ms
        timeout.deprecatedTimeoutNs = ns
        return Action(.timeout(timeout))
    }

    private static func tryAction(_ inner: Action?) -> Action {
        var tryAction = TryAction()
        tryAction.action = inner
        return Action(.try(tryAction))
    }

    private static func emitProgress(_ inner: Action?) -> Action {
        var emit = EmitProgressAction()
        emit.action = inner
        emit.startMessage = "s"
        return Action(.emitProgress(emit))
    }

    enum CompositeKind: CaseIterable, Sendable {
        case parallel, serial, codependent

        func action(_ children: [Action]) -> Action {
            switch self {
            case .parallel: Action(.parallel(ParallelAction(actions: children)))
            case .serial: Action(.serial(SerialAction(actions: children)))
            case .codependent: Action(.codependent(CodependentAction(actions: children)))
            }
        }
    }

    // MARK: run, download, upload

    @Test(arguments: [
        ("", "vcap", ["path"]),
        ("/bin/true", "", ["user"]),
        ("", "", ["path", "user"]),
    ])
    func runActionRequiredFields(path: String, user: String, fields: [String]) {
        #expect(Self.errors(F.run(path: path, user: user)) == F.invalid(["action"] + fields))
    }

    @Test(arguments: [
        (download { $0.from = "" }, ["from"]),
        (download { $0.to = "" }, ["to"]),
        (download { $0.user = "" }, ["user"]),
        (download { $0.from = ""; $0.to = ""; $0.user = "" }, ["from", "to", "user"]),
        (download { $0.checksumValue = "abc" }, ["checksum algorithm"]),
        (download { $0.checksumAlgorithm = "md5" }, ["checksum value"]),
        (download { $0.checksumAlgorithm = "sha512"; $0.checksumValue = "abc" }, ["invalid algorithm"]),
        (download { $0.checksumAlgorithm = "crc32"; $0.checksumValue = "abc" }, ["invalid algorithm"]),
    ])
    func downloadActionRules(action: Action, fields: [String]) {
        #expect(Self.errors(action) == F.invalid(["action"] + fields))
    }

    @Test(arguments: ["md5", "sha1", "sha256", "SHA256", "Md5"])
    func downloadChecksumAlgorithmsAccepted(algorithm: String) {
        #expect(Self.errors(Self.download { $0.checksumAlgorithm = algorithm; $0.checksumValue = "abc" }) == nil)
    }

    @Test(arguments: [
        (upload { $0.to = "" }, ["to"]),
        (upload { $0.from = "" }, ["from"]),
        (upload { $0.user = "" }, ["user"]),
        // Upload checks `to` before `from`, unlike download.
        (upload { $0.from = ""; $0.to = ""; $0.user = "" }, ["to", "from", "user"]),
    ])
    func uploadActionRules(action: Action, fields: [String]) {
        #expect(Self.errors(action) == F.invalid(["action"] + fields))
    }

    // MARK: timeout, try, emit progress

    @Test func timeoutWithoutInnerActionAndTimeout() {
        #expect(Self.errors(Action(.timeout(TimeoutAction()))) == F.invalid("action", "action", "timeout_ms"))
    }

    @Test(arguments: [Int64(0), -5])
    func timeoutRequiresPositiveTimeoutMs(ms: Int64) {
        #expect(Self.errors(Self.timeout(F.run(), ms: ms)) == F.invalid("action", "timeout_ms"))
    }

    @Test func deprecatedTimeoutNsDoesNotCountOnTheCurrentRoute() {
        #expect(Self.errors(Self.timeout(F.run(), ms: 0, ns: 5_000_000_000)) == F.invalid("action", "timeout_ms"))
    }

    @Test func timeoutWithInvalidInnerAction() {
        #expect(Self.errors(Self.timeout(F.run(path: ""))) == F.invalid("action", "path"))
    }

    @Test func timeoutReportsInnerTextsBeforeItsOwn() {
        #expect(Self.errors(Self.timeout(F.run(user: ""), ms: 0)) == F.invalid("action", "user", "timeout_ms"))
    }

    @Test func tryWithoutInnerAction() {
        #expect(Self.errors(Self.tryAction(nil)) == F.invalid("action", "action"))
    }

    @Test func emitProgressWithoutInnerAction() {
        #expect(Self.errors(Self.emitProgress(nil)) == F.invalid("action", "action"))
    }

    // MARK: parallel, serial, codependent

    @Test(arguments: CompositeKind.allCases)
    func compositeWithoutChildren(kind: CompositeKind) {
        #expect(Self.errors(kind.action([])) == F.invalid("action", "actions"))
    }

    @Test(arguments: CompositeKind.allCases)
    func compositeReportsEachInvalidChild(kind: CompositeKind) {
        let children = [F.run(path: ""), F.run(), Self.download { $0.from = "" }, F.run(user: "")]
        #expect(Self.errors(kind.action(children)) == F.invalid("action", "path", "from", "user"))
    }

    @Test func serialWhoseRunLacksAPath() {
        #expect(Self.errors(CompositeKind.serial.action([F.run(path: "")])) == F.invalid("action", "path"))
    }

    @Test func deeplyNestedInvalidAction() {
        let tree = CompositeKind.serial.action([
            F.run(),
            Self.timeout(Self.tryAction(Self.emitProgress(
                CompositeKind.parallel.action([F.run(), F.run(user: "")])))),
        ])
        #expect(Self.errors(tree) == F.invalid("action", "user"))
    }

    @Test func validActionOfEveryKind() {
        var emit = EmitProgressAction()
        emit.action = F.run(path: "/bin/echo")
        emit.startMessage = "starting"
        let tree = CompositeKind.serial.action([
            CompositeKind.parallel.action([
                Self.download { $0.checksumAlgorithm = "sha256"; $0.checksumValue = "e3b0" },
                CompositeKind.codependent.action([F.run(path: "/bin/a"), F.run(path: "/bin/b")]),
            ]),
            F.run(path: "/bin/sh"),
            Self.timeout(F.run(path: "/bin/sleep"), ms: 15000, ns: 15_000_000_000),
            Action(.emitProgress(emit)),
            Self.tryAction(F.run(path: "/bin/false")),
            Self.upload(),
        ])
        #expect(Self.errors(tree) == nil)
    }

    // MARK: empty nested actions (crash the reference; reported as inner-action here)

    @Test(arguments: [
        timeout(Action(), ms: 5),
        tryAction(Action()),
        emitProgress(Action()),
        CompositeKind.serial.action([F.run(), Action()]),
        CompositeKind.parallel.action([Action()]),
        CompositeKind.codependent.action([Action(), F.run()]),
    ])
    func emptyNestedActionIsAnInvalidInnerAction(action: Action) {
        #expect(Self.errors(action) == F.invalid("action", "inner-action"))
    }

    @Test func emptyNestedActionsAreEachReported() {
        let tree = CompositeKind.serial.action([Action(), F.run(path: ""), Self.tryAction(Action())])
        #expect(Self.errors(tree) == F.invalid("action", "inner-action", "path", "inner-action"))
    }

    // MARK: first present member only

    @Test func onlyTheFirstPresentMemberIsValidated() {
        var validFirst = F.run()
        validFirst.uploadAction = UploadAction()  // upload (field 2) precedes run (field 3)
        #expect(Self.errors(validFirst) == F.invalid("action", "to", "from", "user"))

        var invalidLater = Self.download()
        invalidLater.runAction = RunAction()  // never looked at: download comes first
        invalidLater.serialAction = SerialAction()
        #expect(Self.errors(invalidLater) == nil)
    }
}
