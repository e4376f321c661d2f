"""Each ticket's service-level clock: when it starts, pauses, resumes and stops, and
the deadlines it keeps (first response, next response, resolution).

The clock runs only while the ticket waits for support (`in_progress`). It starts
when the ticket opens, or when a paid ticket is paid (never before); a public staff
reply pauses it (`waiting_for_reply`) and is the first response; the customer's
answer resumes it and starts a next-response target; solving stops it. Every
status move passes through `tickets.lifecycle.record_event`, which calls
`on_ticket_event()` inside the move's transaction, so every channel keeps the clock
the same way. A priority change or a transfer takes the new targets.

The nearest running deadline is copied to `due_at` (NEVER while none runs) and the
moment it becomes at risk to `risk_at`: the queue sorts and filters on those, and
the escalation job looks for tickets whose moment has come.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from billdesk import clock
from billdesk.sla.policy import Policy, Targets, policy_for
from billdesk.tables import NEVER, Ticket, TicketEvent

Status = Ticket.Status
Kind = TicketEvent.Kind

LABELS = {
    "first_response": "first response",
    "next_response": "next response",
    "resolution": "resolution",
}


# ------------------------------------------------------------------ pure rules


def _seconds(minutes: int | None, percent: int = 100) -> int | None:
    return None if minutes is None else minutes * 60 * percent // 100


def deadline_key(kind: str, row: dict[str, Any]) -> str:
    """Names a deadline for `sla_told`: each next-response round is a deadline of its own."""
    if kind == "next_response" and row.get("clock_running_since") is not None:
        return f"next@{int(row['clock_running_since'].timestamp())}"
    return kind


def deadlines(row: dict[str, Any], policy: Policy) -> dict[str, Any]:
    """The deadline columns for the ticket as it stands (`row` has the clock's columns)."""
    hours = policy.hours
    targets: Targets = policy.targets_for(row["priority"], row["sla_paid"])
    running = row.get("clock_running_since")
    started = row.get("clock_started_at")
    elapsed = row.get("clock_elapsed_seconds") or 0
    changes: dict[str, Any] = {"resolution_due_at": None}
    if started is not None and row.get("first_response_at") is None:
        target = _seconds(targets.first_response)
        changes["first_response_due_at"] = (
            hours.add_seconds(started, target) if target is not None else None
        )
    candidates: list[tuple[datetime, str, datetime]] = []
    if running is not None:
        if started is not None and changes.get("first_response_due_at"):
            risk = hours.add_seconds(
                started, _seconds(targets.first_response, policy.at_risk_percent) or 0
            )
            candidates.append((changes["first_response_due_at"], "first_response", risk))
        if row.get("first_response_at") is not None and targets.next_response is not None:
            due = hours.add_seconds(running, _seconds(targets.next_response) or 0)
            changes["next_response_due_at"] = due
            risk = hours.add_seconds(
                running, _seconds(targets.next_response, policy.at_risk_percent) or 0
            )
            candidates.append((due, "next_response", risk))
        else:
            changes["next_response_due_at"] = None
        if targets.resolution is not None:
            due = hours.add_seconds(running, max((_seconds(targets.resolution) or 0) - elapsed, 0))
            changes["resolution_due_at"] = due
            risk_left = (_seconds(targets.resolution, policy.at_risk_percent) or 0) - elapsed
            risk = hours.add_seconds(running, max(risk_left, 0))
            candidates.append((due, "resolution", risk))
    else:
        changes["next_response_due_at"] = None
    if candidates:
        due, kind, risk = min(candidates)
        told = _told(row)
        key = deadline_key(kind, row)
        changes.update(
            due_at=due,
            due_kind=kind,
            risk_at=risk,
            risk_told=f"{key}:at_risk" in told,
            breach_told=f"{key}:breached" in told,
        )
    else:
        changes.update(due_at=NEVER, due_kind="", risk_at=None, risk_told=False, breach_told=False)
    return changes


def _told(row: dict[str, Any]) -> set[str]:
    return {part for part in (row.get("sla_told") or "").split(",") if part}


def told_with(row: dict[str, Any], entry: str) -> str:
    """`sla_told` with `entry` added; next-response rounds other than the current one are
    forgotten (they can never come back), so the column stays short."""
    current = deadline_key("next_response", row)
    kept = [
        part
        for part in (row.get("sla_told") or "").split(",")
        if part and (not part.startswith("next@") or part.startswith(current + ":"))
    ]
    return ",".join(dict.fromkeys([*kept, entry]))


@dataclass(frozen=True)
class State:
    state: str  # ok, at_risk, breached
    due_at: datetime | None


def sla_state(row: dict[str, Any], now: datetime | None = None) -> State:
    """ok / at_risk / breached for the nearest running deadline (ok while none runs)."""
    now = now or clock.now()
    due = row.get("due_at")
    if due is None or due >= NEVER:
        return State("ok", None)
    if due <= now:
        return State("breached", due)
    risk = row.get("risk_at")
    if risk is not None and risk <= now:
        return State("at_risk", due)
    return State("ok", due)


# ------------------------------------------------------------------ the clock's moves


def start(row: dict[str, Any], policy: Policy, now: datetime, *, paid: bool) -> dict[str, Any]:
    changes = {
        "sla_paid": paid,
        "clock_started_at": now,
        "clock_running_since": now,
        "clock_elapsed_seconds": 0,
    }
    return {**changes, **deadlines({**row, **changes}, policy)}


def pause(row: dict[str, Any], policy: Policy, now: datetime) -> dict[str, Any]:
    """A public staff reply: the clock stops running; the first one is the first response."""
    running = row.get("clock_running_since")
    if row.get("clock_started_at") is None or running is None:
        return {}
    hours = policy.hours
    elapsed = (row.get("clock_elapsed_seconds") or 0) + hours.seconds_between(running, now)
    changes: dict[str, Any] = {"clock_running_since": None, "clock_elapsed_seconds": elapsed}
    if row.get("first_response_at") is None:
        targets = policy.targets_for(row["priority"], row["sla_paid"])
        seconds = hours.seconds_between(row["clock_started_at"], now)
        changes.update(
            first_response_at=now,
            first_response_seconds=seconds,
            first_response_met=None
            if targets.first_response is None
            else seconds <= targets.first_response * 60,
        )
    return {**changes, **deadlines({**row, **changes}, policy)}


def resume(row: dict[str, Any], policy: Policy, now: datetime) -> dict[str, Any]:
    """The customer answered: the clock runs again, and a next-response target starts."""
    if row.get("clock_started_at") is None or row.get("clock_running_since") is not None:
        return {}
    changes = {"clock_running_since": now}
    return {**changes, **deadlines({**row, **changes}, policy)}


def stop(row: dict[str, Any], policy: Policy, now: datetime) -> dict[str, Any]:
    """Solved: the clock stops for good; the resolution time is what it ran."""
    if row.get("clock_started_at") is None:
        return {}
    elapsed = row.get("clock_elapsed_seconds") or 0
    if row.get("clock_running_since") is not None:
        elapsed += policy.hours.seconds_between(row["clock_running_since"], now)
    targets = policy.targets_for(row["priority"], row["sla_paid"])
    changes = {
        "clock_running_since": None,
        "clock_elapsed_seconds": elapsed,
        "solved_at": now,
        "resolution_seconds": elapsed,
        "resolution_met": None
        if targets.resolution is None
        else elapsed <= targets.resolution * 60,
        "next_response_due_at": None,
    }
    return {
        **changes,
        "resolution_due_at": None,
        "due_at": NEVER,
        "due_kind": "",
        "risk_at": None,
        "risk_told": False,
        "breach_told": False,
    }


def opening_clock(policy: Policy, now: datetime, *, priority: str) -> dict[str, Any]:
    """The clock's columns of a ticket that opens waiting for support: started at `now`.

    What `on_ticket_event` would write for its `opened` line, for an opening that
    writes them with the ticket's row (and records the line with `clock_moved`)."""
    fresh = {"priority": priority, "sla_paid": False, "first_response_at": None, "sla_told": ""}
    return start(fresh, policy, now, paid=False)


# ------------------------------------------------------------------ the hook


async def on_ticket_event(*, ticket_id: int, kind: str, old: str, new: str) -> None:
    """Move the ticket's clock for a line of its history (inside the change's transaction)."""
    kind = Kind(kind).value
    if kind not in (Kind.opened, Kind.status, Kind.priority, Kind.department):
        return
    row = await Ticket.select().where(Ticket.id == ticket_id).first()
    if row is None:
        return
    if kind == Kind.status:
        # The caller records the move before it writes the new status.
        row["status"] = new
    policy = await policy_for(row["department"])
    now = clock.now()
    changes: dict[str, Any] = {}
    if kind == Kind.opened:
        if new == Status.in_progress.value:
            changes = start(row, policy, now, paid=False)
    elif kind == Kind.status:
        if old == Status.awaiting_payment.value and new == Status.in_progress.value:
            changes = start(row, policy, now, paid=True)
        elif old == Status.in_progress.value and new == Status.waiting_for_reply.value:
            changes = pause(row, policy, now)
        elif old == Status.waiting_for_reply.value and new == Status.in_progress.value:
            changes = resume(row, policy, now)
        elif new == Status.solved.value and old != Status.solved.value:
            changes = stop(row, policy, now)
    elif row["status"] in (Status.in_progress.value, Status.waiting_for_reply.value):
        changes = deadlines(row, policy)  # new priority or department: new targets
    if changes:
        await Ticket.update(
            {getattr(Ticket, name): value for name, value in changes.items()}
        ).where(Ticket.id == ticket_id)
