"""Durable jobs: work that must happen after a commit, retried until it succeeds
or is visibly given up. Mail, Telegram messages, webhook deliveries, timers and
the payments reconcile all run on this. The full guide is docs/jobs.md.

Record a job in the same transaction as the change that causes it:

    from billdesk import jobs

    async with DB.transaction():
        reply_id = ...                                  # the change
        await jobs.enqueue("mail.send", {"reply_id": reply_id})
    # committed: the mail will be sent; rolled back: there is no job

`enqueue(kind, payload, run_at=None, max_attempts=None, key=None)` returns the
job's id, or None when `key` is given and a job with that key is still pending
or running (one reminder per ticket: `key=f"reminder:{ticket_id}"`). The
payload is a JSON object; keep it to ids and read the rest in the handler.
`enqueue_later(kind, payload)` is for a caller that does not need the id: inside
`billdesk.sql.batched_writes()` its insert goes with the block's other writes.

Write the handler in a module listed in `registry.HANDLER_MODULES`:

    @jobs.handler("mail.send", max_attempts=8)
    async def send_mail(payload: dict) -> None:
        ...

- returning normally: succeeded, never run again;
- any exception: tried again after 15 s, 30 s, 1 min, … (1 h at most), or after
  the handler's own `backoff=[10, 30, 120]` (the last delay repeats), each
  stretched by up to 25 % of jitter; after `max_attempts` tries: `failed`, with
  the error, on /admin/jobs, where an admin can retry it;
- `raise jobs.RetryAfter(seconds)`: tried again after exactly that delay (a 429);
  it counts as a try;
- `raise jobs.GiveUp("reason")`: failed at once.

A handler may run more than once for one job (a worker that dies after the
handler's side effect but before recording success): make handlers idempotent
where it matters, e.g. by checking a "sent" flag written by the handler.

Periodic jobs run once per interval across all workers:

    @jobs.periodic("payments.reconcile", every=timedelta(minutes=10))
    async def reconcile_payments() -> None: ...

Workers: `billdesk serve` runs one in each app process (`--no-worker` turns it
off), `billdesk worker` runs one alone. On PostgreSQL any number of workers on
any number of machines share the queue; on SQLite one process runs the jobs.

Tests: `await jobs.drain()` runs every job due now (by billdesk.clock) in the
test's own process, until none is left.
"""

from billdesk.jobs.registry import (
    HANDLER_MODULES,
    GiveUp,
    RetryAfter,
    handler,
    kinds,
    load_handler_modules,
    periodic,
)
from billdesk.jobs.runner import InAppWorker, Runner, WorkerBusy, drain
from billdesk.jobs.store import (
    described,
    enqueue,
    enqueue_later,
    get_job,
    jobs_query,
    overview,
    retry_job,
    schedules,
)

__all__ = [
    "HANDLER_MODULES",
    "GiveUp",
    "InAppWorker",
    "RetryAfter",
    "Runner",
    "WorkerBusy",
    "described",
    "drain",
    "enqueue",
    "enqueue_later",
    "get_job",
    "handler",
    "jobs_query",
    "kinds",
    "load_handler_modules",
    "overview",
    "periodic",
    "retry_job",
    "schedules",
]
