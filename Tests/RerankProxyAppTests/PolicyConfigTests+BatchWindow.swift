import Testing

@testable import RerankProxyApp

/// `batch_window` and `retries` in the policy file.
extension PolicyConfigTests {
    var backend: String { "    backends:\n      - { name: gpu-a, api: vllm, url: \"http://10.0.0.5:8000\" }\n" }

    @Test func batchWindowAndRetriesAreReadAndShownInTheSummary() throws {
        let policy = try PolicyConfig.parse("models:\n  - name: m\n    batch_window: 2ms\n    retries: 2\n" + backend)
        #expect(policy.models[0].batchWindow.duration == .milliseconds(2))
        #expect(policy.models[0].retries == 2)
        #expect(policy.summary.contains("batch_window=2ms  retries=2"))
    }

    @Test func aWindowShorterThanAMillisecondIsKept() throws {
        let policy = try PolicyConfig.parse("models:\n  - name: m\n    batch_window: 500us\n" + backend)
        #expect(policy.models[0].batchWindow.duration == .microseconds(500))
        #expect(policy.summary.contains("batch_window=500us"))
    }

    @Test func byDefaultNothingWaitsAndEveryBackendMayBeTried() throws {
        let policy = try PolicyConfig.parse("models:\n  - name: m\n" + backend)
        #expect(policy.models[0].batchWindow.duration == .zero)
        #expect(policy.models[0].retries == nil)
        #expect(policy.summary.contains("batch_window=0  retries=all"))
    }

    @Test func outOfRangeValuesAreRefused() {
        #expect(error("models:\n  - name: m\n    batch_window: 2s\n" + backend)?.contains("models[0].batch_window") == true)
        #expect(error("models:\n  - name: m\n    batch_window: soon\n" + backend)?.contains("batch_window") == true)
        #expect(error("models:\n  - name: m\n    retries: -1\n" + backend)?.contains("models[0].retries") == true)
    }
}
