"""Admin: the job queue (pending, running, failed with a Retry button, recently succeeded)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from billdesk import jobs
from billdesk.auth import requires_admin
from billdesk.errors import DeskError
from billdesk.i18n import tr
from billdesk.tables import Job
from billdesk.web import flashes
from billdesk.web.layout import render
from billdesk.web.paging import keyset_page

PER_PAGE = 50
STATUS_LABELS = {
    "pending": tr("Pending"),
    "running": tr("Running"),
    "succeeded": tr("Succeeded"),
    "failed": tr("Failed"),
}
STATUS_OPTIONS = [("", tr("Any status"))] + [
    (status.value, STATUS_LABELS.get(status.value, status.value.capitalize()))
    for status in Job.Status
]


def _list_url(raw: dict[str, str], cursor: str | None = None) -> str:
    query = {name: value for name, value in raw.items() if value}
    if cursor:
        query["cursor"] = cursor
    return "/admin/jobs" + ("?" + urlencode(query) if query else "")


def _back(value: Any) -> str:
    """Where to return after a retry: a jobs list, never another site."""
    back = str(value or "")
    return back if back.startswith("/admin/jobs") and "//" not in back else "/admin/jobs"


class AdminJobsController(Controller):
    path = "/admin/jobs"
    tags = ["admin"]
    include_in_schema = False
    guards = [requires_admin]

    @get("/")
    async def jobs_page(
        self,
        request: Request,
        status: FromQuery[str | None] = None,
        kind: FromQuery[str | None] = None,
        cursor: FromQuery[str | None] = None,
    ) -> Template:
        """With no filter, a few jobs of each status; with one, every matching job, newest first."""
        raw = {"status": (status or "").strip(), "kind": (kind or "").strip()}
        context: dict[str, Any] = {
            "raw": raw,
            "errors": {},
            "status_options": STATUS_OPTIONS,
            "kind_options": [("", tr("Any kind"))] + [(name, name) for name in jobs.kinds()],
            "overview": None,
            "rows": [],
            "next_url": None,
            "here": _list_url(raw, cursor),
            "schedules": await jobs.schedules(),
        }
        status_code = 200
        if raw["status"] or raw["kind"] or cursor:
            try:
                rows, next_cursor = await keyset_page(
                    jobs.jobs_query(status=raw["status"] or None, kind=raw["kind"] or None),
                    sort=None,
                    id_column=Job.id,
                    limit=PER_PAGE,
                    cursor=cursor,
                )
            except DeskError as exc:
                context["errors"], status_code = exc.errors, exc.status
            else:
                context["rows"] = [jobs.described(row) for row in rows]
                context["next_url"] = _list_url(raw, next_cursor) if next_cursor else None
        else:
            context["overview"] = await jobs.overview()
        return await render(
            request, "admin/jobs.html", context, active="admin_jobs", status_code=status_code
        )

    @post("/{job_id:int}/retry")
    async def retry(self, request: Request, job_id: FromPath[int]) -> Redirect:
        await jobs.retry_job(job_id)
        form = await request.form()
        return flashes.saved(
            request, _back(form.get("back")), tr("Job #%(id)s will run again.", id=job_id)
        )
