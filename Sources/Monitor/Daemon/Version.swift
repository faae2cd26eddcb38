/// The daemon's version, shown by `--version`, `status` and `version`.
public enum MonitorVersion {
    public static let current = "2.0.0"
}
