import Foundation
import Hummingbird
import NIOCore

/// `POST /admin/purge {"model": …}` and `GET /admin/policy`, with the access rule of `POST /admin/reload`.
///
/// With `auth.admin_keys` configured they need an admin key: a missing or unknown key is 401, an API key that is
/// not an admin key 403. With none configured they answer only clients on a loopback address (403 for others):
/// whoever can run curl on the proxy's host could restart it with another policy as well.
struct CacheAdminController: Sendable {
    let purger: CachePurger
    /// Re-reads the policy file; its running policy is the one shown. `nil`: the app was built without a file.
    let reloader: PolicyReloader?
    /// The policy shown when there is no reloader.
    let startPolicy: PolicyConfig
    let runtime: RuntimeHolder

    /// Bodies of `/admin/purge` are tiny; anything larger is refused unread.
    static let maxBodyBytes = 4096

    func addRoutes(to router: Router<AppRequestContext>) {
        router.post("/admin/purge") { request, context in
            try requireAdmin(request, context)
            return try await purge(request)
        }
        router.get("/admin/policy") { request, context in
            try requireAdmin(request, context)
            let policy = await reloader?.runningPolicy ?? startPolicy
            let models = runtime.current.models
            return json(PolicyView(policy) { models[$0]?.generation.current ?? 0 })
        }
    }

    private func requireAdmin(_ request: Request, _ context: AppRequestContext) throws(AdminError) {
        let keyRing = runtime.current.keyRing
        guard keyRing.hasAdminKeys else {
            if AdminController.isLoopback(context.remoteAddress) { return }
            throw .loopbackOnly
        }
        let secret = KeyRing.presentedSecret(in: request.headers)
        guard let secret else { throw .unauthorized }
        if keyRing.isAdmin(secret) { return }
        throw keyRing.client(presenting: secret) == nil ? .unauthorized : .notAdmin
    }

    private struct PurgeRequest: Decodable { var model: String }

    private struct Purged: Encodable {
        var model: String
        var purged = true
        var cache_generation: UInt64
    }

    private func purge(_ request: Request) async throws -> Response {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: Self.maxBodyBytes)
        } catch {
            throw AdminError.badRequest("the body must be at most \(Self.maxBodyBytes) bytes")
        }
        guard let body = try? JSONDecoder().decode(PurgeRequest.self, from: Data(buffer: buffer)), !body.model.isEmpty else {
            throw AdminError.badRequest(#"the body must be {"model": "<name>"}"#)
        }
        do throws(CachePurger.Failure) {
            let generation = try await purger.purge(model: body.model)
            return json(Purged(model: body.model, cache_generation: generation))
        } catch {
            switch error {
            case .unknownModel(let model): throw AdminError.unknownModel(model)
            case .store(let reason): throw AdminError.storeFailed(reason)
            }
        }
    }

    private func json(_ value: some Encodable) -> Response {
        JSONResponse.make(encoding: value, cacheControl: "no-store")
    }
}
