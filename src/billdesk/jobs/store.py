"""Every read and write of the jobs tables, on SQLite and on PostgreSQL.

A job's row moves pending → running → succeeded | failed, and running → pending
again to retry. The writes that end a try are fenced by the claim (status
`running`, the worker's name and the try's number), so a worker that lost its
lease can never overwrite what another worker recorded after it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType
from piccolo.query import Select

from billdesk import clock
from billdesk.db import DB
from billdesk.errors import InvalidTransition, NotFound, ValidationFailed
from billdesk.i18n import tr
from billdesk.jobs.registry import Periodic, registered
from billdesk.settings import get_settings
from billdesk.sql import Statement, batching
from billdesk.tables import Job, JobSchedule

Status = Job.Status

# A running job's lease; its worker renews it while the handler runs, so only a
# worker that stopped (crashed, killed, cut off) lets it lapse.
LEASE = timedelta(seconds=60)
MAX_ERROR = 2000
PRUNE_BATCH = 5000


class JobNotFailed(InvalidTransition):
    title = tr("Not possible in the job's current status")


@dataclass(frozen=True)
class ClaimedJob:
    """A job a worker holds: `attempts` counts this try."""

    id: int
    kind: str
    payload: dict
    attempts: int
    max_attempts: int | None
    worker: str


def _is_postgres() -> bool:
    return isinstance(DB, PostgresEngine)


def write_transaction():
    """A write transaction; on SQLite it takes the write lock at once."""
    if isinstance(DB, SQLiteEngine):
        return DB.transaction(transaction_type=TransactionType.immediate)
    return DB.transaction()


def _loads(value: Any) -> dict:
    return json.loads(value) if isinstance(value, str | bytes) else dict(value or {})


# ------------------------------------------------------------------ enqueue


_ENQUEUE = Statement(
    "INSERT INTO jobs (kind, payload, status, run_at, attempts, max_attempts, key, worker, "
    "locked_until, last_error, created_at, started_at, finished_at) "
    "VALUES (:kind, :payload, :status, :run_at, 0, :max_attempts, NULL, '', NULL, '', "
    ":created_at, NULL, NULL) RETURNING id"
)


async def enqueue_later(kind: str, payload: dict | None = None) -> None:
    """`enqueue(kind, payload)` for a caller that does not need the job's id: inside
    `billdesk.sql.batched_writes()` the job goes with the block's other writes."""
    if not batching():
        await enqueue(kind, payload)
        return
    if not kind or len(kind) > 100:
        raise ValueError("a job kind is a name of 1 to 100 characters")
    now = clock.now()
    await _ENQUEUE.write(
        kind=kind, payload=json.dumps(payload or {}), status=Status.pending.value, run_at=now,
        max_attempts=None, created_at=now,
    )


async def enqueue(
    kind: str,
    payload: dict | None = None,
    *,
    run_at: datetime | None = None,
    max_attempts: int | None = None,
    key: str | None = None,
) -> int | None:
    """Record a job in the caller's transaction; returns its id, or None when `key` is taken.

    Called inside `async with DB.transaction():` the job is committed with the
    change that causes it and vanishes if that change rolls back; outside a
    transaction it is committed at once. `run_at` (timezone-aware) delays it;
    `max_attempts` overrides the handler's limit; `key` dedupes: while a job
    with the same key is pending or running, nothing is added.
    """
    if not kind or len(kind) > 100:
        raise ValueError("a job kind is a name of 1 to 100 characters")
    if run_at is not None and run_at.tzinfo is None:
        raise ValueError("run_at must be timezone-aware")
    if max_attempts is not None and max_attempts < 1:
        raise ValueError("max_attempts must be 1 or more")
    if key is not None and not 1 <= len(key) <= 200:
        raise ValueError("a job key is 1 to 200 characters")
    body = json.dumps(payload or {})  # fails here, in the caller, on what JSON cannot hold
    now = clock.now()
    if key is None:
        # Every ticket change enqueues its happening: the common insert is written once.
        rows = await _ENQUEUE.rows(
            kind=kind, payload=body, status=Status.pending.value, run_at=run_at or now,
            max_attempts=max_attempts, created_at=now,
        )
        return int(rows[0]["id"])
    query = Job.insert(
        Job(
            kind=kind,
            payload=body,
            status=Status.pending.value,
            run_at=run_at or now,
            max_attempts=max_attempts,
            key=key,
            created_at=now,
        )
    ).returning(Job.id)
    if key is not None:
        query = query.on_conflict(target=Job.key, action="DO NOTHING")
    rows = await query
    return rows[0]["id"] if rows else None


# ------------------------------------------------------------ worker side


async def claim(worker: str, limit: int) -> list[ClaimedJob]:
    """Take up to `limit` due jobs for `worker`, oldest due first, each with a fresh lease.

    On PostgreSQL the due rows are locked with SKIP LOCKED, so workers on any
    number of machines never take the same job; on SQLite one process runs jobs.
    """
    if limit < 1:
        return []
    now = clock.now()
    due = (
        Job.select(Job.id)
        .where((Job.status == Status.pending.value) & (Job.run_at <= now))
        .order_by(Job.run_at)
        .order_by(Job.id)
        .limit(limit)
    )
    if _is_postgres():
        # Lock the due rows first, then take exactly those: inside an UPDATE's
        # IN (…) a SKIP LOCKED subquery may be run again and yield more rows.
        async with DB.transaction():
            ids = await due.lock_rows("UPDATE", skip_locked=True).output(as_list=True)
            rows = await _take(ids, worker, now) if ids else []
    else:
        # A plain read first, so an idle worker never takes SQLite's write lock.
        ids = await due.output(as_list=True)
        rows = await _take(ids, worker, now) if ids else []
    return [
        ClaimedJob(
            id=row["id"],
            kind=row["kind"],
            payload=_loads(row["payload"]),
            attempts=row["attempts"],
            max_attempts=row["max_attempts"],
            worker=worker,
        )
        for row in sorted(rows, key=lambda row: row["id"])
    ]


async def _take(ids: list[int], worker: str, now: datetime) -> list[dict[str, Any]]:
    return await (
        Job.update(
            {
                Job.status: Status.running.value,
                Job.run_at: None,
                Job.attempts: Job.attempts + 1,
                Job.worker: worker,
                Job.locked_until: now + LEASE,
                Job.started_at: now,
            }
        )
        .where(Job.id.is_in(ids) & (Job.status == Status.pending.value))
        .returning(Job.id, Job.kind, Job.payload, Job.attempts, Job.max_attempts)
    )


def _held(job: ClaimedJob):
    return (
        (Job.id == job.id)
        & (Job.status == Status.running.value)
        & (Job.worker == job.worker)
        & (Job.attempts == job.attempts)
    )


async def _end_try(job: ClaimedJob, values: dict) -> bool:
    rows = await Job.update({Job.locked_until: None, **values}).where(_held(job)).returning(Job.id)
    return bool(rows)


async def mark_succeeded(job: ClaimedJob) -> bool:
    """Record success; False when the job was no longer this worker's to finish."""
    return await _end_try(
        job,
        {Job.status: Status.succeeded.value, Job.finished_at: clock.now(), Job.key: None},
    )


async def mark_retry(job: ClaimedJob, *, delay: float, error: str) -> bool:
    """Back to pending, due `delay` seconds from now."""
    return await _end_try(
        job,
        {
            Job.status: Status.pending.value,
            Job.run_at: clock.now() + timedelta(seconds=delay),
            Job.last_error: error[:MAX_ERROR],
        },
    )


async def mark_failed(job: ClaimedJob, *, error: str) -> bool:
    """Failed for good (until an admin retries it); its key is free again."""
    return await _end_try(
        job,
        {
            Job.status: Status.failed.value,
            Job.finished_at: clock.now(),
            Job.key: None,
            Job.last_error: error[:MAX_ERROR],
        },
    )


async def extend_leases(worker: str) -> None:
    """Renew the lease of every job `worker` is running."""
    await Job.update({Job.locked_until: clock.now() + LEASE}).where(
        (Job.worker == worker) & (Job.status == Status.running.value)
    )


async def release(jobs: list[ClaimedJob]) -> None:
    """Give back jobs a stopping worker did not finish: due now, their try not counted."""
    for job in jobs:
        await _end_try(
            job,
            {
                Job.status: Status.pending.value,
                Job.run_at: clock.now(),
                Job.attempts: Job.attempts - 1,
            },
        )


async def release_expired_leases() -> int:
    """Put back to pending the running jobs whose worker stopped renewing their lease.

    The lost try still counts: a job that keeps killing its worker ends `failed`.
    """
    now = clock.now()
    rows = await (
        Job.update(
            {
                Job.status: Status.pending.value,
                Job.run_at: now,
                Job.locked_until: None,
                Job.last_error: "The worker running it stopped before it finished.",
            }
        )
        .where((Job.status == Status.running.value) & (Job.locked_until < now))
        .returning(Job.id)
    )
    return len(rows)


# -------------------------------------------------------------- periodic


async def ensure_schedules(periodics: list[Periodic]) -> None:
    """A schedule row per periodic job, first due one interval from now.

    When an interval was changed, the next run is one new interval from now.
    """
    now = clock.now()
    for entry in periodics:
        seconds = max(1, round(entry.every.total_seconds()))
        await JobSchedule.insert(
            JobSchedule(name=entry.name, every_seconds=seconds, next_run_at=now + entry.every)
        ).on_conflict(target=JobSchedule.name, action="DO NOTHING")
        await JobSchedule.update(
            {JobSchedule.every_seconds: seconds, JobSchedule.next_run_at: now + entry.every}
        ).where((JobSchedule.name == entry.name) & (JobSchedule.every_seconds != seconds))


async def enqueue_due_periodics(periodics: list[Periodic]) -> list[str]:
    """Enqueue each periodic job whose time has come; returns their names.

    Moving `next_run_at` is a conditional update: of all the workers that see a
    schedule due, one moves it and enqueues the job, in one transaction.
    """
    if not periodics:
        return []
    now = clock.now()
    by_name = {entry.name: entry for entry in periodics}
    due = await JobSchedule.select(JobSchedule.name).where(
        (JobSchedule.next_run_at <= now) & JobSchedule.name.is_in(list(by_name))
    )
    enqueued = []
    for row in due:
        entry = by_name[row["name"]]
        async with write_transaction():
            won = await (
                JobSchedule.update(
                    {JobSchedule.next_run_at: now + entry.every, JobSchedule.last_run_at: now}
                )
                .where((JobSchedule.name == entry.name) & (JobSchedule.next_run_at <= now))
                .returning(JobSchedule.id)
            )
            if won:
                await enqueue(entry.name, {}, key=f"periodic:{entry.name}")
                enqueued.append(entry.name)
    return enqueued


async def prune_succeeded(*, older_than: datetime) -> int:
    """Delete succeeded jobs that finished before `older_than`, in batches; returns how many."""
    deleted = 0
    while True:
        batch = (
            Job.select(Job.id)
            .where((Job.status == Status.succeeded.value) & (Job.finished_at < older_than))
            .limit(PRUNE_BATCH)
        )
        rows = await Job.delete().where(Job.id.is_in(batch)).returning(Job.id)
        deleted += len(rows)
        if len(rows) < PRUNE_BATCH:
            return deleted


# ----------------------------------------------------------------- admins

JOB_COLUMNS = (
    Job.id,
    Job.kind,
    Job.payload,
    Job.status,
    Job.run_at,
    Job.attempts,
    Job.max_attempts,
    Job.key,
    Job.worker,
    Job.locked_until,
    Job.last_error,
    Job.created_at,
    Job.started_at,
    Job.finished_at,
)
STATUSES = tuple(status.value for status in Status)


def attempt_limit(kind: str, max_attempts: int | None) -> int:
    """How many tries a job of `kind` gets, as its worker would decide."""
    entry = registered(kind)
    if entry is not None:
        return entry.attempt_limit(max_attempts)
    return max_attempts or get_settings().job_max_attempts


def described(row: dict[str, Any]) -> dict[str, Any]:
    """A jobs row with its payload decoded and its attempt limit."""
    return {
        **row,
        "payload": _loads(row["payload"]),
        "attempt_limit": attempt_limit(row["kind"], row["max_attempts"]),
    }


def jobs_query(*, status: str | None = None, kind: str | None = None) -> Select:
    """Jobs filtered by status and kind (each optional), for a keyset page by id."""
    query = Job.select(*JOB_COLUMNS)
    if status:
        if status not in STATUSES:
            raise ValidationFailed.field("status", tr("status must be one of %(choices)s.", choices=", ".join(STATUSES)))
        query = query.where(Job.status == status)
    if kind:
        if len(kind) > 100:
            raise ValidationFailed.field("kind", tr("kind is at most 100 characters."))
        query = query.where(Job.kind == kind)
    return query


async def get_job(job_id: int) -> dict[str, Any]:
    row = await Job.select(*JOB_COLUMNS).where(Job.id == job_id).first()
    if row is None:
        raise NotFound(tr("There is no such job."))
    return described(row)


async def retry_job(job_id: int) -> dict[str, Any]:
    """Run a failed job again, now, with a fresh round of tries; other statuses → 409."""
    rows = await (
        Job.update(
            {
                Job.status: Status.pending.value,
                Job.run_at: clock.now(),
                Job.attempts: 0,
                Job.finished_at: None,
            }
        )
        .where((Job.id == job_id) & (Job.status == Status.failed.value))
        .returning(Job.id)
    )
    if not rows:
        job = await get_job(job_id)
        raise JobNotFailed(
            tr("Only a failed job can be retried; this one is %(status)s.", status=job["status"])
        )
    return await get_job(job_id)


async def schedules() -> list[dict[str, Any]]:
    """The periodic jobs' schedules, by name."""
    return await JobSchedule.select(
        JobSchedule.name,
        JobSchedule.every_seconds,
        JobSchedule.next_run_at,
        JobSchedule.last_run_at,
    ).order_by(JobSchedule.name)


async def overview(*, per_status: int = 10) -> dict[str, list[dict[str, Any]]]:
    """The admin's first look, a few rows per status: failed and running newest first,
    pending soonest due first, succeeded most recently finished first."""

    def of(status: Status) -> Select:
        return Job.select(*JOB_COLUMNS).where(Job.status == status.value).limit(per_status)

    found = {
        "failed": await of(Status.failed).order_by(Job.id, ascending=False),
        "running": await of(Status.running).order_by(Job.id, ascending=False),
        "pending": await of(Status.pending).order_by(Job.run_at).order_by(Job.id),
        "succeeded": await of(Status.succeeded).order_by(Job.finished_at, ascending=False),
    }
    return {status: [described(row) for row in rows] for status, rows in found.items()}
