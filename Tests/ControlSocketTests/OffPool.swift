import Foundation

/// Runs blocking socket code on a thread of its own and awaits it, so that tests never block
/// Swift's cooperative pool, which the server's handler tasks need.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread {
            continuation.resume(with: Result { try body() })
        }.start()
    }
}
