import ProtoWire

// The protobuf codec of every BBS message (messages.md §1-§7), written by hand against
// ProtoWire. It reproduces what the reference's gogo-generated code writes:
//
// - known fields in ascending field-number order, scalars omitted at their default,
//   present sub-messages always written (an empty one is key + `00`), repeated fields one
//   record per element, `SecurityGroupRule.ports` unpacked, `ResourceLimits` members
//   written whenever set (even 0), map entries as entry messages with both key (1) and
//   value (2) written even when empty (a nil message value: the key only);
// - then the message's `unknownFields`, as received. The reference drops unknown fields;
//   we keep them so a newer client's field survives desire -> get.
//
// Decoding follows protobuf merge semantics: a scalar seen twice keeps the last value, a
// non-repeated sub-message seen twice is merged, repeated fields and map entries append.
// A known field with the wrong wire type is an error (except `ports`, which is read packed
// or unpacked). Enums keep numbers they do not define.
//
// Maps keep their entries in wire order, duplicates included: the reference's Go map keeps
// the last value of a duplicated key, and so does any protobuf parser reading our output,
// so re-emitting every entry preserves the meaning without a quadratic de-duplication on
// hostile input. Code that needs one value per key must let the last entry win.
// Map entries do not keep unknown fields of their own (the model has no place for them).
//
// Types whose only initializer takes defaulted arguments get a plain `init()` here:
// `ProtoMessage.init()` is not satisfied by an initializer with default arguments.

// MARK: - Supporting messages

extension EnvironmentVariable: ProtoMessage {
    public init() { self.init(name: "") }

    public func encode(to writer: inout ProtoWriter) {
        writer.writeString(1, name)
        writer.writeString(2, value)
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: name = try reader.decodeString(wireType)
        case 2: value = try reader.decodeString(wireType)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension PortRange: ProtoMessage {
    public init() { self.init(start: 0) }

    public func encode(to writer: inout ProtoWriter) {
        writer.writeUInt32(1, start)
        writer.writeUInt32(2, end)
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: start = try reader.decodeUInt32(wireType)
        case 2: end = try reader.decodeUInt32(wireType)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension ICMPInfo: ProtoMessage {
    public init() { self.init(type: 0) }

    public func encode(to writer: inout ProtoWriter) {
        writer.writeInt32(1, type)
        writer.writeInt32(2, code)
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: type = try reader.decodeInt32(wireType)
        case 2: code = try reader.decodeInt32(wireType)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension SecurityGroupRule: ProtoMessage {
    public func encode(to writer: inout ProtoWriter) {
        writer.writeString(1, `protocol`)
        writer.writeRepeatedString(2, destinations)
        writer.writeUnpackedUInt32(3, ports)
        if let portRange { writer.writeMessage(4, portRange) }
        if let icmpInfo { writer.writeMessage(5, icmpInfo) }
        writer.writeBool(6, log)
        writer.writeRepeatedString(7, annotations)
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: `protocol` = try reader.decodeString(wireType)
        case 2: destinations.append(try reader.decodeString(wireType))
        case 3: try reader.decodeRepeatedUInt32(wireType, into: &ports)
        case 4: try reader.mergeMessage(wireType, into: &portRange)
        case 5: try reader.mergeMessage(wireType, into: &icmpInfo)
        case 6: log = try reader.decodeBool(wireType)
        case 7: annotations.append(try reader.decodeString(wireType))
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension CachedDependency: ProtoMessage {
    public func encode(to writer: inout ProtoWriter) {
        writer.writeString(1, name)
        writer.writeString(2, from)
        writer.writeString(3, to)
        writer.writeString(4, cacheKey)
        writer.writeString(5, logSource)
        writer.writeString(6, checksumAlgorithm)
        writer.writeString(7, checksumValue)
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: name = try reader.decodeString(wireType)
        case 2: from = try reader.decodeString(wireType)
        case 3: to = try reader.decodeString(wireType)
        case 4: cacheKey = try reader.decodeString(wireType)
        case 5: logSource = try reader.decodeString(wireType)
        case 6: checksumAlgorithm = try reader.decodeString(wireType)
        case 7: checksumValue = try reader.decodeString(wireType)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension SharedDevice: ProtoMessage {
    public init() { self.init(volumeId: "") }

    public func encode(to writer: inout ProtoWriter) {
        writer.writeString(1, volumeId)
        writer.writeString(2, mountConfig)
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: volumeId = try reader.decodeString(wireType)
        case 2: mountConfig = try reader.decodeString(wireType)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension DedicatedDevice: ProtoMessage {
    public func encode(to writer: inout ProtoWriter) {
        writer.writeString(1, mounterId)
        writer.writeString(2, mountConfig)
        writer.writeString(3, deviceConfig)
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: mounterId = try reader.decodeString(wireType)
        case 2: mountConfig = try reader.decodeString(wireType)
        case 3: deviceConfig = try reader.decodeString(wireType)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension VolumeMount: ProtoMessage {
    // Fields 2, 4 and 5 are reserved: they land in `unknownFields` (see `legacyFields()`).
    public func encode(to writer: inout ProtoWriter) {
        writer.writeString(1, driver)
        writer.writeString(3, containerDir)
        writer.writeString(6, mode)
        if let shared { writer.writeMessage(7, shared) }
        if let dedicated { writer.writeMessage(8, dedicated) }
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: driver = try reader.decodeString(wireType)
        case 3: containerDir = try reader.decodeString(wireType)
        case 6: mode = try reader.decodeString(wireType)
        case 7: try reader.mergeMessage(wireType, into: &shared)
        case 8: try reader.mergeMessage(wireType, into: &dedicated)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }

    /// The pre-2016 fields 2 `deprecated_volume_id` (string), 4 `deprecated_mode` (enum)
    /// and 5 `deprecated_config` (bytes), read back from `unknownFields` with the usual
    /// rules (last value wins; absent = default). A record of one of those numbers with a
    /// wire type that does not suit the old type is ignored, as are all other fields.
    public func legacyFields() -> LegacyVolumeMountFields {
        var legacy = LegacyVolumeMountFields()
        var reader = ProtoReader(unknownFields)
        // The bytes were validated when they were decoded; should someone have put
        // malformed bytes here, the fields read before the damage are returned.
        while let (field, wireType) = try? reader.nextField() {
            switch (field, wireType) {
            case (2, .lengthDelimited):
                guard let volumeId = try? reader.readString() else { return legacy }
                legacy.volumeId = volumeId
            case (4, .varint):
                guard let mode = try? reader.readVarint() else { return legacy }
                legacy.mode = Int32(truncatingIfNeeded: mode)
            case (5, .lengthDelimited):
                guard let config = try? reader.readLengthDelimited() else { return legacy }
                legacy.config = config
            default:
                guard (try? reader.skipField(wireType)) != nil else { return legacy }
            }
        }
        return legacy
    }
}

/// A `map<string, string>` entry on the wire (`Network.properties`).
private struct StringMapEntry: ProtoMessage {
    var key = ""
    var value = ""

    func encode(to writer: inout ProtoWriter) {
        writer.writeExplicitString(1, key)
        writer.writeExplicitString(2, value)
    }

    mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: key = try reader.decodeString(wireType)
        case 2: value = try reader.decodeString(wireType)
        default: try reader.skipField(wireType)
        }
    }
}

/// A `map<string, MetricTagValue>` entry on the wire (`TaskDefinition.metric_tags`).
private struct MetricTagEntry: ProtoMessage {
    var key = ""
    var value: MetricTagValue?

    func encode(to writer: inout ProtoWriter) {
        writer.writeExplicitString(1, key)
        if let value { writer.writeMessage(2, value) }
    }

    mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: key = try reader.decodeString(wireType)
        case 2: try reader.mergeMessage(wireType, into: &value)
        default: try reader.skipField(wireType)
        }
    }
}

extension Network: ProtoMessage {
    public func encode(to writer: inout ProtoWriter) {
        for entry in properties {
            writer.writeMessage(1, StringMapEntry(key: entry.key, value: entry.value))
        }
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1:
            var entry = StringMapEntry()
            try reader.mergeMessage(wireType, into: &entry)
            properties.append(MapEntry(key: entry.key, value: entry.value))
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension CertificateProperties: ProtoMessage {
    public func encode(to writer: inout ProtoWriter) {
        writer.writeRepeatedString(1, organizationalUnit)
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: organizationalUnit.append(try reader.decodeString(wireType))
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension ImageLayer: ProtoMessage {
    public func encode(to writer: inout ProtoWriter) {
        writer.writeString(1, name)
        writer.writeString(2, url)
        writer.writeString(3, destinationPath)
        writer.writeEnum(4, layerType)
        writer.writeEnum(5, mediaType)
        writer.writeEnum(6, digestAlgorithm)
        writer.writeString(7, digestValue)
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: name = try reader.decodeString(wireType)
        case 2: url = try reader.decodeString(wireType)
        case 3: destinationPath = try reader.decodeString(wireType)
        case 4: layerType = try reader.decodeEnum(wireType)
        case 5: mediaType = try reader.decodeEnum(wireType)
        case 6: digestAlgorithm = try reader.decodeEnum(wireType)
        case 7: digestValue = try reader.decodeString(wireType)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension LogRateLimit: ProtoMessage {
    public init() { self.init(bytesPerSecond: 0) }

    public func encode(to writer: inout ProtoWriter) {
        writer.writeInt64(1, bytesPerSecond)
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: bytesPerSecond = try reader.decodeInt64(wireType)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension MetricTagValue: ProtoMessage {
    public func encode(to writer: inout ProtoWriter) {
        writer.writeString(1, `static`)
        writer.writeEnum(2, dynamic)
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: `static` = try reader.decodeString(wireType)
        case 2: dynamic = try reader.decodeEnum(wireType)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension File: ProtoMessage {
    public init() { self.init(path: "") }

    public func encode(to writer: inout ProtoWriter) {
        writer.writeString(1, path)
        writer.writeString(2, content)
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: path = try reader.decodeString(wireType)
        case 2: content = try reader.decodeString(wireType)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension ResourceLimits: ProtoMessage {
    public init() { self.init(nofile: nil) }

    // Both members are oneofs: written whenever set, even when 0.
    public func encode(to writer: inout ProtoWriter) {
        if let nofile { writer.writeExplicitUInt64(1, nofile) }
        if let nproc { writer.writeExplicitUInt64(2, nproc) }
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: nofile = try reader.decodeUInt64(wireType)
        case 2: nproc = try reader.decodeUInt64(wireType)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

// MARK: - Actions

extension Action: ProtoMessage {
    // Not a oneof: every present member is written, in field order.
    public func encode(to writer: inout ProtoWriter) {
        if let downloadAction { writer.writeMessage(1, downloadAction) }
        if let uploadAction { writer.writeMessage(2, uploadAction) }
        if let runAction { writer.writeMessage(3, runAction) }
        if let timeoutAction { writer.writeMessage(4, timeoutAction) }
        if let emitProgressAction { writer.writeMessage(5, emitProgressAction) }
        if let tryAction { writer.writeMessage(6, tryAction) }
        if let parallelAction { writer.writeMessage(7, parallelAction) }
        if let serialAction { writer.writeMessage(8, serialAction) }
        if let codependentAction { writer.writeMessage(9, codependentAction) }
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: try reader.mergeMessage(wireType, into: &downloadAction)
        case 2: try reader.mergeMessage(wireType, into: &uploadAction)
        case 3: try reader.mergeMessage(wireType, into: &runAction)
        case 4: try reader.mergeMessage(wireType, into: &timeoutAction)
        case 5: try reader.mergeMessage(wireType, into: &emitProgressAction)
        case 6: try reader.mergeMessage(wireType, into: &tryAction)
        case 7: try reader.mergeMessage(wireType, into: &parallelAction)
        case 8: try reader.mergeMessage(wireType, into: &serialAction)
        case 9: try reader.mergeMessage(wireType, into: &codependentAction)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension DownloadAction: ProtoMessage {
    public func encode(to writer: inout ProtoWriter) {
        writer.writeString(1, artifact)
        writer.writeString(2, from)
        writer.writeString(3, to)
        writer.writeString(4, cacheKey)
        writer.writeString(5, logSource)
        writer.writeString(6, user)
        writer.writeString(7, checksumAlgorithm)
        writer.writeString(8, checksumValue)
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: artifact = try reader.decodeString(wireType)
        case 2: from = try reader.decodeString(wireType)
        case 3: to = try reader.decodeString(wireType)
        case 4: cacheKey = try reader.decodeString(wireType)
        case 5: logSource = try reader.decodeString(wireType)
        case 6: user = try reader.decodeString(wireType)
        case 7: checksumAlgorithm = try reader.decodeString(wireType)
        case 8: checksumValue = try reader.decodeString(wireType)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension UploadAction: ProtoMessage {
    public func encode(to writer: inout ProtoWriter) {
        writer.writeString(1, artifact)
        writer.writeString(2, from)
        writer.writeString(3, to)
        writer.writeString(4, logSource)
        writer.writeString(5, user)
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: artifact = try reader.decodeString(wireType)
        case 2: from = try reader.decodeString(wireType)
        case 3: to = try reader.decodeString(wireType)
        case 4: logSource = try reader.decodeString(wireType)
        case 5: user = try reader.decodeString(wireType)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension RunAction: ProtoMessage {
    public init() { self.init(path: "") }

    public func encode(to writer: inout ProtoWriter) {
        writer.writeString(1, path)
        writer.writeRepeatedString(2, args)
        writer.writeString(3, dir)
        writer.writeRepeatedMessage(4, env)
        if let resourceLimits { writer.writeMessage(5, resourceLimits) }
        writer.writeString(6, user)
        writer.writeString(7, logSource)
        writer.writeBool(8, suppressLogOutput)
        writer.writeRepeatedMessage(9, volumeMountedFiles)
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: path = try reader.decodeString(wireType)
        case 2: args.append(try reader.decodeString(wireType))
        case 3: dir = try reader.decodeString(wireType)
        case 4: try reader.appendMessage(wireType, to: &env)
        case 5: try reader.mergeMessage(wireType, into: &resourceLimits)
        case 6: user = try reader.decodeString(wireType)
        case 7: logSource = try reader.decodeString(wireType)
        case 8: suppressLogOutput = try reader.decodeBool(wireType)
        case 9: try reader.appendMessage(wireType, to: &volumeMountedFiles)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension TimeoutAction: ProtoMessage {
    public func encode(to writer: inout ProtoWriter) {
        if let action { writer.writeMessage(1, action) }
        writer.writeInt64(2, deprecatedTimeoutNs)
        writer.writeString(3, logSource)
        writer.writeInt64(4, timeoutMs)
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: try reader.mergeMessage(wireType, into: &action)
        case 2: deprecatedTimeoutNs = try reader.decodeInt64(wireType)
        case 3: logSource = try reader.decodeString(wireType)
        case 4: timeoutMs = try reader.decodeInt64(wireType)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension EmitProgressAction: ProtoMessage {
    public func encode(to writer: inout ProtoWriter) {
        if let action { writer.writeMessage(1, action) }
        writer.writeString(2, startMessage)
        writer.writeString(3, successMessage)
        writer.writeString(4, failureMessagePrefix)
        writer.writeString(5, logSource)
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: try reader.mergeMessage(wireType, into: &action)
        case 2: startMessage = try reader.decodeString(wireType)
        case 3: successMessage = try reader.decodeString(wireType)
        case 4: failureMessagePrefix = try reader.decodeString(wireType)
        case 5: logSource = try reader.decodeString(wireType)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension TryAction: ProtoMessage {
    public func encode(to writer: inout ProtoWriter) {
        if let action { writer.writeMessage(1, action) }
        writer.writeString(2, logSource)
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: try reader.mergeMessage(wireType, into: &action)
        case 2: logSource = try reader.decodeString(wireType)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension ParallelAction: ProtoMessage {
    public init() { self.init(actions: []) }

    public func encode(to writer: inout ProtoWriter) {
        writer.writeRepeatedMessage(1, actions)
        writer.writeString(2, logSource)
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: try reader.appendMessage(wireType, to: &actions)
        case 2: logSource = try reader.decodeString(wireType)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension SerialAction: ProtoMessage {
    public init() { self.init(actions: []) }

    public func encode(to writer: inout ProtoWriter) {
        writer.writeRepeatedMessage(1, actions)
        writer.writeString(2, logSource)
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: try reader.appendMessage(wireType, to: &actions)
        case 2: logSource = try reader.decodeString(wireType)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension CodependentAction: ProtoMessage {
    public init() { self.init(actions: []) }

    public func encode(to writer: inout ProtoWriter) {
        writer.writeRepeatedMessage(1, actions)
        writer.writeString(2, logSource)
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: try reader.appendMessage(wireType, to: &actions)
        case 2: logSource = try reader.decodeString(wireType)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

// MARK: - Task

extension TaskDefinition: ProtoMessage {
    public func encode(to writer: inout ProtoWriter) {
        writer.writeString(1, rootFs)
        writer.writeRepeatedMessage(2, environmentVariables)
        if let action { writer.writeMessage(3, action) }
        writer.writeInt32(4, diskMb)
        writer.writeInt32(5, memoryMb)
        writer.writeUInt32(6, cpuWeight)
        writer.writeBool(7, privileged)
        writer.writeString(8, logSource)
        writer.writeString(9, logGuid)
        writer.writeString(10, metricsGuid)
        writer.writeString(11, resultFile)
        writer.writeString(12, completionCallbackUrl)
        writer.writeString(13, annotation)
        writer.writeRepeatedMessage(14, egressRules)
        writer.writeRepeatedMessage(15, cachedDependencies)
        writer.writeString(16, legacyDownloadUser)
        writer.writeString(17, trustedSystemCertificatesPath)
        writer.writeRepeatedMessage(18, volumeMounts)
        if let network { writer.writeMessage(19, network) }
        writer.writeRepeatedString(20, placementTags)
        writer.writeInt32(21, maxPids)
        if let certificateProperties { writer.writeMessage(22, certificateProperties) }
        writer.writeString(23, imageUsername)
        writer.writeString(24, imagePassword)
        writer.writeRepeatedMessage(25, imageLayers)
        if let logRateLimit { writer.writeMessage(26, logRateLimit) }
        for entry in metricTags {
            writer.writeMessage(27, MetricTagEntry(key: entry.key, value: entry.value))
        }
        writer.writeRepeatedMessage(28, volumeMountedFiles)
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: rootFs = try reader.decodeString(wireType)
        case 2: try reader.appendMessage(wireType, to: &environmentVariables)
        case 3: try reader.mergeMessage(wireType, into: &action)
        case 4: diskMb = try reader.decodeInt32(wireType)
        case 5: memoryMb = try reader.decodeInt32(wireType)
        case 6: cpuWeight = try reader.decodeUInt32(wireType)
        case 7: privileged = try reader.decodeBool(wireType)
        case 8: logSource = try reader.decodeString(wireType)
        case 9: logGuid = try reader.decodeString(wireType)
        case 10: metricsGuid = try reader.decodeString(wireType)
        case 11: resultFile = try reader.decodeString(wireType)
        case 12: completionCallbackUrl = try reader.decodeString(wireType)
        case 13: annotation = try reader.decodeString(wireType)
        case 14: try reader.appendMessage(wireType, to: &egressRules)
        case 15: try reader.appendMessage(wireType, to: &cachedDependencies)
        case 16: legacyDownloadUser = try reader.decodeString(wireType)
        case 17: trustedSystemCertificatesPath = try reader.decodeString(wireType)
        case 18: try reader.appendMessage(wireType, to: &volumeMounts)
        case 19: try reader.mergeMessage(wireType, into: &network)
        case 20: placementTags.append(try reader.decodeString(wireType))
        case 21: maxPids = try reader.decodeInt32(wireType)
        case 22: try reader.mergeMessage(wireType, into: &certificateProperties)
        case 23: imageUsername = try reader.decodeString(wireType)
        case 24: imagePassword = try reader.decodeString(wireType)
        case 25: try reader.appendMessage(wireType, to: &imageLayers)
        case 26: try reader.mergeMessage(wireType, into: &logRateLimit)
        case 27:
            var entry = MetricTagEntry()
            try reader.mergeMessage(wireType, into: &entry)
            metricTags.append(MapEntry(key: entry.key, value: entry.value))
        case 28: try reader.appendMessage(wireType, to: &volumeMountedFiles)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension BBSTask: ProtoMessage {
    public func encode(to writer: inout ProtoWriter) {
        if let taskDefinition { writer.writeMessage(1, taskDefinition) }
        writer.writeString(2, taskGuid)
        writer.writeString(3, domain)
        writer.writeInt64(4, createdAt)
        writer.writeInt64(5, updatedAt)
        writer.writeInt64(6, firstCompletedAt)
        writer.writeEnum(7, state.rawValue)
        writer.writeString(8, cellId)
        writer.writeString(9, result)
        writer.writeBool(10, failed)
        writer.writeString(11, failureReason)
        writer.writeInt32(12, rejectionCount)
        writer.writeString(13, rejectionReason)
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: try reader.mergeMessage(wireType, into: &taskDefinition)
        case 2: taskGuid = try reader.decodeString(wireType)
        case 3: domain = try reader.decodeString(wireType)
        case 4: createdAt = try reader.decodeInt64(wireType)
        case 5: updatedAt = try reader.decodeInt64(wireType)
        case 6: firstCompletedAt = try reader.decodeInt64(wireType)
        case 7: state = TaskState(rawValue: try reader.decodeEnum(wireType))
        case 8: cellId = try reader.decodeString(wireType)
        case 9: result = try reader.decodeString(wireType)
        case 10: failed = try reader.decodeBool(wireType)
        case 11: failureReason = try reader.decodeString(wireType)
        case 12: rejectionCount = try reader.decodeInt32(wireType)
        case 13: rejectionReason = try reader.decodeString(wireType)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

// MARK: - Error

extension BBSError: ProtoMessage {
    public init() {
        self.init(type: .unknownError, message: "")
    }

    public func encode(to writer: inout ProtoWriter) {
        writer.writeEnum(1, type.rawValue)
        writer.writeString(2, message)
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: type = ErrorType(rawValue: try reader.decodeEnum(wireType))
        case 2: message = try reader.decodeString(wireType)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

// MARK: - Requests and responses

extension DesireTaskRequest: ProtoMessage {
    public func encode(to writer: inout ProtoWriter) {
        if let taskDefinition { writer.writeMessage(1, taskDefinition) }
        writer.writeString(2, taskGuid)
        writer.writeString(3, domain)
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: try reader.mergeMessage(wireType, into: &taskDefinition)
        case 2: taskGuid = try reader.decodeString(wireType)
        case 3: domain = try reader.decodeString(wireType)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension StartTaskRequest: ProtoMessage {
    public init() { self.init(taskGuid: "") }

    public func encode(to writer: inout ProtoWriter) {
        writer.writeString(1, taskGuid)
        writer.writeString(2, cellId)
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: taskGuid = try reader.decodeString(wireType)
        case 2: cellId = try reader.decodeString(wireType)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension StartTaskResponse: ProtoMessage {
    public init() { self.init(error: nil) }

    public func encode(to writer: inout ProtoWriter) {
        if let error { writer.writeMessage(1, error) }
        writer.writeBool(2, shouldStart)
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: try reader.mergeMessage(wireType, into: &error)
        case 2: shouldStart = try reader.decodeBool(wireType)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension FailTaskRequest: ProtoMessage {
    public init() { self.init(taskGuid: "") }

    public func encode(to writer: inout ProtoWriter) {
        writer.writeString(1, taskGuid)
        writer.writeString(2, failureReason)
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: taskGuid = try reader.decodeString(wireType)
        case 2: failureReason = try reader.decodeString(wireType)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension RejectTaskRequest: ProtoMessage {
    public init() { self.init(taskGuid: "") }

    public func encode(to writer: inout ProtoWriter) {
        writer.writeString(1, taskGuid)
        writer.writeString(2, rejectionReason)
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: taskGuid = try reader.decodeString(wireType)
        case 2: rejectionReason = try reader.decodeString(wireType)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension TaskGuidRequest: ProtoMessage {
    public init() { self.init(taskGuid: "") }

    public func encode(to writer: inout ProtoWriter) {
        writer.writeString(1, taskGuid)
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: taskGuid = try reader.decodeString(wireType)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension CompleteTaskRequest: ProtoMessage {
    public func encode(to writer: inout ProtoWriter) {
        writer.writeString(1, taskGuid)
        writer.writeString(2, cellId)
        writer.writeBool(3, failed)
        writer.writeString(4, failureReason)
        writer.writeString(5, result)
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: taskGuid = try reader.decodeString(wireType)
        case 2: cellId = try reader.decodeString(wireType)
        case 3: failed = try reader.decodeBool(wireType)
        case 4: failureReason = try reader.decodeString(wireType)
        case 5: result = try reader.decodeString(wireType)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension TaskLifecycleResponse: ProtoMessage {
    public init() { self.init(error: nil) }

    public func encode(to writer: inout ProtoWriter) {
        if let error { writer.writeMessage(1, error) }
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: try reader.mergeMessage(wireType, into: &error)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension TasksRequest: ProtoMessage {
    public init() { self.init(domain: "") }

    public func encode(to writer: inout ProtoWriter) {
        writer.writeString(1, domain)
        writer.writeString(2, cellId)
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: domain = try reader.decodeString(wireType)
        case 2: cellId = try reader.decodeString(wireType)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension TasksResponse: ProtoMessage {
    public init() { self.init(error: nil) }

    public func encode(to writer: inout ProtoWriter) {
        if let error { writer.writeMessage(1, error) }
        writer.writeRepeatedMessage(2, tasks)
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: try reader.mergeMessage(wireType, into: &error)
        case 2: try reader.appendMessage(wireType, to: &tasks)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension TaskByGuidRequest: ProtoMessage {
    public init() { self.init(taskGuid: "") }

    public func encode(to writer: inout ProtoWriter) {
        writer.writeString(1, taskGuid)
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: taskGuid = try reader.decodeString(wireType)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension TaskResponse: ProtoMessage {
    public init() { self.init(error: nil) }

    public func encode(to writer: inout ProtoWriter) {
        if let error { writer.writeMessage(1, error) }
        if let task { writer.writeMessage(2, task) }
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: try reader.mergeMessage(wireType, into: &error)
        case 2: try reader.mergeMessage(wireType, into: &task)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension PingResponse: ProtoMessage {
    public init() { self.init(available: false) }

    public func encode(to writer: inout ProtoWriter) {
        writer.writeBool(1, available)
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: available = try reader.decodeBool(wireType)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

// MARK: - Domains

extension UpsertDomainRequest: ProtoMessage {
    public init() { self.init(domain: "") }

    public func encode(to writer: inout ProtoWriter) {
        writer.writeString(1, domain)
        writer.writeUInt32(2, ttl)
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: domain = try reader.decodeString(wireType)
        case 2: ttl = try reader.decodeUInt32(wireType)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension UpsertDomainResponse: ProtoMessage {
    public init() { self.init(error: nil) }

    public func encode(to writer: inout ProtoWriter) {
        if let error { writer.writeMessage(1, error) }
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: try reader.mergeMessage(wireType, into: &error)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension DomainsResponse: ProtoMessage {
    public init() { self.init(error: nil) }

    public func encode(to writer: inout ProtoWriter) {
        if let error { writer.writeMessage(1, error) }
        writer.writeRepeatedString(2, domains)
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: try reader.mergeMessage(wireType, into: &error)
        case 2: domains.append(try reader.decodeString(wireType))
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

// MARK: - Events

extension TaskCreatedEvent: ProtoMessage {
    public init() { self.init(task: nil) }

    public func encode(to writer: inout ProtoWriter) {
        if let task { writer.writeMessage(1, task) }
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: try reader.mergeMessage(wireType, into: &task)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension TaskChangedEvent: ProtoMessage {
    public init() { self.init(before: nil) }

    public func encode(to writer: inout ProtoWriter) {
        if let before { writer.writeMessage(1, before) }
        if let after { writer.writeMessage(2, after) }
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: try reader.mergeMessage(wireType, into: &before)
        case 2: try reader.mergeMessage(wireType, into: &after)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

extension TaskRemovedEvent: ProtoMessage {
    public init() { self.init(task: nil) }

    public func encode(to writer: inout ProtoWriter) {
        if let task { writer.writeMessage(1, task) }
        writer.writeRawBytes(unknownFields)
    }

    public mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: try reader.mergeMessage(wireType, into: &task)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}
