import RerankCore

// MARK: - Job mode

extension RerankRun {
    var sidecarPath: String { options.output + ".job" }

    /// What job mode still has to do, in input order.
    enum Work {
        case attach(SubmittedJob)
        case submit(Range<Int>)
    }

    /// A job in flight, and what the proxy last said about it.
    struct Active {
        var job: SubmittedJob
        var state: ProxyAPI.JobState?
    }

    /// Submits jobs (`concurrency` in flight, recorded in the sidecar), polls them, and writes each one's
    /// results, page by page, when it is the oldest and has succeeded.
    func runJobs(input: InputFile, out: DurableFile, progress: inout Written) async throws {
        var sidecar = JobSidecar(url: api.base, inputLines: input.lines.count, inputPairs: input.totalPairs)
        let recorded = JobSidecar.jobs(at: sidecarPath, matching: sidecar)
        var queue: [Work] = ChunkPlan.segments(done: progress.lines, lineCount: input.lines.count, jobs: recorded).flatMap { segment -> [Work] in
            switch segment {
            case .attach(let job, _): [.attach(job)]
            case .submit(let range): ChunkPlan.chunks(of: input.lines, in: range, limits: options.limits).map { Work.submit($0) }
            }
        }
        sidecar.jobs = queue.compactMap { work -> SubmittedJob? in
            guard case .attach(let job) = work else { return nil }
            return job
        }
        if sidecar.jobs != recorded { try sidecar.save(to: sidecarPath) }

        var active: [Active] = []
        // Polls start at 50 ms and double up to `pollInterval`, so small (or fully cached) jobs finish fast.
        var wait = min(.milliseconds(50), options.pollInterval)
        while !queue.isEmpty || !active.isEmpty {
            // Keep the window full: the proxy starts the next job as soon as one ends.
            while active.count < max(1, options.concurrency), !queue.isEmpty {
                let work = queue.removeFirst()
                switch work {
                case .attach(let job):
                    let state = try await api.job(job.id)
                    guard let state, state.status != "failed", state.status != "cancelled" else {
                        reporter.note("job \(job.id) (\(Self.context(job.lines))) is \(state?.status ?? "gone from the proxy"); sending its lines again")
                        sidecar.jobs.removeAll { $0.id == job.id }
                        try sidecar.save(to: sidecarPath)
                        let left = max(job.first, progress.lines)..<job.end
                        queue.insert(contentsOf: ChunkPlan.chunks(of: input.lines, in: left, limits: options.limits).map { Work.submit($0) }, at: 0)
                        continue
                    }
                    reporter.note("re-attached to job \(job.id) (\(Self.context(job.lines)), \(state.status))")
                    active.append(Active(job: job, state: state))
                case .submit(let range):
                    let id: String
                    do {
                        id = try await api.submitJob(model: model(of: range, in: input), lines: range.map(input.bytes(ofLine:)), context: Self.context(range))
                    } catch ClientError.http(413, _, _) where range.count > 1 {
                        let middle = range.lowerBound + range.count / 2
                        queue.insert(contentsOf: [.submit(range.lowerBound..<middle), .submit(middle..<range.upperBound)], at: 0)
                        continue
                    } catch ClientError.http(let status, let message, let context) {
                        let refused = Self.request(namedIn: message).map { range.lowerBound + $0 }
                        throw ClientError.http(status: status, message: message, context: refused.map { Self.context($0..<$0 + 1) } ?? context)
                    }
                    let job = SubmittedJob(id: id, first: range.lowerBound, count: range.count)
                    sidecar.jobs.append(job)
                    try sidecar.save(to: sidecarPath)
                    active.append(Active(job: job, state: nil))
                }
            }
            guard !active.isEmpty else { continue }

            for index in active.indices {
                active[index].state = try await api.job(active[index].job.id)
            }
            reporter.update(done: progress.pairs + runningPairs(active, input: input, written: progress.lines))

            let head = active[0]
            guard let state = head.state else {
                // The proxy lost the job (expired, or a proxy without a durable store restarted): send what is left again.
                reporter.note("job \(head.job.id) (\(Self.context(head.job.lines))) is gone from the proxy; sending its lines again")
                active.removeFirst()
                sidecar.jobs.removeAll { $0.id == head.job.id }
                try sidecar.save(to: sidecarPath)
                queue.insert(.submit(progress.lines..<head.job.end), at: 0)
                continue
            }
            switch state.status {
            case "succeeded":
                try await fetch(head.job, upTo: head.job.end, out: out, progress: &progress)
                wait = min(.milliseconds(50), options.pollInterval)
                active.removeFirst()
                sidecar.jobs.removeAll { $0.id == head.job.id }
                try sidecar.save(to: sidecarPath)
            case "failed", "cancelled":
                // A failed job's results hold an error body at each failed request: keep the answers before the first.
                let firstFailure = state.failures.min { $0.index < $1.index }
                if state.status == "failed", let first = firstFailure {
                    try await fetch(head.job, upTo: head.job.first + first.index, out: out, progress: &progress)
                }
                sidecar.jobs.removeAll { $0.id == head.job.id }
                try sidecar.save(to: sidecarPath)
                var why = state.message.map { [$0] } ?? []
                if let first = firstFailure {
                    why.append(
                        "\(state.failures.count) request(s) failed; the first, input line \(head.job.first + first.index + 1): HTTP \(first.status): \(first.message)"
                    )
                }
                throw ClientError.job(id: head.job.id, status: state.status, message: why.joined(separator: "; "))
            default:
                try await time.sleep(for: wait)
                wait = min(wait * 2, options.pollInterval)
            }
        }
    }

    /// Writes a finished job's results from the first line not yet written up to input line `end`, a page at a
    /// time, fsyncing each page.
    private func fetch(_ job: SubmittedJob, upTo end: Int, out: DurableFile, progress: inout Written) async throws {
        while progress.lines < end {
            let offset = progress.lines - job.first
            let page = try await api.jobResults(job.id, offset: offset, limit: min(end - progress.lines, max(1, options.pageSize)))
            guard !page.isEmpty else {
                throw ClientError.transport("job \(job.id) has \(offset) results but covers \(job.count) input lines")
            }
            try progress.write(page.prefix(end - progress.lines), to: out)
            try out.sync()
            reporter.update(done: progress.pairs)
        }
    }

    /// Pairs the proxy reports done for jobs whose results are not written yet.
    private func runningPairs(_ active: [Active], input: InputFile, written: Int) -> Int {
        active.reduce(0) { sum, job in
            let alreadyWritten = input.pairs(in: job.job.first..<max(job.job.first, min(written, job.job.end)))
            return sum + max(0, (job.state?.done ?? 0) - alreadyWritten)
        }
    }
}
