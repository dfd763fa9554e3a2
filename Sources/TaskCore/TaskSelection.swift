/// The tasks a list asked for, as of one moment: a shared copy of the store's table
/// (`TaskTable.Snapshot`) and the slots of the index that answers the filter, read without
/// the store's lock.
public struct TaskSelection: Sendable, Sequence {
    let tasks: TaskTable.Snapshot
    /// The candidates (from the domain or cell index); nil: every task.
    let slots: SlotSet?
    let domain: String
    let cellId: String

    /// Calls `body` with each selected task, in slot order (JSON answers, old revisions).
    public func forEachRecord(_ body: (borrowing TaskRecord) -> Void) {
        let domain = domain, cellId = cellId
        func visit(_ entry: borrowing TaskStore.Entry) {
            if !domain.isEmpty && entry.record.domain != domain { return }
            if !cellId.isEmpty && entry.record.cellId != cellId { return }
            body(entry.record)
        }
        if let slots {
            // In slot order, not the set's hash order: neighbouring slots share chunks,
            // and their strings and arrays were mostly allocated one after another, so
            // the reads run through memory forwards instead of jumping about.
            tasks.forEachEntry(in: Self.ascending(slots), visit)
        } else {
            tasks.forEachEntry(visit)
        }
    }

    /// `slots` in ascending order, through a bitmap: linear, where sorting 100,000 slots
    /// took 8% of a list.
    private static func ascending(_ slots: SlotSet) -> [TaskTable.Slot] {
        guard let highest = slots.max() else { return [] }
        var bitmap = [UInt64](repeating: 0, count: Int(highest) / 64 + 1)
        for slot in slots { bitmap[Int(slot) >> 6] |= 1 << UInt64(slot & 63) }
        var ordered: [TaskTable.Slot] = []
        ordered.reserveCapacity(slots.count)
        for (index, word) in bitmap.enumerated() {
            var bits = word
            while bits != 0 {
                ordered.append(TaskTable.Slot(index << 6 + bits.trailingZeroBitCount))
                bits &= bits - 1
            }
        }
        return ordered
    }

    /// Every selected task as the sub-message `field` (1...15) of a message, one after
    /// another (`TasksResponse.tasks` is field 2), as `TaskRecord.writeTaskField`
    /// writes them, sized first and written into one buffer of exactly that size.
    public func encodedAsField(_ field: Int) -> [UInt8] {
        let ordered = slots.map(Self.ascending)
        let domain = domain, cellId = cellId
        @inline(__always)
        func selected(_ entry: UnsafePointer<TaskStore.Entry>) -> Bool {
            (domain.isEmpty || entry.pointee.record.domain == domain)
                && (cellId.isEmpty || entry.pointee.record.cellId == cellId)
        }
        var size = 0
        tasks.withEntryPointers(in: ordered) { entry in
            if selected(entry) { size += entry.pointee.record.taskFieldSize }
        }
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            guard let start = buffer.baseAddress else { return }
            var out = start
            tasks.withEntryPointers(in: ordered) { entry in
                if selected(entry) { out = entry.pointee.record.writeTaskField(field, to: out) }
            }
            initialized = out - start
            precondition(initialized == size, "tasks sized \(size) bytes, wrote \(initialized)")
        }
    }

    /// Not known before the filters run.
    public var underestimatedCount: Int { 0 }

    /// Copies of the selected tasks, in slot order.
    public func makeIterator() -> IndexingIterator<[TaskRecord]> {
        var records: [TaskRecord] = []
        records.reserveCapacity(slots?.count ?? tasks.count)
        forEachRecord { records.append(copy $0) }
        return records.makeIterator()
    }
}
