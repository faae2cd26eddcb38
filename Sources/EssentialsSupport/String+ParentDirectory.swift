extension String {
    /// The path without its last component, as `NSString.deletingLastPathComponent` gives it:
    /// `/a/b` → `/a`, `/a` → `/`, `a` → `` (empty).
    package var parentDirectory: String {
        guard let slash = lastIndex(of: "/") else { return "" }
        return slash == startIndex ? "/" : String(self[..<slash])
    }
}
