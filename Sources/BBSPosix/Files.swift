// Regular files and directories, for the write-ahead log: positional reads and writes that
// loop until done, the two flavours of fsync, preallocation, truncation, advisory locks,
// and the directory operations (rename, unlink, listing, directory fsync) that make a file
// replacement durable. Everything goes through `systemCall` (SystemCall.swift).

#if canImport(Glibc)
import Glibc
#endif

/// An open file or directory, by descriptor. A value: whoever opened it closes it, once.
public struct OpenFile: Sendable, Hashable {
    public let descriptor: Int32

    public init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    /// How to open: read-only unless `.write`; descriptors are always close-on-exec.
    public struct Options: OptionSet, Sendable, Hashable {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }

        public static let write = Options(rawValue: 1 << 0)
        /// Create the file if it does not exist.
        public static let create = Options(rawValue: 1 << 1)
        /// Cut an existing file to zero length.
        public static let truncate = Options(rawValue: 1 << 2)
        /// With `.create`: fail (EEXIST) if the file already exists.
        public static let exclusive = Options(rawValue: 1 << 3)
        /// The path must be a directory (open it to fsync it).
        public static let directory = Options(rawValue: 1 << 4)

        var flags: Int32 {
            var flags = O_CLOEXEC | (contains(.write) ? O_RDWR : O_RDONLY)
            if contains(.create) { flags |= O_CREAT }
            if contains(.truncate) { flags |= O_TRUNC }
            if contains(.exclusive) { flags |= O_EXCL }
            if contains(.directory) { flags |= O_DIRECTORY }
            return flags
        }
    }

    /// Opens `path`; a created file gets `permissions` (less the umask).
    public static func open(_ path: String, _ options: Options = [],
                            permissions: UInt32 = 0o644) throws(SystemCallError) -> OpenFile {
        let descriptor = try systemCall("open") { Glibc.open(path, options.flags, mode_t(permissions)) }
        return OpenFile(descriptor: descriptor)
    }

    /// Closes the descriptor. Not retried on EINTR: on Linux the descriptor is gone either
    /// way, and retrying could close one that another thread just opened.
    public func close() throws(SystemCallError) {
        if Glibc.close(descriptor) == -1 && errno != EINTR {
            throw SystemCallError(call: "close", errno: errno)
        }
    }

    // MARK: - Reading and writing

    /// Reads up to `buffer.count` bytes at `offset` with one `pread`; 0 means end of file.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(SystemCallError) -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        return try systemCall("pread") { Glibc.pread(descriptor, base, buffer.count, off_t(offset)) }
    }

    /// Reads at `offset` until `buffer` is full or the file ends; returns the bytes read.
    public func readFully(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(SystemCallError) -> Int {
        var done = 0
        while done < buffer.count {
            let count = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]), at: offset + done)
            if count == 0 { break }
            done += count
        }
        return done
    }

    /// Writes all of `bytes` at `offset` (`pwrite`, looping over short writes).
    public func writeAll(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(SystemCallError) {
        guard let base = bytes.baseAddress else { return }
        var done = 0
        while done < bytes.count {
            let count = try systemCall("pwrite") {
                Glibc.pwrite(descriptor, base + done, bytes.count - done, off_t(offset + done))
            }
            // A regular file never takes zero bytes of a non-empty write; stop rather than spin.
            if count == 0 { throw SystemCallError(call: "pwrite", errno: EIO) }
            done += count
        }
    }

    /// Writes all of `bytes` at the current file position (`write`, looping over short writes).
    public func writeAll(_ bytes: UnsafeRawBufferPointer) throws(SystemCallError) {
        guard let base = bytes.baseAddress else { return }
        var done = 0
        while done < bytes.count {
            let count = try systemCall("write") { Glibc.write(descriptor, base + done, bytes.count - done) }
            if count == 0 { throw SystemCallError(call: "write", errno: EIO) }
            done += count
        }
    }

    // MARK: - Durability and size

    /// `fdatasync`: the data, and the metadata needed to read it back (such as the size).
    public func synchronizeData() throws(SystemCallError) {
        try systemCall("fdatasync") { Glibc.fdatasync(descriptor) }
    }

    /// `fsync`: data and all metadata. On a directory, makes its entries (creations,
    /// renames, removals) durable.
    public func synchronize() throws(SystemCallError) {
        try systemCall("fsync") { Glibc.fsync(descriptor) }
    }

    /// Sets the file's length, cutting or zero-extending it.
    public func truncate(to length: Int) throws(SystemCallError) {
        try systemCall("ftruncate") { Glibc.ftruncate(descriptor, off_t(length)) }
    }

    /// Reserves disk blocks so the file is at least `length` bytes (reading as zeros past
    /// the old end), so later writes inside it need no block allocation.
    public func allocate(length: Int) throws(SystemCallError) {
        while true {
            // posix_fallocate returns the error number instead of setting errno.
            let result = posix_fallocate(descriptor, 0, off_t(length))
            if result == 0 { return }
            if result == EINTR { continue }
            throw SystemCallError(call: "posix_fallocate", errno: result)
        }
    }

    /// The file's length in bytes.
    public func size() throws(SystemCallError) -> Int {
        var status = stat()
        try systemCall("fstat") { fstat(descriptor, &status) }
        return Int(status.st_size)
    }

    /// Takes an exclusive advisory lock (`flock`) without waiting; false if another open
    /// file description holds it. The lock goes away when the descriptor is closed.
    public func tryLockExclusive() throws(SystemCallError) -> Bool {
        switch try nonBlockingSystemCall("flock", { flock(descriptor, LOCK_EX | LOCK_NB) }) {
        case .done: return true
        case .wouldBlock: return false
        }
    }
}

/// Operations on paths.
public enum FileSystem {
    /// Renames `source` to `destination`, replacing it atomically if it exists. Durable
    /// only once the directory is synchronized (`synchronizeDirectory`).
    public static func rename(_ source: String, to destination: String) throws(SystemCallError) {
        try systemCall("rename") { Glibc.rename(source, destination) }
    }

    /// Removes the file at `path`.
    public static func removeFile(_ path: String) throws(SystemCallError) {
        try systemCall("unlink") { unlink(path) }
    }

    /// fsyncs the directory at `path`, so the creations, renames and removals in it so far
    /// survive a crash.
    public static func synchronizeDirectory(_ path: String) throws(SystemCallError) {
        let directory = try OpenFile.open(path, .directory)
        do {
            try directory.synchronize()
        } catch {
            try? directory.close()
            throw error
        }
        try directory.close()
    }

    /// Creates the directory `path` and any missing parents; existing ones are fine.
    public static func createDirectory(_ path: String, permissions: UInt32 = 0o755) throws(SystemCallError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component
            if mkdir(prefix, mode_t(permissions)) == -1 {
                let code = errno
                if code != EEXIST { throw SystemCallError(call: "mkdir", errno: code) }
            }
            prefix += "/"
        }
    }

    /// The names in the directory `path`, without "." and "..", in no particular order.
    public static func contentsOfDirectory(_ path: String) throws(SystemCallError) -> [String] {
        guard let stream = opendir(path) else { throw SystemCallError(call: "opendir", errno: errno) }
        defer { closedir(stream) }
        var names: [String] = []
        while true {
            // readdir returns nil both at the end and on error; only errno tells them apart.
            errno = 0
            guard let entry = readdir(stream) else {
                if errno != 0 { throw SystemCallError(call: "readdir", errno: errno) }
                return names
            }
            let name = withUnsafePointer(to: entry.pointee.d_name) { tuple in
                tuple.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: tuple.pointee)) {
                    String(cString: $0)
                }
            }
            if name != "." && name != ".." { names.append(name) }
        }
    }
}
