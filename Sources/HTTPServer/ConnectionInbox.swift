import Synchronization

/// Where a connection's work arrives from other threads (responder completions, stream
/// writes): items queue under the connection's only lock, and whoever finds no turn
/// pending schedules one on the connection's event loop. A turn marks itself pending
/// while it runs, so posts made meanwhile ride along in it instead of scheduling another.
final class ConnectionInbox<Item: Sendable>: Sendable {
    private struct State {
        var items: [Item] = []
        /// A turn is running on the loop or scheduled, and will look at `items` before
        /// it ends.
        var turnPending = false
    }

    private let state = Mutex(State())

    /// Queues `item`; true when the caller must schedule a turn.
    func post(_ item: Item) -> Bool {
        state.withLock { state in
            state.items.append(item)
            if state.turnPending { return false }
            state.turnPending = true
            return true
        }
    }

    /// A turn has begun: what is posted until it ends is taken in by it.
    func turnBegan() {
        state.withLock { $0.turnPending = true }
    }

    /// Swaps what is queued into `drained` (which must be empty); false if nothing was.
    /// `endingTurn`: an empty inbox also becomes idle, so the next post schedules a turn.
    func take(into drained: inout [Item], endingTurn: Bool) -> Bool {
        state.withLock { state in
            if state.items.isEmpty {
                if endingTurn { state.turnPending = false }
                return false
            }
            swap(&state.items, &drained)
            return true
        }
    }
}
