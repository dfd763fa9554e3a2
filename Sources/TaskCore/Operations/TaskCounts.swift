import BBSModels

/// How many tasks are in each state, per domain (the `bbs_tasks` metric, the inspector).
public struct TaskCounts: Sendable, Equatable {
    public struct Key: Hashable, Sendable {
        public let domain: String
        public let state: TaskState

        public init(domain: String, state: TaskState) {
            self.domain = domain
            self.state = state
        }
    }

    /// Only non-zero counts are kept.
    public private(set) var byDomainAndState: [Key: Int] = [:]

    public init() {}

    public init(_ records: some Sequence<TaskRecord>) {
        for record in records { add(record) }
    }

    /// The task states a stored task can be in, in lifecycle order.
    public static let states: [TaskState] = [.pending, .running, .completed, .resolving]

    public subscript(domain: String, state: TaskState) -> Int {
        byDomainAndState[Key(domain: domain, state: state)] ?? 0
    }

    public var total: Int { byDomainAndState.values.reduce(0, +) }

    /// Domains with at least one task, sorted.
    public var domains: [String] { Set(byDomainAndState.keys.map(\.domain)).sorted() }

    mutating func add(_ record: TaskRecord) {
        byDomainAndState[Key(domain: record.domain, state: record.state), default: 0] += 1
    }

    /// Adds `count` tasks of one domain and state at once (a restart's bulk load).
    mutating func add(_ key: Key, _ count: Int) {
        byDomainAndState[key, default: 0] += count
    }

    mutating func remove(_ record: TaskRecord) {
        let key = Key(domain: record.domain, state: record.state)
        guard let count = byDomainAndState[key] else { return }
        byDomainAndState[key] = count > 1 ? count - 1 : nil
    }
}
