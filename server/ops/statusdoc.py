"""The admins' status route in the OpenAPI document (server/ops/status.py)."""

from __future__ import annotations

from server.web.apidoc.kit import INTEGER, JSON, NUMBER, STRING, TIME, ApiBook, array, nullable, obj, ref, reply

SCHEMAS: dict[str, JSON] = {
    "BatchWriterStatus": obj(
        {
            "name": STRING,
            "queued": {"type": "integer", "description": "rows waiting for their batch"},
            "batches": {"type": "integer", "description": "batches committed since start"},
            "rows": {"type": "integer", "description": "rows committed since start"},
            "failed_rows": INTEGER,
            "refused_full": {"type": "integer", "description": "rows refused (503) because the queue was full"},
            "last_batch_rows": INTEGER,
            "last_commit_ms": {"type": "number", "description": "how long the last batch's transaction took"},
        }
    ),
    "ServerStatus": obj(
        {
            "websockets": {"type": "integer", "description": "open WebSockets of this process"},
            "writes_per_second": {
                "type": "number",
                "description": "rows committed by the batch writers per second, over the last minute",
            },
            "writes_window_seconds": {
                "type": "number",
                "description": "the seconds that rate is measured over (under 60 just after start)",
            },
            "writers": array(ref("BatchWriterStatus")),
            "database": obj(
                {
                    "backend": {"type": "string", "enum": ["sqlite", "postgresql"]},
                    "size_bytes": {
                        **nullable(INTEGER),
                        "description": "SQLite: its pages (not the WAL file); PostgreSQL: pg_database_size; "
                        "null if it could not be read",
                    },
                    "connections": {"type": "object", "additionalProperties": NUMBER},
                }
            ),
            "version": {"type": "string", "description": "the package's version"},
            "revision": {**nullable(STRING), "description": "the git commit, when run from a checkout"},
            "started_at": TIME,
            "uptime_seconds": NUMBER,
            "now": TIME,
        }
    ),
}


def paths() -> dict[str, dict[str, JSON]]:
    book = ApiBook(path_params={})
    book.op(
        "GET",
        "/api/admin/status",
        tag="admin",
        summary="This process's figures: WebSockets, writes per second, batch writers, database, version, uptime",
        description="Read live at each request (the web app's admin console polls it every few seconds). With "
        "several processes, each answers for itself.",
        auth="admin",
        ok={200: reply("The figures.", ref("ServerStatus"))},
    )
    return book.paths
