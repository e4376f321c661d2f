"""Admins watch the job queue by page and by API: filters, cursor pages, retry."""

from __future__ import annotations

import pytest

from billdesk import jobs
from billdesk.tables import Job
from tests.desk_support import bearer
from tests.factories import login, make_user


@jobs.handler("test.admin.fails", max_attempts=2)
async def always_fails(payload: dict) -> None:
    raise RuntimeError(f"<script>alert({payload['n']})</script>")


@jobs.handler("test.admin.ok")
async def succeeds(payload: dict) -> None:
    return None


@pytest.fixture
async def admin_headers():
    return await bearer(await make_user(role="admin"))


async def failed_jobs(count: int) -> list[int]:
    ids = [await jobs.enqueue("test.admin.fails", {"n": n}, max_attempts=1) for n in range(count)]
    await jobs.drain()
    return [job_id for job_id in ids if job_id is not None]


async def test_the_api_lists_jobs_newest_first_with_filters_and_cursor_pages(
    client, admin_headers, clock
):
    failed = await failed_jobs(3)
    succeeded = await jobs.enqueue("test.admin.ok", {"n": 9})
    await jobs.drain()
    pending = await jobs.enqueue("test.admin.ok", {"n": 10})

    everything = await client.get("/api/v1/admin/jobs", headers=admin_headers)
    assert everything.status_code == 200, everything.text
    assert [item["id"] for item in everything.json()["items"]] == [
        pending,
        succeeded,
        *reversed(failed),
    ]
    newest = everything.json()["items"][0]
    assert newest["status"] == "pending" and newest["run_at"] == "2026-11-02T09:00:00Z"
    assert newest["payload"] == {"n": 10} and newest["max_attempts"] == 10

    seen, cursor = [], None
    while True:
        params = {"status": "failed", "limit": 2, **({"cursor": cursor} if cursor else {})}
        answer = await client.get("/api/v1/admin/jobs", headers=admin_headers, params=params)
        assert answer.status_code == 200, answer.text
        seen += answer.json()["items"]
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            break
    assert [item["id"] for item in seen] == list(reversed(failed))
    assert {(item["attempts"], item["max_attempts"]) for item in seen} == {(1, 1)}
    assert seen[0]["last_error"].startswith("RuntimeError: <script>")

    by_kind = await client.get(
        "/api/v1/admin/jobs", headers=admin_headers, params={"kind": "test.admin.ok"}
    )
    assert [item["id"] for item in by_kind.json()["items"]] == [pending, succeeded]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "done"}, "status"),
        ({"limit": 0}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ],
)
async def test_bad_filters_answer_422_naming_the_field(client, admin_headers, params, field):
    answer = await client.get("/api/v1/admin/jobs", headers=admin_headers, params=params)
    assert answer.status_code == 422, answer.text
    assert field in {error["field"] for error in answer.json()["errors"]}


async def test_api_retry_runs_a_failed_job_again_and_refuses_other_statuses(
    client, admin_headers, clock
):
    [failed] = await failed_jobs(1)
    ok = await jobs.enqueue("test.admin.ok", {})
    await jobs.drain()

    retried = await client.post(f"/api/v1/admin/jobs/{failed}/retry", headers=admin_headers)
    assert retried.status_code == 200, retried.text
    assert (retried.json()["status"], retried.json()["attempts"]) == ("pending", 0)
    await jobs.drain()
    assert (await client.get(f"/api/v1/admin/jobs/{failed}", headers=admin_headers)).json()[
        "attempts"
    ] == 1

    refused = await client.post(f"/api/v1/admin/jobs/{ok}/retry", headers=admin_headers)
    assert refused.status_code == 409 and refused.json()["code"] == "invalid_transition"
    assert (await Job.select(Job.status).where(Job.id == ok).first())["status"] == "succeeded"
    missing = await client.post("/api/v1/admin/jobs/999999/retry", headers=admin_headers)
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


async def test_the_page_escapes_errors_and_pages_a_filtered_list(client, clock, monkeypatch):
    import re

    from billdesk.web import admin_jobs

    failed = await failed_jobs(3)
    admin = await make_user(role="admin")
    await login(client, admin.email)

    overview = await client.get("/admin/jobs")
    assert overview.status_code == 200
    assert "<script>alert(" not in overview.text and "&lt;script&gt;alert(" in overview.text
    assert 'href="/admin/jobs?status=failed"' in overview.text
    assert 'aria-current="page"' in overview.text.split('href="/admin/jobs"')[1][:40]

    monkeypatch.setattr(admin_jobs, "PER_PAGE", 2)
    first = await client.get("/admin/jobs", params={"status": "failed", "kind": "test.admin.fails"})
    assert re.findall(r'data-job="(\d+)"', first.text) == [str(failed[2]), str(failed[1])]
    older = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert older is not None
    second = await client.get(older.group(1).replace("&amp;", "&"))
    assert re.findall(r'data-job="(\d+)"', second.text) == [str(failed[0])]
    assert 'rel="next"' not in second.text
    bad = await client.get("/admin/jobs", params={"status": "done"})
    assert bad.status_code == 422 and "status must be one of" in bad.text


async def test_the_page_lists_the_periodic_schedules(client, clock):
    await jobs.Runner().housekeeping()  # a worker starts: the schedules appear
    admin = await make_user(role="admin")
    await login(client, admin.email)
    page = await client.get("/admin/jobs")
    periodic = page.text.split('id="jobs-periodic"')[1]
    assert "payments.reconcile" in periodic and "10 min" in periodic
    assert "jobs.prune" in periodic and "1 h" in periodic
    assert "2026-11-02 09:10" in periodic  # the first reconcile, one interval on
