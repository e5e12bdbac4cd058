import Foundation
import Hummingbird
import NIOCore

/// `POST /admin/reload`: reload the policy file (as `SIGHUP` does) and answer what changed.
///
/// With `auth.admin_keys` configured it needs an admin key (401 without one). With none configured it answers only
/// clients on a loopback address (403 for others): whoever can run curl on the proxy's host could send it `SIGHUP`
/// as well. 200 with the ``PolicyReloader/Summary``; 422 for a file that cannot be read or fails the checks of
/// `check-config`; 409 for one that changes settings read only at start, or when the app has no policy file.
struct AdminController: Sendable {
    /// `nil` when the app was built without a policy file (nothing to re-read).
    let reloader: PolicyReloader?
    let runtime: RuntimeHolder

    func addRoutes(to router: Router<AppRequestContext>) {
        router.post("/admin/reload") { request, context in try await reload(request, context) }
    }

    private func reload(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let keyRing = runtime.current.keyRing
        if keyRing.hasAdminKeys {
            let secret = KeyRing.presentedSecret(in: request.headers)
            guard let secret, keyRing.isAdmin(secret) else { throw ProxyError.unauthorized(.documents) }
        } else if !Self.isLoopback(context.remoteAddress) {
            return refusal(
                .forbidden, code: "forbidden",
                message: "POST /admin/reload is answered only on a loopback address while auth.admin_keys is empty; configure an admin key"
            )
        }
        guard let reloader else {
            return refusal(.conflict, code: "no_policy_file", message: "the proxy was started without a policy file; there is nothing to reload")
        }
        switch await reloader.reload(trigger: "POST /admin/reload") {
        case .applied(let summary):
            return json(summary, status: .ok)
        case .refused(let refusal):
            switch refusal.reason {
            case .invalid: return self.refusal(.unprocessableContent, code: "invalid_policy", message: refusal.message)
            case .needsRestart: return self.refusal(.conflict, code: "restart_required", message: refusal.message)
            }
        }
    }

    /// Whether the peer is this host: 127.0.0.0/8, ::1, an IPv4-mapped loopback, or a Unix socket.
    static func isLoopback(_ address: SocketAddress?) -> Bool {
        switch address {
        case .v4(let v4):
            return UInt32(bigEndian: v4.address.sin_addr.s_addr) >> 24 == 127
        case .v6:
            guard let ip = address?.ipAddress?.lowercased() else { return false }
            return ip == "::1" || (ip.hasPrefix("::ffff:127.") && !ip.dropFirst(7).contains(":"))
        case .unixDomainSocket:
            return true
        case nil:
            return false
        }
    }

    /// An error in the documents dialect's shape, with `status: refused` for a reload the proxy did not apply.
    private func refusal(_ status: HTTPResponse.Status, code: String, message: String) -> Response {
        struct Body: Encodable {
            struct Detail: Encodable {
                var message: String
                var type: String
                var code: String
            }
            var status = "refused"
            var error: Detail
            var message: String
        }
        return json(Body(error: .init(message: message, type: "invalid_request_error", code: code), message: message), status: status)
    }

    private func json(_ value: some Encodable, status: HTTPResponse.Status) -> Response {
        JSONResponse.make(encoding: value, status: status)
    }
}
