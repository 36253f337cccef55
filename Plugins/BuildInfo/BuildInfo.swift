import Foundation
import PackagePlugin

/// Records, at build time, the git commit the sources were built from and the RocksDB version of the headers
/// compiled against, as `BuildInfo.commit` and `BuildInfo.rocksDBHeaders`.
///
/// A prebuild command runs before every build, so the values cannot drift from the tree being compiled the
/// way a checked-in or hand-edited constant would; the file is rewritten only when a value changed, so an
/// unchanged commit costs no recompilation. Without git or outside a git checkout (a source tarball) the
/// commit is "unknown" rather than a parent repository's commit.
@main
struct BuildInfoPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let directory = context.pluginWorkDirectoryURL.appending(path: "BuildInfo")
        return [
            .prebuildCommand(
                displayName: "Recording the git commit and RocksDB headers \(target.name) is built from",
                executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: [
                    "-c", script, "build-info", context.package.directoryURL.path,
                    directory.appending(path: "BuildInfo.swift").path,
                ],
                outputFilesDirectory: directory)
        ]
    }

    // GIT_OPTIONAL_LOCKS=0: git must not write the index (the build may be sandboxed, and another git
    // command may be running in the same checkout). Values are reduced to safe characters before they
    // become Swift string literals.
    private var script: String {
        #"""
        set -u
        package="$1"; output="$2"
        export GIT_OPTIONAL_LOCKS=0
        commit=unknown
        if [ -e "$package/.git" ] && command -v git >/dev/null 2>&1; then
            if hash=$(git -C "$package" rev-parse --short=12 HEAD 2>/dev/null); then
                commit=$hash
                git -C "$package" diff --quiet HEAD -- 2>/dev/null || commit="$commit-dirty"
            fi
        fi
        headers=unknown
        if command -v pkg-config >/dev/null 2>&1; then
            headers=$(pkg-config --modversion rocksdb 2>/dev/null) || headers=unknown
        fi
        commit=$(printf '%s' "$commit" | tr -cd 'A-Za-z0-9._-')
        headers=$(printf '%s' "$headers" | tr -cd 'A-Za-z0-9._-')
        mkdir -p "$(dirname "$output")"
        temporary="$output.$$"
        cat > "$temporary" <<SWIFT
        // Written by the BuildInfo plugin (Plugins/BuildInfo) before every build.
        enum BuildInfo {
            static let commit = "${commit:-unknown}"
            static let rocksDBHeaders = "${headers:-unknown}"
        }
        SWIFT
        if cmp -s "$temporary" "$output"; then rm -f "$temporary"; else mv -f "$temporary" "$output"; fi
        """#
    }
}
