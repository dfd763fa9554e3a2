// Task-definition format conversions between the route revisions (versions.md §3–§5).
//
// The store keeps every definition in the current format, V3. Older read routes see it
// converted down, on a copy:
//
//   V3 ──§4.1──▶ V2 ──§4.2──▶ V1 ──§4.3──▶ V0
//   image layers   timeout_ms       cached dependencies
//   → cached deps  → deprecated     → download actions
//   and downloads    timeout ns
//
// V2 serves list.r2 / get_by_task_guid.r2 / events/tasks; V1 and V0 serve the removed
// r1 and r0 reads, which the reference last had before image layers existed, so they get
// the whole chain (the spec's Recommendation). The one up-conversion kept here is the r0
// desire's timeout rule; the desire.r1 volume-mount rule needs the codec and lives there.
//
// Wherever the reference looks at an `Action` it looks only at its first present member
// (`Action.value`); the conversions do the same, so the extra members of a malformed
// multi-member action are dropped when it is re-wrapped, as in the reference.

/// A task-definition format version (`format.Version` V0…V3 of the reference).
public enum TaskFormat: Sendable, Hashable, CaseIterable {
    /// 2015-08: timeouts in nanoseconds, no cached dependencies.
    case v0
    /// 2015-12: cached dependencies and `legacy_download_user`.
    case v1
    /// 2016-05: `TimeoutAction.timeout_ms` is authoritative.
    case v2
    /// 2018-08: image layers; the stored format.
    case v3
}

extension TaskDefinition {
    /// This definition as a client of `format` expects it: V3 unchanged; V2 by §4.1;
    /// V1 by §4.1 then §4.2; V0 by §4.1, §4.2, then §4.3.
    public func converted(to format: TaskFormat) -> TaskDefinition {
        switch format {
        case .v3:
            return self
        case .v2:
            return withImageLayersAsV2Equivalents()
        case .v1:
            return withImageLayersAsV2Equivalents().withDeprecatedTimeoutNs()
        case .v0:
            return withImageLayersAsV2Equivalents().withDeprecatedTimeoutNs().withCachedDependenciesAsDownloads()
        }
    }

    /// The `desire` (r0) up-conversion: a V0 client states timeouts in
    /// `deprecated_timeout_ns`, so every TimeoutAction reached through the action tree gets
    /// `timeout_ms = deprecated_timeout_ns / 1_000_000` when `deprecated_timeout_ns > 0`
    /// (versions.md §5.3 Recommendation). A top-level TimeoutAction is converted even when
    /// `deprecated_timeout_ns` is 0, as the reference did, so there a `timeout_ms` sent
    /// without nanoseconds becomes 0 and fails validation (`test_desire_r0_deprecated_ns_is_authoritative_at_top_level`).
    /// `deprecated_timeout_ns` itself is kept.
    public func upgradedFromV0Timeouts() -> TaskDefinition {
        let upgraded = action?.withTimeoutsRewritten(descendIntoTimeouts: true) { timeout, isTopLevel in
            if isTopLevel || timeout.deprecatedTimeoutNs > 0 {
                timeout.timeoutMs = timeout.deprecatedTimeoutNs / 1_000_000
            }
        }
        guard let upgraded else { return self }
        var definition = self
        definition.action = upgraded
        return definition
    }

    // MARK: §4.1 V3 → V2

    /// Shared layers become cached dependencies placed before the existing ones; exclusive
    /// layers become downloads run in one Parallel ahead of the original action;
    /// `image_layers` is cleared.
    private func withImageLayersAsV2Equivalents() -> TaskDefinition {
        if imageLayers.isEmpty { return self }

        var layerDependencies: [CachedDependency] = []
        var layerDownloads: [Action] = []
        for layer in imageLayers {
            switch layer.layerType {
            case ImageLayer.LayerType.shared:
                layerDependencies.append(layer.asCachedDependency())
            case ImageLayer.LayerType.exclusive:
                layerDownloads.append(Action(.download(layer.asDownload(user: legacyDownloadUser))))
            default:
                continue  // an invalid type converts to nothing, as in the reference
            }
        }

        var definition = self
        definition.cachedDependencies = layerDependencies + cachedDependencies
        if !layerDownloads.isEmpty {
            let downloads = Action(.parallel(ParallelAction(actions: layerDownloads)))
            if let action {
                definition.action = Action(.serial(SerialAction(actions: [downloads, action.rewrappedFirstMember])))
            } else {
                definition.action = downloads
            }
        }
        definition.imageLayers = []
        return definition
    }

    // MARK: §4.2 V2 → V1

    /// Every TimeoutAction the reference's `SetDeprecatedTimeoutNs` walk reaches gets
    /// `deprecated_timeout_ns = timeout_ms × 1_000_000`.
    private func withDeprecatedTimeoutNs() -> TaskDefinition {
        // Not into a TimeoutAction's own action: the reference's walk stops there.
        let converted = action?.withTimeoutsRewritten(descendIntoTimeouts: false) { timeout, _ in
            // Wrapping: Go's int64 arithmetic wraps, and a hostile timeout_ms must not trap.
            timeout.deprecatedTimeoutNs = timeout.timeoutMs &* 1_000_000
        }
        guard let converted else { return self }
        var definition = self
        definition.action = converted
        return definition
    }

    // MARK: §4.3 V1 → V0

    /// Cached dependencies become downloads (without checksums) in a Parallel that runs
    /// first in a Serial; the Serial holds only the Parallel when there was no action.
    private func withCachedDependenciesAsDownloads() -> TaskDefinition {
        if cachedDependencies.isEmpty { return self }
        let downloads = cachedDependencies.map { dependency in
            var download = DownloadAction()
            download.artifact = dependency.name
            download.from = dependency.from
            download.to = dependency.to
            download.cacheKey = dependency.cacheKey
            download.logSource = dependency.logSource
            download.user = legacyDownloadUser
            return Action(.download(download))
        }
        var steps = [Action(.parallel(ParallelAction(actions: downloads)))]
        if let action { steps.append(action.rewrappedFirstMember) }

        var definition = self
        definition.action = Action(.serial(SerialAction(actions: steps)))
        definition.cachedDependencies = []
        return definition
    }
}

extension BBSTask {
    /// This task with its definition converted to `format`; every other field unchanged.
    public func converted(to format: TaskFormat) -> BBSTask {
        guard format != .v3, let taskDefinition else { return self }
        var task = self
        task.taskDefinition = taskDefinition.converted(to: format)
        return task
    }
}

// MARK: - Helpers

extension ImageLayer {
    /// The reference's `strings.ToLower(DigestAlgorithm.String())`: the lower-cased enum
    /// name, or the number for a value the enum does not know.
    fileprivate var lowercasedDigestAlgorithmName: String {
        switch digestAlgorithm {
        case DigestAlgorithm.invalid: return "digestalgorithminvalid"
        case DigestAlgorithm.sha256: return "sha256"
        case DigestAlgorithm.sha512: return "sha512"
        default: return String(digestAlgorithm)
        }
    }

    /// A shared layer as a cached dependency: no algorithm when the layer names none, and
    /// the URL as cache key when it has no digest.
    fileprivate func asCachedDependency() -> CachedDependency {
        var dependency = CachedDependency()
        dependency.name = name
        dependency.from = url
        dependency.to = destinationPath
        dependency.checksumValue = digestValue
        dependency.checksumAlgorithm = digestAlgorithm == DigestAlgorithm.invalid ? "" : lowercasedDigestAlgorithmName
        dependency.cacheKey = digestValue.isEmpty ? url : dependency.checksumAlgorithm + ":" + digestValue
        return dependency
    }

    /// An exclusive layer as a download (validation guarantees such a layer a digest).
    fileprivate func asDownload(user: String) -> DownloadAction {
        let algorithm = lowercasedDigestAlgorithmName
        var download = DownloadAction()
        download.artifact = name
        download.from = url
        download.to = destinationPath
        download.cacheKey = algorithm + ":" + digestValue
        download.user = user
        download.checksumAlgorithm = algorithm
        download.checksumValue = digestValue
        return download
    }
}

extension Action {
    /// A fresh Action holding only this one's first present member (the reference's
    /// `WrapAction(UnwrapAction(a))`); an action without members stays empty.
    fileprivate var rewrappedFirstMember: Action {
        value.map(Action.init) ?? Action()
    }

    /// Rewrites every TimeoutAction reached through first present members: through
    /// emit-progress, try, parallel, serial and codependent actions, and into a
    /// TimeoutAction's own action only when `descendIntoTimeouts` is set. `rewrite` learns
    /// whether the TimeoutAction is the top-level action. Nil when no TimeoutAction was
    /// reached, so untouched trees are not copied.
    fileprivate func withTimeoutsRewritten(
        descendIntoTimeouts: Bool,
        isTopLevel: Bool = true,
        _ rewrite: (inout TimeoutAction, _ isTopLevel: Bool) -> Void
    ) -> Action? {
        func rewritten(_ inner: Action?) -> Action? {
            inner?.withTimeoutsRewritten(descendIntoTimeouts: descendIntoTimeouts, isTopLevel: false, rewrite)
        }
        func rewritten(_ children: [Action]) -> [Action]? {
            var converted = children
            var changed = false
            for index in children.indices {
                if let child = rewritten(children[index]) {
                    converted[index] = child
                    changed = true
                }
            }
            return changed ? converted : nil
        }

        var action = self
        switch value {
        case nil, .download, .upload, .run:
            return nil
        case .timeout(var timeout):
            rewrite(&timeout, isTopLevel)
            if descendIntoTimeouts, let inner = rewritten(timeout.action) { timeout.action = inner }
            action.timeoutAction = timeout
        case .emitProgress(var emitProgress):
            guard let inner = rewritten(emitProgress.action) else { return nil }
            emitProgress.action = inner
            action.emitProgressAction = emitProgress
        case .try(var tryAction):
            guard let inner = rewritten(tryAction.action) else { return nil }
            tryAction.action = inner
            action.tryAction = tryAction
        case .parallel(var parallel):
            guard let children = rewritten(parallel.actions) else { return nil }
            parallel.actions = children
            action.parallelAction = parallel
        case .serial(var serial):
            guard let children = rewritten(serial.actions) else { return nil }
            serial.actions = children
            action.serialAction = serial
        case .codependent(var codependent):
            guard let children = rewritten(codependent.actions) else { return nil }
            codependent.actions = children
            action.codependentAction = codependent
        }
        return action
    }
}
