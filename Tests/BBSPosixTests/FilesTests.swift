import Foundation
import Glibc
import Testing
@testable import BBSPosix

@Suite struct FilesTests {
    /// A fresh directory for one test, removed afterwards.
    private func withDirectory(_ body: (String) throws -> Void) throws {
        let path = NSTemporaryDirectory() + "bbs-posix-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        try body(path)
    }

    @Test func positionalWritesAndReadsRoundTrip() throws {
        try withDirectory { directory in
            let file = try OpenFile.open(directory + "/data", [.write, .create, .exclusive])
            defer { try? file.close() }
            try ([1, 2, 3, 4] as [UInt8]).withUnsafeBytes { try file.writeAll($0, at: 0) }
            try ([9, 9] as [UInt8]).withUnsafeBytes { try file.writeAll($0, at: 6) } // leaves a hole at 4..<6
            #expect(try file.size() == 8)

            var buffer = [UInt8](repeating: 0xEE, count: 16)
            let count = try buffer.withUnsafeMutableBytes { try file.readFully(into: $0, at: 0) }
            #expect(count == 8)
            #expect(Array(buffer[..<8]) == [1, 2, 3, 4, 0, 0, 9, 9])
            let tail = try buffer.withUnsafeMutableBytes { try file.readFully(into: $0, at: 8) }
            #expect(tail == 0)
            try file.synchronizeData()
            try file.synchronize()
        }
    }

    @Test func sequentialWritesAppendAtThePosition() throws {
        try withDirectory { directory in
            let path = directory + "/log"
            let file = try OpenFile.open(path, [.write, .create])
            try Array("hello ".utf8).withUnsafeBytes { try file.writeAll($0) }
            try Array("world".utf8).withUnsafeBytes { try file.writeAll($0) }
            try file.close()
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "hello world")
        }
    }

    @Test func allocateExtendsWithZeroesAndTruncateCuts() throws {
        try withDirectory { directory in
            let file = try OpenFile.open(directory + "/segment", [.write, .create])
            defer { try? file.close() }
            try ([7, 7, 7] as [UInt8]).withUnsafeBytes { try file.writeAll($0, at: 0) }
            try file.allocate(length: 65536)
            #expect(try file.size() == 65536)
            var buffer = [UInt8](repeating: 0xEE, count: 8)
            _ = try buffer.withUnsafeMutableBytes { try file.readFully(into: $0, at: 0) }
            #expect(buffer == [7, 7, 7, 0, 0, 0, 0, 0])
            try file.allocate(length: 100) // never shrinks
            #expect(try file.size() == 65536)
            try file.truncate(to: 2)
            #expect(try file.size() == 2)
        }
    }

    @Test func renameListAndRemove() throws {
        try withDirectory { directory in
            let file = try OpenFile.open(directory + "/a.tmp", [.write, .create])
            try file.close()
            try FileSystem.rename(directory + "/a.tmp", to: directory + "/a")
            try FileSystem.synchronizeDirectory(directory)
            try FileSystem.createDirectory(directory + "/nested/deeper")
            try FileSystem.createDirectory(directory + "/nested") // already there: fine
            #expect(try FileSystem.contentsOfDirectory(directory).sorted() == ["a", "nested"])
            try FileSystem.removeFile(directory + "/a")
            #expect(try FileSystem.contentsOfDirectory(directory) == ["nested"])
            #expect(try FileSystem.contentsOfDirectory(directory + "/nested/deeper").isEmpty)
        }
    }

    @Test func failuresNameTheCallAndErrno() throws {
        try withDirectory { directory in
            #expect(throws: SystemCallError(call: "open", errno: ENOENT)) {
                try OpenFile.open(directory + "/missing")
            }
            _ = try OpenFile.open(directory + "/present", [.write, .create]).close()
            #expect(throws: SystemCallError(call: "open", errno: EEXIST)) {
                try OpenFile.open(directory + "/present", [.write, .create, .exclusive])
            }
            #expect(throws: SystemCallError(call: "open", errno: ENOTDIR)) {
                try OpenFile.open(directory + "/present", .directory)
            }
            #expect(throws: SystemCallError(call: "unlink", errno: ENOENT)) {
                try FileSystem.removeFile(directory + "/missing")
            }
            #expect(throws: SystemCallError(call: "opendir", errno: ENOENT)) {
                try FileSystem.contentsOfDirectory(directory + "/missing")
            }
            #expect(SystemCallError(call: "open", errno: ENOENT).description == "open: No such file or directory (errno 2)")
        }
    }

    @Test func anExclusiveLockExcludesOtherOpenFiles() throws {
        try withDirectory { directory in
            let first = try OpenFile.open(directory + "/LOCK", [.write, .create])
            let second = try OpenFile.open(directory + "/LOCK", [.write, .create])
            defer { try? second.close() }
            #expect(try first.tryLockExclusive())
            #expect(try !second.tryLockExclusive())
            try first.close()
            #expect(try second.tryLockExclusive())
        }
    }
}
