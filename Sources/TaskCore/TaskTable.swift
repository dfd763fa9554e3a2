/// The store's tasks: a guid index over numbered slots, the slots held in fixed-size
/// chunks.
///
/// Why chunks: a compaction (and a backup) takes a copy of every task under the store lock
/// and writes it out afterwards. When the tasks were one dictionary, the first write after
/// such a copy found the dictionary shared and copied all of it under the lock: about a
/// second at 1,000,000 tasks, during which every request waited. Here the copy
/// (`Snapshot`) shares the chunks, and a later write copies only the chunk it touches
/// (copy-on-write of one `ContiguousArray` of `chunkSize` entries, tens of microseconds).
/// The guid index is never handed out, so it is never shared and never copied.
///
/// A task keeps its slot for its whole life (an update writes in place), so the store's
/// secondary indexes (domain, cell) can hold slots: small integers that hash quickly,
/// instead of guids that would each be hashed and looked up again. A removed task's slot
/// is reused by a later insert.
struct TaskTable: Sendable {
    typealias Slot = Int32

    /// Entries per chunk: a shared chunk costs one copy of this many entries (about 200
    /// bytes each) at the next write to it.
    static let chunkShift = 10
    static let chunkSize = 1 << chunkShift
    private static let chunkMask = chunkSize - 1

    private var chunks: [ContiguousArray<TaskStore.Entry>] = []
    /// The guid index, split by the guid's hash into `indexShards` dictionaries. Why: a
    /// Swift dictionary grows by rehashing every key at once, under the store lock; one
    /// index of 786,432 guids growing stalled a desire for about 200 ms. A shard holds a
    /// 64th of them, so each growth rehashes that much.
    private var index = GuidIndex()
    /// Slots freed by removals, reused before new ones.
    private var free: [Slot] = []
    /// Slots ever handed out (the high-water mark); slots below it not in `free` are used.
    private var end = 0

    /// What an unused slot holds. Why not `Entry?`: reading an optional out of a chunk
    /// copies the entry (retaining its strings and arrays) to unwrap it, which cost a list
    /// a third of its time; a plain entry can be read where it lies.
    static let vacant = TaskStore.Entry(
        record: TaskRecord(guid: "", domain: "", definition: StoredDefinition(bytes: [], completionCallbackURL: "")),
        sequence: UInt64.max)

    init() {}

    /// The number of tasks.
    var count: Int { index.count }

    /// Makes room for `count` tasks in all, so that loading them does not rehash.
    mutating func reserveCapacity(_ count: Int) {
        index.reserveCapacity(count)
        chunks.reserveCapacity((count + Self.chunkMask) >> Self.chunkShift)
    }

    // MARK: - Lookup

    func slot(of guid: String) -> Slot? { index[guid] }

    subscript(guid: String) -> TaskStore.Entry? {
        guard let slot = index[guid] else { return nil }
        return self[slot]
    }

    /// The entry in a slot that `slot(of:)` or an index returned (nil once freed).
    subscript(slot: Slot) -> TaskStore.Entry? {
        let slot = Int(slot)
        let entry = chunks[slot >> Self.chunkShift][slot & Self.chunkMask]
        return entry.isVacant ? nil : entry
    }

    // MARK: - Changes

    /// Stores `entry` under its guid: in place over the task of that guid (returned with
    /// the slot) or in a new slot.
    @discardableResult
    mutating func put(_ entry: TaskStore.Entry) -> (slot: Slot, replaced: TaskStore.Entry?) {
        if let slot = index[entry.record.guid] {
            let replaced = self[slot]
            set(slot, entry)
            return (slot, replaced)
        }
        let slot: Slot
        if let reused = free.popLast() {
            slot = reused
        } else {
            if end & Self.chunkMask == 0 {
                chunks.append(ContiguousArray(repeating: Self.vacant, count: Self.chunkSize))
            }
            slot = Slot(end)
            end += 1
        }
        index.insert(entry.record.guid, slot)
        set(slot, entry)
        return (slot, nil)
    }

    /// Replaces the entry in a used slot (the guid must stay the same).
    mutating func replace(at slot: Slot, with entry: TaskStore.Entry) {
        set(slot, entry)
    }

    /// Removes the task `guid`; returns its slot and entry, or nil if there is none.
    @discardableResult
    mutating func remove(guid: String) -> (slot: Slot, entry: TaskStore.Entry)? {
        guard let slot = index.remove(guid), let entry = self[slot] else { return nil }
        set(slot, Self.vacant)
        free.append(slot)
        return (slot, entry)
    }

    /// Writes through the chunk array in place: the outer array and the chunk are each
    /// copied only if a `Snapshot` still shares them.
    private mutating func set(_ slot: Slot, _ entry: TaskStore.Entry) {
        let slot = Int(slot)
        chunks[slot >> Self.chunkShift][slot & Self.chunkMask] = entry
    }

    // MARK: - Copies

    /// Every entry as of now, in O(number of chunks): the chunks are shared until the
    /// table next writes to each of them.
    var snapshot: Snapshot { Snapshot(chunks: chunks, count: count) }

    /// A read-only copy of the table's entries (no guid index), safe to read on any thread
    /// while the table goes on changing.
    struct Snapshot: Sendable, Sequence {
        fileprivate let chunks: [ContiguousArray<TaskStore.Entry>]
        /// The number of entries.
        let count: Int

        init() {
            chunks = []
            count = 0
        }

        fileprivate init(chunks: [ContiguousArray<TaskStore.Entry>], count: Int) {
            self.chunks = chunks
            self.count = count
        }

        subscript(slot: Slot) -> TaskStore.Entry? {
            let slot = Int(slot)
            let entry = chunks[slot >> TaskTable.chunkShift][slot & TaskTable.chunkMask]
            return entry.isVacant ? nil : entry
        }

        var underestimatedCount: Int { count }

        /// Calls `body` with the entry of each slot of `slots` still used in this copy,
        /// reading it where it lies in its chunk (no copy of the entry, so no retain of
        /// its strings and arrays: a list of 100,000 tasks spent a third of its time on
        /// those).
        func forEachEntry(in slots: some Sequence<Slot>, _ body: (borrowing TaskStore.Entry) -> Void) {
            for slot in slots {
                let slot = Int(slot)
                chunks[slot >> TaskTable.chunkShift].withUnsafeBufferPointer { chunk in
                    Self.visit(chunk, slot & TaskTable.chunkMask, body)
                }
            }
        }

        /// Calls `body` with every entry, in slot order, without copying them.
        func forEachEntry(_ body: (borrowing TaskStore.Entry) -> Void) {
            for chunk in chunks {
                chunk.withUnsafeBufferPointer { chunk in
                    for index in chunk.indices { Self.visit(chunk, index, body) }
                }
            }
        }

        /// Calls `body` with a pointer to the entry of each used slot of `slots` (every used
        /// slot, in order, for nil). The pointer is valid only during the call. Why
        /// pointers: the tightest loop (encoding a list) then reads the fields it needs
        /// in place, without the copy, and the retain of every string and array, that
        /// passing an entry by value costs.
        func withEntryPointers(in slots: [Slot]?, _ body: (UnsafePointer<TaskStore.Entry>) -> Void) {
            if let slots {
                for slot in slots {
                    let slot = Int(slot)
                    chunks[slot >> TaskTable.chunkShift].withUnsafeBufferPointer { chunk in
                        let entry = chunk.baseAddress! + (slot & TaskTable.chunkMask)
                        if !entry.pointee.isVacant { body(entry) }
                    }
                }
            } else {
                for chunk in chunks {
                    chunk.withUnsafeBufferPointer { chunk in
                        for index in chunk.indices {
                            let entry = chunk.baseAddress! + index
                            if !entry.pointee.isVacant { body(entry) }
                        }
                    }
                }
            }
        }

        @inline(__always)
        private static func visit(_ chunk: UnsafeBufferPointer<TaskStore.Entry>, _ index: Int,
                                  _ body: (borrowing TaskStore.Entry) -> Void) {
            if !chunk[index].isVacant { body(chunk[index]) }
        }

        func makeIterator() -> Iterator { Iterator(chunks: chunks) }

        /// The used slots' entries, in slot order.
        struct Iterator: IteratorProtocol {
            fileprivate let chunks: [ContiguousArray<TaskStore.Entry>]
            private var chunk = 0
            private var index = 0

            fileprivate init(chunks: [ContiguousArray<TaskStore.Entry>]) { self.chunks = chunks }

            mutating func next() -> TaskStore.Entry? {
                while chunk < chunks.count {
                    if index == TaskTable.chunkSize {
                        chunk += 1
                        index = 0
                        continue
                    }
                    let entry = chunks[chunk][index]
                    index += 1
                    if !entry.isVacant { return entry }
                }
                return nil
            }
        }
    }

    /// Each used slot with its entry, in slot order (read in place, not copied).
    func forEachSlot(_ body: (Slot, borrowing TaskStore.Entry) throws -> Void) rethrows {
        for chunkIndex in chunks.indices {
            let base = chunkIndex << Self.chunkShift
            try chunks[chunkIndex].withUnsafeBufferPointer { chunk in
                for index in chunk.indices where !chunk[index].isVacant {
                    try body(Slot(base + index), chunk[index])
                }
            }
        }
    }
}

/// Guid → slot, in `shardCount` dictionaries chosen by the guid's hash (see
/// `TaskTable.index`).
struct GuidIndex: Sendable {
    static let shardCount = 64
    private var shards = [[String: TaskTable.Slot]](repeating: [:], count: shardCount)
    private(set) var count = 0

    @inline(__always)
    private static func shard(_ guid: String) -> Int { guid.hashValue & (shardCount - 1) }

    mutating func reserveCapacity(_ total: Int) {
        // A little over an even share: hashes do not split exactly evenly.
        let each = total / Self.shardCount + total / (Self.shardCount * 8) + 16
        for shard in shards.indices { shards[shard].reserveCapacity(each) }
    }

    subscript(guid: String) -> TaskTable.Slot? { shards[Self.shard(guid)][guid] }

    /// Adds `guid`, which must not be in the index.
    mutating func insert(_ guid: String, _ slot: TaskTable.Slot) {
        shards[Self.shard(guid)][guid] = slot
        count += 1
    }

    mutating func remove(_ guid: String) -> TaskTable.Slot? {
        guard let slot = shards[Self.shard(guid)].removeValue(forKey: guid) else { return nil }
        count -= 1
        return slot
    }
}

extension TaskStore.Entry {
    /// Whether this is `TaskTable.vacant` (no journal sequence reaches `UInt64.max`).
    var isVacant: Bool { sequence == UInt64.max }
}
