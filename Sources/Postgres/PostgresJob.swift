/// A statement waiting for, or running on, a connection's thread.
struct PostgresJob: Sendable {
    let id: UInt64
    let sql: String
    let parameters: [PostgresValue]
    let continuation: CheckedContinuation<PostgresResult, any Error>
}
