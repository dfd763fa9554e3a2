/// The slots of one domain's (or cell's) tasks: a set split by the slot's low bits into
/// `shardCount` sets.
///
/// Why split: a Swift set grows by rehashing every element at once, under the store
/// lock. A domain of 890,000 tasks growing past 786,432 rehashed all of them during one
/// desire; a shard holds a 64th. Shards are also what a list shares (`TaskSelection`):
/// a write to the domain meanwhile copies one shard, not the whole set.
struct SlotSet: Sendable, Sequence {
    static let shardCount = 64
    /// Empty until the first insert (most cells and many domains stay small, and an
    /// empty set costs nothing).
    private var shards: [Set<TaskTable.Slot>] = []
    private(set) var count = 0

    init() {}

    /// A set of `slots` (distinct), each shard reserved up front (a restart).
    init(_ slots: [TaskTable.Slot]) {
        shards = Array(repeating: [], count: Self.shardCount)
        let each = slots.count / Self.shardCount + slots.count / (Self.shardCount * 8) + 4
        for shard in shards.indices { shards[shard].reserveCapacity(each) }
        for slot in slots { insert(slot) }
    }

    var isEmpty: Bool { count == 0 }

    @inline(__always)
    private static func shard(_ slot: TaskTable.Slot) -> Int { Int(slot) & (shardCount - 1) }

    mutating func insert(_ slot: TaskTable.Slot) {
        if shards.isEmpty { shards = Array(repeating: [], count: Self.shardCount) }
        if shards[Self.shard(slot)].insert(slot).inserted { count += 1 }
    }

    mutating func remove(_ slot: TaskTable.Slot) {
        guard !shards.isEmpty, shards[Self.shard(slot)].remove(slot) != nil else { return }
        count -= 1
    }

    var underestimatedCount: Int { count }

    func makeIterator() -> FlattenSequence<[Set<TaskTable.Slot>]>.Iterator {
        shards.joined().makeIterator()
    }
}
