import Glibc

extension String {
    /// `printf`-style formatting of numbers through the C library (FoundationEssentials has no
    /// `String(format:)`); `%@` is not supported.
    package init(cFormat format: String, _ arguments: any CVarArg...) {
        let length = withVaList(arguments) { vsnprintf(nil, 0, format, $0) }
        var buffer = [CChar](repeating: 0, count: Int(Swift.max(length, 0)) + 1)
        _ = withVaList(arguments) { vsnprintf(&buffer, buffer.count, format, $0) }
        self = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}
