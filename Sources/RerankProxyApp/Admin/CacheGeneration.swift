import Synchronization

/// A model's cache generation: part of every cache key (``RerankCore/CacheKeyEncoder``), so advancing it makes
/// every score cached before unreachable in every tier at once. Read once per request with one atomic load.
final class CacheGeneration: Sendable {
    private let value = Atomic<UInt64>(0)

    var current: UInt64 { value.load(ordering: .acquiring) }

    /// Raises the generation to `generation` (a stored or another replica's value); never lowers it, so a stale
    /// read can never bring purged scores back.
    func raise(to generation: UInt64) {
        value.max(generation, ordering: .acquiringAndReleasing)
    }

    /// Adds one (no persistent store to keep it in) and returns the new generation.
    func advance() -> UInt64 { value.add(1, ordering: .acquiringAndReleasing).newValue }
}
