import Testing

@testable import BBSAPI

// Which requests are read as JSON: `Content-Type: application/json`, in any case, with
// parameters and spaces around the type; anything else (or nothing) is protobuf.
@Suite struct RPCExchangeMediaTypeTests {
    @Test(arguments: ["application/json", "Application/JSON", "application/json; charset=utf-8",
                      " application/json ;charset=UTF-8", "\tapplication/json"])
    func jsonMediaTypes(_ value: String) {
        #expect(RPCExchange.isJSON(mediaType: value))
    }

    @Test(arguments: ["application/x-protobuf", "application/jsonx", "application/jso", "text/json",
                      "application/json-seq", "", ";application/json", "application/ json", "applicatioN/jsoN\u{0}"])
    func otherMediaTypes(_ value: String) {
        #expect(!RPCExchange.isJSON(mediaType: value))
    }

    @Test func noContentTypeIsProtobuf() {
        #expect(!RPCExchange.isJSON(mediaType: nil))
    }
}
