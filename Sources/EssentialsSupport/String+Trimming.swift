extension StringProtocol {
    /// The text without leading and trailing whitespace and newlines (FoundationEssentials has
    /// no `trimmingCharacters(in:)`).
    package func trimmingWhitespace() -> String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
