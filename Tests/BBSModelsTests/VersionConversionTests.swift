import BBSModels
import Testing

/// Builders for the conversion tests (the conformance suite's `layer`, `timeout_tree`, ...).
enum ConversionFixtures {
    static func run(_ path: String = "/bin/true") -> Action {
        Action(.run(RunAction(path: path, user: "vcap")))
    }

    static func timeout(ms: Int64, ns: Int64 = 0, _ inner: Action? = run()) -> Action {
        var timeout = TimeoutAction()
        timeout.action = inner
        timeout.timeoutMs = ms
        timeout.deprecatedTimeoutNs = ns
        return Action(.timeout(timeout))
    }

    static func definition(_ configure: (inout TaskDefinition) -> Void = { _ in }) -> TaskDefinition {
        var definition = TaskDefinition()
        definition.rootFs = "docker:///busybox"
        definition.action = run()
        configure(&definition)
        return definition
    }

    static func layer(_ name: String, _ type: Int32, algorithm: Int32 = ImageLayer.DigestAlgorithm.sha256,
                      digest: String = "d1gest", media: Int32 = ImageLayer.MediaType.tgz) -> ImageLayer {
        var layer = ImageLayer()
        layer.name = name
        layer.url = "http://example.com/\(name).tgz"
        layer.destinationPath = "/layers/\(name)"
        layer.layerType = type
        layer.mediaType = media
        layer.digestAlgorithm = digest.isEmpty ? ImageLayer.DigestAlgorithm.invalid : algorithm
        layer.digestValue = digest
        return layer
    }

    static func dependency(_ name: String, cacheKey: String = "", logSource: String = "",
                           algorithm: String = "", checksum: String = "") -> CachedDependency {
        var dependency = CachedDependency()
        dependency.name = name
        dependency.from = "http://example.com/\(name)"
        dependency.to = "/\(name)"
        dependency.cacheKey = cacheKey
        dependency.logSource = logSource
        dependency.checksumAlgorithm = algorithm
        dependency.checksumValue = checksum
        return dependency
    }

    static func download(_ artifact: String, from: String, to: String, cacheKey: String, user: String,
                         logSource: String = "", algorithm: String = "", checksum: String = "") -> Action {
        var download = DownloadAction()
        download.artifact = artifact
        download.from = from
        download.to = to
        download.cacheKey = cacheKey
        download.user = user
        download.logSource = logSource
        download.checksumAlgorithm = algorithm
        download.checksumValue = checksum
        return Action(.download(download))
    }

    static func parallel(_ actions: [Action]) -> Action { Action(.parallel(ParallelAction(actions: actions))) }
    static func serial(_ actions: [Action]) -> Action { Action(.serial(SerialAction(actions: actions))) }
    static func codependent(_ actions: [Action]) -> Action { Action(.codependent(CodependentAction(actions: actions))) }

    static func tryAction(_ inner: Action) -> Action {
        var tryAction = TryAction()
        tryAction.action = inner
        return Action(.try(tryAction))
    }

    static func emitProgress(_ inner: Action) -> Action {
        var emit = EmitProgressAction()
        emit.action = inner
        return Action(.emitProgress(emit))
    }

    /// Timeouts reachable through every composite kind, none nested in a timeout.
    static func timeoutTree(nsOf: (Int64) -> Int64 = { _ in 0 }) -> Action {
        func to(_ ms: Int64, _ path: String) -> Action { timeout(ms: ms, ns: nsOf(ms), run(path)) }
        return serial([
            to(1000, "/a"),
            parallel([to(2000, "/b"), run("/c")]),
            codependent([to(3, "/d")]),
            tryAction(to(4000, "/e")),
            emitProgress(to(5000, "/f")),
        ])
    }
}

// MARK: - V3 → V2 (versions.md §4.1)

@Suite("V3 to V2: image layers")
struct VersionConversionV2Tests {
    typealias F = ConversionFixtures

    @Test func v3IsTheStoredFormat() {
        let definition = F.definition { $0.imageLayers = [F.layer("s", ImageLayer.LayerType.shared)] }
        #expect(definition.converted(to: .v3) == definition)
    }

    @Test func withoutImageLayersV2EqualsV3() {
        let definition = F.definition { $0.cachedDependencies = [F.dependency("cd", cacheKey: "k")] }
        #expect(definition.converted(to: .v2) == definition)
    }

    @Test func sharedLayersBecomeCachedDependenciesBeforeTheTasksOwn() {
        let own = F.dependency("own", cacheKey: "own-key", logSource: "LS")
        let definition = F.definition {
            $0.cachedDependencies = [own]
            $0.imageLayers = [
                F.layer("one", ImageLayer.LayerType.shared, algorithm: ImageLayer.DigestAlgorithm.sha256, digest: "aaa"),
                F.layer("two", ImageLayer.LayerType.shared, algorithm: ImageLayer.DigestAlgorithm.sha512, digest: "bbb",
                        media: ImageLayer.MediaType.tar),
            ]
        }
        var one = CachedDependency()
        one.name = "one"
        one.from = "http://example.com/one.tgz"
        one.to = "/layers/one"
        one.checksumAlgorithm = "sha256"
        one.checksumValue = "aaa"
        one.cacheKey = "sha256:aaa"
        var two = CachedDependency()
        two.name = "two"
        two.from = "http://example.com/two.tgz"
        two.to = "/layers/two"
        two.checksumAlgorithm = "sha512"
        two.checksumValue = "bbb"
        two.cacheKey = "sha512:bbb"

        let converted = definition.converted(to: .v2)
        var expected = definition
        expected.cachedDependencies = [one, two, own]
        expected.imageLayers = []
        #expect(converted == expected)
        #expect(converted.action == definition.action)
    }

    @Test func sharedLayerWithoutDigestUsesItsURLAsCacheKey() throws {
        let definition = F.definition { $0.imageLayers = [F.layer("nodigest", ImageLayer.LayerType.shared, digest: "")] }
        let dependency = try #require(definition.converted(to: .v2).cachedDependencies.first)
        #expect(dependency.cacheKey == "http://example.com/nodigest.tgz")
        #expect(dependency.checksumAlgorithm == "" && dependency.checksumValue == "")
        #expect(dependency.from == "http://example.com/nodigest.tgz" && dependency.to == "/layers/nodigest")
        #expect(dependency.logSource == "")
    }

    @Test func exclusiveLayersBecomeDownloadsAheadOfTheAction() {
        let definition = F.definition {
            $0.legacyDownloadUser = "legacy-user"
            $0.imageLayers = [
                F.layer("ex1", ImageLayer.LayerType.exclusive, algorithm: ImageLayer.DigestAlgorithm.sha256, digest: "e1"),
                F.layer("ex2", ImageLayer.LayerType.exclusive, algorithm: ImageLayer.DigestAlgorithm.sha512, digest: "e2",
                        media: ImageLayer.MediaType.zip),
            ]
        }
        var expected = definition
        expected.imageLayers = []
        expected.action = F.serial([
            F.parallel([
                F.download("ex1", from: "http://example.com/ex1.tgz", to: "/layers/ex1", cacheKey: "sha256:e1",
                           user: "legacy-user", algorithm: "sha256", checksum: "e1"),
                F.download("ex2", from: "http://example.com/ex2.tgz", to: "/layers/ex2", cacheKey: "sha512:e2",
                           user: "legacy-user", algorithm: "sha512", checksum: "e2"),
            ]),
            F.run(),
        ])
        #expect(definition.converted(to: .v2) == expected)
        #expect(definition.converted(to: .v2).cachedDependencies.isEmpty)
        #expect(definition.converted(to: .v2).legacyDownloadUser == "legacy-user")
    }

    @Test func exclusiveLayersWithoutActionBecomeABareParallel() {
        let definition = F.definition {
            $0.action = nil
            $0.legacyDownloadUser = "vcap"
            $0.imageLayers = [F.layer("x", ImageLayer.LayerType.exclusive)]
        }
        let expected = F.parallel([
            F.download("x", from: "http://example.com/x.tgz", to: "/layers/x", cacheKey: "sha256:d1gest",
                       user: "vcap", algorithm: "sha256", checksum: "d1gest"),
        ])
        #expect(definition.converted(to: .v2).action == expected)
    }

    @Test func mixedLayersKeepTheirOrderWithinEachKind() {
        let definition = F.definition {
            $0.legacyDownloadUser = "vcap"
            $0.cachedDependencies = [F.dependency("cd")]
            $0.imageLayers = [
                F.layer("s1", ImageLayer.LayerType.shared), F.layer("x1", ImageLayer.LayerType.exclusive),
                F.layer("s2", ImageLayer.LayerType.shared, digest: ""),
                F.layer("x2", ImageLayer.LayerType.exclusive, algorithm: ImageLayer.DigestAlgorithm.sha512),
            ]
        }
        let converted = definition.converted(to: .v2)
        #expect(converted.cachedDependencies.map(\.name) == ["s1", "s2", "cd"])
        #expect(converted.cachedDependencies.map(\.cacheKey) == ["sha256:d1gest", "http://example.com/s2.tgz", ""])
        let downloads = converted.action?.serialAction?.actions.first?.parallelAction?.actions ?? []
        #expect(downloads.compactMap(\.downloadAction).map(\.artifact) == ["x1", "x2"])
        #expect(downloads.compactMap(\.downloadAction).map(\.cacheKey) == ["sha256:d1gest", "sha512:d1gest"])
        #expect(converted.action?.serialAction?.actions.last == F.run())
        #expect(converted.imageLayers.isEmpty)
    }

    @Test func theOriginalActionIsRewrappedFromItsFirstMember() {
        var malformed = F.run()
        malformed.serialAction = SerialAction(actions: [F.run("/lost")])
        malformed.unknownFields = [0xF8, 0x01, 0x01]
        let definition = F.definition {
            $0.action = malformed
            $0.legacyDownloadUser = "vcap"
            $0.imageLayers = [F.layer("x", ImageLayer.LayerType.exclusive)]
        }
        #expect(definition.converted(to: .v2).action?.serialAction?.actions.last == F.run())
    }

    @Test func layersOfAnInvalidTypeConvertToNothing() {
        let definition = F.definition { $0.imageLayers = [F.layer("bad", 7)] }
        var expected = definition
        expected.imageLayers = []
        #expect(definition.converted(to: .v2) == expected)
    }

    @Test func everyOtherFieldIsKept() {
        let definition = F.definition {
            $0.memoryMb = 256
            $0.diskMb = 1024
            $0.annotation = "note"
            $0.placementTags = ["zone-a"]
            $0.logRateLimit = LogRateLimit(bytesPerSecond: 4096)
            $0.unknownFields = [0xF8, 0x01, 0x01]
            $0.imageLayers = [F.layer("s", ImageLayer.LayerType.shared)]
        }
        var converted = definition.converted(to: .v2)
        converted.cachedDependencies = []
        var expected = definition
        expected.imageLayers = []
        #expect(converted == expected)
    }
}

// MARK: - V2 → V1 (versions.md §4.2)

@Suite("V2 to V1: deprecated timeout nanoseconds")
struct VersionConversionV1Tests {
    typealias F = ConversionFixtures

    @Test func everyReachableTimeoutGetsNanoseconds() {
        let definition = F.definition {
            $0.action = F.timeoutTree()
            $0.cachedDependencies = [F.dependency("cd")]
        }
        var expected = definition
        expected.action = F.timeoutTree { $0 * 1_000_000 }
        #expect(definition.converted(to: .v1) == expected)
    }

    @Test func topLevelTimeout() {
        let definition = F.definition { $0.action = F.timeout(ms: 7) }
        #expect(definition.converted(to: .v1).action == F.timeout(ms: 7, ns: 7_000_000))
    }

    @Test func aTimeoutDirectlyInsideATimeoutIsNotReached() {
        let definition = F.definition { $0.action = F.timeout(ms: 10, F.timeout(ms: 20)) }
        #expect(definition.converted(to: .v1).action == F.timeout(ms: 10, ns: 10_000_000, F.timeout(ms: 20)))
    }

    @Test func theWalkFollowsOnlyTheFirstPresentMember() {
        var action = F.run()
        action.timeoutAction = F.timeout(ms: 5).timeoutAction  // after run, so never reached
        let definition = F.definition { $0.action = action }
        #expect(definition.converted(to: .v1) == definition)
    }

    @Test func hugeTimeoutsWrapInsteadOfTrapping() {
        let definition = F.definition { $0.action = F.timeout(ms: .max) }
        #expect(definition.converted(to: .v1).action?.timeoutAction?.deprecatedTimeoutNs == Int64.max &* 1_000_000)
    }

    @Test func v1AppliesTheV2ConversionFirst() {
        let definition = F.definition {
            $0.action = F.timeout(ms: 3)
            $0.legacyDownloadUser = "vcap"
            $0.imageLayers = [F.layer("x", ImageLayer.LayerType.exclusive)]
        }
        let steps = definition.converted(to: .v1).action?.serialAction?.actions ?? []
        #expect(steps.count == 2)
        #expect(steps.first?.parallelAction?.actions.first?.downloadAction?.artifact == "x")
        #expect(steps.last == F.timeout(ms: 3, ns: 3_000_000))
    }
}

// MARK: - V1 → V0 (versions.md §4.3)

@Suite("V1 to V0: cached dependencies as downloads")
struct VersionConversionV0Tests {
    typealias F = ConversionFixtures

    @Test func cachedDependenciesBecomeDownloadsWithoutChecksums() {
        let definition = F.definition {
            $0.legacyDownloadUser = "old-user"
            $0.action = F.timeoutTree()
            $0.cachedDependencies = [
                F.dependency("bp", cacheKey: "bp-key", logSource: "BP", algorithm: "md5", checksum: "abc"),
                F.dependency("lc", cacheKey: "lc-key"),
            ]
        }
        var expected = definition
        expected.cachedDependencies = []
        expected.action = F.serial([
            F.parallel([
                F.download("bp", from: "http://example.com/bp", to: "/bp", cacheKey: "bp-key", user: "old-user",
                           logSource: "BP"),
                F.download("lc", from: "http://example.com/lc", to: "/lc", cacheKey: "lc-key", user: "old-user"),
            ]),
            F.timeoutTree { $0 * 1_000_000 },
        ])
        #expect(definition.converted(to: .v0) == expected)
    }

    @Test func withoutActionTheSerialHoldsOnlyTheDownloads() {
        let definition = F.definition {
            $0.action = nil
            $0.cachedDependencies = [F.dependency("cd")]
        }
        let expected = F.serial([
            F.parallel([F.download("cd", from: "http://example.com/cd", to: "/cd", cacheKey: "", user: "")]),
        ])
        #expect(definition.converted(to: .v0).action == expected)
    }

    @Test func withoutCachedDependenciesV0EqualsV1() {
        let definition = F.definition { $0.action = F.timeoutTree() }
        #expect(definition.converted(to: .v0) == definition.converted(to: .v1))
    }

    @Test func sharedLayersReachV0AsDownloads() {
        let definition = F.definition {
            $0.legacyDownloadUser = "vcap"
            $0.imageLayers = [F.layer("s", ImageLayer.LayerType.shared)]
        }
        let expected = F.serial([
            F.parallel([F.download("s", from: "http://example.com/s.tgz", to: "/layers/s", cacheKey: "sha256:d1gest",
                                   user: "vcap")]),
            F.run(),
        ])
        let converted = definition.converted(to: .v0)
        #expect(converted.action == expected)
        #expect(converted.cachedDependencies.isEmpty && converted.imageLayers.isEmpty)
    }
}

// MARK: - Tasks

@Suite("BBSTask conversion")
struct VersionConversionTaskTests {
    typealias F = ConversionFixtures

    @Test(arguments: TaskFormat.allCases)
    func onlyTheDefinitionChanges(format: TaskFormat) {
        var task = BBSTask()
        task.taskGuid = "g"
        task.domain = "d"
        task.state = .running
        task.cellId = "cell"
        task.createdAt = 1
        task.rejectionCount = 2
        task.taskDefinition = F.definition {
            $0.legacyDownloadUser = "vcap"
            $0.imageLayers = [F.layer("s", ImageLayer.LayerType.shared), F.layer("x", ImageLayer.LayerType.exclusive)]
        }
        let converted = task.converted(to: format)
        #expect(converted.taskDefinition == task.taskDefinition?.converted(to: format))
        var rest = converted
        rest.taskDefinition = task.taskDefinition
        #expect(rest == task)
    }

    @Test func aTaskWithoutDefinitionStaysWithout() {
        var task = BBSTask()
        task.taskGuid = "g"
        #expect(task.converted(to: .v0) == task)
    }
}

// MARK: - desire r0 (versions.md §5.3)

@Suite("V0 desire timeout up-conversion")
struct VersionConversionV0DesireTests {
    typealias F = ConversionFixtures

    @Test(arguments: [(Int64(5_000_000_000), Int64(5000)), (1_500_000, 1), (1_000_000, 1)])
    func topLevelTimeoutTakesMillisecondsFromNanoseconds(ns: Int64, ms: Int64) {
        let definition = F.definition { $0.action = F.timeout(ms: 0, ns: ns) }
        #expect(definition.upgradedFromV0Timeouts().action == F.timeout(ms: ms, ns: ns))
    }

    @Test func topLevelNanosecondsAreAuthoritativeEvenWhenZero() {
        let definition = F.definition { $0.action = F.timeout(ms: 3000) }
        #expect(definition.upgradedFromV0Timeouts().action == F.timeout(ms: 0))
    }

    @Test func nestedTimeoutsAreConvertedWhenTheyCarryNanoseconds() {
        let definition = F.definition { $0.action = F.timeoutTree { $0 * 1_000_000 } }
        // timeoutTree's ns are ms × 1e6, so converting sets timeout_ms from 0 to ms.
        var sent = definition
        sent.action = F.serial([
            F.timeout(ms: 0, ns: 1_000_000_000, F.run("/a")),
            F.parallel([F.timeout(ms: 0, ns: 2_000_000_000, F.run("/b")), F.run("/c")]),
            F.codependent([F.timeout(ms: 0, ns: 3_000_000, F.run("/d"))]),
            F.tryAction(F.timeout(ms: 0, ns: 4_000_000_000, F.run("/e"))),
            F.emitProgress(F.timeout(ms: 0, ns: 5_000_000_000, F.run("/f"))),
        ])
        #expect(sent.upgradedFromV0Timeouts() == definition)
    }

    @Test func nestedTimeoutsWithoutNanosecondsKeepTheirMilliseconds() {
        let definition = F.definition { $0.action = F.serial([F.timeout(ms: 250)]) }
        #expect(definition.upgradedFromV0Timeouts() == definition)
    }

    @Test func aTimeoutInsideATimeoutIsConvertedToo() {
        let definition = F.definition { $0.action = F.timeout(ms: 0, ns: 9_000_000, F.timeout(ms: 0, ns: 8_000_000)) }
        #expect(definition.upgradedFromV0Timeouts().action
            == F.timeout(ms: 9, ns: 9_000_000, F.timeout(ms: 8, ns: 8_000_000)))
    }

    @Test func definitionsWithoutTimeoutsAreUnchanged() {
        let definition = F.definition { $0.action = F.serial([F.run(), F.tryAction(F.run())]) }
        #expect(definition.upgradedFromV0Timeouts() == definition)
        let noAction = F.definition { $0.action = nil }
        #expect(noAction.upgradedFromV0Timeouts() == noAction)
    }
}
