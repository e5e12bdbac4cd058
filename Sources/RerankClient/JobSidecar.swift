import Foundation

/// What `results.jsonl.job` remembers between runs in job mode: the jobs started for this output file, so
/// that a re-run re-attaches to them instead of submitting (and paying for) their lines again.
///
/// It is written atomically (a temporary file, fsync, rename) whenever the set of jobs changes, and removed
/// when the output is complete. A sidecar for another proxy URL or another input (line or pair count
/// differs) is ignored.
public struct JobSidecar: Codable, Sendable, Equatable {
    public var url: String
    public var inputLines: Int
    public var inputPairs: Int
    public var jobs: [SubmittedJob]

    public init(url: String, inputLines: Int, inputPairs: Int, jobs: [SubmittedJob] = []) {
        self.url = url
        self.inputLines = inputLines
        self.inputPairs = inputPairs
        self.jobs = jobs
    }

    enum CodingKeys: String, CodingKey {
        case url, jobs
        case inputLines = "input_lines"
        case inputPairs = "input_pairs"
    }

    /// The jobs recorded for this URL and input; none when the file is missing, unreadable or for another run.
    public static func jobs(at path: String, matching current: JobSidecar) -> [SubmittedJob] {
        guard let data = FileManager.default.contents(atPath: path),
            let saved = try? JSONDecoder().decode(JobSidecar.self, from: data),
            saved.url == current.url, saved.inputLines == current.inputLines, saved.inputPairs == current.inputPairs
        else { return [] }
        return saved.jobs
    }

    /// Replaces the file at `path` with this sidecar, atomically and durably.
    public func save(to path: String) throws(ClientError) {
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try DurableFile.replace(path, with: encoder.encode(self) + Data("\n".utf8))
        } catch let error as ClientError {
            throw error
        } catch {
            throw .output("cannot write \(path): \(error)")
        }
    }
}
