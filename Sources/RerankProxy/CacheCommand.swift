import ArgumentParser
import Foundation
import Logging
import RerankProxyApp

/// `rerank-proxy cache stats|purge|export|import`: administration of the policy's persistent score store
/// (``CacheAdmin``); safe while proxies run on the same SQLite file or Redis.
struct CacheCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache",
        abstract: "Inspect, purge, export or import the policy's persistent score cache (SQLite or Redis).",
        subcommands: [Stats.self, Purge.self, Export.self, Import.self]
    )

    struct Options: ParsableArguments {
        @Option(name: .long, help: "Policy file (YAML); its cache section names the store.")
        var config = "policies/local.yaml"

        /// Opens the policy's store, runs `body`, closes it; any failure is printed to stderr and exits 1.
        /// - Parameter creating: whether a missing SQLite file may be created (only `import` writes into a new cache).
        func withAdmin<T>(creating: Bool = false, _ body: (CacheAdmin) async throws(CacheAdmin.Failure) -> T) async throws -> T {
            var logger = Logger(label: "rerank-proxy.cache") { StreamLogHandler.standardError(label: $0) }
            // Errors only: the store's own warnings are worded for a serving proxy ("lookups are misses …"); the
            // command reports its failure itself.
            logger.logLevel = .error
            let admin: CacheAdmin
            do {
                admin = try CacheAdmin(policy: try PolicyConfig.load(file: config), creating: creating, logger: logger)
            } catch {
                throw failure("\(error)")
            }
            defer { admin.close() }
            do {
                return try await body(admin)
            } catch {
                throw failure(error.description)
            }
        }

        /// Prints `message` and gives the exit status to throw (thrown, not `exit(1)`: the store is still closed).
        private func failure(_ message: String) -> ExitCode {
            FileHandle.standardError.write(Data("error: \(message)\n".utf8))
            return ExitCode(1)
        }
    }

    struct Stats: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Entries in the store (in total and per policy model) and its size.")

        @OptionGroup var options: Options

        @Flag(name: .long, help: "Print one JSON object instead of text.")
        var json = false

        func run() async throws {
            let stats = try await options.withAdmin { admin throws(CacheAdmin.Failure) in try await admin.stats() }
            print(json ? stats.json : stats.text)
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete one model's stored scores; running proxies stop serving them from memory within about a second."
        )

        @OptionGroup var options: Options

        @Option(name: .long, help: "The model whose scores to delete (its name in the policy).")
        var model: String

        @Flag(name: .long, help: "Purge a model the policy does not list (e.g. one removed from it).")
        var force = false

        func run() async throws {
            let purged = try await options.withAdmin { admin throws(CacheAdmin.Failure) in
                // A second pass once running proxies have re-read the generation and flushed what they queued before.
                try await admin.purge(model: model, force: force) { try? await Task.sleep(for: CacheAdmin.purgeSettle) }
            }
            print(purged.summary)
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write the stored scores to an NDJSON file (see README, Cache administration).")

        @OptionGroup var options: Options

        @Option(name: .long, help: "The file to write.")
        var out: String

        @Option(name: .long, help: "Only this model's scores.")
        var model: String?

        @Flag(name: .long, help: "Export a --model the policy does not list (e.g. one removed from it).")
        var force = false

        func run() async throws {
            let count = try await options.withAdmin { admin throws(CacheAdmin.Failure) in try await admin.export(to: out, model: model, force: force) }
            print("exported \(count) scores to \(out)")
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load scores from a file written by `cache export` into the policy's store (every line is checked first)."
        )

        @OptionGroup var options: Options

        @Argument(help: "The export file.")
        var file: String

        func run() async throws {
            let imported = try await options.withAdmin(creating: true) { admin throws(CacheAdmin.Failure) in try await admin.importFile(file) }
            print(imported.summary)
        }
    }
}
