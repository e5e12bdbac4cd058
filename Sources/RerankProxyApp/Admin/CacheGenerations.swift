import Synchronization

/// Every model's ``CacheGeneration`` by name, created once per name and kept for the life of the process, so a
/// model that a policy reload rebuilds (or removes and adds back) keeps its purges.
final class CacheGenerations: Sendable {
    /// Protected by its own lock, held only to look up or insert a reference.
    private let table = Mutex<[String: CacheGeneration]>([:])

    func generation(of model: String) -> CacheGeneration {
        table.withLock { table in
            if let generation = table[model] { return generation }
            let generation = CacheGeneration()
            table[model] = generation
            return generation
        }
    }
}
