"""Durable jobs: recorded with the change that causes them, run once per success,
retried with growing delays, visibly failed, retried by an admin, scheduled once
per interval, taken back from a worker that died."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from billdesk import jobs
from billdesk.db import DB
from billdesk.jobs import store
from billdesk.tables import Job, JobSchedule
from tests.factories import csrf_token, login, make_user

RUNS: list[tuple[str, dict]] = []
OUTAGE = {"on": True}
TICKS: list[str] = []


@jobs.handler("test.record")
async def record(payload: dict) -> None:
    RUNS.append(("test.record", payload))


@jobs.handler("test.mail", max_attempts=3)
async def mail_while_the_server_is_down(payload: dict) -> None:
    RUNS.append(("test.mail", payload))
    if OUTAGE["on"]:
        raise ConnectionRefusedError("the mail server refused the connection")


@jobs.handler("test.webhook", backoff=[10, 30], max_attempts=4)
async def webhook_that_always_fails(payload: dict) -> None:
    raise TimeoutError("no answer")


@jobs.handler("test.hangs", timeout=0.05, max_attempts=1)
async def hangs(payload: dict) -> None:
    await asyncio.Event().wait()


@jobs.handler("test.rate_limited")
async def rate_limited(payload: dict) -> None:
    raise jobs.RetryAfter(90)


@jobs.handler("test.hopeless")
async def hopeless(payload: dict) -> None:
    raise jobs.GiveUp("the address does not exist")


@jobs.periodic("test.tick", every=timedelta(minutes=10))
async def tick() -> None:
    TICKS.append("tick")


@pytest.fixture(autouse=True)
def fresh_records():
    RUNS.clear()
    TICKS.clear()
    OUTAGE["on"] = True


async def row(job_id: int) -> dict:
    found = await Job.select().where(Job.id == job_id).first()
    assert found is not None
    return found


def between(value, low, high) -> bool:
    return low <= value <= high


async def test_a_rolled_back_job_never_exists_and_a_committed_one_runs_once(clock):
    with pytest.raises(RuntimeError):
        async with DB.transaction():
            await jobs.enqueue("test.record", {"reply_id": 1})
            raise RuntimeError("the reply failed validation")
    assert await Job.count() == 0

    async with DB.transaction():
        job_id = await jobs.enqueue("test.record", {"reply_id": 2})

    assert await jobs.drain() == 1
    assert await jobs.drain() == 0
    clock.advance(timedelta(days=1))
    assert await jobs.drain() == 0
    assert RUNS == [("test.record", {"reply_id": 2})]
    done = await row(job_id)
    assert (done["status"], done["attempts"], done["finished_at"]) == (
        "succeeded",
        1,
        clock.now() - timedelta(days=1),
    )


async def test_a_job_waits_for_its_time(clock):
    await jobs.enqueue("test.record", {"n": 1}, run_at=clock.now() + timedelta(minutes=5))
    assert await jobs.drain() == 0
    clock.advance(timedelta(minutes=5))
    assert await jobs.drain() == 1
    assert RUNS == [("test.record", {"n": 1})]


async def test_failures_back_off_then_fail_visibly_and_an_admin_retry_sends_it(clock, client):
    job_id = await jobs.enqueue("test.mail", {"mail_id": 12})

    await jobs.drain()
    first = await row(job_id)
    assert first["status"] == "pending" and first["attempts"] == 1
    assert "ConnectionRefusedError: the mail server refused" in first["last_error"]
    assert between(
        first["run_at"], clock.now() + timedelta(seconds=15), clock.now() + timedelta(seconds=18.75)
    )
    assert await jobs.drain() == 0  # not due yet

    clock.advance(first["run_at"] - clock.now())
    assert await jobs.drain() == 1
    second = await row(job_id)
    assert between(
        second["run_at"], clock.now() + timedelta(seconds=30), clock.now() + timedelta(seconds=37.5)
    )

    clock.advance(second["run_at"] - clock.now())
    assert await jobs.drain() == 1
    failed = await row(job_id)
    assert (failed["status"], failed["attempts"], failed["run_at"], failed["key"]) == (
        "failed",
        3,
        None,
        None,
    )
    assert failed["last_error"].endswith("(after 3 tries)")
    clock.advance(timedelta(hours=2))
    assert await jobs.drain() == 0

    admin = await make_user(role="admin")
    await login(client, admin.email)
    page = await client.get("/admin/jobs")
    assert page.status_code == 200
    failed_row = page.text.split(f'data-job="{job_id}"')[1].split("</tr>")[0]
    assert "test.mail" in failed_row and "3 of 3" in failed_row
    assert "the mail server refused the connection" in failed_row
    assert f'action="/admin/jobs/{job_id}/retry"' in failed_row

    OUTAGE["on"] = False
    retried = await client.post(
        f"/admin/jobs/{job_id}/retry",
        data={"_csrf_token": csrf_token(page.text), "back": "/admin/jobs?status=failed"},
    )
    assert retried.status_code == 302 and retried.headers["location"] == "/admin/jobs?status=failed"
    assert await jobs.drain() == 1
    assert (await row(job_id))["status"] == "succeeded"
    assert len(RUNS) == 4
    listed = await client.get("/admin/jobs?status=succeeded")
    assert f'data-job="{job_id}"' in listed.text and "Retry" not in listed.text


async def test_a_handlers_own_backoff_is_followed_and_its_last_delay_repeats(clock):
    job_id = await jobs.enqueue("test.webhook", {"delivery_id": 7})
    for delay in (10, 30, 30):
        await jobs.drain()
        waiting = await row(job_id)
        assert between(
            waiting["run_at"],
            clock.now() + timedelta(seconds=delay),
            clock.now() + timedelta(seconds=delay * 1.25),
        ), (delay, waiting["run_at"] - clock.now())
        clock.advance(waiting["run_at"] - clock.now())
    await jobs.drain()
    failed = await row(job_id)
    assert failed["status"] == "failed"
    assert failed["last_error"] == "TimeoutError: no answer (after 4 tries)"


async def test_a_try_that_outlasts_its_timeout_is_stopped_and_counts(clock):
    job_id = await jobs.enqueue("test.hangs", {})
    await jobs.drain()
    failed = await row(job_id)
    assert failed["status"] == "failed"
    assert failed["last_error"].startswith("The try took longer than 0.05 s and was stopped.")


async def test_retry_after_waits_exactly_that_long_and_give_up_fails_at_once(clock):
    limited = await jobs.enqueue("test.rate_limited", {})
    hopeless_id = await jobs.enqueue("test.hopeless", {}, max_attempts=5)
    await jobs.drain()

    waiting = await row(limited)
    assert waiting["status"] == "pending" and waiting["run_at"] == clock.now() + timedelta(
        seconds=90
    )
    given_up = await row(hopeless_id)
    assert (given_up["status"], given_up["attempts"]) == ("failed", 1)
    assert given_up["last_error"] == "Gave up: the address does not exist"


async def test_a_key_adds_one_job_while_one_is_waiting_and_frees_once_it_ran(clock):
    first = await jobs.enqueue("test.record", {"ticket": 5}, key="reminder:5")
    assert await jobs.enqueue("test.record", {"ticket": 5}, key="reminder:5") is None
    other = await jobs.enqueue("test.record", {"ticket": 6}, key="reminder:6")
    assert first is not None and other is not None
    assert await Job.count() == 2

    await jobs.drain()
    again = await jobs.enqueue("test.record", {"ticket": 5}, key="reminder:5")
    assert again is not None and again != first
    await jobs.drain()
    assert RUNS == [
        ("test.record", {"ticket": 5}),
        ("test.record", {"ticket": 6}),
        ("test.record", {"ticket": 5}),
    ]


async def test_a_periodic_job_runs_once_per_interval_whatever_the_number_of_runners(clock):
    runners = [jobs.Runner(name="machine-a"), jobs.Runner(name="machine-b")]
    for runner in runners:
        await runner.run_once()
    assert TICKS == []  # the first run is one interval after the schedule appears

    clock.advance(timedelta(minutes=10))
    await asyncio.gather(*(runner.housekeeping() for runner in runners))  # both see it due
    await asyncio.gather(*(runner.run_once() for runner in runners))
    assert TICKS == ["tick"]

    clock.advance(timedelta(minutes=5))
    for runner in runners:
        await runner.run_once()
    assert TICKS == ["tick"]
    clock.advance(timedelta(minutes=5))
    for runner in runners:
        await runner.run_once()
    assert TICKS == ["tick", "tick"]
    schedule = await JobSchedule.select().where(JobSchedule.name == "test.tick").first()
    assert schedule["next_run_at"] == clock.now() + timedelta(minutes=10)


async def test_the_job_of_a_worker_that_died_runs_again_elsewhere_after_its_lease(clock):
    job_id = await jobs.enqueue("test.record", {"n": 1})
    [held] = await store.claim("dead-worker", 10)  # the worker dies right after its claim

    assert await jobs.drain() == 0  # its lease still holds
    clock.advance(store.LEASE + timedelta(seconds=1))
    assert await jobs.drain() == 1

    done = await row(job_id)
    assert (done["status"], done["attempts"]) == ("succeeded", 2)
    assert done["worker"] != "dead-worker"
    assert RUNS == [("test.record", {"n": 1})]
    assert not await store.mark_failed(held, error="late news from the dead worker")
    assert (await row(job_id))["status"] == "succeeded"


async def test_a_job_whose_every_try_kills_its_worker_ends_failed(clock):
    job_id = await jobs.enqueue("test.record", {"n": 1}, max_attempts=2)
    for _ in range(2):
        assert len(await store.claim("doomed-worker", 10)) == 1
        clock.advance(store.LEASE + timedelta(seconds=1))
        await jobs.Runner().housekeeping(periodic=False)
    await jobs.drain()
    failed = await row(job_id)
    assert failed["status"] == "failed" and "never finished" in failed["last_error"]
    assert RUNS == []


async def test_old_succeeded_jobs_are_pruned_failed_ones_kept(clock):
    await jobs.drain(periodic=True)  # a worker starts: the schedules appear
    old = await jobs.enqueue("test.record", {"n": "old"})
    failed = await jobs.enqueue("test.hopeless", {})
    await jobs.drain()
    clock.advance(timedelta(days=7, minutes=1))
    recent = await jobs.enqueue("test.record", {"n": "recent"})
    await jobs.drain()

    await jobs.drain(periodic=True)

    remaining = set(await Job.select(Job.id).output(as_list=True))
    assert old not in remaining and {failed, recent} <= remaining
    ran = await Job.select(Job.kind, Job.status).where(
        Job.kind.is_in(["jobs.prune", "payments.reconcile"])
    )
    # Without payments configured the reconcile job runs and does nothing.
    assert sorted((r["kind"], r["status"]) for r in ran) == [
        ("jobs.prune", "succeeded"),
        ("payments.reconcile", "succeeded"),
    ]


async def test_a_job_of_an_unknown_kind_is_retried_then_failed_with_the_reason(clock):
    job_id = await jobs.enqueue("test.nobody_handles_this", {}, max_attempts=1)
    await jobs.drain()
    failed = await row(job_id)
    assert failed["status"] == "failed"
    assert "no handler for the job kind 'test.nobody_handles_this'" in failed["last_error"]


async def test_enqueue_refuses_what_it_cannot_store():
    with pytest.raises(TypeError):
        await jobs.enqueue("test.record", {"when": object()})
    with pytest.raises(ValueError, match="timezone-aware"):
        await jobs.enqueue("test.record", {}, run_at=datetime(2026, 1, 1))
    assert await Job.count() == 0


@pytest.mark.stripe
async def test_the_periodic_reconcile_settles_a_charge_a_crash_left_pending(
    sdk, clock, monkeypatch
):
    from billdesk import payments
    from billdesk.payments import charges
    from billdesk.tables import Charge
    from tests.factories import make_department
    from tests.payment_helpers import awaiting_ticket, give_card

    await jobs.drain(periodic=True)  # a worker starts: reconcile is due in 10 minutes
    customer = await make_user()
    department = await make_department(free_tickets=0)
    await give_card(sdk, customer.id)
    ticket_id = await awaiting_ticket(customer_id=customer.id, department_id=department)

    async def die(*args, **kwargs):
        raise SystemExit("the process died after Stripe answered")

    monkeypatch.setattr(charges, "after_stripe_answer", die)
    with pytest.raises(SystemExit):
        await payments.charge_new_ticket(
            ticket_id=ticket_id,
            customer_id=customer.id,
            department_id=department,
            amount=1500,
            currency="usd",
        )
    monkeypatch.undo()
    assert (await Charge.select(Charge.status).first())["status"] == "pending"

    clock.advance(timedelta(minutes=10))
    await jobs.drain(periodic=True)

    assert (await Charge.select(Charge.status).first())["status"] == "succeeded"
    [run] = await Job.select(Job.status).where(Job.kind == "payments.reconcile")
    assert run["status"] == "succeeded"


async def test_a_worker_that_renews_its_lease_keeps_its_job(clock):
    job_id = await jobs.enqueue("test.record", {})
    await store.claim("slow-worker", 10)
    for _ in range(3):  # a handler running for three leases, renewed as the worker does
        clock.advance(store.LEASE * 3 / 4)
        await store.extend_leases("slow-worker")
        await jobs.Runner(name="other-worker").run_once(periodic=False)
    running = await row(job_id)
    assert (running["status"], running["worker"], running["attempts"]) == (
        "running",
        "slow-worker",
        1,
    )
    assert RUNS == []


async def test_a_stopping_worker_gives_back_unfinished_jobs_without_counting_the_try(
    clock, monkeypatch
):
    from billdesk.jobs import runner as runner_module

    monkeypatch.setattr(runner_module, "STOP_GRACE_SECONDS", 0.05)
    started, never = asyncio.Event(), asyncio.Event()

    @jobs.handler("test.endless")
    async def endless(payload: dict) -> None:
        started.set()
        await never.wait()

    try:
        job_id = await jobs.enqueue("test.endless", {})
        worker = jobs.Runner()
        running = asyncio.create_task(worker.run())
        await asyncio.wait_for(started.wait(), timeout=5)
        worker.stop()
        await asyncio.wait_for(running, timeout=5)
    finally:
        jobs.registry.forget("test.endless")
    given_back = await row(job_id)
    assert (given_back["status"], given_back["attempts"]) == ("pending", 0)
    assert given_back["run_at"] == clock.now()
