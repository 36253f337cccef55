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
        .executable(name: "kumo", targets: ["kumo"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2")
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
        .executableTarget(
            name: "kumo",
            dependencies: [
                "KumoKV",
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
    ],
    swiftLanguageModes: [.v6]
)
