import FoundationEssentials
import Glibc

extension Error {
    /// The C library's text for a file error's underlying `errno` (`No such file or
    /// directory`), else the error as Swift prints it; stands in for Foundation's
    /// `localizedDescription`.
    package var systemDescription: String {
        if let posix = (self as? CocoaError)?.underlying as? POSIXError ?? self as? POSIXError {
            return String(cString: strerror(posix.code.rawValue))
        }
        return "\(self)"
    }
}
