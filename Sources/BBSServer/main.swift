// bbs-server: the composition root. Reads the config, replays the write-ahead log into
// the task store, serves the API, and shuts down cleanly on SIGTERM/SIGINT.
import BBSAPI
import BBSLog
import Dispatch
import Foundation
import HTTPServer
import TaskCore

let usage = """
    usage: bbs-server [--config FILE]
      --config FILE   JSON configuration (default: Config/bbs-server.json); keys in Config/README.md
      --help          this text
    """

var configPath = "Config/bbs-server.json"
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--config", "-config":
        guard let path = arguments.popFirst() else {
            FileHandle.standardError.write(Data("bbs-server: --config needs a file\n\(usage)\n".utf8))
            exit(2)
        }
        configPath = path
    case "--help", "-h":
        print(usage)
        exit(0)
    default:
        FileHandle.standardError.write(Data("bbs-server: unknown argument \(argument)\n\(usage)\n".utf8))
        exit(2)
    }
}

let configuration: ServerConfiguration
do {
    configuration = try ServerConfiguration.load(path: configPath)
} catch {
    FileHandle.standardError.write(Data("bbs-server: \(error)\n".utf8))
    exit(2)
}

let server: BBSServerProcess
do {
    server = try BBSServerProcess(configuration: configuration)
    try server.start()
} catch {
    FileHandle.standardError.write(Data("bbs-server: \(error)\n".utf8))
    exit(1)
}
dispatchMain()
