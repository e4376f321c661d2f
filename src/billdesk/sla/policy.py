"""A department's service level: business hours, targets per priority (and for paid
tickets), the share after which a target is at risk, the escalation rule and auto-close.

A department without a row promises nothing: round the clock, no targets, no
auto-close. Admins set it through `set_service_level()` (admin page and API).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from billdesk import clock
from billdesk.errors import NotFound, ValidationFailed
from billdesk.i18n import tr
from billdesk.sla.hours import ROUND_THE_CLOCK, BusinessHours, ScheduleError
from billdesk.sql import Statement
from billdesk.tables import Department, DepartmentMember, ServiceLevel, Ticket, User
from billdesk.validation import MAX_ID

PRIORITIES = tuple(priority.value for priority in Ticket.Priority)
TARGET_KINDS = ("first_response", "next_response", "resolution")
MAX_TARGET_MINUTES = 366 * 24 * 60
RULES = tuple(rule.value for rule in ServiceLevel.Rule)
STAGES = tuple(stage.value for stage in ServiceLevel.Stage)
MAX_AUTO_CLOSE_DAYS = 365


@dataclass(frozen=True)
class Targets:
    """Business minutes; None: no promise for that target."""

    first_response: int | None = None
    next_response: int | None = None
    resolution: int | None = None

    def minutes(self, kind: str) -> int | None:
        return getattr(self, kind)

    def as_dict(self) -> dict[str, int | None]:
        return {kind: self.minutes(kind) for kind in TARGET_KINDS}


NO_TARGETS = Targets()


@dataclass(frozen=True)
class Policy:
    hours: BusinessHours = ROUND_THE_CLOCK
    targets: dict[str, Targets] = field(default_factory=dict)
    paid_targets: dict[str, Targets] = field(default_factory=dict)
    at_risk_percent: int = 80
    rule: str = ""
    rule_stage: str = "breached"
    reassign_to: int | None = None
    auto_close_days: int = 0

    def targets_for(self, priority: str, paid: bool) -> Targets:
        """Paid tickets take the paid targets where the department set them."""
        if paid and priority in self.paid_targets:
            return self.paid_targets[priority]
        return self.targets.get(priority, NO_TARGETS)


NO_PROMISE = Policy()


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def parse_targets(data: Any, name: str) -> dict[str, Targets]:
    """`{priority: {first_response, next_response, resolution}}`, checked; errors name
    the field like `targets.high.resolution`."""
    data = _loads(data) or {}
    if not isinstance(data, dict):
        raise ValidationFailed.field(name, tr("Targets map a priority to its minutes."))
    result: dict[str, Targets] = {}
    for priority, minutes in data.items():
        where = f"{name}.{priority}"
        if priority not in PRIORITIES:
            raise ValidationFailed.field(
                where, tr("The priority must be one of: %(choices)s.", choices=", ".join(PRIORITIES))
            )
        if not isinstance(minutes, dict) or set(minutes) - set(TARGET_KINDS):
            raise ValidationFailed.field(
                where, tr("Give first_response, next_response and resolution in minutes.")
            )
        values: dict[str, int | None] = {}
        for kind in TARGET_KINDS:
            value = minutes.get(kind)
            if value is not None and (
                not isinstance(value, int)
                or isinstance(value, bool)
                or not 1 <= value <= MAX_TARGET_MINUTES
            ):
                raise ValidationFailed.field(
                    f"{where}.{kind}",
                    tr(
                        "A target is a whole number of business minutes, 1 to %(max)s.",
                        max=MAX_TARGET_MINUTES,
                    ),
                )
            values[kind] = value
        if any(value is not None for value in values.values()):
            result[priority] = Targets(**values)
    return result


def _targets_out(targets: dict[str, Targets]) -> dict[str, dict[str, int | None]]:
    return {priority: targets[priority].as_dict() for priority in PRIORITIES if priority in targets}


def policy_from_row(row: dict[str, Any] | None) -> Policy:
    if row is None:
        return NO_PROMISE
    return Policy(
        hours=BusinessHours.from_dict(_loads(row["hours"]) or {}),
        targets=parse_targets(row["targets"], "targets"),
        paid_targets=parse_targets(row["paid_targets"], "paid_targets"),
        at_risk_percent=row["at_risk_percent"],
        rule=row["rule"] or "",
        rule_stage=row["rule_stage"],
        reassign_to=row["reassign_to"],
        auto_close_days=row["auto_close_days"],
    )


async def policy_for(department_id: int) -> Policy:
    """The department's service level (no promise when none is set)."""
    return policy_from_row(await _POLICY.first(department=department_id))


# Read by every change that moves a ticket's clock: written once (billdesk.sql).
_POLICY = Statement(
    "SELECT hours, targets, paid_targets, at_risk_percent, rule, rule_stage, reassign_to, "
    "auto_close_days FROM service_levels WHERE department = :department"
)


def as_dict(department_id: int, policy: Policy) -> dict[str, Any]:
    """The API shape of a service level."""
    return {
        "department_id": department_id,
        "hours": policy.hours.as_dict(),
        "targets": _targets_out(policy.targets),
        "paid_targets": _targets_out(policy.paid_targets),
        "at_risk_percent": policy.at_risk_percent,
        "rule": policy.rule,
        "rule_stage": policy.rule_stage,
        "reassign_to_id": policy.reassign_to,
        "auto_close_days": policy.auto_close_days,
    }


async def service_level(department_id: int) -> dict[str, Any]:
    if not await Department.exists().where(Department.id == department_id):
        raise NotFound(tr("There is no such department."))
    return as_dict(department_id, await policy_for(department_id))


def _int_field(data: dict[str, Any], name: str, low: int, high: int, default: int) -> int:
    value = data.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValidationFailed.field(
            name, tr("%(field)s must be a whole number from %(low)s to %(high)s.", field=name, low=low, high=high)
        )
    return value


async def set_service_level(department_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Replace the department's service level with `data` (the API shape; fields left out
    keep their current value). Every bad value is refused naming its field."""
    if not await Department.exists().where(Department.id == department_id):
        raise NotFound(tr("There is no such department."))
    if not isinstance(data, dict):
        raise ValidationFailed.field("hours", tr("Send the service level as an object."))
    unknown = sorted(set(data) - {*as_dict(0, NO_PROMISE)} - {"department_id"})
    if unknown:
        raise ValidationFailed.field(unknown[0], tr("%(field)s is not a service-level field.", field=unknown[0]))
    current = as_dict(department_id, await policy_for(department_id))
    merged = {**current, **data}
    try:
        hours = BusinessHours.from_dict(merged["hours"])
    except ScheduleError as exc:
        raise ValidationFailed.field(f"hours.{exc.field}", exc.message) from exc
    targets = parse_targets(merged["targets"], "targets")
    paid_targets = parse_targets(merged["paid_targets"], "paid_targets")
    at_risk = _int_field(merged, "at_risk_percent", 1, 99, 80)
    auto_close = _int_field(merged, "auto_close_days", 0, MAX_AUTO_CLOSE_DAYS, 0)
    rule = merged.get("rule") or ""
    if rule not in RULES:
        raise ValidationFailed.field(
            "rule", tr("The rule is one of: none (''), raise_priority, reassign.")
        )
    stage = merged.get("rule_stage") or "breached"
    if stage not in STAGES:
        raise ValidationFailed.field("rule_stage", tr("The rule acts at_risk or breached."))
    reassign_to = merged.get("reassign_to_id")
    if rule == "reassign":
        if (
            not isinstance(reassign_to, int)
            or isinstance(reassign_to, bool)
            or not 0 < reassign_to <= MAX_ID
        ):
            raise ValidationFailed.field("reassign_to_id", tr("Choose whom the rule reassigns to."))
        member = await DepartmentMember.exists().where(
            (DepartmentMember.department == department_id)
            & (DepartmentMember.user == reassign_to)
            & (DepartmentMember.user.active == True)  # noqa: E712
            & DepartmentMember.user.role.is_in([User.Role.staff.value, User.Role.admin.value])
        )
        if not member:
            raise ValidationFailed.field(
                "reassign_to_id", tr("The rule reassigns to an active staff member of the department.")
            )
    else:
        reassign_to = None
    values = {
        ServiceLevel.hours: json.dumps(hours.as_dict()),
        ServiceLevel.targets: json.dumps(_targets_out(targets)),
        ServiceLevel.paid_targets: json.dumps(_targets_out(paid_targets)),
        ServiceLevel.at_risk_percent: at_risk,
        ServiceLevel.rule: rule,
        ServiceLevel.rule_stage: stage,
        ServiceLevel.reassign_to: reassign_to,
        ServiceLevel.auto_close_days: auto_close,
        ServiceLevel.updated_at: clock.now(),
    }
    row = ServiceLevel(department=department_id)
    for column, value in values.items():
        setattr(row, column._meta.name, value)
    await ServiceLevel.insert(row).on_conflict(
        target=ServiceLevel.department, action="DO UPDATE", values=list(values)
    )
    return await service_level(department_id)
