import Logging
import RerankCache
import RerankCore

extension JobRunner {
    /// Runs one job, when this runner can claim it, from where its saved results end until it finishes, is
    /// cancelled, another runner takes it over, or this runner stops (then the claim is given back).
    func execute(_ id: String) async {
        guard (try? await store.claim(id, owner: owner, seconds: Self.claimSeconds)) == true else { return }
        await run(id)
        await store.release(id, owner: owner)
    }

    private func run(_ id: String) async {
        let found: JobRecord?
        let stored: JobInput?
        do {
            found = try await store.job(id)
            stored = try await store.input(of: id)
        } catch {
            logger.warning("cannot load a rerank job; it is retried at the next start", metadata: ["rerank.job": "\(id)", "error.type": "\(error)"])
            return
        }
        guard var record = found, let input = stored, !record.status.isFinished else { return }
        let batch: BatchParser.Batch
        do {
            batch = try parse(input)
        } catch {
            record.status = .failed
            record.error = "the job's input no longer parses under this policy: \(error.message)"
            await persist(record, results: [])
            return
        }
        let done: Set<Int>
        do {
            done = try await store.savedPositions(of: id)
        } catch {
            logger.warning("cannot read a rerank job's results; it is retried at the next start", metadata: ["rerank.job": "\(id)", "error.type": "\(error)"])
            return
        }
        var schedule = JobSchedule(
            pairCounts: batch.requests.map(\.texts.count), done: done, chunkPairs: configuration.chunkPairs, retries: configuration.retries,
            backoff: configuration.retryBackoff.duration, round: record.retryRounds
        )
        record.status = .running
        await persist(record, results: [])
        while true {
            if isCancelling(id) {
                record.status = .cancelled
                await persist(record, results: [])
                return
            }
            if stopping { return }
            // Cancelled through another replica, or taken over by one: stop without writing over it.
            if (try? await store.job(id))?.status.isFinished == true { return }
            guard (try? await store.claim(id, owner: owner, seconds: Self.claimSeconds)) != false else { return }
            switch schedule.next() {
            case .score(let positions):
                let results = await score(positions, of: batch, record: &record, schedule: &schedule)
                record.failures = schedule.failures.values.sorted { $0.index < $1.index }
                // A DELETE while the chunk ran wins: the loop ends it as cancelled; the chunk's results are kept.
                if isCancelling(id) { record.status = .cancelled }
                await persist(record, results: results)
            case .wait(let backoff):
                record.retryRounds = schedule.round
                await persist(record, results: [])
                logger.info("retrying a rerank job's failed requests", metadata: [
                    "rerank.job": "\(id)", "rerank.failed_requests": "\(schedule.failures.count)", "rerank.backoff": "\(backoff)",
                ])
                await pause(backoff, job: id)
            case .finish(let status):
                record.status = status
                record.failures = schedule.failures.values.sorted { $0.index < $1.index }
                // Each failed request's place in the results holds its error, so results stay one per request.
                let errors = record.failures.map { failure in
                    (index: failure.index, body: ResponseRenderer.documentsError(
                        message: failure.message, type: "JobRequestFailed", param: "requests[\(failure.index)]", code: failure.status
                    ))
                }
                await persist(record, results: errors)
                logger.info("rerank job finished", metadata: ["rerank.job": "\(id)", "rerank.status": "\(status.rawValue)"])
                return
            }
        }
    }

    /// Parses a job's stored input with the policy's limits.
    func parse(_ input: JobInput) throws(RequestError) -> BatchParser.Batch {
        let limits = self.limits
        let result = input.bytes.withUnsafeBytes { bytes in
            Result { () throws(RequestError) in try BatchParser.parse(bytes, lines: input.isLines, model: nil, limits: limits) }
        }
        return try result.get()
    }

    /// Scores the requests at `positions` together; records their progress and failures, returns their rendered results.
    private func score(
        _ positions: [Int], of batch: BatchParser.Batch, record: inout JobRecord, schedule: inout JobSchedule
    ) async -> [(index: Int, body: [UInt8])] {
        let requests = positions.map { batch.requests[$0] }
        // One snapshot for the chunk: its models and the key counters it is charged to come from the same policy.
        let runtime = pipeline.runtime.current
        let items: [RerankPipeline.BatchItem]
        do {
            items = try await pipeline.rerankBatch(
                requests, model: record.model, models: runtime.models, namespace: record.namespace, priority: .background, logger: logger
            )
        } catch {
            // The model or a request's settings are refused: retrying cannot help.
            for position in positions { schedule.failed(position, Self.failure(error, at: position), retryable: false) }
            return []
        }
        var results: [(index: Int, body: [UInt8])] = []
        // The submitting key's counters include its jobs' requests, as they include its batches' and single requests'.
        for (n, item) in items.enumerated() {
            let position = positions[n]
            switch item.result {
            case .success(let result):
                if let owner = record.owner { runtime.keyStats.served(owner, tally: result.tally) }
                results.append((position, ResponseRenderer.render(result, for: batch.requests[position])))
                schedule.scored(position)
                record.requestsDone += 1
                record.donePairs += batch.requests[position].texts.count
                // Unique pairs from a cache tier, and those scored for it (by a backend, or another request's flight).
                record.fromCache += result.tally.hits
                record.scored += result.tally.coalesced + result.tally.forwarded
            case .failure(let error):
                // A document the backend refused fails the same way every time; anything else may pass later.
                schedule.failed(position, Self.failure(error, at: position), retryable: error.status.code >= 500 || error.status.code == 429)
            }
        }
        return results
    }

    static func failure(_ error: ProxyError, at position: Int) -> JobFailure {
        let descriptor = BatchController.naming(error, request: position).descriptor
        return JobFailure(index: position, status: Int(descriptor.status.code), message: descriptor.message)
    }

    /// Saves the record (stamped now) and results; a store that fails is retried a few times, then the job is left
    /// as it is in the store (it resumes from there at the next start).
    private func persist(_ record: JobRecord, results: [(index: Int, body: [UInt8])]) async {
        var record = record
        record.updatedAt = now()
        for attempt in 0..<5 {
            do {
                try await store.save(results: results, record: record)
                return
            } catch {
                logger.warning("cannot save a rerank job's progress", metadata: ["rerank.job": "\(record.id)", "error.type": "\(error)"])
                try? await time.sleep(for: .milliseconds(100 << attempt))
            }
        }
    }

    /// Waits `duration`, waking early when the job is cancelled or the runner stops.
    private func pause(_ duration: Duration, job id: String) async {
        let end = time.now + duration
        while time.now < end, !stopping, !isCancelling(id) {
            try? await time.sleep(until: min(end, time.now + .milliseconds(100)))
        }
    }
}
