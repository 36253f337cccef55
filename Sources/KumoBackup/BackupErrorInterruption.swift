import Foundation
import Synchronization

// MARK: What an interrupted operation says

/// What an operation had done when it was interrupted, in the words of the ``BackupError`` `.interrupted` it
/// ends with: what was done, what was not, what was cleaned up and what was left, in that order.
final class InterruptionLedger: Sendable {
    private let notes = Mutex<[String]>([])

    func note(_ text: String) {
        notes.withLock { $0.append(text) }
    }

    var error: BackupError {
        let notes = notes.withLock { $0 }
        return BackupError(.interrupted, "interrupted: " + (notes.isEmpty ? "stopped before anything was changed" : notes.joined(separator: "; ")))
    }
}

/// Counts the units of an operation's work (files, objects, manifests) as they finish, so an interrupted one can
/// say how far it got.
final class WorkTally: Sendable {
    struct Count: Sendable {
        var done = 0
        var doneBytes: Int64 = 0
        var total = 0
        var totalBytes: Int64 = 0
        var started = false
    }

    private let count = Mutex(Count())

    func begin(total: Int, bytes: Int64 = 0) {
        count.withLock { $0 = Count(total: total, totalBytes: bytes, started: true) }
    }

    /// Counts one finished unit of `size` bytes; returns the files and bytes done so far.
    @discardableResult
    func add(_ size: Int64 = 0) -> (Int, Int64) {
        count.withLock { count in
            count.done += 1
            count.doneBytes += size
            return (count.done, count.doneBytes)
        }
    }

    var current: Count { count.withLock { $0 } }

    /// `12 of 30 files (84.0 MiB of 143.0 MiB)`.
    func text(_ noun: String) -> String {
        let count = current
        var text = "\(count.done) of \(count.total) \(noun)\(count.total == 1 ? "" : "s")"
        if count.totalBytes > 0 { text += " (\(byteText(count.doneBytes)) of \(byteText(count.totalBytes)))" }
        return text
    }
}

/// `84.0 MiB`: sizes in messages people read.
func byteText(_ bytes: Int64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
}

extension BackupEngine {
    /// Runs `body`; when the calling task was cancelled, any error it ends with becomes a ``BackupError``
    /// `.interrupted` whose message is `ledger`'s account (the error a cancelled transfer throws says only that
    /// a request was cancelled).
    func interruptible<T>(_ ledger: InterruptionLedger, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            guard Task.isCancelled else { throw error }
            throw ledger.error
        }
    }

    /// The longest an interrupted operation waits for the lock's release once its work has stopped: the blob
    /// lease expires by itself 15 seconds after its last renewal, so waiting longer gains nothing.
    static let interruptedReleaseBound: Duration = .seconds(15)

    /// Runs `body` holding the target's lock, so that cancelling the caller stops `body` (its transfers) but not
    /// the lock's release.
    ///
    /// A blob lease is released by an HTTP request, and a request made from a cancelled task fails before it is
    /// sent: released from the cancelled task, the lease would keep the next backup waiting for up to its 15
    /// seconds. So the lock is taken and released in a task of its own that the caller's cancellation does not
    /// reach once the lock is held; only `body`'s task is cancelled, and the release gets up to
    /// ``interruptedReleaseBound`` after `body` has stopped. A cancellation that arrives while the lock is still
    /// being waited for stops the wait.
    func withTargetLock<T: Sendable>(
        _ ledger: InterruptionLedger, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let target = self.target
        let control = LockedOperation<T>()
        let locking = Task {
            try await target.withLock(Self.lockPath) { try await control.runHoldingLock(body) }
        }
        control.setLocking(locking)
        let result = await withTaskCancellationHandler {
            await locking.result
        } onCancel: {
            control.cancel()
        }
        let outcome = control.finish()
        if outcome.cancelled {
            if !outcome.lockWasHeld {
                ledger.note("stopped while waiting for the lock on \(target.description)")
            } else if outcome.releaseCutShort {
                ledger.note("the lock on \(target.description) was not released in time; it expires by itself within 15 seconds")
            } else {
                ledger.note("released the lock on \(target.description)")
            }
        }
        return try result.get()
    }
}

/// The tasks of one operation run under a target's lock (see ``BackupEngine/withTargetLock(_:_:)``).
final class LockedOperation<T: Sendable>: Sendable {
    private struct State {
        var cancelled = false
        var locking: Task<T, any Error>?
        var operation: Task<T, any Error>?
        var releaseBound: Task<Void, Never>?
        var releaseCutShort = false
    }

    private let state = Mutex(State())

    func setLocking(_ locking: Task<T, any Error>) {
        let cancelNow = state.withLock { state in
            state.locking = locking
            return state.cancelled && state.operation == nil
        }
        if cancelNow { locking.cancel() }
    }

    /// Runs `body` in a task of its own, which ``cancel()`` (and the lock's loss, through this task) cancels.
    func runHoldingLock(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let operation = Task { try await body() }
        let cancelNow = state.withLock { state in
            state.operation = operation
            return state.cancelled
        }
        if cancelNow { operation.cancel() }
        let result = await withTaskCancellationHandler {
            await operation.result
        } onCancel: {
            operation.cancel()
        }
        startReleaseBound()
        return try result.get()
    }

    /// Stops the operation: its task once the lock is held, the wait for the lock before that.
    func cancel() {
        let (operation, locking) = state.withLock { state in
            state.cancelled = true
            return (state.operation, state.locking)
        }
        if let operation { operation.cancel() } else { locking?.cancel() }
    }

    /// After a cancelled operation stops, the lock's release is given a bounded time before it is cancelled too.
    private func startReleaseBound() {
        state.withLock { state in
            guard state.cancelled, state.releaseBound == nil, let locking = state.locking else { return }
            state.releaseBound = Task { [weak self] in
                guard (try? await Task.sleep(for: BackupEngine.interruptedReleaseBound)) != nil else { return }
                self?.state.withLock { $0.releaseCutShort = true }
                locking.cancel()
            }
        }
    }

    func finish() -> (cancelled: Bool, lockWasHeld: Bool, releaseCutShort: Bool) {
        let (outcome, bound) = state.withLock { state in
            ((state.cancelled, state.operation != nil, state.releaseCutShort), state.releaseBound)
        }
        bound?.cancel()
        return outcome
    }
}

// MARK: Leftovers of earlier runs

/// A directory that a run which did not finish (killed, crashed, power lost) left behind, removed by a later
/// operation before it started.
public struct RemovedLeftover: Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// A backup's checkpoint beside its store (`<store>.kumo-backup-<id>`).
        case checkpoint
        /// A restore's private staging directory (`.kumo-restore-<random>`), which may hold decrypted data.
        case restoreStaging
    }

    public var kind: Kind
    public var path: String
    /// What the directory held, in bytes.
    public var bytes: Int64

    public var description: String {
        switch kind {
        case .checkpoint: "removed \(path) (\(byteText(bytes))), the checkpoint of a backup that did not finish"
        case .restoreStaging: "removed \(path) (\(byteText(bytes))), the staging directory of a restore that did not finish"
        }
    }
}

/// The process-wide listener for removed leftovers (see ``BackupEngine/leftoverRemoved``).
private let leftoverListener = Mutex<(@Sendable (RemovedLeftover) -> Void)?>(nil)

extension BackupEngine {
    /// Told of each leftover of an earlier run that an operation removes before it starts: checkpoint directories
    /// beside the store (create, repair) and restore staging directories (restore, verify `deep`, repair). `kumo`
    /// prints each on standard error. Process-wide, because leftovers belong to the machine, not to one task.
    public static var leftoverRemoved: (@Sendable (RemovedLeftover) -> Void)? {
        get { leftoverListener.withLock { $0 } }
        set { leftoverListener.withLock { $0 = newValue } }
    }

    /// Removes the directory at `path`, left by a run that did not finish, and tells ``leftoverRemoved``.
    /// Returns whether it is gone.
    @discardableResult
    static func removeLeftover(_ path: String, kind: RemovedLeftover.Kind) -> Bool {
        let bytes = treeSize(path)
        do {
            try FileManager.default.removeItem(atPath: path)
        } catch {
            return false
        }
        leftoverRemoved?(RemovedLeftover(kind: kind, path: path, bytes: bytes))
        return true
    }

    /// The bytes of the regular files under `path`.
    static func treeSize(_ path: String) -> Int64 {
        var total: Int64 = 0
        guard let enumerator = FileManager.default.enumerator(atPath: path) else { return 0 }
        for case let name as String in enumerator {
            if let attributes = enumerator.fileAttributes, attributes[.type] as? FileAttributeType == .typeRegular {
                total += (attributes[.size] as? NSNumber)?.int64Value ?? 0
            }
            _ = name
        }
        return total
    }
}
