// swift-tools-version: 6.2
// The BBS Tasks API server. Layers, bottom to top (imports point down only):
//   ProtoWire   generic protobuf binary runtime
//   BBSModels   BBS messages, codec, validation, version conversions
//   BBSLog      lager-style structured logging (leaf)
//   TaskCore    task state machine, write-ahead log, task store
//   HTTPServer  sockets, HTTP/1.1 (later h2, TLS); knows nothing of tasks
//   BBSAPI      router and task handlers; joins TaskCore and HTTPServer
//   BBSServer   the `bbs-server` executable: config, wiring, signals
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "bbs-server",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "bbs-server", targets: ["BBSServer"]),
    ],
    targets: [
        .systemLibrary(name: "CNghttp2", pkgConfig: "libnghttp2", providers: [.apt(["libnghttp2-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .target(name: "ProtoWire", swiftSettings: swiftSettings),
        .target(name: "BBSModels", dependencies: ["ProtoWire"], swiftSettings: swiftSettings),
        .target(name: "BBSLog", swiftSettings: swiftSettings),
        .target(name: "TaskCore", dependencies: ["BBSModels", "BBSLog"], swiftSettings: swiftSettings),
        .target(name: "HTTPServer", dependencies: ["BBSLog", "CNghttp2", "COpenSSL"], swiftSettings: swiftSettings),
        .target(name: "BBSAPI", dependencies: ["HTTPServer", "TaskCore", "BBSModels", "BBSLog"], swiftSettings: swiftSettings),
        .executableTarget(name: "BBSServer", dependencies: ["BBSAPI", "TaskCore", "HTTPServer", "BBSModels", "BBSLog"], swiftSettings: swiftSettings),

        .testTarget(name: "ProtoWireTests", dependencies: ["ProtoWire"]),
        .testTarget(name: "BBSModelsTests", dependencies: ["BBSModels", "ProtoWire"]),
        .testTarget(name: "TaskCoreTests", dependencies: ["TaskCore", "BBSModels", "BBSLog"]),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer", "BBSLog"]),
        .testTarget(name: "BBSAPITests", dependencies: ["BBSAPI", "HTTPServer", "TaskCore", "BBSModels", "BBSLog"]),
    ]
)
