import Foundation
import FunnelRuntime

/// Waits for SIGINT or SIGTERM (Ctrl-C, `kill`, docker stop).
public enum ShutdownSignal {
    /// Returns the signal number once one of `signals` arrives.
    public static func wait(for signals: [Int32] = [SIGINT, SIGTERM]) async -> Int32 {
        let sources = Locked<[DispatchSourceSignal]>([])
        return await withCheckedContinuation { continuation in
            let once = Locked(false)
            for sig in signals {
                signal(sig, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                source.setEventHandler {
                    if once.withLock({ fired in defer { fired = true }; return !fired }) {
                        sources.withLock { for s in $0 { s.cancel() } }
                        continuation.resume(returning: sig)
                    }
                }
                source.resume()
                sources.withLock { $0.append(source) }
            }
        }
    }
}

