import Foundation
import NIOCore
import RerankCore

/// Where a run's request bodies come from.
enum RequestBodies: Sendable {
    /// The same body every time (the hit path once warm).
    case fixed(ByteBuffer)
    /// A trace, one body per line, pre-rendered; the run ends with the trace.
    case trace([ByteBuffer])
    /// Every request a new query over the same documents, so every pair misses.
    case unique(prefix: String, documents: [String], dialect: BodyDialect, model: String?)

    enum BodyDialect: String, Sendable {
        case documents, tei
    }

    var count: Int? {
        if case .trace(let bodies) = self { return bodies.count }
        return nil
    }

    func body(_ n: Int) -> ByteBuffer? {
        switch self {
        case .fixed(let body): body
        case .trace(let bodies): n < bodies.count ? bodies[n] : nil
        case .unique(let prefix, let documents, let dialect, let model):
            ByteBuffer(bytes: Self.render(query: "\(prefix) \(n)", documents: documents, dialect: dialect, model: model))
        }
    }

    static func render(query: String, documents: [String], dialect: BodyDialect, model: String?) -> [UInt8] {
        var w = JSONWriter(capacity: 64 + documents.reduce(0) { $0 + $1.utf8.count + 4 })
        w.raw("{")
        if let model {
            w.raw("\"model\":")
            w.string(model)
            w.raw(",")
        }
        w.raw("\"query\":")
        w.string(query)
        w.raw(dialect == .tei ? ",\"texts\":[" : ",\"documents\":[")
        for (i, document) in documents.enumerated() {
            if i > 0 { w.byte(UInt8(ascii: ",")) }
            w.string(document)
        }
        w.raw("]}")
        return w.bytes
    }

    static func fixed(documents: Int, bytes: Int, corpus: Corpus, dialect: BodyDialect, model: String?) -> RequestBodies {
        let docs = (0..<documents).map { corpus.text(1_000_000 + $0, bytes: bytes) }
        return .fixed(ByteBuffer(bytes: render(query: "fixed benchmark query", documents: docs, dialect: dialect, model: model)))
    }

    static func trace(_ trace: [TraceRequest], corpus: Corpus, dialect: BodyDialect, model: String?) -> RequestBodies {
        .trace(trace.map { request in
            ByteBuffer(bytes: render(query: corpus.query(request.q), documents: request.docs.map { corpus.text($0) }, dialect: dialect, model: model))
        })
    }
}
