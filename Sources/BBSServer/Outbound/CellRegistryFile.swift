import BBSLog
import Foundation
import HTTPServer
import TaskCore

/// The cells that are present, read from a JSON file the operator (or a sidecar that
/// follows Locket) keeps current — the reference asks Locket for cell presences, which
/// this server does not speak. Re-read on every use, so an update needs no restart:
///
///     {"cells": [{"cell_id": "cell-1", "rep_url": "https://cell-1.cell.service.cf.internal:1801"}]}
///
/// With it, convergence fails Running tasks whose cell is not listed (lifecycle.md §10 step
/// 3), and cancelling a Running task tells its cell's rep (lifecycle.md §6). A file that
/// cannot be read or parsed makes convergence skip its task pass, as the reference does
/// when Locket fails; it never counts as "no cells".
struct CellRegistryFile: CellRegistry, CellCancelNotifier {
    struct Cell: Decodable, Sendable, Equatable {
        let cellId: String
        let repURL: String?

        enum CodingKeys: String, CodingKey {
            case cellId = "cell_id"
            case repURL = "rep_url"
        }
    }

    private struct Contents: Decodable {
        let cells: [Cell]
    }

    let path: String
    /// The rep client (`rep_*` certificates).
    let http: HTTPClient
    /// `rep_require_tls`: an `http://` rep_url is not called.
    let requiresTLS: Bool
    let logger: Logger

    /// The cells of the file at `path`.
    static func read(_ path: String) throws -> [Cell] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return try JSONDecoder().decode(Contents.self, from: data).cells
    }

    func presentCells(completion: @escaping @Sendable (Result<Set<String>, any Error>) -> Void) {
        completion(Result { Set(try Self.read(path).map(\.cellId)) })
    }

    /// `POST <rep_url>/v1/tasks/<guid>/cancel`, no body, expecting 202; every failure is
    /// logged and otherwise ignored (the rep converges on its own). With `rep_require_tls`
    /// only an `https` rep_url is called (lifecycle.md §6). A non-empty `requestID` goes
    /// along as `X-Vcap-Request-Id`, as the reference's rep client sends it (wire.md §10).
    func notifyCancelled(taskGuid: String, cellId: String, requestID: String) {
        let cell: Cell?
        do {
            cell = try Self.read(path).first { $0.cellId == cellId }
        } catch {
            logger.error("failed-to-read-cell-registry", ["error": "\(error)", "cell_id": cellId])
            return
        }
        guard let repURL = cell?.repURL, let base = HTTPClientURL(string: repURL) else {
            logger.info("cell-not-found-for-cancel", ["cell_id": cellId, "task_guid": taskGuid])
            return
        }
        guard base.isTLS || !requiresTLS else {
            logger.error("failed-to-notify-cell-of-cancel", ["cell_id": cellId,
                                                             "error": "rep_require_tls: \(repURL) is not https"])
            return
        }
        var url = repURL
        if let fragment = url.firstIndex(of: "#") { url = String(url[..<fragment]) }
        while url.hasSuffix("/") { url.removeLast() }
        var headers = HTTPHeaders()
        if !requestID.isEmpty { headers.add("X-Vcap-Request-Id", requestID) }
        http.post(url + "/v1/tasks/\(taskGuid)/cancel", body: [], headers: headers) { [logger] result in
            switch result {
            case .success(202):
                logger.debug("notified-cell-of-cancel", ["cell_id": cellId, "task_guid": taskGuid])
            case .success(let status):
                logger.error("failed-to-notify-cell-of-cancel", ["cell_id": cellId, "status": String(status)])
            case .failure(let error):
                logger.error("failed-to-notify-cell-of-cancel", ["cell_id": cellId, "error": error.description])
            }
        }
    }
}
