/// Parses and validates a rerank request body in one bounded pass, straight from its bytes.
///
/// The body is scanned once, iteratively: every value is validated (grammar, UTF-8, escapes, nesting at
/// most ``JSONScanner/maxDepth`` levels), the position of each known key's value is recorded (the last
/// occurrence wins), and the elements of `documents` (and of `texts` on `/rerank`) are counted, stopping
/// as soon as there are more than `max_documents`. Only then are the recorded fields decoded, so a hostile
/// body costs one linear scan and no allocation per element, and `rank_fields` may come after `documents`.
/// Object documents keep their exact bytes (``RawJSON``) for echoing.
/// ```swift
/// let request = try buffer.withUnsafeReadableBytes { bytes throws(RequestParser.Failure) in
///     try RequestParser.parse(bytes, route: .v1, limits: RequestLimits(maxDocuments: 1000))
/// }
/// ```
public enum RequestParser {
    /// Why a body was refused, and the dialect the refusal must be answered in.
    public struct Failure: Error, Equatable, Sendable {
        public var error: RequestError
        /// `.tei` when the route is `/rerank` and the body (as far as it was read) has a non-null `texts`
        /// and no non-null `documents`; otherwise the route's documents dialect.
        public var dialect: Dialect

        public init(error: RequestError, dialect: Dialect) {
            self.error = error
            self.dialect = dialect
        }
    }

    /// Parses, validates and picks the dialect of a rerank body.
    /// - Parameters:
    ///   - body: the raw request body (UTF-8 JSON).
    ///   - route: the path it came in on; it sets defaults and whether `texts` means TEI.
    ///   - limits: the policy's input limits.
    /// - Returns: the validated request.
    /// - Throws: ``Failure`` describing the first problem found; never anything else.
    public static func parse(_ body: UnsafeRawBufferPointer, route: RerankRoute, limits: RequestLimits) throws(Failure) -> RerankRequest {
        guard let base = body.baseAddress, !body.isEmpty else {
            let dialect: Dialect = route == .v2 ? .documentsV2 : .documents
            throw Failure(error: .invalid("request body is not valid JSON: the body is empty"), dialect: dialect)
        }
        var parser = BodyParser(base: base.assumingMemoryBound(to: UInt8.self), count: body.count, route: route, limits: limits)
        do {
            return try parser.parse()
        } catch {
            throw Failure(error: error, dialect: parser.failureDialect)
        }
    }

    /// Parses a body held in any byte collection (contiguous storage is read in place).
    /// - Throws: ``Failure``, as ``parse(_:route:limits:)-(UnsafeRawBufferPointer,_,_)``.
    public static func parse(_ body: some Collection<UInt8>, route: RerankRoute, limits: RequestLimits) throws(Failure) -> RerankRequest {
        let result =
            body.withContiguousStorageIfAvailable { buffer in
                Result { () throws(Failure) in try parse(UnsafeRawBufferPointer(buffer), route: route, limits: limits) }
            }
            ?? Array(body).withUnsafeBytes { buffer in
                Result { () throws(Failure) in try parse(buffer, route: route, limits: limits) }
            }
        return try result.get()
    }
}
