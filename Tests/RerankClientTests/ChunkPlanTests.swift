import RerankClient
import Testing

@Suite struct ChunkPlanTests {
    func lines(_ specs: [(bytes: Int, pairs: Int, model: String?)]) -> [InputFile.Line] {
        var offset = 0
        return specs.map { spec in
            defer { offset += spec.bytes + 1 }
            return InputFile.Line(range: offset..<offset + spec.bytes, pairs: spec.pairs, model: spec.model)
        }
    }

    @Test func chunksRespectLinesBytesAndPairs() {
        let input = lines(Array(repeating: (bytes: 99, pairs: 10, model: nil), count: 10))
        #expect(ChunkPlan.chunks(of: input, in: 0..<10, limits: .init(maxLines: 4)) == [0..<4, 4..<8, 8..<10])
        #expect(ChunkPlan.chunks(of: input, in: 3..<10, limits: .init(maxLines: 100, maxBytes: 300)) == [3..<6, 6..<9, 9..<10])
        #expect(ChunkPlan.chunks(of: input, in: 0..<5, limits: .init(maxLines: 100, maxPairs: 25)) == [0..<2, 2..<4, 4..<5])
    }

    @Test func aLineOverTheLimitIsAChunkByItself() {
        let input = lines([(10, 1, nil), (5000, 1, nil), (10, 1, nil)])
        #expect(ChunkPlan.chunks(of: input, in: 0..<3, limits: .init(maxLines: 10, maxBytes: 100)) == [0..<1, 1..<2, 2..<3])
    }

    @Test func aChunkNeverMixesModels() {
        let input = lines([(10, 1, nil), (10, 1, nil), (10, 1, "b"), (10, 1, "b"), (10, 1, nil)])
        #expect(ChunkPlan.chunks(of: input, in: 0..<5, limits: .init(maxLines: 10)) == [0..<2, 2..<4, 4..<5])
    }

    @Test func aFreshRunSubmitsEverythingNotWritten() {
        #expect(ChunkPlan.segments(done: 0, lineCount: 10, jobs: []) == [.submit(0..<10)])
        #expect(ChunkPlan.segments(done: 4, lineCount: 10, jobs: []) == [.submit(4..<10)])
        #expect(ChunkPlan.segments(done: 10, lineCount: 10, jobs: []).isEmpty)
    }

    @Test func recordedJobsAreReattachedFromTheFirstUnwrittenLine() {
        let a = SubmittedJob(id: "a", first: 0, count: 5)
        let b = SubmittedJob(id: "b", first: 5, count: 5)
        #expect(ChunkPlan.segments(done: 3, lineCount: 12, jobs: [b, a]) == [.attach(a, skip: 3), .attach(b, skip: 0), .submit(10..<12)])
        // A job whose lines are all written is dropped; a gap before a job is submitted afresh.
        #expect(ChunkPlan.segments(done: 5, lineCount: 10, jobs: [a, SubmittedJob(id: "c", first: 7, count: 3)]) == [
            .submit(5..<7), .attach(SubmittedJob(id: "c", first: 7, count: 3), skip: 0),
        ])
        // A job past the input's end belongs to another input.
        #expect(ChunkPlan.segments(done: 0, lineCount: 4, jobs: [a]) == [.submit(0..<4)])
    }
}
