import RerankCore

/// Jobs in this process only, for `cache.store: none`: they work the same but are lost when the proxy stops
/// (a restarted proxy neither resumes them nor can read their results). Durable jobs need `sqlite` or `redis`.
public actor MemoryJobStore: JobStore {
    private var jobs: [String: JobRecord] = [:]
    private var inputs: [String: JobInput] = [:]
    private var resultsByJob: [String: [Int: [UInt8]]] = [:]

    public init() {}

    public nonisolated var isDurable: Bool { false }

    @discardableResult
    public func create(_ job: JobRecord, input: JobInput) -> Bool {
        guard jobs[job.id] == nil else { return false }
        jobs[job.id] = job
        inputs[job.id] = input
        return true
    }

    public func update(_ job: JobRecord) {
        guard let stored = jobs[job.id], !stored.status.isFinished || job.status.isFinished else { return }
        jobs[job.id] = job
    }

    public func job(_ id: String) -> JobRecord? { jobs[id] }

    public func input(of id: String) -> JobInput? { inputs[id] }

    public func save(results: [(index: Int, body: [UInt8])], record: JobRecord) {
        guard jobs[record.id] != nil else { return }
        for result in results { resultsByJob[record.id, default: [:]][result.index] = result.body }
        update(record)
    }

    public func savedPositions(of id: String) -> Set<Int> { Set(resultsByJob[id]?.keys ?? [:].keys) }

    public func results(of id: String, offset: Int, limit: Int) -> [[UInt8]] {
        guard let saved = resultsByJob[id] else { return [] }
        return saved.keys.sorted().dropFirst(max(0, offset)).prefix(max(0, limit)).compactMap { saved[$0] }
    }

    public func recent(limit: Int) -> [JobRecord] {
        Array(jobs.values.sorted { ($0.createdAt, $0.id) > ($1.createdAt, $1.id) }.prefix(max(0, limit)))
    }

    public func unfinished() -> [JobRecord] {
        jobs.values.filter { !$0.status.isFinished }.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
    }

    public func sweep(finishedBefore cutoff: Int64) -> Int {
        let expired = jobs.values.filter { $0.status.isFinished && $0.updatedAt < cutoff }.map(\.id)
        for id in expired {
            jobs[id] = nil
            inputs[id] = nil
            resultsByJob[id] = nil
        }
        return expired.count
    }
}
