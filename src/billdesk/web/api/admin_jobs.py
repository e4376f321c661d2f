"""The JSON twin of /admin/jobs: the job queue with filters and cursor pages, and retry."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery
from litestar.status_codes import HTTP_200_OK

from billdesk import jobs
from billdesk.auth import requires_admin
from billdesk.tables import Job
from billdesk.web.api.desk import rfc3339
from billdesk.web.paging import keyset_page, parse_limit
from billdesk.web.params import CursorQuery, LimitQuery


class JobOut(msgspec.Struct):
    id: int
    kind: str
    status: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    key: str | None
    run_at: str | None
    started_at: str | None
    finished_at: str | None
    locked_until: str | None
    worker: str
    last_error: str
    created_at: str | None


class JobList(msgspec.Struct):
    items: list[JobOut]
    next_cursor: str | None


class ScheduleOut(msgspec.Struct):
    name: str
    every_seconds: int
    next_run_at: str | None
    last_run_at: str | None


class ScheduleList(msgspec.Struct):
    items: list[ScheduleOut]
    next_cursor: str | None


def job_out(row: dict[str, Any]) -> JobOut:
    return JobOut(
        id=row["id"],
        kind=row["kind"],
        status=row["status"],
        payload=row["payload"],
        attempts=row["attempts"],
        max_attempts=row["attempt_limit"],
        key=row["key"],
        run_at=rfc3339(row["run_at"]),
        started_at=rfc3339(row["started_at"]),
        finished_at=rfc3339(row["finished_at"]),
        locked_until=rfc3339(row["locked_until"]),
        worker=row["worker"],
        last_error=row["last_error"],
        created_at=rfc3339(row["created_at"]),
    )


class AdminJobsApiController(Controller):
    path = "/api/v1/admin"
    tags = ["admin"]
    guards = [requires_admin]

    @get("/jobs")
    async def list_jobs(
        self,
        status: FromQuery[str | None] = None,
        kind: FromQuery[str | None] = None,
        limit: LimitQuery = None,
        cursor: CursorQuery = None,
    ) -> JobList:
        """Jobs newest first; filters `status` (pending, running, succeeded, failed) and `kind`."""
        rows, next_cursor = await keyset_page(
            jobs.jobs_query(status=status or None, kind=kind or None),
            sort=None,
            id_column=Job.id,
            limit=parse_limit(limit),
            cursor=cursor,
        )
        return JobList(
            items=[job_out(jobs.described(row)) for row in rows], next_cursor=next_cursor
        )

    @get("/jobs/{job_id:int}")
    async def show_job(self, job_id: FromPath[int]) -> JobOut:
        """One job: its kind, status, attempts, schedule and last error."""
        return job_out(await jobs.get_job(job_id))

    @post("/jobs/{job_id:int}/retry", status_code=HTTP_200_OK)
    async def retry_job(self, job_id: FromPath[int]) -> JobOut:
        """Run a failed job again now, with a fresh round of tries; other statuses → 409."""
        return job_out(await jobs.retry_job(job_id))

    @get("/job-schedules")
    async def list_schedules(self) -> ScheduleList:
        """The periodic jobs: interval, next and last run."""
        rows = await jobs.schedules()
        return ScheduleList(
            items=[
                ScheduleOut(
                    name=row["name"],
                    every_seconds=row["every_seconds"],
                    next_run_at=rfc3339(row["next_run_at"]),
                    last_run_at=rfc3339(row["last_run_at"]),
                )
                for row in rows
            ],
            next_cursor=None,
        )
