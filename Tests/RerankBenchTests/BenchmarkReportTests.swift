import Testing

@testable import RerankBench

/// What `rerank-bench suite` writes to docs/benchmarks.md: the hand-written sections survive a rewrite, and
/// the Redis targets are judged on rows of the same run.
@Suite struct BenchmarkReportTests {
    static func row(rps: Double, p99: Double = 1, backendPairs: Int? = nil, uniquePairs: Int? = nil, errors: Int = 0) -> RunReport {
        var report = RunReport(name: "test", result: LoadDriver.Result(), concurrency: 32)
        report.requests = 1000
        report.rps = rps
        report.p99_ms = p99
        report.errors = errors
        report.backend_pairs = backendPairs
        report.unique_pairs = uniquePairs
        return report
    }

    static func suite(memory20: Double = 20_000, redis20: Double? = nil, memory100: Double = 4000, redis100: Double? = nil) -> Suite {
        var suite = Suite(binary: "/nonexistent", seconds: 1, smoke: false)
        suite.record("1. hit path", "memory tier, 20 docs × 500 B, c=32 (wrk)", row(rps: memory20))
        suite.record("1. hit path", "memory tier, 100 docs × 1000 B, c=32 (wrk)", row(rps: memory100))
        if let redis20 { suite.record("1. hit path", "Redis tier (memory off), 20 docs × 500 B, c=32 (wrk)", row(rps: redis20)) }
        if let redis100 { suite.record("1. hit path", "Redis tier (memory off), 100 docs × 1000 B, c=32 (wrk)", row(rps: redis100)) }
        return suite
    }

    static let handWritten = """

        ## 6. Hostile bodies (issue #7), before and after, same run

        | case | before | after |
        |---|---:|---:|
        | 1 MB string | 12 ms | 3 ms |

        ## 12. Redis tier (issue #8)

        Written by hand.

        """

    @Test func aRewriteKeepsTheHandWrittenSectionsAndReplacesTheGeneratedOnes() {
        let old = BenchmarkReport(suite: Self.suite(memory20: 11_111), elapsed: 1).markdown(chartFile: "c.svg") + Self.handWritten
        let new = BenchmarkReport(suite: Self.suite(memory20: 22_222), elapsed: 1).markdown(chartFile: "c.svg", existing: old)
        #expect(new.hasSuffix(Self.handWritten))
        #expect(new.components(separatedBy: "## 6. Hostile bodies").count == 2)
        #expect(new.components(separatedBy: "## 12. Redis tier").count == 2)
        #expect(new.components(separatedBy: "## Checks").count == 2)
        #expect(new.contains("22222"))
        #expect(!new.contains("11111"))
        // And again: a second rewrite neither loses nor doubles them.
        let again = BenchmarkReport(suite: Self.suite(), elapsed: 1).markdown(chartFile: "c.svg", existing: new)
        #expect(again.hasSuffix(Self.handWritten))
        #expect(again.components(separatedBy: "## 6. Hostile bodies").count == 2)
    }

    @Test func aFileWithoutAChecksSectionKeepsEverythingFromSection6() {
        let existing = "# Benchmarks\n\n## 1. hit path\n\nold rows\n\n## 6. By hand\n\nkept\n"
        #expect(BenchmarkReport.handSections(of: existing) == "\n## 6. By hand\n\nkept\n")
    }

    @Test func withoutAFileOrHandSectionsOnlyTheGeneratedPartIsWritten() {
        let generated = BenchmarkReport(suite: Self.suite(), elapsed: 1).markdown(chartFile: "c.svg")
        #expect(BenchmarkReport.handSections(of: "") == "")
        #expect(BenchmarkReport.handSections(of: generated) == "")
    }

    @Test func theRedisTargetIsHalfTheMemoryTierOfTheSameRunForBothShapes() {
        let verdicts = BenchmarkReport(suite: Self.suite(memory20: 20_000, redis20: 12_000, memory100: 4000, redis100: 1000), elapsed: 1).verdicts
        let lines = verdicts.split(separator: "\n")
        let small = lines.first { $0.contains("Redis-only hit path 20 × 500 B") }
        let large = lines.first { $0.contains("Redis-only hit path 100 × 1 KB") }
        #expect(small?.contains("12000 / 20000 req/s = 60%") == true)
        #expect(small?.hasSuffix("| met |") == true)
        #expect(large?.contains("1000 / 4000 req/s = 25%") == true)
        #expect(large?.contains("**not met**") == true)
    }

    @Test func theTwoReplicaTraceIsACheckOnBackendPairs() {
        var suite = Self.suite()
        suite.record("3b. two-replica RAG trace (Redis)", "two replicas on one Redis (whole trace split A/B, cold cache)", Self.row(rps: 40, backendPairs: 41_500, uniquePairs: 41_440))
        let verdicts = BenchmarkReport(suite: suite, elapsed: 1).verdicts
        let line = verdicts.split(separator: "\n").first { $0.contains("two-replica RAG trace") }
        #expect(line?.contains("41500 = 41440") == true)
        #expect(line?.contains("**not met**") == true)
        let markdown = BenchmarkReport(suite: suite, elapsed: 1).markdown(chartFile: "c.svg")
        #expect(markdown.contains("## 3b. two-replica RAG trace (Redis)"))
    }

    @Test func skippedRedisRowsSayWhyInTheTargetsAndTheirSection() {
        var suite = Self.suite()
        suite.redisSkipped = "REDIS_URL is unset and there is no redis-server on PATH"
        suite.note("3b. two-replica RAG trace (Redis)", "skipped: no Redis")
        let markdown = BenchmarkReport(suite: suite, elapsed: 1).markdown(chartFile: "c.svg")
        #expect(markdown.contains("| Redis-tier targets (hit path ratio, two replicas) | skipped: REDIS_URL is unset"))
        #expect(markdown.contains("## 3b. two-replica RAG trace (Redis)\n\n\n- skipped: no Redis"))
        #expect(!markdown.contains("Redis-only hit path"))
    }

    @Test func aSharedRedisGetsAKeyPrefixOfItsOwnPerRun() throws {
        let environment = ["REDIS_URL": "redis://127.0.0.1:6999/0"]
        let first = try BenchRedis.start(environment: environment).get()
        let second = try BenchRedis.start(environment: environment).get()
        #expect(first.url == "redis://127.0.0.1:6999/0")
        #expect(first.prefix != second.prefix)
        #expect(first.scope("hit-path").prefix != first.scope("two-replica").prefix)
        #expect(first.scope("hit-path").prefix.hasPrefix(first.prefix))
    }
}
