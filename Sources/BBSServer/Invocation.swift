/// What `bbs-server` was asked to do, from its arguments.
enum Invocation: Equatable {
    /// Run the server.
    case serve(config: String)
    /// Check the configuration and exit.
    case checkConfig(config: String)
    /// Describe the write-ahead log (of `--data-dir`, or of the config's `data_dir`).
    case inspect(Target)
    /// Install a backup as the log of an empty data directory.
    case restore(backup: String, Target)
    case help

    enum Target: Equatable {
        case config(String)
        case dataDir(String)
    }

    static let defaultConfig = "Config/bbs-server.json"

    static let usage = """
        usage: bbs-server [--config FILE]                  run the server
               bbs-server --check-config [--config FILE]   check the configuration, start nothing (exit 0: fine, 1: problems)
               bbs-server inspect [--config FILE | --data-dir DIR]
                                                          describe the write-ahead log and the tasks it holds, change nothing
               bbs-server restore --from BACKUP [--config FILE | --data-dir DIR]
                                                          make a backup (GET /backup on the health listener) the log of an empty data dir
          --config FILE   JSON configuration (default: Config/bbs-server.json); keys in Config/README.md
          --help          this text
        """

    struct UsageError: Error, CustomStringConvertible {
        let description: String
    }

    static func parse(_ arguments: [String]) throws(UsageError) -> Invocation {
        var rest = arguments[...]
        var command = "serve"
        if let first = rest.first, first == "inspect" || first == "restore" {
            command = first
            rest = rest.dropFirst()
        }
        var config: String?
        var dataDir: String?
        var backup: String?
        var checkConfig = false
        func value(_ flag: String) throws(UsageError) -> String {
            guard let value = rest.popFirst(), !value.hasPrefix("--") else { throw UsageError(description: "\(flag) needs a value") }
            return value
        }
        while let argument = rest.popFirst() {
            switch argument {
            case "--config", "-config": config = try value(argument)
            case "--data-dir" where command != "serve": dataDir = try value(argument)
            case "--from" where command == "restore": backup = try value(argument)
            case "--check-config" where command == "serve": checkConfig = true
            case "--help", "-h": return .help
            default: throw UsageError(description: "unknown argument \(argument)")
            }
        }
        switch command {
        case "inspect", "restore":
            if config != nil && dataDir != nil { throw UsageError(description: "give --config or --data-dir, not both") }
            let target: Target = dataDir.map { .dataDir($0) } ?? .config(config ?? defaultConfig)
            if command == "inspect" { return .inspect(target) }
            guard let backup else { throw UsageError(description: "restore needs --from BACKUP") }
            return .restore(backup: backup, target)
        default:
            return checkConfig ? .checkConfig(config: config ?? defaultConfig) : .serve(config: config ?? defaultConfig)
        }
    }
}
