import Crypto

/// Builds ``CacheKey``s for every document of one (model, settings, query).
///
/// The encoding is unambiguous: a version byte, then each field as an 8-byte big-endian length followed by
/// its UTF-8 bytes, in a fixed order (model, revision, each score setting, query, document). Two different
/// tuples can never encode to the same bytes, unlike a plain `query + document` concatenation.
///
/// The prefix up to and including the query is hashed once; each document continues from a copy of it.
/// A key is the model's 8-byte tag followed by bytes 8..<32 of that digest (``CacheKey``'s layout).
public struct CacheKeyEncoder {
    /// Bump when the encoding or the meaning of a stored score changes; old entries then simply miss.
    public static let version: UInt8 = 1

    private let prefix: SHA256
    /// ``CacheKey/modelTag(_:)`` of the model: the first word of every key this encoder makes.
    public let modelTag: UInt64

    /// Keys of a tenant whose cache is isolated start with this version byte and the tenant's name, so they
    /// can never equal a shared key or another tenant's.
    public static let namespacedVersion: UInt8 = 0x81

    /// Keys of a model whose cache was purged (generation > 0) start with one of these version bytes and the
    /// 8-byte big-endian generation, so no key of an earlier generation (or of generation 0, encoded exactly as
    /// before purging existed) can equal one of a later generation: purged scores become unreachable.
    public static let generationVersion: UInt8 = 2
    public static let namespacedGenerationVersion: UInt8 = 0x82

    /// - Parameter namespace: a tenant's name when its cache is isolated (`auth.keys[].isolate_cache`); `nil`: shared.
    /// - Parameter generation: the model's cache generation, advanced by every purge (`POST /admin/purge`); 0: never purged.
    /// - Parameter modelTag: ``CacheKey/modelTag(_:)`` of `model` when the caller keeps it (one hash per model, not
    ///   per request); computed here when `nil`.
    public init(
        model: String, revision: String, settings: ScoreSettings, query: String, namespace: String? = nil, generation: UInt64 = 0,
        modelTag: UInt64? = nil
    ) {
        var hasher = SHA256()
        switch (namespace, generation) {
        case (nil, 0):
            hasher.update(data: [Self.version])
        case (let namespace?, 0):
            hasher.update(data: [Self.namespacedVersion])
            Self.append(namespace, to: &hasher)
        case (nil, let generation):
            hasher.update(data: [Self.generationVersion])
            withUnsafeBytes(of: generation.bigEndian) { hasher.update(bufferPointer: $0) }
        case (let namespace?, let generation):
            hasher.update(data: [Self.namespacedGenerationVersion])
            withUnsafeBytes(of: generation.bigEndian) { hasher.update(bufferPointer: $0) }
            Self.append(namespace, to: &hasher)
        }
        Self.append(model, to: &hasher)
        Self.append(revision, to: &hasher)
        for field in settings.canonicalFields {
            Self.append(field, to: &hasher)
        }
        Self.append(query, to: &hasher)
        self.prefix = hasher
        self.modelTag = modelTag ?? CacheKey.modelTag(model)
    }

    /// The key of the pair (query, `document`) under this encoder's model and settings.
    public func key(document: String) -> CacheKey {
        var hasher = prefix
        Self.append(document, to: &hasher)
        return CacheKey(tag: modelTag, digest: hasher.finalize())
    }

    private static func append(_ field: String, to hasher: inout SHA256) {
        var field = field
        field.withUTF8 { utf8 in
            withUnsafeBytes(of: UInt64(utf8.count).bigEndian) { hasher.update(bufferPointer: $0) }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(utf8))
        }
    }
}
