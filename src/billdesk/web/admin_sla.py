"""Admin: a department's service level (business hours, targets, escalation, auto-close)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from billdesk import departments
from billdesk.auth import requires_admin
from billdesk.errors import DeskError
from billdesk.i18n import tr
from billdesk.sla import policy
from billdesk.sla.hours import WEEKDAYS
from billdesk.web.layout import render

WEEKDAY_LABELS = dict(
    zip(
        WEEKDAYS,
        (
            tr("Monday"),
            tr("Tuesday"),
            tr("Wednesday"),
            tr("Thursday"),
            tr("Friday"),
            tr("Saturday"),
            tr("Sunday"),
        ),
        strict=True,
    )
)
KIND_LABELS = {
    "first_response": tr("First response"),
    "next_response": tr("Next response"),
    "resolution": tr("Resolution"),
}
RULE_OPTIONS = [
    ("", tr("No rule")),
    ("raise_priority", tr("Raise the priority one step")),
    ("reassign", tr("Reassign to…")),
]
STAGE_OPTIONS = [("at_risk", tr("when at risk")), ("breached", tr("when breached"))]


def _typed_from(level: dict[str, Any]) -> dict[str, str]:
    """The service level as the form's fields, named like the API's error fields."""
    hours = level["hours"]
    typed = {
        "hours.timezone": hours["timezone"],
        "hours.always": "1" if hours["always"] else "",
        "hours.holidays": "\n".join(hours["holidays"]),
        "at_risk_percent": str(level["at_risk_percent"]),
        "rule": level["rule"],
        "rule_stage": level["rule_stage"],
        "reassign_to_id": str(level["reassign_to_id"] or ""),
        "auto_close_days": str(level["auto_close_days"]),
    }
    for day in WEEKDAYS:
        typed[f"hours.week.{day}"] = ", ".join(hours["week"].get(day, []))
    for group in ("targets", "paid_targets"):
        for priority in policy.PRIORITIES:
            for kind in policy.TARGET_KINDS:
                value = level[group].get(priority, {}).get(kind)
                typed[f"{group}.{priority}.{kind}"] = "" if value is None else str(value)
    return typed


def _number(typed: dict[str, str], name: str, errors: dict[str, str]) -> int | None:
    text = typed.get(name, "").strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 7:
        errors[name] = tr("Write a whole number.")
        return None
    return int(text)


def _parsed(typed: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    data: dict[str, Any] = {
        "hours": {
            "timezone": typed["hours.timezone"].strip() or "UTC",
            "always": bool(typed.get("hours.always")),
            "week": {day: typed.get(f"hours.week.{day}", "") for day in WEEKDAYS},
            "holidays": [
                line.strip() for line in typed["hours.holidays"].splitlines() if line.strip()
            ],
        },
        "rule": typed.get("rule", ""),
        "rule_stage": typed.get("rule_stage", "breached"),
        "reassign_to_id": _number(typed, "reassign_to_id", errors),
        "at_risk_percent": _number(typed, "at_risk_percent", errors) or 0,
        "auto_close_days": _number(typed, "auto_close_days", errors) or 0,
    }
    for group in ("targets", "paid_targets"):
        data[group] = {
            priority: {
                kind: _number(typed, f"{group}.{priority}.{kind}", errors)
                for kind in policy.TARGET_KINDS
            }
            for priority in policy.PRIORITIES
        }
    return data, errors


class AdminServiceLevelController(Controller):
    path = "/admin/departments/{department_id:int}/service-level"
    tags = ["admin"]
    include_in_schema = False
    guards = [requires_admin]

    @get("/")
    async def page(
        self, request: Request, department_id: FromPath[int], saved: FromQuery[str | None] = None
    ) -> Template:
        level = await policy.service_level(department_id)
        return await self._page(request, department_id, _typed_from(level), saved=bool(saved))

    async def _page(
        self,
        request: Request,
        department_id: int,
        typed: dict[str, str],
        *,
        errors: dict[str, str] | None = None,
        status_code: int = 200,
        saved: bool = False,
    ) -> Template:
        department = await departments.get_department(department_id)
        members = await departments.members(department_id)
        return await render(
            request,
            "admin/service_level.html",
            {
                "department": department,
                "typed": typed,
                "errors": errors or {},
                "saved": saved,
                "weekdays": WEEKDAY_LABELS,
                "priorities": policy.PRIORITIES,
                "kinds": KIND_LABELS,
                "rule_options": RULE_OPTIONS,
                "stage_options": STAGE_OPTIONS,
                "member_options": [
                    (member["user.id"], member["user.name"])
                    for member in members
                    if member["user.active"] and member["user.role"] in ("staff", "admin")
                ],
            },
            active="admin_departments",
            status_code=status_code,
        )

    @post("/")
    async def save(self, request: Request, department_id: FromPath[int]) -> Template | Redirect:
        form = await request.form()
        typed = {key: str(value) for key, value in form.items() if key != "_csrf_token"}
        typed.setdefault("hours.timezone", "UTC")
        typed.setdefault("hours.holidays", "")
        data, errors = _parsed(typed)
        if not errors:
            try:
                await policy.set_service_level(department_id, data)
            except DeskError as exc:
                errors = exc.errors
            else:
                return Redirect(path=f"/admin/departments/{department_id}/service-level?saved=1")
        return await self._page(request, department_id, typed, errors=errors, status_code=422)
