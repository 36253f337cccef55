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
        .library(name: "AzureStorageBlobs", targets: ["AzureStorageBlobs"]),
        .library(name: "AzureEmulator", targets: ["AzureEmulator"]),
        .library(name: "KumoBackup", targets: ["KumoBackup"]),
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
            name: "AzureCore",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "AzureStorageBlobs",
            dependencies: [
                "AzureCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "KumoBackup",
            dependencies: [
                "KumoKV",
                "AzureCore",
                "AzureStorageBlobs",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "AzureEmulator",
            dependencies: [
                "KumoKV",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
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
                "KumoBackup",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
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
            dependencies: ["AzureCore", "AzureStorageBlobs", "AzureEmulator"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "KumoBackupTests",
            dependencies: ["KumoBackup", "KumoKV", "AzureCore", "AzureStorageBlobs", "AzureEmulator"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "AzureEmulatorTests",
            dependencies: ["AzureEmulator"],
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
