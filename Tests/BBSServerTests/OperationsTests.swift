import BBSLog
import BBSMetrics
import BBSModels
import BBSWAL
import Foundation
import Testing
@testable import BBSServer
@testable import TaskCore

/// A fresh directory for one test, removed afterwards.
private func withDirectory<T>(_ body: (String) throws -> T) throws -> T {
    let path = NSTemporaryDirectory() + "bbs-server-test-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try body(path)
}

private func check(_ json: String) -> ConfigurationCheck.Report {
    ConfigurationCheck.check(data: Data(json.utf8))
}

@Suite("--check-config")
struct ConfigurationCheckTests {
    @Test func aGoodConfigurationIsValid() throws {
        try withDirectory { root in
            let report = check(#"{"listen_address": "127.0.0.1:8889", "health_address": "127.0.0.1:8890", "data_dir": "\#(root)/data/nested", "access_log_path": "\#(root)/logs/access.log", "log_level": "debug"}"#)
            #expect(report.problems == [])
            #expect(report.notes == [])
            #expect(report.isValid)
        }
    }

    @Test func everyProblemIsListedWithItsKey() throws {
        try withDirectory { root in
            let report = check("""
                {"listen_address": "nowhere", "health_address": 8890, "request_timeout": "soon",
                 "max_task_retries": -1, "log_level": "chatty", "data_dir": "\(root)/data",
                 "idle_timeout": "0s", "wal_fsync": "yes"}
                """)
            #expect(Set(report.problems.map(\.key)) == ["listen_address", "health_address", "request_timeout",
                                                         "max_task_retries", "log_level", "idle_timeout", "wal_fsync"])
            #expect(report.problems.contains(ConfigurationProblem(key: "health_address", text: "must be a string")))
            #expect(report.problems.contains(ConfigurationProblem(key: "wal_fsync", text: "must be true or false")))
            #expect(report.problems.contains(ConfigurationProblem(key: "listen_address", text: "\"nowhere\" is not host:port")))
            #expect(report.problems.contains { $0.key == "request_timeout" && $0.text.contains("invalid duration \"soon\"") })
            #expect(!report.isValid)
        }
    }

    @Test func theHealthListenerMustNotTakeTheAPIsAddress() {
        let report = check(#"{"listen_address": "127.0.0.1:8889", "health_address": "127.0.0.1:8889"}"#)
        #expect(report.problems == [ConfigurationProblem(key: "health_address", text: "\"127.0.0.1:8889\" is the listen_address")])
        #expect(check(#"{"health_address": "127.0.0.1:bad"}"#).problems.map(\.key) == ["health_address"])
    }

    @Test func theDataDirectoryMustBeAWritableDirectoryOrCreatable() throws {
        try withDirectory { root in
            let file = root + "/plain-file"
            #expect(FileManager.default.createFile(atPath: file, contents: Data()))
            #expect(check(#"{"data_dir": "\#(file)"}"#).problems
                    == [ConfigurationProblem(key: "data_dir", text: "\(file) is not a directory")])
            // Below a file: cannot be created.
            #expect(check(#"{"data_dir": "\#(file)/data"}"#).problems.map(\.key) == ["data_dir"])
            #expect(check(#"{"data_dir": "\#(root)/new/deeper"}"#).isValid)
            try FileManager.default.createDirectory(atPath: root + "/locked", withIntermediateDirectories: false,
                                                    attributes: [.posixPermissions: 0o500])
            if getuid() != 0 {  // root writes anywhere
                #expect(check(#"{"data_dir": "\#(root)/locked"}"#).problems
                        == [ConfigurationProblem(key: "data_dir", text: "\(root)/locked is not writable")])
            }
        }
    }

    @Test func namedFilesMustBeUsable() throws {
        try withDirectory { root in
            let report = check("""
                {"data_dir": "\(root)", "access_log_path": "\(root)", "cert_file": "\(root)/missing.pem",
                 "key_file": "\(root)", "ca_file": ""}
                """)
            #expect(report.problems == [
                ConfigurationProblem(key: "access_log_path", text: "\(root) is a directory"),
                ConfigurationProblem(key: "cert_file", text: "\(root)/missing.pem does not exist"),
                ConfigurationProblem(key: "key_file", text: "\(root) is a directory"),
            ])
        }
    }

    @Test func tlsNeedsItsFiles() throws {
        try withDirectory { root in
            let report = check(#"{"data_dir": "\#(root)", "require_ssl": true, "key_file": "\#(root)/server.key", "tls_handshake_timeout": "0s"}"#)
            #expect(report.problems == [
                ConfigurationProblem(key: "require_ssl", text: "needs cert_file and key_file"),
                ConfigurationProblem(key: "tls_handshake_timeout", text: "must be a positive duration"),
                ConfigurationProblem(key: "key_file", text: "\(root)/server.key does not exist"),
            ])
        }
    }

    @Test func unknownKeysAreNotedNotRefused() throws {
        try withDirectory { root in
            let report = check(#"{"data_dir": "\#(root)", "listen_adress": ":1", "database_driver": "mysql"}"#)
            #expect(report.isValid)
            #expect(report.notes == ["database_driver is not used by bbs-server (ignored)",
                                     "listen_adress is not used by bbs-server (ignored)"])
        }
    }

    @Test func aFileThatIsNotAJSONObjectIsOneProblem() {
        #expect(check("[1, 2]").problems == [ConfigurationProblem(key: "", text: "not a JSON object")])
        #expect(check("{").problems == [ConfigurationProblem(key: "", text: "not a JSON object")])
        #expect(ConfigurationCheck.check(path: "/nonexistent/bbs.json").problems.count == 1)
    }

    @Test func aRunningServerOnTheDataDirectoryIsNoted() throws {
        try withDirectory { root in
            let log = try WriteAheadLog(directory: root + "/wal", options: WriteAheadLog.Options(), logger: .discarding) { _, _ in }
            let report = check(#"{"data_dir": "\#(root)"}"#)
            #expect(report.isValid)
            #expect(report.notes == ["a server is running on data_dir \(root) (its log is locked)"])
            log.close()
        }
    }

    @Test func theReportNamesTheFileOnEveryLine() {
        let report = ConfigurationCheck.Report(problems: [ConfigurationProblem(key: "log_level", text: "bad")],
                                               notes: ["x is not used"])
        #expect(ConfigurationCheck.render(report, path: "c.json") == "c.json: log_level: bad\nc.json: note: x is not used\nc.json: 1 problem\n")
        #expect(ConfigurationCheck.render(ConfigurationCheck.Report(), path: "c.json") == "c.json: OK\n")
    }

    @Test func startingStopsAtTheFirstProblemWithTheSameText() throws {
        try withDirectory { root in
            let path = root + "/c.json"
            try Data(#"{"max_task_retries": -1}"#.utf8).write(to: URL(fileURLWithPath: path))
            #expect(throws: ConfigurationError.self) { try ServerConfiguration.load(path: path) }
            do {
                _ = try ServerConfiguration.load(path: path)
            } catch {
                #expect("\(error)" == "max_task_retries: must be >= 0")
            }
        }
    }
}

@Suite("Command line")
struct InvocationTests {
    @Test func serveAndCheck() throws {
        #expect(try Invocation.parse([]) == .serve(config: Invocation.defaultConfig))
        #expect(try Invocation.parse(["--config", "a.json"]) == .serve(config: "a.json"))
        #expect(try Invocation.parse(["-config", "a.json"]) == .serve(config: "a.json"))
        #expect(try Invocation.parse(["--check-config", "--config", "a.json"]) == .checkConfig(config: "a.json"))
        #expect(try Invocation.parse(["--config", "a.json", "--check-config"]) == .checkConfig(config: "a.json"))
        #expect(try Invocation.parse(["--help"]) == .help)
    }

    @Test func operatorCommands() throws {
        #expect(try Invocation.parse(["inspect"]) == .inspect(.config(Invocation.defaultConfig)))
        #expect(try Invocation.parse(["inspect", "--data-dir", "/d"]) == .inspect(.dataDir("/d")))
        #expect(try Invocation.parse(["restore", "--from", "b.snap", "--config", "c.json"])
                == .restore(backup: "b.snap", .config("c.json")))
        #expect(throws: Invocation.UsageError.self) { try Invocation.parse(["restore", "--data-dir", "/d"]) }
        #expect(throws: Invocation.UsageError.self) { try Invocation.parse(["inspect", "--data-dir", "/d", "--config", "c"]) }
        #expect(throws: Invocation.UsageError.self) { try Invocation.parse(["--data-dir", "/d"]) }
        #expect(throws: Invocation.UsageError.self) { try Invocation.parse(["--config"]) }
        #expect(throws: Invocation.UsageError.self) { try Invocation.parse(["inspect", "--check-config"]) }
    }
}

@Suite("Inspector and restore commands")
struct OperatorCommandTests {
    private static let definition = StoredDefinition(bytes: [0x0a, 0x01, 0x78], completionCallbackURL: "")

    /// A data directory whose log holds tasks a, b (Running on cell-1) in domain d1 and c in d2.
    private func makeDataDirectory(_ root: String) async throws -> TaskStore {
        let log = try WriteAheadLog(directory: OperatorCommands.journalDirectory(dataDir: root),
                                    options: WriteAheadLog.Options(), logger: .discarding) { _, _ in }
        let store = TaskStore(recovered: TaskStoreRecovery(), journal: log, machine: TaskStateMachine(maxTaskRetries: 3),
                              clock: { 1_700_000_000_000_000_000 }, logger: .discarding)
        for (guid, domain) in [("a", "d1"), ("b", "d1"), ("c", "d2")] {
            _ = await withCheckedContinuation { c in
                store.apply(.desire(domain: domain, definition: Self.definition), guid: guid) { c.resume(returning: $0) }
            }
        }
        _ = await withCheckedContinuation { c in store.apply(.start(cellId: "cell-1"), guid: "b") { c.resume(returning: $0) } }
        await withCheckedContinuation { c in store.upsertDomain("d1", ttl: 0) { _ in c.resume() } }
        log.close()
        return store
    }

    @Test func inspectDescribesTheLogAndItsTasks() async throws {
        let root = NSTemporaryDirectory() + "bbs-server-test-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: root) }
        _ = try await makeDataDirectory(root)
        let (output, status) = OperatorCommands.inspect(dataDir: root)
        #expect(status == 0)
        let directory = OperatorCommands.journalDirectory(dataDir: root)
        #expect(output == """
            write-ahead log: \(directory)
            snapshot: none
            segments: 1
              segment-0000000000000001.wal  first_sequence=1  records=5  valid_bytes=\(try validBytes(directory))  file_bytes=\(try validBytes(directory))
            torn tail: none
            last sequence: 5
            records: 5 (0 in the snapshot)
              put-domain: 1
              put-task: 3
              update-task: 1
            tasks: 3
              domain  Pending    Running    Completed  Resolving
              d1      1          1          0          0
              d2      1          0          0          0
            domains: 1
              d1: never expires

            """)
        #expect(OperatorCommands.inspect(dataDir: root + "/nothing-here").status == 1)
    }

    private func validBytes(_ directory: String) throws -> Int {
        try #require(try WriteAheadLog.inspect(directory: directory).segments.first).validBytes
    }

    @Test func inspectWarnsWhenAServerHasTheLogOpen() async throws {
        let root = NSTemporaryDirectory() + "bbs-server-test-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: root) }
        _ = try await makeDataDirectory(root)
        let log = try WriteAheadLog(directory: OperatorCommands.journalDirectory(dataDir: root),
                                    options: WriteAheadLog.Options(), logger: .discarding) { _, _ in }
        let (output, status) = OperatorCommands.inspect(dataDir: root)
        log.close()
        #expect(status == 0)
        #expect(output.contains("warning: a server has this log open"))
        #expect(output.contains("tasks: 3"))
    }

    @Test func inspectReportsATornTail() async throws {
        let root = NSTemporaryDirectory() + "bbs-server-test-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: root) }
        _ = try await makeDataDirectory(root)
        let directory = OperatorCommands.journalDirectory(dataDir: root)
        let segment = directory + "/segment-0000000000000001.wal"
        let handle = try #require(FileHandle(forWritingAtPath: segment))
        handle.seekToEndOfFile()
        handle.write(Data([0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08]))
        try handle.close()
        let (output, status) = OperatorCommands.inspect(dataDir: root)
        #expect(status == 0)
        #expect(output.contains("torn tail: segment-0000000000000001.wal at offset"))
        #expect(output.contains("tasks: 3"))
    }

    @Test func restoreRefusesADataDirectoryThatHasALogAndFillsAnEmptyOne() async throws {
        let root = NSTemporaryDirectory() + "bbs-server-test-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try await makeDataDirectory(root + "/live")
        let backup = try await withCheckedContinuation { c in store.backup { c.resume(returning: $0) } }.get()
        let file = root + "/backup.snap"
        try Data(try backup.fileBytes()).write(to: URL(fileURLWithPath: file))

        let refused = OperatorCommands.restore(backup: file, dataDir: root + "/live")
        #expect(refused.status == 1)
        #expect(refused.output.hasPrefix("restore refused: "))

        let restored = OperatorCommands.restore(backup: file, dataDir: root + "/fresh")
        #expect(restored.status == 0)
        #expect(restored.output == "restored \(file) into \(root)/fresh/wal: 3 tasks in 2 domains, 1 upserted domains\n")
        let inspected = OperatorCommands.inspect(dataDir: root + "/fresh").output
        #expect(inspected.contains("snapshot: snapshot-0000000000000001.snap  records=4  last_sequence=5"))
        #expect(inspected.contains("  d1      1          1          0          0\n"))
    }
}

@Suite("Access log file")
struct AccessLogFileTests {
    @Test func linesAreAppendedAfterWhatIsThere() throws {
        try withDirectory { root in
            let path = root + "/logs/access.log"
            try FileManager.default.createDirectory(atPath: root + "/logs", withIntermediateDirectories: true)
            try Data("earlier\n".utf8).write(to: URL(fileURLWithPath: path))
            let file = try AccessLogFile(path: path, logger: .discarding, flushInterval: .seconds(3600))
            file.append("one")
            file.append("two")
            file.flushNow()
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "earlier\none\ntwo\n")
            file.append("three")
            file.close()
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "earlier\none\ntwo\nthree\n")
        }
    }

    @Test func reopenFollowsARotation() throws {
        try withDirectory { root in
            let path = root + "/access.log"
            let file = try AccessLogFile(path: path, logger: .discarding, flushInterval: .seconds(3600))
            file.append("before")
            file.flushNow()
            try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
            file.append("during")  // buffered: goes to the old file when reopen flushes
            file.reopen()
            file.append("after")
            file.close()
            #expect(try String(contentsOfFile: path + ".1", encoding: .utf8) == "before\nduring\n")
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "after\n")
        }
    }

    @Test func aFullBufferDropsAndCountsLines() throws {
        try withDirectory { root in
            let file = try AccessLogFile(path: root + "/a.log", logger: .discarding, flushInterval: .seconds(3600),
                                         maxBufferedBytes: 10)
            file.append("12345")
            file.append("67890")
            #expect(file.droppedLines == 1)
            file.close()
            #expect(try String(contentsOfFile: root + "/a.log", encoding: .utf8) == "12345\n")
        }
    }
}

@Suite("Server metrics")
struct ServerMetricsTests {
    @Test func logBatchesMoveTheLogMetrics() {
        let metrics = ServerMetrics()
        metrics.walBatchObserver(WriteAheadLog.BatchReport(records: 3, bytes: 300, writeNanoseconds: 50_000,
                                                           syncNanoseconds: 2_000_000, oldestWaitNanoseconds: 3_000_000))
        metrics.walBatchObserver(WriteAheadLog.BatchReport(records: 0, bytes: 0, writeNanoseconds: 0,
                                                           syncNanoseconds: 0, oldestWaitNanoseconds: 0))
        let exposition = metrics.registry.exposition()
        #expect(exposition.contains("bbs_wal_records_total 3\n"))
        #expect(exposition.contains("bbs_wal_batches_total 1\n"))
        #expect(exposition.contains("bbs_wal_bytes_total 300\n"))
        #expect(exposition.contains("bbs_wal_batch_records_bucket{le=\"2\"} 0\nbbs_wal_batch_records_bucket{le=\"4\"} 1\n"))
        #expect(exposition.contains("bbs_wal_fsync_duration_seconds_bucket{le=\"0.001\"} 0\nbbs_wal_fsync_duration_seconds_bucket{le=\"0.0025\"} 1\n"))
        #expect(exposition.contains("bbs_wal_append_to_durable_seconds_sum 0.003\n"))
    }
}

/// scripts/gen-certs output in `directory` (ca, server, client, other-ca, other-client).
private func makeCertificates(in directory: String) throws {
    let generator = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts/gen-certs").path
    let process = Process()
    process.executableURL = URL(fileURLWithPath: generator)
    process.arguments = [directory]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    #expect(process.terminationStatus == 0)
}

@Suite("--check-config: outbound TLS")
struct OutboundTLSConfigurationCheckTests {
    @Test func goodOutboundCertificatesAreValid() throws {
        try withDirectory { root in
            try makeCertificates(in: root)
            let report = check("""
                {"data_dir": "\(root)/data", "cert_file": "\(root)/client.pem", "key_file": "\(root)/client.key",
                 "ca_file": "\(root)/ca.pem",
                 "auctioneer_address": "https://127.0.0.1:9016", "auctioneer_ca_cert": "\(root)/ca.pem",
                 "auctioneer_client_cert": "\(root)/client.pem", "auctioneer_client_key": "\(root)/client.key",
                 "auctioneer_require_tls": true,
                 "rep_ca_cert": "\(root)/ca.pem", "rep_client_cert": "\(root)/client.pem",
                 "rep_client_key": "\(root)/client.key", "rep_require_tls": true}
                """)
            #expect(report.problems == [])
            #expect(report.notes == [])
        }
    }

    @Test func halfPairsMismatchesAndUnreadableFilesAreReported() throws {
        try withDirectory { root in
            try makeCertificates(in: root)
            let report = check("""
                {"data_dir": "\(root)/data",
                 "auctioneer_client_cert": "\(root)/client.pem", "auctioneer_client_key": "\(root)/other-client.key",
                 "rep_client_key": "\(root)/client.key", "rep_ca_cert": "\(root)/missing.pem"}
                """)
            #expect(report.problems.map(\.key) == [
                "rep_client_cert", "rep_ca_cert", "auctioneer_ca_cert/auctioneer_client_cert/auctioneer_client_key",
            ])
            #expect(report.problems.last?.text.contains("private key") == true, "\(report.problems)")
        }
    }
}

@Suite("--check-config: the listener's TLS, loaded as the server loads it")
struct ServerTLSConfigurationCheckTests {
    private func report(_ root: String, cert: String, key: String, ca: String) -> ConfigurationCheck.Report {
        check("""
            {"data_dir": "\(root)/data", "require_ssl": true,
             "cert_file": "\(cert)", "key_file": "\(key)", "ca_file": "\(ca)"}
            """)
    }

    @Test func theShippedCertificatesAreValid() throws {
        try withDirectory { root in
            try makeCertificates(in: root)
            #expect(report(root, cert: "\(root)/server.pem", key: "\(root)/server.key", ca: "\(root)/ca.pem").problems == [])
        }
    }

    @Test func aKeyOfAnotherCertificateIsAKeyFileProblem() throws {
        try withDirectory { root in
            try makeCertificates(in: root)
            let problems = report(root, cert: "\(root)/server.pem", key: "\(root)/client.key", ca: "\(root)/ca.pem").problems
            #expect(problems.map(\.key) == ["key_file"], "\(problems)")
        }
    }

    @Test func aCAFileWithoutCertificatesIsACAFileProblem() throws {
        try withDirectory { root in
            try makeCertificates(in: root)
            try Data("garbage\n".utf8).write(to: URL(fileURLWithPath: "\(root)/garbage.pem"))
            let problems = report(root, cert: "\(root)/server.pem", key: "\(root)/server.key", ca: "\(root)/garbage.pem").problems
            #expect(problems.map(\.key) == ["ca_file"], "\(problems)")
        }
    }

    @Test func aKeyAsTheCertificateIsACertFileProblem() throws {
        try withDirectory { root in
            try makeCertificates(in: root)
            let problems = report(root, cert: "\(root)/server.key", key: "\(root)/server.key", ca: "\(root)/ca.pem").problems
            #expect(problems.map(\.key) == ["cert_file"], "\(problems)")
        }
    }
}

@Suite("Configuration messages name the key")
struct ConfigurationMessageTests {
    @Test func aFractionForAnIntegerIsNotCalledInvalidJSON() throws {
        try withDirectory { root in
            let report = check(#"{"data_dir": "\#(root)/data", "max_task_retries": 3.5, "task_callback_workers": "many"}"#)
            #expect(report.problems.contains(ConfigurationProblem(key: "max_task_retries", text: "must be an integer")),
                    "\(report.problems)")
            #expect(report.problems.contains(ConfigurationProblem(key: "task_callback_workers", text: "must be an integer")))
            let path = root + "/config.json"
            try Data(#"{"data_dir": "\#(root)/data", "max_task_retries": 3.5}"#.utf8).write(to: URL(fileURLWithPath: path))
            #expect(throws: ConfigurationError.self) { try ServerConfiguration.load(path: path) }
            do {
                _ = try ServerConfiguration.load(path: path)
            } catch {
                #expect("\(error)" == "\(path): max_task_retries: must be an integer")
            }
        }
    }

    @Test func anAccessLogThatCannotBeOpenedNamesTheKeyAndPath() throws {
        try withDirectory { root in
            var configuration = ServerConfiguration()
            configuration.dataDir = root + "/data"
            configuration.listenAddress = "127.0.0.1:0"
            // A regular file where the log's directory should be: no open can succeed.
            try Data().write(to: URL(fileURLWithPath: root + "/not-a-directory"))
            configuration.accessLogPath = root + "/not-a-directory/access.log"
            do {
                _ = try BBSServerProcess(configuration: configuration)
                Issue.record("the server was built with an access log it cannot open")
            } catch let error as ConfigurationError {
                #expect(error.description.hasPrefix("access_log_path: cannot open \(root)/not-a-directory/access.log"),
                        "\(error)")
            }
        }
    }
}

@Suite("Descriptor budget")
struct DescriptorBudgetTests {
    @Test func aReserveAlwaysStaysBesidesTheConnections() {
        let small = DescriptorBudget(limit: 64, inUse: 16, configured: 10_000, healthListener: true)
        #expect(small.reserve == 24)
        #expect(small.healthConnections == 3)
        #expect(small.apiConnections == 21)
        #expect(small.inUse + small.reserve + small.healthConnections + small.apiConnections <= 64)

        let large = DescriptorBudget(limit: 1 << 20, inUse: 40, configured: 10_000, healthListener: true)
        #expect(large.apiConnections == 10_000)
        #expect(large.healthConnections == 64)

        let typical = DescriptorBudget(limit: 4096, inUse: 40, configured: 10_000, healthListener: false)
        #expect(typical.reserve == 405)
        #expect(typical.healthConnections == 0)
        #expect(typical.apiConnections == 4096 - 40 - 405)

        let exhausted = DescriptorBudget(limit: 20, inUse: 30, configured: 10_000, healthListener: false)
        #expect(exhausted.apiConnections == 1)
    }

    @Test func theSoftLimitIsRaisedToTheHardLimit() {
        let limit = DescriptorBudget.raiseSoftLimit()
        var limits = rlimit()
        #expect(getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limits) == 0)
        #expect(limits.rlim_cur == limits.rlim_max || limits.rlim_max == rlim_t.max)
        #expect(limit == Int(clamping: limits.rlim_cur))
        #expect(DescriptorBudget.openDescriptors() > 2)
    }
}
