// swift-tools-version:6.1
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "Kumo",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "KumoKV", targets: ["KumoKV"]),
        .library(name: "AzureCore", targets: ["AzureCore"]),
        .library(name: "AzureIdentity", targets: ["AzureIdentity"]),
        .library(name: "AzureStorageBlobs", targets: ["AzureStorageBlobs"]),
        .library(name: "AzureSecurityKeyVault", targets: ["AzureSecurityKeyVault"]),
        .library(name: "AzureEmulator", targets: ["AzureEmulator"]),
        .library(name: "KumoBackup", targets: ["KumoBackup"]),
        .library(name: "AMQP", targets: ["AMQP"]),
        .library(name: "AzureMessagingEventHubs", targets: ["AzureMessagingEventHubs"]),
        .library(name: "KumoChangeFeed", targets: ["KumoChangeFeed"]),
        .executable(name: "kumo", targets: ["kumo"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CRocksDB",
            pkgConfig: "rocksdb",
            providers: [.apt(["librocksdb-dev"]), .brew(["rocksdb"])]
        ),
        .target(
            name: "KumoKV",
            dependencies: ["CRocksDB"],
            swiftSettings: strictSettings
        ),
        .target(
            name: "AzureChecksums",
            swiftSettings: strictSettings
        ),
        .target(
            name: "AzureCore",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "AzureIdentity",
            dependencies: [
                "AzureCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "AzureSecurityKeyVault",
            dependencies: [
                "AzureCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "AzureStorageBlobs",
            dependencies: [
                "AzureChecksums",
                "AzureCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "AMQP",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "AzureMessagingEventHubs",
            dependencies: [
                "AMQP",
                "AzureCore",
                "AzureStorageBlobs",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "KumoChangeFeed",
            dependencies: [
                "KumoKV", "AzureCore", "AzureStorageBlobs", "AzureMessagingEventHubs", "AMQP",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "KumoBackup",
            dependencies: [
                "KumoKV",
                "AzureCore",
                "AzureStorageBlobs",
                "AzureSecurityKeyVault",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "AzureEmulator",
            dependencies: [
                "AzureChecksums",
                "KumoKV",
                "AMQP",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "kumo",
            dependencies: [
                "KumoKV",
                "AzureCore",
                "AzureStorageBlobs",
                "AzureEmulator",
                "AzureIdentity",
                "AzureSecurityKeyVault",
                "AzureMessagingEventHubs",
                "KumoBackup",
                "KumoChangeFeed",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings,
            plugins: ["BuildInfo"]
        ),
        // The git commit and RocksDB headers `kumo --version` reports, recorded at every build.
        .plugin(name: "BuildInfo", capability: .buildTool()),
        .executableTarget(
            name: "kumo-backup-fuzzer",
            dependencies: ["KumoBackup"],
            path: "Fuzz/KumoBackupFuzzer",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "kumo-amqp-fuzzer",
            dependencies: ["AMQP", .product(name: "NIOCore", package: "swift-nio")],
            path: "Fuzz/AMQPFuzzer",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "kumo-eventhubs-bench",
            dependencies: ["AzureMessagingEventHubs", "AMQP"],
            path: "Benchmarks/EventHubsBenchmark",
            exclude: ["python_peer.py"],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "kumo-changefeed-bench",
            dependencies: ["KumoChangeFeed", "KumoKV", "AzureMessagingEventHubs"],
            path: "Benchmarks/ChangeFeedBenchmark",
            exclude: ["python_peer.py"],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "kumo-checksum-bench",
            dependencies: ["AzureChecksums", .product(name: "Crypto", package: "swift-crypto")],
            path: "Benchmarks/ChecksumBenchmark",
            exclude: ["python_peer.py"],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "kumo-kv-bench",
            dependencies: ["KumoKV"],
            path: "Benchmarks/KumoKVBenchmark",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "KumoKVTests",
            dependencies: ["KumoKV", "CRocksDB"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "AzureStorageBlobsTests",
            dependencies: ["EmulatorTestSupport", 
                "AzureCore", "AzureStorageBlobs", "AzureEmulator", .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "EmulatorTestSupport",
            dependencies: ["AzureEmulator"],
            path: "Tests/EmulatorTestSupport",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "AzureIdentityTests",
            dependencies: ["EmulatorTestSupport", 
                "AzureIdentity", "AzureCore", "AzureEmulator", "AzureStorageBlobs",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "AzureSecurityKeyVaultTests",
            dependencies: ["EmulatorTestSupport", 
                "AzureSecurityKeyVault", "AzureIdentity", "AzureCore", "AzureEmulator",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "KumoBackupTests",
            dependencies: ["EmulatorTestSupport", 
                "KumoBackup", "KumoKV", "AzureCore", "AzureStorageBlobs", "AzureEmulator", "AzureIdentity",
                "AzureSecurityKeyVault",
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "AMQPTests",
            dependencies: [
                "AMQP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            exclude: ["Peers"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "AzureMessagingEventHubsTests",
            dependencies: [
                "EmulatorTestSupport",
                "AMQP", "AzureMessagingEventHubs", "AzureCore", "AzureStorageBlobs", "AzureIdentity", "AzureEmulator",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "KumoChangeFeedTests",
            dependencies: [
                "EmulatorTestSupport",
                "KumoChangeFeed", "KumoKV", "AMQP", "AzureMessagingEventHubs", "AzureCore", "AzureStorageBlobs",
                "AzureEmulator",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["Peers"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "AzureEmulatorTests",
            dependencies: [
                "AzureChecksums",
                "AzureEmulator",
                "AMQP",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
