import Foundation
import HTTPServer

#if canImport(Glibc)
import Glibc
#endif

// A blocking HTTP/1.1 client on a raw socket, for the live tests: it sends exactly the
// bytes a test gives it and reads responses strictly, so pipelining, half requests and
// disconnects can be staged. The receive timeout is only a safety net against a hung
// test; no assertion depends on timing.

struct TestClientError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

struct TestResponse {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    var text: String { String(decoding: body, as: UTF8.self) }
}

final class TestClient {
    private let descriptor: Int32
    private var buffer: [UInt8] = []
    private(set) var closedByPeer = false

    init(host: String = "127.0.0.1", port: Int, receiveTimeoutSeconds: Int = 10) throws {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let info = list else {
            throw TestClientError("cannot resolve \(host)")
        }
        defer { freeaddrinfo(list) }
        descriptor = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw TestClientError("socket: errno \(errno)") }
        var timeout = timeval(tv_sec: receiveTimeoutSeconds, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var noDelay: Int32 = 1
        setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &noDelay, socklen_t(MemoryLayout<Int32>.size))
        guard connect(descriptor, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            let code = errno
            Glibc.close(descriptor)
            throw TestClientError("connect: errno \(code)")
        }
    }

    deinit {
        Glibc.close(descriptor)
    }

    /// Closes the socket now (the server sees EOF or a reset).
    func close() {
        shutdown(descriptor, Int32(SHUT_RDWR))
    }

    func send(_ text: String) throws {
        try send(Array(text.utf8))
    }

    func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes {
                Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            guard count > 0 else { throw TestClientError("send: errno \(errno)") }
            sent += count
        }
    }

    /// A request with `Host` and `Content-Length` filled in.
    static func request(_ method: String, _ path: String, body: String = "", headers: [String] = [],
                        version: String = "HTTP/1.1") -> String {
        var lines = ["\(method) \(path) \(version)", "Host: test"] + headers
        if !headers.contains(where: { $0.lowercased().hasPrefix("transfer-encoding") }) {
            lines.append("Content-Length: \(body.utf8.count)")
        }
        return lines.joined(separator: "\r\n") + "\r\n\r\n" + body
    }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        if count == 0 {
            closedByPeer = true
            throw TestClientError("connection closed by peer")
        }
        if count < 0 {
            if errno == ECONNRESET {
                closedByPeer = true
                throw TestClientError("connection reset by peer")
            }
            throw TestClientError("recv: errno \(errno) (timed out?)")
        }
        buffer.append(contentsOf: chunk[..<count])
    }

    func readUntil(_ separator: String) throws -> [UInt8] {
        let separator = Array(separator.utf8)
        while true {
            if let range = buffer.firstRange(of: separator) {
                let out = Array(buffer[..<range.lowerBound])
                buffer.removeSubrange(..<range.upperBound)
                return out
            }
            try fill()
        }
    }

    func readExactly(_ count: Int) throws -> [UInt8] {
        while buffer.count < count { try fill() }
        let out = Array(buffer[..<count])
        buffer.removeSubrange(..<count)
        return out
    }

    /// Reads until the server closes; returns what came before.
    func readToEnd() throws -> [UInt8] {
        while !closedByPeer {
            do {
                try fill()
            } catch where closedByPeer {
                break
            }
        }
        defer { buffer = [] }
        return buffer
    }

    /// True once the server has closed the connection; false if it sends more bytes instead.
    func waitForClose() -> Bool {
        if closedByPeer { return true }
        do {
            try fill()
            return false
        } catch {
            return closedByPeer
        }
    }

    func readHead() throws -> (status: Int, headers: [(name: String, value: String)]) {
        let head = String(decoding: try readUntil("\r\n\r\n"), as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ", maxSplits: 2)
        guard statusLine.count >= 2, statusLine[0] == "HTTP/1.1", let status = Int(statusLine[1]) else {
            throw TestClientError("malformed status line in \(head)")
        }
        let headers = try lines.map { line -> (name: String, value: String) in
            guard let colon = line.firstIndex(of: ":") else { throw TestClientError("malformed field \(line)") }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        return (status, headers)
    }

    func readResponse(toHead: Bool = false) throws -> TestResponse {
        let (status, headers) = try readHead()
        var response = TestResponse(status: status, headers: headers, body: [])
        if toHead || (100..<200).contains(status) || status == 204 || status == 304 { return response }
        if response.header("Transfer-Encoding")?.lowercased() == "chunked" {
            while let chunk = try readChunk() { response.body += chunk }
        } else if let length = response.header("Content-Length").flatMap(Int.init) {
            response.body = try readExactly(length)
        } else {
            response.body = try readToEnd()
        }
        return response
    }

    /// One chunk of a chunked body, or nil for the terminal chunk (trailers skipped).
    func readChunk() throws -> [UInt8]? {
        let line = String(decoding: try readUntil("\r\n"), as: UTF8.self)
        guard let size = Int(line.split(separator: ";", maxSplits: 1)[0], radix: 16) else {
            throw TestClientError("malformed chunk size \(line)")
        }
        if size == 0 {
            while try !readUntil("\r\n").isEmpty {}
            return nil
        }
        let data = try readExactly(size)
        guard try readExactly(2) == Array("\r\n".utf8) else { throw TestClientError("chunk without CRLF") }
        return data
    }
}
