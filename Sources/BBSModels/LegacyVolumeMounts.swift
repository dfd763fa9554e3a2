// The removed `desire.r1` route took volume mounts in their pre-2016 shape (versions.md
// §5.2): fields 2 `deprecated_volume_id`, 4 `deprecated_mode` (RO = 0, RW = 1) and 5
// `deprecated_config`, which the current model reserves (the codec keeps them as
// unknown fields, `VolumeMount.legacyFields()` reads them back).

extension TaskDefinition {
    /// The definition with every volume mount replaced by its up-conversion, as the
    /// reference's `desire.r1` stored it: mode `r` unless the old mode was RW, a shared
    /// device carrying the old volume id and config. New-style fields sent alongside are
    /// discarded, as they were then.
    public func upgradedFromR1VolumeMounts() -> TaskDefinition {
        var upgraded = self
        upgraded.volumeMounts = volumeMounts.map { mount in
            let legacy = mount.legacyFields()
            var new = VolumeMount()
            new.driver = mount.driver
            new.containerDir = mount.containerDir
            new.mode = legacy.mode == 1 ? "rw" : "r"
            new.shared = SharedDevice(volumeId: legacy.volumeId, mountConfig: String(decoding: legacy.config, as: UTF8.self))
            return new
        }
        return upgraded
    }
}
