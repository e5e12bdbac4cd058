import Logging
import ServiceLifecycle
import UnixSignals

/// The `Service` that reloads the policy file on every `SIGHUP` (see ``PolicyReloader``).
///
/// Signals that arrive during a reload queue one more reload behind it. Stops on graceful shutdown.
struct ReloadOnHangup: Service {
    let reloader: PolicyReloader
    let logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        logger.info("SIGHUP reloads the policy file", metadata: ["rerank.policy.file": "\(reloader.file)"])
        for await _ in signals.cancelOnGracefulShutdown() {
            _ = await reloader.reload(trigger: "SIGHUP")
        }
    }
}
