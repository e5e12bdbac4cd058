import Foundation
import Hummingbird
import NIOCore

/// JSON bodies of the endpoints that are not on the hot path (status, admin, jobs): `Codable`, stable key order,
/// paths without `\/`. The rerank answer itself is hand-rendered (``RerankCore/ResponseRenderer``).
enum JSONResponse {
    /// `value` encoded; `{}` if it cannot be (the types encoded here always can).
    static func encode(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(value)) ?? Data("{}".utf8))
    }

    /// A response of `bytes` as `application/json`.
    static func make(_ bytes: [UInt8], status: HTTPResponse.Status = .ok, cacheControl: String? = nil) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let cacheControl { headers[.cacheControl] = cacheControl }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// A response of `value` encoded.
    static func make(encoding value: some Encodable, status: HTTPResponse.Status = .ok, cacheControl: String? = nil) -> Response {
        make(encode(value), status: status, cacheControl: cacheControl)
    }
}
