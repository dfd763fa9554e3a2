// swift-tools-version: 6.2
// The BBS Tasks API server. Layers, bottom to top (imports point down only):
//   BBSPosix    the only code that calls libc for I/O (files, sockets, epoll via CLinuxEpoll)
//   ProtoWire   generic protobuf binary runtime
//   BBSModels   BBS messages and their protobuf codec, version conversions
//   BBSLog      lager-style structured logging (leaf)
//   BBSMetrics  counters, gauges, histograms, Prometheus text format (leaf)
//   BBSWAL      write-ahead log of opaque records (knows nothing of tasks)
//   TaskCore    validation, task state machine, task store (journals to BBSWAL)
//   HTTPServer  sockets, HTTP/1.1, h2 (CNghttp2), TLS (COpenSSL); knows nothing of tasks
//   BBSAPI      router and task handlers; joins TaskCore and HTTPServer
//   BBSServer   the `bbs-server` executable: config, wiring, signals
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "bbs-server",
    products: [
        .executable(name: "bbs-server", targets: ["BBSServer"]),
    ],
    targets: [
        .systemLibrary(name: "CNghttp2", pkgConfig: "libnghttp2", providers: [.apt(["libnghttp2-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CLinuxEpoll"),
        .target(name: "BBSPosix", dependencies: ["CLinuxEpoll"], swiftSettings: swiftSettings),
        .target(name: "ProtoWire", swiftSettings: swiftSettings),
        .target(name: "BBSModels", dependencies: ["ProtoWire"], swiftSettings: swiftSettings),
        .target(name: "BBSLog", swiftSettings: swiftSettings),
        .target(name: "BBSMetrics", swiftSettings: swiftSettings),
        .target(name: "BBSWAL", dependencies: ["BBSPosix", "BBSLog"], swiftSettings: swiftSettings),
        .target(name: "TaskCore", dependencies: ["BBSModels", "ProtoWire", "BBSWAL", "BBSLog"], swiftSettings: swiftSettings),
        .target(name: "HTTPServer", dependencies: ["BBSPosix", "BBSLog", "CNghttp2", "COpenSSL"], swiftSettings: swiftSettings),
        .target(name: "BBSAPI", dependencies: ["HTTPServer", "TaskCore", "BBSModels", "ProtoWire", "BBSLog", "BBSMetrics"], swiftSettings: swiftSettings),
        .executableTarget(name: "BBSServer", dependencies: ["BBSAPI", "TaskCore", "BBSWAL", "BBSPosix", "HTTPServer", "BBSModels", "BBSLog", "BBSMetrics"], swiftSettings: swiftSettings),

        .testTarget(name: "BBSPosixTests", dependencies: ["BBSPosix"]),
        .testTarget(name: "BBSWALTests", dependencies: ["BBSWAL", "BBSPosix", "BBSLog"]),
        .testTarget(name: "ProtoWireTests", dependencies: ["ProtoWire"]),
        .testTarget(name: "BBSModelsTests", dependencies: ["BBSModels", "ProtoWire"]),
        .testTarget(name: "TaskCoreTests", dependencies: ["TaskCore", "BBSWAL", "BBSModels", "ProtoWire", "BBSLog"]),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer", "BBSLog", "CNghttp2", "COpenSSL"]),
        .testTarget(name: "BBSAPITests", dependencies: ["BBSAPI", "HTTPServer", "TaskCore", "BBSWAL", "BBSModels", "ProtoWire", "BBSLog", "BBSMetrics"]),
        .testTarget(name: "BBSMetricsTests", dependencies: ["BBSMetrics"]),
        .testTarget(name: "BBSServerTests", dependencies: ["BBSServer", "BBSAPI", "TaskCore", "BBSWAL", "BBSLog", "BBSMetrics"]),
    ],
    swiftLanguageModes: [.v6]
)
