import RerankBackends
import RerankCore

/// The served models by name, in policy order; the first is the default when a request names none.
///
/// Immutable: a reload builds a new table (keeping the ``ModelRuntime`` of every model whose policy did not change)
/// and swaps it in whole, so a request sees one consistent set of models from start to end.
struct ModelTable: Sendable {
    /// In policy order.
    let all: [ModelRuntime]
    private let byName: [String: ModelRuntime]

    init(_ models: [ModelRuntime]) {
        precondition(!models.isEmpty, "validated config has a model")
        all = models
        byName = Dictionary(uniqueKeysWithValues: models.map { ($0.name, $0) })
    }

    var defaultModel: String { all[0].name }

    /// Every model's backend pool, in policy order.
    var pools: [BackendPool] { all.map(\.pool) }

    /// The model named `name`, if it is served.
    subscript(name: String) -> ModelRuntime? { byName[name] }

    /// Resolves a request's model, or the default when it names none (or names it empty).
    func model(named name: String?) throws(RequestError) -> ModelRuntime {
        let name = name.flatMap { $0.isEmpty ? nil : $0 } ?? defaultModel
        guard let model = byName[name] else { throw .unknownModel(name) }
        return model
    }
}
