import Crypto
import Hummingbird
import NIOCore
import RerankCore

/// `GET /ui`: the operator console (dashboard, playground, admin), static files embedded in the binary.
///
/// The files hold no data, so they are served without a key; the data endpoints they call (`/v1/stats`,
/// `/v1/rerank`, `/admin/…`) check the key the page sends. Each file has a strong `ETag` (its SHA-256) and
/// `Cache-Control: no-cache`, so a browser revalidates and gets a 304 until the binary changes.
struct ConsoleController: Sendable {
    struct Asset: Sendable {
        let contentType: String
        let body: ByteBuffer
        let etag: String
    }

    static let assets: [String: Asset] = Dictionary(
        uniqueKeysWithValues: ConsoleAssets.files.map { file in
            let bytes = file.bytes
            let digest = Hex.bytes(SHA256.hash(data: bytes).prefix(16))
            return (file.name, Asset(contentType: file.contentType, body: ByteBuffer(bytes: bytes), etag: "\"\(digest)\""))
        }
    )

    /// Scripts, styles and requests from this origin only; no inline script, no framing.
    static let contentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("/ui") { request, _ in Self.serve("index.html", request) }
        router.get("/ui/:file") { request, context in Self.serve(context.parameters.get("file") ?? "", request) }
    }

    static func serve(_ name: String, _ request: Request) -> Response {
        guard let asset = assets[name] else {
            return Response(status: .notFound, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: "not found\n")))
        }
        var headers: HTTPFields = [
            .eTag: asset.etag,
            .cacheControl: "no-cache",
            .contentSecurityPolicy: contentSecurityPolicy,
            .xContentTypeOptions: "nosniff",
        ]
        if request.headers[values: .ifNoneMatch].contains(where: { $0.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces) == asset.etag } }) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = asset.contentType
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: asset.body))
    }
}
