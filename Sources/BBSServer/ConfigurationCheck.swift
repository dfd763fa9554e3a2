import BBSWAL
import Foundation
import HTTPServer

/// `bbs-server --check-config`: everything that would stop the server from starting on
/// this configuration, found without starting it. Every problem is listed (not just the
/// first), each with the key it concerns:
///
/// * the file is readable JSON and every key has the right type and a valid value
///   (durations, addresses, ranges);
/// * `listen_address` and `health_address` are `host:port` and not the same;
/// * `data_dir` exists as a writable directory or can be created;
/// * `access_log_path` can be appended to or created;
/// * the TLS files named by `cert_file`, `key_file`, `ca_file` can be read, and with
///   `require_ssl` the listener's TLS context loads from them as it will at start (key
///   matches certificate, `ca_file` holds certificates);
/// * each outbound client's TLS context loads.
///
/// Problems make it exit 2, the status a configuration failure at start exits with (the
/// systemd unit's `RestartPreventExitStatus`).
///
/// Notes (not problems) name keys the server ignores, which is how a misspelt key shows
/// up, and say when a server is running on the data directory.
struct ConfigurationCheck {
    struct Report: Equatable {
        var problems: [ConfigurationProblem] = []
        var notes: [String] = []
        var isValid: Bool { problems.isEmpty }
    }

    /// Keys naming files the server reads at start when present (TLS).
    static let readableFileKeys = ["cert_file", "key_file", "ca_file",
                                   "auctioneer_ca_cert", "auctioneer_client_cert", "auctioneer_client_key",
                                   "rep_ca_cert", "rep_client_cert", "rep_client_key"]

    static func check(path: String) -> Report {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            return Report(problems: [ConfigurationProblem(key: "", text: "cannot read \(path): \(error.localizedDescription)")])
        }
        return check(data: data)
    }

    static func check(data: Data) -> Report {
        var report = Report()
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            report.problems.append(ConfigurationProblem(key: "", text: "not a JSON object"))
            return report
        }
        let decoder = JSONDecoder()
        let decodingProblems = ConfigurationProblems()
        decoder.userInfo[ConfigurationProblems.userInfoKey] = decodingProblems
        let configuration: ServerConfiguration
        do {
            configuration = try decoder.decode(ServerConfiguration.self, from: data)
        } catch let error as DecodingError {
            report.problems.append(ServerConfiguration.problem(error))
            return report
        } catch {
            report.problems.append(ConfigurationProblem(key: "", text: "\(error)"))
            return report
        }
        report.problems += decodingProblems.all
        // A key that did not decode keeps its default, which is valid: no second report.
        let undecodable = Set(decodingProblems.all.map(\.key))
        report.problems += configuration.problems().filter { !undecodable.contains($0.key) }

        report.problems += directoryProblems(configuration.dataDir, key: "data_dir")
        if !configuration.accessLogPath.isEmpty {
            report.problems += appendableFileProblems(configuration.accessLogPath, key: "access_log_path")
        }
        for key in readableFileKeys {
            guard let path = object[key] as? String, !path.isEmpty else { continue }
            report.problems += readableFileProblems(path, key: key)
        }
        // The listener's TLS context is built as the server builds it at start: a key that
        // does not match the certificate, a cert_file holding no certificate, a ca_file
        // holding none, each reported with its key.
        if let tls = configuration.tls, Set(report.problems.map(\.key)).isDisjoint(with: serverTLSKeys) {
            do {
                try tls.validate()
            } catch {
                report.problems.append(ConfigurationProblem(key: serverTLSKey(error), text: error.description))
            }
        }
        // Each outbound client is built as the server would build it: a certificate that
        // does not match its key, or a CA file with no certificate, is reported here.
        let reported = Set(report.problems.map(\.key))
        for (keys, tls) in [(["ca_file", "cert_file", "key_file"], configuration.callbackTLS),
                            (["auctioneer_ca_cert", "auctioneer_client_cert", "auctioneer_client_key"],
                             configuration.auctioneerTLS),
                            (["rep_ca_cert", "rep_client_cert", "rep_client_key"], configuration.repTLS)]
        where reported.isDisjoint(with: keys) && reported.isDisjoint(with: serverTLSKeys.intersection(keys)) {
            do {
                try tls.validate()
            } catch {
                report.problems.append(ConfigurationProblem(key: keys.joined(separator: "/"), text: error.description))
            }
        }

        let known = Set(ServerConfiguration.CodingKeys.allCases.map(\.stringValue))
        for key in object.keys.sorted() where !known.contains(key) {
            report.notes.append("\(key) is not used by bbs-server (ignored)")
        }
        let wal = (configuration.dataDir as NSString).appendingPathComponent("wal")
        if (try? WriteAheadLog.isInUse(directory: wal)) == true {
            report.notes.append("a server is running on data_dir \(configuration.dataDir) (its log is locked)")
        }
        return report
    }

    /// The keys of the listener's TLS files.
    static let serverTLSKeys: Set<String> = ["cert_file", "key_file", "ca_file"]

    /// The key whose file a server TLS error concerns.
    static func serverTLSKey(_ error: TLSError) -> String {
        switch error {
        case .certificate: return "cert_file"
        case .privateKey: return "key_file"
        case .trustedCertificates: return "ca_file"
        default: return "cert_file/key_file/ca_file"
        }
    }

    /// `path` is a writable directory, or the nearest existing ancestor is one (so it can
    /// be created).
    static func directoryProblems(_ path: String, key: String) -> [ConfigurationProblem] {
        guard !path.isEmpty else { return [] }  // reported by ServerConfiguration.problems
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        if manager.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { return [ConfigurationProblem(key: key, text: "\(path) is not a directory")] }
            guard manager.isWritableFile(atPath: path) else {
                return [ConfigurationProblem(key: key, text: "\(path) is not writable")]
            }
            return []
        }
        guard let ancestor = nearestExistingAncestor(of: path) else {
            return [ConfigurationProblem(key: key, text: "\(path) cannot be created")]
        }
        guard manager.fileExists(atPath: ancestor, isDirectory: &isDirectory), isDirectory.boolValue,
              manager.isWritableFile(atPath: ancestor) else {
            return [ConfigurationProblem(key: key, text: "\(path) cannot be created: \(ancestor) is not a writable directory")]
        }
        return []
    }

    /// `path` is a writable regular file, or can be created.
    static func appendableFileProblems(_ path: String, key: String) -> [ConfigurationProblem] {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        if manager.fileExists(atPath: path, isDirectory: &isDirectory) {
            if isDirectory.boolValue { return [ConfigurationProblem(key: key, text: "\(path) is a directory")] }
            return manager.isWritableFile(atPath: path) ? [] : [ConfigurationProblem(key: key, text: "\(path) is not writable")]
        }
        let directory = (path as NSString).deletingLastPathComponent
        return directoryProblems(directory.isEmpty ? "." : directory, key: key)
    }

    /// `path` is a readable regular file.
    static func readableFileProblems(_ path: String, key: String) -> [ConfigurationProblem] {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: path, isDirectory: &isDirectory) else {
            return [ConfigurationProblem(key: key, text: "\(path) does not exist")]
        }
        if isDirectory.boolValue { return [ConfigurationProblem(key: key, text: "\(path) is a directory")] }
        return manager.isReadableFile(atPath: path) ? [] : [ConfigurationProblem(key: key, text: "\(path) is not readable")]
    }

    private static func nearestExistingAncestor(of path: String) -> String? {
        var current = (path as NSString).standardizingPath
        if !current.hasPrefix("/") {
            current = (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(current)
        }
        while !FileManager.default.fileExists(atPath: current) {
            let parent = (current as NSString).deletingLastPathComponent
            if parent == current || parent.isEmpty { return nil }
            current = parent
        }
        return current
    }

    /// The report as printed: one line per problem (`<file>: <key>: <text>`), then notes.
    static func render(_ report: Report, path: String) -> String {
        var lines = report.problems.map { "\(path): \($0)" }
        lines += report.notes.map { "\(path): note: \($0)" }
        lines.append(report.isValid ? "\(path): OK" : "\(path): \(report.problems.count) problem\(report.problems.count == 1 ? "" : "s")")
        return lines.joined(separator: "\n") + "\n"
    }
}
