import Foundation
import RerankClient
import Testing

@Suite struct DurableFileTests {
    func temporaryPath(_ name: String) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rerank-client-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory + "/" + name
    }

    @Test func openingKeepsTheValidPrefixAndAppendsAfterIt() throws {
        let path = try temporaryPath("results.jsonl")
        try Data("{\"results\":[]}\n{\"results\":[1]}\n{\"resu".utf8).write(to: URL(fileURLWithPath: path))
        let file = try DurableFile(path: path)
        #expect(file.resumed.lines == 2)
        #expect(file.lines == 2)
        try file.append(line: Array("{\"results\":[2]}".utf8))
        try file.close()
        #expect(String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self) == "{\"results\":[]}\n{\"results\":[1]}\n{\"results\":[2]}\n")
    }

    @Test func aMissingFileIsCreatedEmpty() throws {
        let path = try temporaryPath("new.jsonl")
        let file = try DurableFile(path: path)
        #expect(file.resumed == OutputPrefix(lines: 0, byteCount: 0))
        try file.close()
        #expect(FileManager.default.fileExists(atPath: path))
    }

    @Test func aSidecarIsReadBackOnlyForTheSameURLAndInput() throws {
        let path = try temporaryPath("results.jsonl.job")
        let sidecar = JobSidecar(url: "http://a", inputLines: 10, inputPairs: 40, jobs: [SubmittedJob(id: "j1", first: 0, count: 10)])
        try sidecar.save(to: path)
        #expect(JobSidecar.jobs(at: path, matching: JobSidecar(url: "http://a", inputLines: 10, inputPairs: 40)) == sidecar.jobs)
        #expect(JobSidecar.jobs(at: path, matching: JobSidecar(url: "http://b", inputLines: 10, inputPairs: 40)).isEmpty)
        #expect(JobSidecar.jobs(at: path, matching: JobSidecar(url: "http://a", inputLines: 11, inputPairs: 44)).isEmpty)
        #expect(JobSidecar.jobs(at: path + ".missing", matching: sidecar).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
    }
}
