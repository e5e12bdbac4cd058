import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import RerankProxyApp

@main
struct RerankProxyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rerank-proxy",
        abstract: "A caching, coalescing reranking gateway in front of vLLM, TEI, Infinity or a local ONNX worker.",
        subcommands: [Serve.self, CheckConfig.self, Rerank.self, CacheCommand.self],
        defaultSubcommand: Serve.self
    )
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the proxy.")

    @Option(name: .long, help: "Policy file (YAML).")
    var config = "policies/local.yaml"

    @Option(name: .long, help: "Listen address (overrides server.host).")
    var host: String?

    @Option(name: .long, help: "Listen port (overrides server.port).")
    var port: Int?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = ProcessInfo.processInfo.environment["LOG_LEVEL"] ?? "info"

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let logger = Logger(label: "rerank-proxy")
        // Every connection is a file descriptor: start with the most we may have (server.max_connections stays at 3/4 of it).
        if let limit = FileDescriptorLimit.raiseToHardLimit() {
            logger.info("open-file limit", metadata: ["rerank.open_file_limit": "\(limit.soft)", "rerank.open_file_hard_limit": "\(limit.hard)"])
        }

        // SIGHUP reloads the policy once the server's services run; until then it is ignored, not fatal.
        signal(SIGHUP, SIG_IGN)
        let policy: PolicyConfig
        let sha256: String
        do {
            (policy, sha256) = try PolicyConfig.loadHashed(file: config)
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(2)
        }
        // SIGHUP and POST /admin/reload re-read this file (see README, "Reloading the policy").
        let app = try buildApplication(
            policy: policy,
            options: .init(
                host: host, port: port, logger: logger, registry: registry, policyFile: config, policySHA256: sha256, reloadOnHangup: true
            )
        )
        try await app.runService()
    }
}

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a policy file and print the resolved pool; exits non-zero with the first problem."
    )

    @Argument(help: "Policy file (YAML).")
    var file: String

    func run() throws {
        let policy: PolicyConfig
        do {
            policy = try PolicyConfig.load(file: file)
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
        print(policy.summary)
    }
}
