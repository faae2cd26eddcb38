import Crypto
import EssentialsSupport
import FoundationEssentials

/// Signs webhook deliveries the Standard Webhooks way: `webhook-signature: v1,<base64>` where
/// the MAC is HMAC-SHA256 over `"<webhook-id>.<webhook-timestamp>.<body>"`, keyed with the
/// base64-decoded part of a `whsec_…` secret.
public struct WebhookSigner: Sendable {
    private let key: Data

    /// A secret that is not `whsec_<base64>`.
    public struct InvalidSecret: Error, CustomStringConvertible {
        public var description: String
    }

    /// - Parameter secret: `whsec_<base64>`, surrounding whitespace ignored.
    public init(secret: String) throws {
        let trimmed = secret.trimmingWhitespace()
        guard trimmed.hasPrefix("whsec_") else {
            throw InvalidSecret(description: "webhook secret must start with whsec_")
        }
        guard let bytes = Data(base64Encoded: String(trimmed.dropFirst("whsec_".count))), !bytes.isEmpty else {
            throw InvalidSecret(description: "webhook secret is not whsec_ followed by base64")
        }
        key = bytes
    }

    /// The `webhook-signature` header value for one delivery.
    public func signature(id: String, timestamp: Int, body: Data) -> String {
        var message = Data("\(id).\(timestamp).".utf8)
        message.append(body)
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key))
        return "v1," + Data(mac).base64EncodedString()
    }
}
