import Foundation
@testable import RerankProxyApp
import Testing

/// `GET /ui`: the console's embedded files over real HTTP, and the embedded copy matching the files on disk.
@Suite struct ConsoleTests {
    static let assetsDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Sources/RerankProxyApp/Console/assets")

    @Test func everyFileInTheAssetsFolderIsEmbeddedAsItIs() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.assetsDirectory.path).sorted()
        #expect(ConsoleAssets.files.map(\.name).sorted() == names, "list a new asset in Package.swift and ConsoleAssets")
        for file in ConsoleAssets.files {
            let disk = try Data(contentsOf: Self.assetsDirectory.appendingPathComponent(file.name))
            #expect(file.bytes == Array(disk), "\(file.name) differs from its embedded copy")
        }
    }

    @Test func servesTheConsoleWithTypesETagsAndRevalidation() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            try await withProxy(testPolicy(backends: [BackendConfig(name: "fake-0", url: url)])) { proxy in
                let page = try await proxy.get("/ui")
                #expect(page.status == 200)
                #expect(page.header("Content-Type") == "text/html; charset=utf-8")
                #expect(String(decoding: page.body, as: UTF8.self).contains("/ui/console.js"))
                #expect(page.header("Content-Security-Policy")?.contains("script-src 'self'") == true)
                let etag = try #require(page.header("ETag"))
                #expect(page.header("Cache-Control") == "no-cache")

                let script = try await proxy.get("/ui/console.js")
                #expect(script.status == 200)
                #expect(script.header("Content-Type") == "text/javascript; charset=utf-8")
                #expect(script.header("ETag") != etag)
                #expect(try await proxy.get("/ui/console.css").header("Content-Type") == "text/css; charset=utf-8")

                let again = try await proxy.get("/ui", headers: ["If-None-Match": etag])
                #expect(again.status == 304)
                #expect(again.body.isEmpty)
                #expect(try await proxy.get("/ui", headers: ["If-None-Match": "\"other\""]).status == 200)
                #expect(try await proxy.get("/ui/nothing.js").status == 404)
            }
        }
    }
}
