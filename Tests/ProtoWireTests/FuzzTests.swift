import ProtoWire
import Testing

/// Random and mutated inputs must never trap; whatever decodes must re-encode to something
/// that decodes to the same value (decoding is a fixed point after one round).
@Suite("Fuzz")
struct FuzzTests {
    private static func seedMessage() -> [UInt8] {
        var inner = Sample()
        inner.text = "inner"
        inner.values = [1, 300]
        inner.unknownFields = Raw.group(77, Raw.fixed32(1)) + Raw.fixed64(90)
        var sample = Sample()
        sample.number = -1
        sample.text = "text"
        sample.child = inner
        sample.children = [inner, Sample()]
        sample.blob = [1, 2, 3]
        sample.big = 1 << 40
        return sample.protobufBytes() + Raw.lengthDelimited(4, [0x35, 0xBB, 0x03])
    }

    private func checkStable(_ bytes: [UInt8], _ outcomes: inout (decoded: Int, rejected: Int)) {
        do {
            let decoded = try Sample(protobuf: bytes)
            outcomes.decoded += 1
            let reencoded = decoded.protobufBytes()
            #expect(reencoded.count == decoded.encodedSize())
            #expect(try Sample(protobuf: reencoded) == decoded, "input \(bytes)")
        } catch is ProtoDecodingError {
            outcomes.rejected += 1
        } catch {
            Issue.record("unexpected error \(error) for \(bytes)")
        }
    }

    @Test func randomBytes() {
        var random = SplitMix64(seed: 0xB_B5)
        var outcomes = (decoded: 0, rejected: 0)
        for _ in 0..<20_000 {
            let count = Int.random(in: 0...48, using: &random)
            // Bias towards small bytes so that valid keys and short lengths are common.
            let bytes = (0..<count).map { _ in
                Bool.random(using: &random) ? UInt8.random(in: 0...0x3F, using: &random) : UInt8.random(in: 0...255, using: &random)
            }
            checkStable(bytes, &outcomes)
        }
        // Both paths were exercised.
        #expect(outcomes.decoded > 100)
        #expect(outcomes.rejected > 100)
    }

    @Test func mutatedMessages() {
        let seed = Self.seedMessage()
        var random = SplitMix64(seed: 42)
        var outcomes = (decoded: 0, rejected: 0)
        for _ in 0..<20_000 {
            var bytes = seed
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                switch Int.random(in: 0..<4, using: &random) {
                case 0: bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                case 1: bytes.removeLast(Int.random(in: 0...min(8, bytes.count - 1), using: &random))
                case 2: bytes.insert(UInt8.random(in: 0...255, using: &random), at: Int.random(in: 0...bytes.count, using: &random))
                default: bytes[Int.random(in: 0..<bytes.count, using: &random)] ^= 1 << UInt8.random(in: 0..<8, using: &random)
                }
                if bytes.isEmpty { bytes = [0] }
            }
            checkStable(bytes, &outcomes)
        }
        #expect(outcomes.decoded > 100)
        #expect(outcomes.rejected > 100)
    }

    @Test func everyPrefixOfAValidMessage() throws {
        let seed = Self.seedMessage()
        var outcomes = (decoded: 0, rejected: 0)
        for end in 0...seed.count { checkStable(Array(seed[..<end]), &outcomes) }
        #expect(try Sample(protobuf: seed).text == "text")
    }
}
