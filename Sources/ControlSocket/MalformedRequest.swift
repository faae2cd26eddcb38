/// Why a line received on the status socket is not a request; the server answers
/// `{"ok":false,"error":"malformed request: <reason>"}` and keeps the connection open.
struct MalformedRequest: Error, Sendable {
    /// What is wrong, e.g. `missing "cmd"`.
    let reason: String

    init(_ reason: String) {
        self.reason = reason
    }

    /// The reply the client gets.
    var response: ControlResponse { .failure("malformed request: \(reason)") }
}
