import Foundation
import FunnelRuntime
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A child OS process that cannot outlive its parent.
///
/// The command runs under a small `sh` watchdog that stops it (SIGTERM) when the parent
/// process disappears, even if the parent is killed with SIGKILL or a test crashes, so no
/// broker or service is left running. ``terminate()`` stops the child gracefully.
///
/// Spawned with `posix_spawn` and an empty signal mask: threads of the Swift runtime block
/// signals, and a child inheriting that mask would ignore SIGTERM.
public final class ChildProcess: Sendable {
    public let name: String
    /// The watchdog's process id (signals sent to it reach the command).
    public let pid: pid_t
    private let exit = ExitState()

    /// Watchdog: runs "$@" in the background and exits with it; stops it on TERM/INT or when
    /// the parent $1 is gone (this shell was re-parented: a dead parent may linger as a zombie).
    private static let watchdog = """
        parent=$1; shift
        "$@" &
        child=$!
        trap 'kill -TERM $child 2>/dev/null; wait $child; exit $?' TERM INT
        alive() { read -r _ _ _ ppid _ < /proc/$$/stat && [ "$ppid" = "$parent" ]; }
        while alive && kill -0 $child 2>/dev/null; do sleep 0.5 & wait $!; done
        kill -TERM $child 2>/dev/null
        wait $child
        """

    public struct SpawnError: Error, CustomStringConvertible {
        public let command: String
        public let errno: Int32
        public var description: String { "cannot start \(command): \(String(cString: strerror(errno)))" }
    }

    /// Starts `executable` with `arguments`. Output goes to `outputPath` (appended) or is discarded.
    public init(name: String, executable: String, arguments: [String], environment: [String: String]? = nil,
                outputPath: String? = nil) throws {
        self.name = name
        let argv = ["/bin/sh", "-c", Self.watchdog, "funnel-watchdog", String(getpid()), executable] + arguments
        let env = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath ?? "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        // A process group of its own: Ctrl-C in a terminal signals the foreground group, and the
        // children must not all get it at once (the broker would die before the services'
        // graceful shutdown has delivered and committed). The parent stops them, in order.
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        var pid: pid_t = 0
        let result = withCStrings(argv) { cArgv in
            withCStrings(env) { cEnv in posix_spawn(&pid, "/bin/sh", &actions, &attributes, cArgv, cEnv) }
        }
        guard result == 0 else { throw SpawnError(command: executable, errno: result) }
        self.pid = pid

        // Reap it on a plain thread (waitpid blocks; never on the cooperative pool).
        let exit = self.exit, child = pid
        Thread.detachNewThread {
            var status: Int32 = 0
            while waitpid(child, &status, 0) < 0 && errno == EINTR {}
            let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
            exit.finish(code)
        }
    }

    public var isRunning: Bool { exit.status == nil }

    /// The command's own process id (the watchdog's child), for signals that must not go
    /// through the watchdog, such as SIGKILL in crash tests.
    public var commandPID: pid_t? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8) else { return nil }
        return text.split(separator: " ").compactMap { pid_t($0) }.first { candidate in
            // Skip the watchdog's `sleep`.
            let comm = (try? String(contentsOfFile: "/proc/\(candidate)/comm", encoding: .utf8)) ?? ""
            return !comm.hasPrefix("sleep")
        }
    }

    /// Sends `signal` to the watchdog (SIGTERM/SIGINT are passed on to the command).
    public func signal(_ signal: Int32) {
        if isRunning { kill(pid, signal) }
    }

    /// How long ``terminate(grace:)`` waits after SIGTERM before it kills (compose's
    /// `stop_grace_period`).
    public static let stopGrace: Duration = .seconds(30)

    /// Asks the child to stop (SIGTERM) and waits until it exited; returns its exit status. A
    /// child still running after `grace` (or when the waiting task is cancelled) is killed
    /// (SIGKILL to the command and its watchdog), as `docker stop` does, and says so on stderr:
    /// a process that hangs in its shutdown must not hang whoever stops it.
    @discardableResult
    public func terminate(grace: Duration = ChildProcess.stopGrace) async -> Int32 {
        signal(SIGTERM)
        let deadline = ContinuousClock.now + grace
        while isRunning, ContinuousClock.now < deadline {
            do { try await Task.sleep(for: .milliseconds(50)) } catch { break } // cancelled: kill now
        }
        if isRunning {
            FileHandle.standardError.write(Data("[funnel] \(name) did not stop within \(grace) of SIGTERM; killing it\n".utf8))
            if let command = commandPID { kill(command, SIGKILL) }
            kill(pid, SIGKILL)
        }
        return await waitUntilExit()
    }

    /// Waits for the child to exit; returns its exit status (128 + signal if killed).
    @discardableResult
    public func waitUntilExit() async -> Int32 {
        await exit.wait()
    }
}

private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for p in pointers { free(p) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// The exit status of a child and the tasks waiting for it.
private final class ExitState: Sendable {
    private struct State {
        var status: Int32?
        var waiters: [CheckedContinuation<Int32, Never>] = []
    }
    private let state = Mutex(State())

    var status: Int32? { state.withLock { $0.status } }

    func finish(_ code: Int32) {
        let waiters = state.withLock { s -> [CheckedContinuation<Int32, Never>] in
            s.status = code
            defer { s.waiters.removeAll() }
            return s.waiters
        }
        for waiter in waiters { waiter.resume(returning: code) }
    }

    func wait() async -> Int32 {
        await withCheckedContinuation { continuation in
            let done: Int32? = state.withLock { s in
                if let status = s.status { return status }
                s.waiters.append(continuation)
                return nil
            }
            if let done { continuation.resume(returning: done) }
        }
    }
}
