import BBSModels

/// The maximum `annotation` size in bytes (`maximumAnnotationLength` of the reference).
let maximumAnnotationBytes = 10 * 1024

/// `Invalid field: <name>`, the text of the reference's `ErrInvalidField`.
@inline(__always)
func invalidField(_ name: String) -> String {
    "Invalid field: " + name
}

extension TaskDefinition {
    /// The texts of every rule of lifecycle.md §8.2 this definition breaks, in the order the
    /// reference appends them (empty when it is valid). Nested texts (an action's, a cached
    /// dependency's, an image layer's) follow their parent's own text, flattened.
    public func validationErrors() -> [String] {
        var errors: [String] = []
        appendValidationErrors(to: &errors)
        return errors
    }

    func appendValidationErrors(to errors: inout [String]) {
        if rootFs.isEmpty || !RootFSURLSyntax.isValid(rootFs) {
            errors.append(invalidField("rootfs"))
        }

        if let action {
            let countBefore = errors.count
            errors.append(invalidField("action"))
            action.appendValidationErrors(to: &errors)
            if errors.count == countBefore + 1 { errors.removeLast() }  // the action is valid
        } else {
            errors.append("invalid action type")
        }

        if memoryMb < 0 { errors.append(invalidField("memory_mb")) }
        if diskMb < 0 { errors.append(invalidField("disk_mb")) }
        if let logRateLimit, logRateLimit.bytesPerSecond < -1 { errors.append(invalidField("log_rate_limit")) }
        if maxPids < 0 { errors.append(invalidField("max_pids")) }
        if annotation.utf8.count > maximumAnnotationBytes { errors.append(invalidField("annotation")) }

        for rule in egressRules where !rule.isValid {
            errors.append(invalidField("egress_rules"))
        }

        if imageUsername.isEmpty, !imagePassword.isEmpty { errors.append(invalidField("image_username")) }
        if !imageUsername.isEmpty, imagePassword.isEmpty { errors.append(invalidField("image_password")) }

        for dependency in cachedDependencies {
            appendNested("cached_dependency", to: &errors, dependency.appendValidationErrors)
        }

        var hasExclusiveLayer = false
        for layer in imageLayers {
            appendNested("image_layer", to: &errors, layer.appendValidationErrors)
            if layer.layerType == ImageLayer.LayerType.exclusive { hasExclusiveLayer = true }
        }
        if hasExclusiveLayer, legacyDownloadUser.isEmpty {
            errors.append(invalidField("legacy_download_user"))
        }
    }
}

/// Appends `Invalid field: <name>` followed by the item's own texts, or nothing when the
/// item adds none.
private func appendNested(_ name: String, to errors: inout [String], _ appendItemErrors: (inout [String]) -> Void) {
    let countBefore = errors.count
    errors.append(invalidField(name))
    appendItemErrors(&errors)
    if errors.count == countBefore + 1 { errors.removeLast() }
}

// MARK: - Actions (lifecycle.md §8.4)

extension Action {
    /// The texts of the action's first present member. An action with no member gives
    /// `Invalid field: inner-action` wherever it appears: the reference does so only at
    /// the top level and crashes on a nested one (the spec's Recommendation).
    func appendValidationErrors(to errors: inout [String]) {
        guard let value else {
            errors.append(invalidField("inner-action"))
            return
        }
        switch value {
        case .download(let download):
            download.appendValidationErrors(to: &errors)
        case .upload(let upload):
            if upload.to.isEmpty { errors.append(invalidField("to")) }
            if upload.from.isEmpty { errors.append(invalidField("from")) }
            if upload.user.isEmpty { errors.append(invalidField("user")) }
        case .run(let run):
            if run.path.isEmpty { errors.append(invalidField("path")) }
            if run.user.isEmpty { errors.append(invalidField("user")) }
        case .timeout(let timeout):
            Self.appendInnerActionErrors(timeout.action, to: &errors)
            if timeout.timeoutMs <= 0 { errors.append(invalidField("timeout_ms")) }
        case .emitProgress(let emitProgress):
            Self.appendInnerActionErrors(emitProgress.action, to: &errors)
        case .try(let tryAction):
            Self.appendInnerActionErrors(tryAction.action, to: &errors)
        case .parallel(let parallel):
            Self.appendChildActionErrors(parallel.actions, to: &errors)
        case .serial(let serial):
            Self.appendChildActionErrors(serial.actions, to: &errors)
        case .codependent(let codependent):
            Self.appendChildActionErrors(codependent.actions, to: &errors)
        }
    }

    private static func appendInnerActionErrors(_ inner: Action?, to errors: inout [String]) {
        if let inner {
            inner.appendValidationErrors(to: &errors)
        } else {
            errors.append(invalidField("action"))
        }
    }

    /// A protobuf repeated message cannot hold a null element, so the reference's
    /// `action at index <i>` text is unreachable here.
    private static func appendChildActionErrors(_ children: [Action], to errors: inout [String]) {
        if children.isEmpty {
            errors.append(invalidField("actions"))
            return
        }
        for child in children {
            child.appendValidationErrors(to: &errors)
        }
    }
}

/// The checksum algorithms a download or cached dependency may name, compared lower-cased.
private let acceptedChecksumAlgorithms: Set<String> = ["md5", "sha1", "sha256"]

/// The checksum texts shared by downloads and cached dependencies.
private func appendChecksumErrors(algorithm: String, value: String, to errors: inout [String]) {
    switch (algorithm.isEmpty, value.isEmpty) {
    case (true, false):
        errors.append(invalidField("checksum algorithm"))
    case (false, true):
        errors.append(invalidField("checksum value"))
    case (false, false):
        if !acceptedChecksumAlgorithms.contains(algorithm.lowercased()) {
            errors.append(invalidField("invalid algorithm"))
        }
    case (true, true):
        break
    }
}

extension DownloadAction {
    func appendValidationErrors(to errors: inout [String]) {
        if from.isEmpty { errors.append(invalidField("from")) }
        if to.isEmpty { errors.append(invalidField("to")) }
        if user.isEmpty { errors.append(invalidField("user")) }
        appendChecksumErrors(algorithm: checksumAlgorithm, value: checksumValue, to: &errors)
    }
}

// MARK: - Cached dependencies and image layers (lifecycle.md §8.5, §8.7)

extension CachedDependency {
    func appendValidationErrors(to errors: inout [String]) {
        if from.isEmpty { errors.append(invalidField("from")) }
        if to.isEmpty { errors.append(invalidField("to")) }
        appendChecksumErrors(algorithm: checksumAlgorithm, value: checksumValue, to: &errors)
    }
}

extension ImageLayer {
    func appendValidationErrors(to errors: inout [String]) {
        let isExclusive = layerType == LayerType.exclusive
        let hasKnownAlgorithm = digestAlgorithm == DigestAlgorithm.sha256 || digestAlgorithm == DigestAlgorithm.sha512

        if url.isEmpty { errors.append(invalidField("url")) }
        if destinationPath.isEmpty { errors.append(invalidField("destination_path")) }
        if layerType != LayerType.shared, !isExclusive { errors.append(invalidField("layer_type")) }
        if mediaType != MediaType.tgz, mediaType != MediaType.tar, mediaType != MediaType.zip {
            errors.append(invalidField("media_type"))
        }
        if !digestValue.isEmpty || isExclusive, digestAlgorithm == DigestAlgorithm.invalid {
            errors.append(invalidField("digest_algorithm"))
        }
        if digestAlgorithm != DigestAlgorithm.invalid || isExclusive, digestValue.isEmpty {
            errors.append(invalidField("digest_value"))
        }
        // Deliberately a second digest_algorithm text when a digest names no algorithm, as
        // the reference reports it.
        if !digestValue.isEmpty, !hasKnownAlgorithm { errors.append(invalidField("digest_algorithm")) }
    }
}
