import Testing

@testable import RerankProxyApp

/// The policy's `jobs:` section: defaults, keys, validation (what `check-config` reports).
@Suite struct JobsConfigTests {
    static let models = "models:\n  - name: m\n    backends:\n      - name: b\n        url: http://127.0.0.1:8000\n"

    func error(_ jobs: String) -> String? {
        do {
            _ = try PolicyConfig.parse("jobs:\n" + jobs + Self.models, file: "p.yaml")
            return nil
        } catch {
            return error.description
        }
    }

    @Test func defaultsAreTheDocumentedOnes() throws {
        let jobs = try PolicyConfig.parse(Self.models).jobs
        #expect(jobs.ttl.duration == .seconds(7 * 86400))
        #expect(jobs.maxShare == 0.5)
        #expect(jobs.maxPairs == 10_000_000)
        #expect(jobs.maxBatchPairs == 20_000)
        #expect(jobs.maxBodyBytes == 64 << 20)
        #expect(jobs.chunkPairs == 2048)
        #expect(jobs.concurrency == 1)
        #expect(jobs.retries == 3)
        #expect(jobs.retryBackoff.duration == .seconds(2))
    }

    @Test func keysAreReadAndSummarised() throws {
        let policy = try PolicyConfig.parse(
            "jobs: { ttl: 1d, max_share: 0.25, max_pairs: 500, max_batch_pairs: 50, chunk_pairs: 64, concurrency: 2, retries: 0, retry_backoff: 100ms }\n"
                + Self.models
        )
        #expect(policy.jobs.ttl.duration == .seconds(86400))
        #expect(policy.jobs.maxShare == 0.25)
        #expect(policy.jobs.maxPairs == 500)
        #expect(policy.jobs.concurrency == 2)
        #expect(policy.jobs.retryBackoff.duration == .milliseconds(100))
        #expect(policy.summary.contains("jobs: ttl=1d  max_share=0.25  max_pairs=500"))
    }

    @Test func badValuesAreRefusedNamingTheKey() {
        #expect(error("  max_share: 0\n")?.contains("jobs.max_share") == true)
        #expect(error("  max_share: 1.5\n")?.contains("jobs.max_share") == true)
        #expect(error("  max_pairs: 0\n")?.contains("jobs.max_pairs") == true)
        #expect(error("  chunk_pairs: -1\n")?.contains("jobs.chunk_pairs") == true)
        #expect(error("  retries: -1\n")?.contains("jobs.retries") == true)
        #expect(error("  ttl: 0\n")?.contains("jobs.ttl") == true)
        #expect(error("  max_shares: 0.5\n")?.contains("max_shares") == true)
        #expect(error("  max_share: 1\n") == nil)
        #expect(error("  max_body_bytes: 300000000\n")?.contains("jobs.max_body_bytes: must be at most server.max_buffered_body_bytes") == true)
    }

    @Test func aReloadThatChangesTheJobsSectionIsRefusedNamingTheKey() throws {
        let running = try PolicyConfig.parse(Self.models)
        let changed = try PolicyConfig.parse("jobs: { max_share: 0.2, ttl: 168h }\n" + Self.models)
        #expect(running.restartOnlyChanges(comparedWith: changed) == ["jobs.max_share"])
    }
}
