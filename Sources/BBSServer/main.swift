// bbs-server: the composition root. Reads the config, replays the write-ahead log into
// the task store, serves the API, and shuts down cleanly on SIGTERM/SIGINT. The operator
// commands (`--check-config`, `inspect`, `restore`) run and exit without serving.
import BBSAPI
import BBSLog
import Dispatch
import Foundation
import HTTPServer
import TaskCore

func fail(_ message: String, status: Int32) -> Never {
    FileHandle.standardError.write(Data("bbs-server: \(message)\n".utf8))
    exit(status)
}

func finish(_ result: (output: String, status: Int32)) -> Never {
    if result.status == 0 {
        FileHandle.standardOutput.write(Data(result.output.utf8))
    } else {
        FileHandle.standardError.write(Data(result.output.utf8))
    }
    exit(result.status)
}

/// The data directory an operator command works on.
func dataDirectory(_ target: Invocation.Target) -> String {
    switch target {
    case .dataDir(let directory):
        return directory
    case .config(let path):
        do {
            return try ServerConfiguration.load(path: path).dataDir
        } catch {
            fail("\(error)", status: 2)
        }
    }
}

let invocation: Invocation
do {
    invocation = try Invocation.parse(Array(CommandLine.arguments.dropFirst()))
} catch {
    fail("\(error)\n\(Invocation.usage)", status: 2)
}

let configPath: String
switch invocation {
case .help:
    print(Invocation.usage)
    exit(0)
case .checkConfig(let path):
    let report = ConfigurationCheck.check(path: path)
    // 2, as a configuration the server refuses at start: the systemd unit's
    // ExecStartPre check then stops restarts just as the server's own exit would.
    finish((ConfigurationCheck.render(report, path: path), report.isValid ? 0 : 2))
case .inspect(let target):
    finish(OperatorCommands.inspect(dataDir: dataDirectory(target)))
case .restore(let backup, let target):
    finish(OperatorCommands.restore(backup: backup, dataDir: dataDirectory(target)))
case .serve(let path):
    configPath = path
}

let configuration: ServerConfiguration
do {
    configuration = try ServerConfiguration.load(path: configPath)
} catch {
    fail("\(error)", status: 2)
}

let server: BBSServerProcess
do {
    server = try BBSServerProcess(configuration: configuration)
    try server.start()
} catch let error as ConfigurationError {
    // A configuration the server cannot run with (TLS files, access log path, ...):
    // exit 2, like a config file that does not load; restarting will not fix it.
    fail("\(error)", status: 2)
} catch {
    fail("\(error)", status: 1)
}
dispatchMain()
