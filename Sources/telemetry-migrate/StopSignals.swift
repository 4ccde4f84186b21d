import Dispatch
import Foundation
import Logging
import Migration

/// SIGTERM (systemd's stop, Kubernetes' pod deletion) and SIGINT (Ctrl-C) during a run ask it
/// to stop (`StopRequest`): the dump in progress is rolled back, and the run ends with its
/// report and metrics, exit 1. A repeated signal changes nothing (systemd signals the whole
/// group and `jobs/nightly` forwards it too); SIGKILL, systemd's after `TimeoutStopSec`,
/// still ends the process at once, and is safe.
final class StopSignals {
    private var sources: [DispatchSourceSignal] = []

    init(_ stop: StopRequest, logger: Logger) {
        for (number, name) in [(SIGTERM, "SIGTERM"), (SIGINT, "SIGINT")] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                guard stop.reason == nil else { return }
                logger.warning("stop requested: the dump in progress is rolled back, then the run reports and exits",
                               metadata: ["signal": "\(name)"])
                stop.request(name)
            }
            source.resume()
            sources.append(source)
        }
    }

    /// Back to the default actions, once the run is over.
    func remove() {
        for source in sources { source.cancel() }
        signal(SIGTERM, SIG_DFL)
        signal(SIGINT, SIG_DFL)
    }
}
