import Foundation
import RerankProxyApp
import Testing

/// /readyz tells the truth about backends.
@Suite(.serialized) struct ReadinessTests {
    @Test func readyzIs503NamingTheModelWhoseBackendsAreAllEjected() async throws {
        let broken = FakeRerankBackend()
        let healthy = FakeRerankBackend()
        try await broken.run { brokenURL in
            try await healthy.run { healthyURL in
                var policy = testPolicy(backends: [BackendConfig(name: "broken-0", url: brokenURL)])
                policy.models.append(ModelConfig(name: "other-model", backends: [BackendConfig(name: "healthy-0", url: healthyURL)]))
                try await withProxy(policy) { proxy in
                    #expect(try await proxy.get("/readyz").status == 200)
                    broken.fail(with: 503)
                    // eject_after: 1, so one failed call ejects the model's only backend.
                    #expect(try await proxy.post("/v1/rerank", object: ["model": "test-model", "query": "q", "documents": ["a"]]).status == 502)

                    let ready = try await proxy.get("/readyz")
                    #expect(ready.status == 503)
                    #expect(ready.object["status"] as? String == "unavailable")
                    #expect(ready.object["unavailable_models"] as? [String] == ["test-model"])
                    #expect((ready.object["reason"] as? String)?.contains("test-model") == true)
                    let models = ready.object["models"] as? [[String: Any]] ?? []
                    #expect(models.map { $0["name"] as? String } == ["test-model", "other-model"])
                    #expect(models.map { $0["healthy_backends"] as? Int } == [0, 1])
                    #expect((ready.object["store_health"] as? [String: Any])?["status"] as? String == "ok")

                    // The other model still answers, and one success brings the ejected backend back.
                    let docs = ["x", "y"]
                    expectExact(
                        try await proxy.post("/v1/rerank", object: ["model": "other-model", "query": "q", "documents": docs]), query: "q", documents: docs
                    )
                    broken.fail(with: nil)
                    expectExact(try await proxy.post("/v1/rerank", object: ["model": "test-model", "query": "q", "documents": docs]), query: "q", documents: docs)
                    let recovered = try await proxy.get("/readyz")
                    #expect(recovered.status == 200)
                    #expect(recovered.object["status"] as? String == "ready")
                    #expect(recovered.object["unavailable_models"] as? [String] == [])
                }
            }
        }
    }
}
