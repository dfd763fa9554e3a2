// The JSON form of every BBS message, member by member as the reference's Go structs
// declare them (`json:"…"` tags of models/*.pb.go, messages.md tables, column "JSON"; the
// conformance suite's bbsconf/gojson.py is the mapping the tests hold us to):
//
// - keys are the proto field names except `rootfs`, `env` (TaskDefinition), the action
//   kinds `download` … `codependent` (Action) and `timeout` (TimeoutAction's deprecated
//   nanoseconds);
// - a Task has its TaskDefinition's members inlined before its own (Go embeds the pointer
//   with an empty tag; a nil definition contributes no member);
// - enums are names (`GoJSONEnum`), ResourceLimits is `{"nofile": n, "nproc": n}` with the
//   set members only (its hand-written MarshalJSON);
// - `omitEmpty: true` marks the tags with `,omitempty`; the rest are always written.
//
// Unknown protobuf fields kept by the models are never written: JSON readers of the
// mapping treat an unknown key as an error.

// MARK: - Supporting messages

extension EnvironmentVariable: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("name", name)
        json.member("value", value)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("name", into: &name)
        try object.read("value", into: &value)
    }
}

extension PortRange: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("start", start)
        json.member("end", end)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("start", into: &start)
        try object.read("end", into: &end)
    }
}

extension ICMPInfo: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("type", type)
        json.member("code", code)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("type", into: &type)
        try object.read("code", into: &code)
    }
}

extension SecurityGroupRule: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("protocol", `protocol`, omitEmpty: true)
        json.member("destinations", destinations, omitEmpty: true)
        json.member("ports", ports, omitEmpty: true)
        json.member("port_range", portRange, omitEmpty: true)
        json.member("icmp_info", icmpInfo, omitEmpty: true)
        json.member("log", log)
        json.member("annotations", annotations, omitEmpty: true)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("protocol", into: &`protocol`)
        try object.read("destinations", into: &destinations)
        try object.read("ports", into: &ports)
        try object.read("port_range", into: &portRange)
        try object.read("icmp_info", into: &icmpInfo)
        try object.read("log", into: &log)
        try object.read("annotations", into: &annotations)
    }
}

extension CachedDependency: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("name", name)
        json.member("from", from)
        json.member("to", to)
        json.member("cache_key", cacheKey)
        json.member("log_source", logSource)
        json.member("checksum_algorithm", checksumAlgorithm, omitEmpty: true)
        json.member("checksum_value", checksumValue, omitEmpty: true)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("name", into: &name)
        try object.read("from", into: &from)
        try object.read("to", into: &to)
        try object.read("cache_key", into: &cacheKey)
        try object.read("log_source", into: &logSource)
        try object.read("checksum_algorithm", into: &checksumAlgorithm)
        try object.read("checksum_value", into: &checksumValue)
    }
}

extension SharedDevice: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("volume_id", volumeId)
        json.member("mount_config", mountConfig)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("volume_id", into: &volumeId)
        try object.read("mount_config", into: &mountConfig)
    }
}

extension DedicatedDevice: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("mounter_id", mounterId)
        json.member("mount_config", mountConfig)
        json.member("device_config", deviceConfig)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("mounter_id", into: &mounterId)
        try object.read("mount_config", into: &mountConfig)
        try object.read("device_config", into: &deviceConfig)
    }
}

extension VolumeMount: GoJSONCodable {
    // `shared` and `dedicated` have no omitempty: Go writes `null` for the absent one.
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("driver", driver)
        json.member("container_dir", containerDir)
        json.member("mode", mode)
        json.member("shared", shared)
        json.member("dedicated", dedicated)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("driver", into: &driver)
        try object.read("container_dir", into: &containerDir)
        try object.read("mode", into: &mode)
        try object.read("shared", into: &shared)
        try object.read("dedicated", into: &dedicated)
    }
}

extension Network: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("properties", properties, omitEmpty: true)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("properties", into: &properties)
    }
}

extension CertificateProperties: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("organizational_unit", organizationalUnit, omitEmpty: true)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("organizational_unit", into: &organizationalUnit)
    }
}

extension ImageLayer: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("name", name, omitEmpty: true)
        json.member("url", url)
        json.member("destination_path", destinationPath)
        json.member("layer_type", layerType, names: .imageLayerType)
        json.member("media_type", mediaType, names: .imageLayerMediaType)
        json.member("digest_algorithm", digestAlgorithm, names: .imageLayerDigestAlgorithm, omitEmpty: true)
        json.member("digest_value", digestValue, omitEmpty: true)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("name", into: &name)
        try object.read("url", into: &url)
        try object.read("destination_path", into: &destinationPath)
        try object.read("layer_type", names: .imageLayerType, into: &layerType)
        try object.read("media_type", names: .imageLayerMediaType, into: &mediaType)
        try object.read("digest_algorithm", names: .imageLayerDigestAlgorithm, into: &digestAlgorithm)
        try object.read("digest_value", into: &digestValue)
    }
}

extension LogRateLimit: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("bytes_per_second", bytesPerSecond, omitEmpty: true)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("bytes_per_second", into: &bytesPerSecond)
    }
}

extension MetricTagValue: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("static", `static`, omitEmpty: true)
        json.member("dynamic", dynamic, names: .dynamicValue, omitEmpty: true)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("static", into: &`static`)
        try object.read("dynamic", names: .dynamicValue, into: &dynamic)
    }
}

extension File: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("path", path)
        json.member("content", content)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("path", into: &path)
        try object.read("content", into: &content)
    }
}

extension ResourceLimits: GoJSONCodable {
    // The reference's MarshalJSON goes through a struct of `*uint64` with omitempty: a set
    // member is written even when 0, an unset one never.
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        if let nofile { json.member("nofile", nofile) }
        if let nproc { json.member("nproc", nproc) }
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("nofile", into: &nofile)
        try object.read("nproc", into: &nproc)
    }
}

// MARK: - Actions

extension Action: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("download", downloadAction, omitEmpty: true)
        json.member("upload", uploadAction, omitEmpty: true)
        json.member("run", runAction, omitEmpty: true)
        json.member("timeout", timeoutAction, omitEmpty: true)
        json.member("emit_progress", emitProgressAction, omitEmpty: true)
        json.member("try", tryAction, omitEmpty: true)
        json.member("parallel", parallelAction, omitEmpty: true)
        json.member("serial", serialAction, omitEmpty: true)
        json.member("codependent", codependentAction, omitEmpty: true)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("download", into: &downloadAction)
        try object.read("upload", into: &uploadAction)
        try object.read("run", into: &runAction)
        try object.read("timeout", into: &timeoutAction)
        try object.read("emit_progress", into: &emitProgressAction)
        try object.read("try", into: &tryAction)
        try object.read("parallel", into: &parallelAction)
        try object.read("serial", into: &serialAction)
        try object.read("codependent", into: &codependentAction)
    }
}

extension DownloadAction: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("artifact", artifact, omitEmpty: true)
        json.member("from", from)
        json.member("to", to)
        json.member("cache_key", cacheKey)
        json.member("log_source", logSource, omitEmpty: true)
        json.member("user", user)
        json.member("checksum_algorithm", checksumAlgorithm, omitEmpty: true)
        json.member("checksum_value", checksumValue, omitEmpty: true)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("artifact", into: &artifact)
        try object.read("from", into: &from)
        try object.read("to", into: &to)
        try object.read("cache_key", into: &cacheKey)
        try object.read("log_source", into: &logSource)
        try object.read("user", into: &user)
        try object.read("checksum_algorithm", into: &checksumAlgorithm)
        try object.read("checksum_value", into: &checksumValue)
    }
}

extension UploadAction: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("artifact", artifact, omitEmpty: true)
        json.member("from", from)
        json.member("to", to)
        json.member("log_source", logSource, omitEmpty: true)
        json.member("user", user)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("artifact", into: &artifact)
        try object.read("from", into: &from)
        try object.read("to", into: &to)
        try object.read("log_source", into: &logSource)
        try object.read("user", into: &user)
    }
}

extension RunAction: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("path", path)
        json.member("args", args, omitEmpty: true)
        json.member("dir", dir, omitEmpty: true)
        json.member("env", env, omitEmpty: true)
        json.member("resource_limits", resourceLimits, omitEmpty: true)
        json.member("user", user)
        json.member("log_source", logSource, omitEmpty: true)
        json.member("suppress_log_output", suppressLogOutput)
        json.member("volume_mounted_files", volumeMountedFiles)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("path", into: &path)
        try object.read("args", into: &args)
        try object.read("dir", into: &dir)
        try object.read("env", into: &env)
        try object.read("resource_limits", into: &resourceLimits)
        try object.read("user", into: &user)
        try object.read("log_source", into: &logSource)
        try object.read("suppress_log_output", into: &suppressLogOutput)
        try object.read("volume_mounted_files", into: &volumeMountedFiles)
    }
}

extension TimeoutAction: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("action", action, omitEmpty: true)
        json.member("timeout", deprecatedTimeoutNs, omitEmpty: true)
        json.member("log_source", logSource, omitEmpty: true)
        json.member("timeout_ms", timeoutMs)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("action", into: &action)
        try object.read("timeout", into: &deprecatedTimeoutNs)
        try object.read("log_source", into: &logSource)
        try object.read("timeout_ms", into: &timeoutMs)
    }
}

extension EmitProgressAction: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("action", action, omitEmpty: true)
        json.member("start_message", startMessage)
        json.member("success_message", successMessage)
        json.member("failure_message_prefix", failureMessagePrefix)
        json.member("log_source", logSource, omitEmpty: true)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("action", into: &action)
        try object.read("start_message", into: &startMessage)
        try object.read("success_message", into: &successMessage)
        try object.read("failure_message_prefix", into: &failureMessagePrefix)
        try object.read("log_source", into: &logSource)
    }
}

extension TryAction: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("action", action, omitEmpty: true)
        json.member("log_source", logSource, omitEmpty: true)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("action", into: &action)
        try object.read("log_source", into: &logSource)
    }
}

extension ParallelAction: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("actions", actions, omitEmpty: true)
        json.member("log_source", logSource, omitEmpty: true)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("actions", into: &actions)
        try object.read("log_source", into: &logSource)
    }
}

extension SerialAction: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("actions", actions, omitEmpty: true)
        json.member("log_source", logSource, omitEmpty: true)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("actions", into: &actions)
        try object.read("log_source", into: &logSource)
    }
}

extension CodependentAction: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("actions", actions, omitEmpty: true)
        json.member("log_source", logSource, omitEmpty: true)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("actions", into: &actions)
        try object.read("log_source", into: &logSource)
    }
}

// MARK: - Task

extension TaskDefinition: GoJSONCodable {
    /// The definition's keys, which a Task object carries inline.
    static let goJSONKeys = [
        "rootfs", "env", "action", "disk_mb", "memory_mb", "cpu_weight", "privileged",
        "log_source", "log_guid", "metrics_guid", "result_file", "completion_callback_url",
        "annotation", "egress_rules", "cached_dependencies", "legacy_download_user",
        "trusted_system_certificates_path", "volume_mounts", "network", "placement_tags",
        "max_pids", "certificate_properties", "image_username", "image_password",
        "image_layers", "log_rate_limit", "metric_tags", "volume_mounted_files",
    ]

    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("rootfs", rootFs)
        json.member("env", environmentVariables, omitEmpty: true)
        json.member("action", action, omitEmpty: true)
        json.member("disk_mb", diskMb)
        json.member("memory_mb", memoryMb)
        json.member("cpu_weight", cpuWeight)
        json.member("privileged", privileged)
        json.member("log_source", logSource)
        json.member("log_guid", logGuid)
        json.member("metrics_guid", metricsGuid)
        json.member("result_file", resultFile)
        json.member("completion_callback_url", completionCallbackUrl, omitEmpty: true)
        json.member("annotation", annotation, omitEmpty: true)
        json.member("egress_rules", egressRules, omitEmpty: true)
        json.member("cached_dependencies", cachedDependencies, omitEmpty: true)
        json.member("legacy_download_user", legacyDownloadUser, omitEmpty: true)
        json.member("trusted_system_certificates_path", trustedSystemCertificatesPath, omitEmpty: true)
        json.member("volume_mounts", volumeMounts, omitEmpty: true)
        json.member("network", network, omitEmpty: true)
        json.member("placement_tags", placementTags, omitEmpty: true)
        json.member("max_pids", maxPids)
        json.member("certificate_properties", certificateProperties, omitEmpty: true)
        json.member("image_username", imageUsername)
        json.member("image_password", imagePassword)
        json.member("image_layers", imageLayers, omitEmpty: true)
        json.member("log_rate_limit", logRateLimit, omitEmpty: true)
        json.member("metric_tags", metricTags, omitEmpty: true)
        json.member("volume_mounted_files", volumeMountedFiles)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("rootfs", into: &rootFs)
        try object.read("env", into: &environmentVariables)
        try object.read("action", into: &action)
        try object.read("disk_mb", into: &diskMb)
        try object.read("memory_mb", into: &memoryMb)
        try object.read("cpu_weight", into: &cpuWeight)
        try object.read("privileged", into: &privileged)
        try object.read("log_source", into: &logSource)
        try object.read("log_guid", into: &logGuid)
        try object.read("metrics_guid", into: &metricsGuid)
        try object.read("result_file", into: &resultFile)
        try object.read("completion_callback_url", into: &completionCallbackUrl)
        try object.read("annotation", into: &annotation)
        try object.read("egress_rules", into: &egressRules)
        try object.read("cached_dependencies", into: &cachedDependencies)
        try object.read("legacy_download_user", into: &legacyDownloadUser)
        try object.read("trusted_system_certificates_path", into: &trustedSystemCertificatesPath)
        try object.read("volume_mounts", into: &volumeMounts)
        try object.read("network", into: &network)
        try object.read("placement_tags", into: &placementTags)
        try object.read("max_pids", into: &maxPids)
        try object.read("certificate_properties", into: &certificateProperties)
        try object.read("image_username", into: &imageUsername)
        try object.read("image_password", into: &imagePassword)
        try object.read("image_layers", into: &imageLayers)
        try object.read("log_rate_limit", into: &logRateLimit)
        try object.read("metric_tags", into: &metricTags)
        try object.read("volume_mounted_files", into: &volumeMountedFiles)
    }
}

extension BBSTask: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        taskDefinition?.writeGoJSONMembers(to: &json)
        json.member("task_guid", taskGuid)
        json.member("domain", domain)
        json.member("created_at", createdAt)
        json.member("updated_at", updatedAt)
        json.member("first_completed_at", firstCompletedAt)
        json.member("state", state.rawValue, names: .taskState)
        json.member("cell_id", cellId)
        json.member("result", result)
        json.member("failed", failed)
        json.member("failure_reason", failureReason)
        json.member("rejection_count", rejectionCount)
        json.member("rejection_reason", rejectionReason)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        if object.containsAny(of: TaskDefinition.goJSONKeys) {
            taskDefinition = try TaskDefinition(goJSONObject: object.embedded())
        }
        try object.read("task_guid", into: &taskGuid)
        try object.read("domain", into: &domain)
        try object.read("created_at", into: &createdAt)
        try object.read("updated_at", into: &updatedAt)
        try object.read("first_completed_at", into: &firstCompletedAt)
        try object.read("state", names: .taskState, into: &state.rawValue)
        try object.read("cell_id", into: &cellId)
        try object.read("result", into: &result)
        try object.read("failed", into: &failed)
        try object.read("failure_reason", into: &failureReason)
        try object.read("rejection_count", into: &rejectionCount)
        try object.read("rejection_reason", into: &rejectionReason)
    }
}

// MARK: - Error, requests and responses

extension BBSError: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("type", type.rawValue, names: .errorType)
        json.member("message", message)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("type", names: .errorType, into: &type.rawValue)
        try object.read("message", into: &message)
    }
}

extension TaskLifecycleResponse: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("error", error, omitEmpty: true)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("error", into: &error)
    }
}

extension DesireTaskRequest: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("task_definition", taskDefinition)
        json.member("task_guid", taskGuid)
        json.member("domain", domain)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("task_definition", into: &taskDefinition)
        try object.read("task_guid", into: &taskGuid)
        try object.read("domain", into: &domain)
    }
}

extension StartTaskRequest: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("task_guid", taskGuid)
        json.member("cell_id", cellId)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("task_guid", into: &taskGuid)
        try object.read("cell_id", into: &cellId)
    }
}

extension StartTaskResponse: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("error", error, omitEmpty: true)
        json.member("should_start", shouldStart)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("error", into: &error)
        try object.read("should_start", into: &shouldStart)
    }
}

extension FailTaskRequest: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("task_guid", taskGuid)
        json.member("failure_reason", failureReason)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("task_guid", into: &taskGuid)
        try object.read("failure_reason", into: &failureReason)
    }
}

extension RejectTaskRequest: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("task_guid", taskGuid)
        json.member("rejection_reason", rejectionReason)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("task_guid", into: &taskGuid)
        try object.read("rejection_reason", into: &rejectionReason)
    }
}

extension TaskGuidRequest: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("task_guid", taskGuid)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("task_guid", into: &taskGuid)
    }
}

extension CompleteTaskRequest: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("task_guid", taskGuid)
        json.member("cell_id", cellId)
        json.member("failed", failed)
        json.member("failure_reason", failureReason)
        json.member("result", result)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("task_guid", into: &taskGuid)
        try object.read("cell_id", into: &cellId)
        try object.read("failed", into: &failed)
        try object.read("failure_reason", into: &failureReason)
        try object.read("result", into: &result)
    }
}

extension TaskCallbackResponse: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("task_guid", taskGuid)
        json.member("failed", failed)
        json.member("failure_reason", failureReason)
        json.member("result", result)
        json.member("annotation", annotation, omitEmpty: true)
        json.member("created_at", createdAt)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("task_guid", into: &taskGuid)
        try object.read("failed", into: &failed)
        try object.read("failure_reason", into: &failureReason)
        try object.read("result", into: &result)
        try object.read("annotation", into: &annotation)
        try object.read("created_at", into: &createdAt)
    }
}

extension TasksRequest: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("domain", domain)
        json.member("cell_id", cellId)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("domain", into: &domain)
        try object.read("cell_id", into: &cellId)
    }
}

extension TasksResponse: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("error", error, omitEmpty: true)
        json.member("tasks", tasks, omitEmpty: true)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("error", into: &error)
        try object.read("tasks", into: &tasks)
    }
}

extension TaskByGuidRequest: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("task_guid", taskGuid)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("task_guid", into: &taskGuid)
    }
}

extension TaskResponse: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("error", error, omitEmpty: true)
        json.member("task", task, omitEmpty: true)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("error", into: &error)
        try object.read("task", into: &task)
    }
}

extension PingResponse: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("available", available)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("available", into: &available)
    }
}

// MARK: - Domains

extension UpsertDomainRequest: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("domain", domain)
        json.member("ttl", ttl)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("domain", into: &domain)
        try object.read("ttl", into: &ttl)
    }
}

extension UpsertDomainResponse: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("error", error, omitEmpty: true)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("error", into: &error)
    }
}

extension DomainsResponse: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("error", error, omitEmpty: true)
        json.member("domains", domains, omitEmpty: true)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("error", into: &error)
        try object.read("domains", into: &domains)
    }
}

// MARK: - Events

extension TaskCreatedEvent: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("task", task, omitEmpty: true)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("task", into: &task)
    }
}

extension TaskChangedEvent: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("before", before, omitEmpty: true)
        json.member("after", after, omitEmpty: true)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("before", into: &before)
        try object.read("after", into: &after)
    }
}

extension TaskRemovedEvent: GoJSONCodable {
    public func writeGoJSONMembers(to json: inout GoJSONWriter) {
        json.member("task", task, omitEmpty: true)
    }

    public init(goJSONObject object: GoJSONObject) throws {
        self.init()
        try object.read("task", into: &task)
    }
}
