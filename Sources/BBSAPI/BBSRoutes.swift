/// Every BBS path this server answers (wire.md §5, the domain routes of `routes.go`).
/// Removed revisions are served too: old clients still call them (versions.md).
public enum BBSRoutes {
    public static let ping = "/v1/ping"

    public static let desireTask = "/v1/tasks/desire.r2"
    public static let desireTaskR1 = "/v1/tasks/desire.r1"
    public static let desireTaskR0 = "/v1/tasks/desire"

    public static let tasks = "/v1/tasks/list.r3"
    public static let tasksR2 = "/v1/tasks/list.r2"
    public static let tasksR1 = "/v1/tasks/list.r1"
    public static let tasksR0 = "/v1/tasks/list"

    public static let taskByGuid = "/v1/tasks/get_by_task_guid.r3"
    public static let taskByGuidR2 = "/v1/tasks/get_by_task_guid.r2"
    public static let taskByGuidR1 = "/v1/tasks/get_by_task_guid.r1"
    /// The r0 read was a GET with a protobuf body.
    public static let taskByGuidR0 = "/v1/tasks/get_by_task_guid"

    public static let startTask = "/v1/tasks/start"
    public static let cancelTask = "/v1/tasks/cancel"
    public static let failTask = "/v1/tasks/fail"
    public static let rejectTask = "/v1/tasks/reject"
    public static let completeTask = "/v1/tasks/complete"
    public static let resolvingTask = "/v1/tasks/resolving"
    public static let deleteTask = "/v1/tasks/delete"

    public static let taskEvents = "/v1/events/tasks.r1"
    public static let taskEventsR0 = "/v1/events/tasks"

    public static let upsertDomain = "/v1/domains/upsert"
    public static let domains = "/v1/domains/list"
}
