import CNghttp2

// The client end of an HTTP/2 connection for the tests: a client-side libnghttp2 session
// driven in memory. It submits requests (and resets, pings), turns the server's bytes
// into per-stream records, and remembers every frame type it saw, so a test can read the
// exchange as "what the client observed". No sockets here; the harness moves the bytes.

final class HTTP2TestClient {
    struct Stream {
        var status: Int?
        var headers: [(name: String, value: String)] = []
        var informational: [Int] = []
        var body: [UInt8] = []
        var dataFrames = 0
        var endStream = false
        /// Set when the stream closed: the RST_STREAM code it closed with (NO_ERROR for a
        /// normal end).
        var closeCode: UInt32?

        func header(_ name: String) -> String? { headers.first { $0.name == name }?.value }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    struct Options {
        /// SETTINGS_INITIAL_WINDOW_SIZE sent to the server.
        var initialWindowBytes: Int?
        /// The connection's receive window, if larger than the initial 65,535.
        var connectionWindowBytes: Int?
        /// Leave WINDOW_UPDATE to the test (`consume`).
        var manualWindowUpdates = false
        /// Start as an h2c upgrade: stream 1 is the upgrading request (see `upgradeSettings`).
        var upgrade = false
        var upgradeIsHead = false
    }

    private(set) var streams: [Int32: Stream] = [:]
    /// Streams in the order their response ended (END_STREAM or close).
    private(set) var completionOrder: [Int32] = []
    private(set) var serverSettings: [Int32: UInt32] = [:]
    private(set) var goAway: (lastStreamID: Int32, code: UInt32)?
    private(set) var framesReceived: [UInt8: Int] = [:]
    private var session: OpaquePointer!
    private var requestBodies: [Int32: (bytes: [UInt8], offset: Int)] = [:]
    /// Serialized bytes not yet taken by `output`.
    private var outbox: [UInt8] = []
    /// What `HTTP2-Settings` carries when `upgrade` is set (base64url).
    private(set) var upgradeSettings = ""

    init(_ options: Options = Options()) {
        var callbacks: OpaquePointer?
        nghttp2_session_callbacks_new(&callbacks)
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, user in
            client(user).frameReceived(frame!.pointee)
        }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) { _, frame, name, nameLength, value, valueLength, _, user in
            client(user).header(streamID: frame!.pointee.hd.stream_id,
                                name: String(decoding: UnsafeBufferPointer(start: name, count: nameLength), as: UTF8.self),
                                value: String(decoding: UnsafeBufferPointer(start: value, count: valueLength), as: UTF8.self))
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, streamID, data, length, user in
            client(user).streams[streamID, default: Stream()].body.append(
                contentsOf: UnsafeBufferPointer(start: data, count: length))
            return 0
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, streamID, code, user in
            let client = client(user)
            client.streams[streamID, default: Stream()].closeCode = code
            if !client.completionOrder.contains(streamID) { client.completionOrder.append(streamID) }
            return 0
        }
        var nghttpOptions: OpaquePointer?
        nghttp2_option_new(&nghttpOptions)
        defer { nghttp2_option_del(nghttpOptions) }
        if options.manualWindowUpdates { nghttp2_option_set_no_auto_window_update(nghttpOptions, 1) }
        // The tests flood on purpose; the client side must not be what gives up.
        nghttp2_option_set_max_outbound_ack(nghttpOptions, 1 << 20)
        nghttp2_session_client_new2(&session, callbacks, Unmanaged.passUnretained(self).toOpaque(), nghttpOptions)

        var entries: [nghttp2_settings_entry] = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_PUSH.rawValue), value: 0),
        ]
        if let window = options.initialWindowBytes {
            entries.append(nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue),
                                                  value: UInt32(window)))
        }
        if options.upgrade {
            var payload = [UInt8](repeating: 0, count: 6 * entries.count)
            let length = nghttp2_pack_settings_payload(&payload, payload.count, entries, entries.count)
            payload.removeSubrange(length...)
            upgradeSettings = Self.base64url(payload)
            payload.withUnsafeBufferPointer { bytes in
                _ = nghttp2_session_upgrade2(session, bytes.baseAddress, bytes.count, options.upgradeIsHead ? 1 : 0, nil)
            }
        }
        nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), entries, entries.count)
        if let window = options.connectionWindowBytes {
            nghttp2_session_set_local_window_size(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, Int32(window))
        }
    }

    deinit {
        nghttp2_session_del(session)
    }

    // MARK: - Sending

    /// Submits a request; returns its stream id. `endStream: false` leaves the request
    /// open after its headers (and body, if any) so a test can stall it.
    @discardableResult
    func request(_ method: String, _ path: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
                 authority: String = "test.local") -> Int32 {
        var fields = [(":method", method), (":scheme", "http"), (":authority", authority), (":path", path)]
        fields += headers
        return withHeaderEntries(fields) { entries in
            guard let body else {
                return nghttp2_submit_request(session, nil, entries.baseAddress, entries.count, nil, nil)
            }
            var provider = nghttp2_data_provider(
                source: nghttp2_data_source(ptr: nil),
                read_callback: { _, streamID, buffer, length, flags, _, user in
                    client(user).readRequestBody(streamID: streamID, into: buffer!, length: length, flags: flags!)
                })
            let id = nghttp2_submit_request(session, nil, entries.baseAddress, entries.count, &provider, nil)
            if id > 0 { requestBodies[id] = (body, 0) }
            return id
        }
    }

    /// Submits HEADERS opening a stream without END_STREAM and with no body to follow.
    @discardableResult
    func openStream(_ method: String, _ path: String) -> Int32 {
        let fields = [(":method", method), (":scheme", "http"), (":authority", "test.local"), (":path", path)]
        return withHeaderEntries(fields) { entries in
            nghttp2_submit_headers(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), -1, nil, entries.baseAddress,
                                   entries.count, nil)
        }
    }

    func reset(_ streamID: Int32, code: UInt32 = NGHTTP2_CANCEL.rawValue) {
        nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, code)
    }

    func ping() {
        nghttp2_submit_ping(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nil)
    }

    /// Submits an empty SETTINGS frame (each one the server must acknowledge).
    func emptySettings() {
        nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nil, 0)
    }

    /// Opens the windows: SETTINGS_INITIAL_WINDOW_SIZE for every stream, and the
    /// connection's receive window.
    func openWindows(initialWindowBytes: Int, connectionWindowBytes: Int) {
        var entry = nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue),
                                           value: UInt32(initialWindowBytes))
        nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), &entry, 1)
        nghttp2_session_set_local_window_size(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0,
                                              Int32(connectionWindowBytes))
    }

    /// Opens the stream's receive window by `bytes` (with `manualWindowUpdates`).
    func consume(_ streamID: Int32, _ bytes: Int) {
        nghttp2_session_consume(session, streamID, bytes)
    }

    /// Serializes what is submitted so far, so a reset submitted next cannot cancel it
    /// before it is sent (a rapid-reset attacker sends HEADERS, then RST_STREAM).
    func serialize() {
        outbox += output()
    }

    /// The bytes the client has to send now.
    func output() -> [UInt8] {
        var out: [UInt8] = []
        swap(&out, &outbox)
        while true {
            var frame: UnsafePointer<UInt8>?
            let count = nghttp2_session_mem_send(session, &frame)
            guard count > 0, let frame else { break }
            out.append(contentsOf: UnsafeBufferPointer(start: frame, count: count))
        }
        return out
    }

    // MARK: - Receiving

    /// Feeds the server's bytes. Returns nghttp2's result (negative: the client gave up).
    @discardableResult
    func receive(_ bytes: [UInt8]) -> Int {
        bytes.withUnsafeBufferPointer { nghttp2_session_mem_recv(session, $0.baseAddress, $0.count) }
    }

    subscript(_ streamID: Int32) -> Stream { streams[streamID] ?? Stream() }

    private func frameReceived(_ frame: nghttp2_frame) -> Int32 {
        framesReceived[frame.hd.type, default: 0] += 1
        let id = frame.hd.stream_id
        let endStream = frame.hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
        switch frame.hd.type {
        case UInt8(NGHTTP2_DATA.rawValue):
            streams[id, default: Stream()].dataFrames += 1
        case UInt8(NGHTTP2_SETTINGS.rawValue):
            if frame.hd.flags & UInt8(NGHTTP2_FLAG_ACK.rawValue) == 0 {
                for index in 0..<frame.settings.niv {
                    let entry = frame.settings.iv[index]
                    serverSettings[entry.settings_id] = entry.value
                }
            }
        case UInt8(NGHTTP2_GOAWAY.rawValue):
            goAway = (frame.goaway.last_stream_id, frame.goaway.error_code)
        default:
            break
        }
        if endStream && (frame.hd.type == UInt8(NGHTTP2_DATA.rawValue) || frame.hd.type == UInt8(NGHTTP2_HEADERS.rawValue)) {
            streams[id, default: Stream()].endStream = true
            if !completionOrder.contains(id) { completionOrder.append(id) }
        }
        return 0
    }

    private func header(streamID: Int32, name: String, value: String) -> Int32 {
        if name == ":status", let status = Int(value) {
            if status < 200 {
                streams[streamID, default: Stream()].informational.append(status)
            } else {
                streams[streamID, default: Stream()].status = status
            }
        } else {
            streams[streamID, default: Stream()].headers.append((name, value))
        }
        return 0
    }

    private func readRequestBody(streamID: Int32, into buffer: UnsafeMutablePointer<UInt8>, length: Int,
                                 flags: UnsafeMutablePointer<UInt32>) -> Int {
        guard var body = requestBodies[streamID] else {
            flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
            return 0
        }
        let count = min(length, body.bytes.count - body.offset)
        body.bytes.withUnsafeBufferPointer { bytes in
            buffer.update(from: bytes.baseAddress! + body.offset, count: count)
        }
        body.offset += count
        if body.offset == body.bytes.count {
            flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
            requestBodies[streamID] = nil
        } else {
            requestBodies[streamID] = body
        }
        return count
    }

    private func withHeaderEntries<T>(_ fields: [(String, String)], _ body: (UnsafeBufferPointer<nghttp2_nv>) -> T) -> T {
        var storage: [[UInt8]] = []
        for (name, value) in fields {
            storage.append(Array(name.utf8))
            storage.append(Array(value.utf8))
        }
        var pointers: [UnsafeMutablePointer<UInt8>] = storage.map { bytes in
            let pointer = UnsafeMutablePointer<UInt8>.allocate(capacity: max(1, bytes.count))
            pointer.initialize(from: bytes, count: bytes.count)
            return pointer
        }
        defer {
            for pointer in pointers { pointer.deallocate() }
            pointers = []
        }
        var entries: [nghttp2_nv] = []
        for index in 0..<fields.count {
            entries.append(nghttp2_nv(name: pointers[2 * index], value: pointers[2 * index + 1],
                                      namelen: storage[2 * index].count, valuelen: storage[2 * index + 1].count,
                                      flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue)))
        }
        return entries.withUnsafeBufferPointer(body)
    }

    static func base64url(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            var value = 0
            for byte in chunk { value = value << 8 | Int(byte) }
            value <<= 8 * (3 - chunk.count)
            for position in 0..<(chunk.count + 1) {
                out.append(alphabet[(value >> (18 - 6 * position)) & 63])
            }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}

private func client(_ user: UnsafeMutableRawPointer?) -> HTTP2TestClient {
    Unmanaged<HTTP2TestClient>.fromOpaque(user!).takeUnretainedValue()
}
