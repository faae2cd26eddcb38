// swift-tools-version:6.2
import PackageDescription

// c77_secure_db's daemon (`c77-secure-dbd`) and its client (`c77-secure-dbctl`).
// One concern per target; arrows point one way:
//   executables -> Monitor -> {Postgres, Systemd, MonitorConfig, ControlSocket, DigestLog, HTTPPost}
//   Postgres -> CLibPQ (libpq), Systemd -> CSystemd (libsystemd), HTTPPost -> COpenSSL (libssl)
// The daemon's targets import FoundationEssentials, never Foundation: full Foundation would
// link ICU and libcurl into the daemon and cost it about 13 MB of resident memory.
let package = Package(
    name: "c77-secure-db",
    products: [
        .executable(name: "c77-secure-dbd", targets: ["c77-secure-dbd"]),
        .executable(name: "c77-secure-dbctl", targets: ["c77-secure-dbctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.0.0"),
    ],
    targets: [
        // C libraries PostgreSQL and systemd users already trust.
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),

        // What the daemon's targets would otherwise import full Foundation for: detached threads,
        // child processes, trimming, printf-style numbers, hex, file error texts (`package` API).
        .target(name: "EssentialsSupport"),
        // A small, safe Swift layer over libpq.
        .target(
            name: "Postgres",
            dependencies: ["CLibPQ", "EssentialsSupport", .product(name: "Logging", package: "swift-log")]
        ),
        // HTTP/1.1 POST over TCP or TLS (the webhook sink's transport).
        .target(name: "HTTPPost", dependencies: ["COpenSSL", "EssentialsSupport"]),
        // Starts and stops a throwaway PostgreSQL cluster (tests and `c77-secure-dbd demo`).
        .target(name: "ThrowawayCluster", dependencies: ["EssentialsSupport"]),
        // sd_notify and journald's native protocol.
        .target(
            name: "Systemd",
            dependencies: ["CSystemd", .product(name: "Logging", package: "swift-log")]
        ),
        // INI parsing, durations, cron schedules and the typed, validated configuration.
        .target(name: "MonitorConfig", dependencies: ["EssentialsSupport"]),
        // Newline-delimited JSON over a Unix stream socket: server and client side.
        .target(name: "ControlSocket", dependencies: ["EssentialsSupport"]),
        // Stand-ins for journald and a webhook endpoint that record what they receive
        // (the demo shows them; integration tests assert on them).
        .target(
            name: "LocalReceivers",
            dependencies: ["EssentialsSupport", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // The daemon's signed, append-only log of audit chain heads, and its offline check
        // (shared by the daemon and `c77-secure-dbctl digest verify`).
        .target(
            name: "DigestLog",
            dependencies: ["EssentialsSupport", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // Scheduler, jobs, alert pipeline and sinks, status model.
        .target(
            name: "Monitor",
            dependencies: [
                "Postgres", "Systemd", "MonitorConfig", "ControlSocket", "DigestLog", "HTTPPost", "EssentialsSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "c77-secure-dbd",
            dependencies: [
                "Monitor", "MonitorConfig", "ThrowawayCluster", "EssentialsSupport", "Systemd", "ControlSocket", "Postgres", "LocalReceivers",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "c77-secure-dbctl",
            dependencies: [
                "ControlSocket", "DigestLog",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        .testTarget(name: "PostgresTests", dependencies: ["Postgres", "ThrowawayCluster"]),
        .testTarget(name: "MonitorConfigTests", dependencies: ["MonitorConfig"]),
        .testTarget(name: "SystemdTests", dependencies: ["Systemd", "LocalReceivers"]),
        .testTarget(name: "ControlSocketTests", dependencies: ["ControlSocket"]),
        .testTarget(name: "DigestLogTests", dependencies: ["DigestLog"]),
        .testTarget(name: "HTTPPostTests", dependencies: ["HTTPPost", "LocalReceivers"]),
        .testTarget(name: "MonitorTests", dependencies: ["Monitor", "Postgres", "ThrowawayCluster", "MonitorConfig", "ControlSocket", "DigestLog"]),
        .testTarget(name: "DaemonTests", dependencies: ["ThrowawayCluster", "Postgres", "ControlSocket", "LocalReceivers", "DigestLog"]),
    ],
    swiftLanguageModes: [.v6]
)
