"""Escalation: a ticket whose nearest deadline becomes at risk (a share of its target
gone) or passes is told once to its assignee, or to its department's staff when nobody
has it, in-app and by mail (each person's mail choices apply); the department's rule may
raise the priority or reassign. Each escalation is one line of the ticket's history.

The periodic job `sla.escalate` looks, every minute, for tickets whose `risk_at` or
`due_at` has come and that were not told yet; both columns are indexed.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from billdesk import clock, jobs, notifications, outbox
from billdesk.formatting import LocalMoment
from billdesk.i18n import Text, tr
from billdesk.sla.policy import PRIORITIES, policy_for
from billdesk.sla.timers import LABELS, deadline_key, told_with
from billdesk.tables import DepartmentMember, Ticket, TicketEvent, User
from billdesk.tickets.lifecycle import locked_row, record_event, write_transaction

log = logging.getLogger("billdesk.sla")

ESCALATED = "ticket.sla_escalated"  # stage (at_risk, breached), target, due_at, recipients
BATCH = 200
STAFF_ROLES = [User.Role.staff.value, User.Role.admin.value]


def due_for_escalation(now: datetime):
    """Open tickets in progress whose at-risk or due moment has come and was not told."""
    return (
        Ticket.removed_at.is_null()
        & (Ticket.status == Ticket.Status.in_progress.value)
        & (
            ((Ticket.risk_at <= now) & (Ticket.risk_told == False))  # noqa: E712
            | ((Ticket.due_at <= now) & (Ticket.breach_told == False))  # noqa: E712
        )
    )


@jobs.periodic("sla.escalate", every=timedelta(minutes=1))
async def escalate_due() -> None:
    """Escalate every ticket whose moment has come (in batches, soonest due first)."""
    while True:
        now = clock.now()
        rows = await (
            Ticket.select(Ticket.id)
            .where(due_for_escalation(now))
            .order_by(Ticket.due_at)
            .limit(BATCH)
        )
        for row in rows:
            async with write_transaction():
                await escalate_ticket(row["id"], now)
        if len(rows) < BATCH:
            return


async def _recipients(ticket: dict[str, Any]) -> list[int]:
    if ticket["assignee"] is not None:
        return [ticket["assignee"]]
    return await (
        DepartmentMember.select(DepartmentMember.user)
        .where(
            (DepartmentMember.department == ticket["department"])
            & (DepartmentMember.user.active == True)  # noqa: E712
            & DepartmentMember.user.role.is_in(STAFF_ROLES)
        )
        .output(as_list=True)
    )


async def _apply_rule(ticket: dict[str, Any], stage: str) -> dict[str, Any]:
    """The department's rule for this stage, if any; returns the ticket as it now is."""
    policy = await policy_for(ticket["department"])
    if not policy.rule or policy.rule_stage != stage:
        return ticket
    if policy.rule == "raise_priority":
        rank = PRIORITIES.index(ticket["priority"])
        if rank + 1 < len(PRIORITIES):
            higher = PRIORITIES[rank + 1]
            # The deadlines stay those promised: the rule asks for attention, it does
            # not move the target (a staff member's change of priority does).
            await Ticket.update({Ticket.priority: higher, Ticket.priority_rank: rank + 1}).where(
                Ticket.id == ticket["id"]
            )
            await TicketEvent.insert(
                TicketEvent(
                    ticket=ticket["id"],
                    actor=None,
                    kind=TicketEvent.Kind.priority,
                    old_value=ticket["priority"],
                    new_value=higher,
                )
            )
            ticket = {**ticket, "priority": higher}
    elif policy.rule == "reassign" and policy.reassign_to not in (None, ticket["assignee"]):
        person = (
            await User.select(User.name, User.active).where(User.id == policy.reassign_to).first()
        )
        member = await DepartmentMember.exists().where(
            (DepartmentMember.department == ticket["department"])
            & (DepartmentMember.user == policy.reassign_to)
        )
        if person and person["active"] and member:
            old = await User.select(User.name).where(User.id == ticket["assignee"]).first()
            await Ticket.update({Ticket.assignee: policy.reassign_to}).where(
                Ticket.id == ticket["id"]
            )
            await record_event(
                ticket_id=ticket["id"],
                kind=TicketEvent.Kind.assignee,
                actor_id=None,
                old_value=old["name"] if old else "",
                new_value=person["name"],
            )
            ticket = {**ticket, "assignee": policy.reassign_to}
    return ticket


# What the agents are told, by deadline and by whether it passed (True) or is near.
ESCALATION_NOTES = {
    ("first_response", False): tr("#%(id)s first response at risk: %(subject)s"),
    ("first_response", True): tr("#%(id)s first response breached: %(subject)s"),
    ("next_response", False): tr("#%(id)s next response at risk: %(subject)s"),
    ("next_response", True): tr("#%(id)s next response breached: %(subject)s"),
    ("resolution", False): tr("#%(id)s resolution at risk: %(subject)s"),
    ("resolution", True): tr("#%(id)s resolution breached: %(subject)s"),
}

# The history line of an escalation, in the reader's language and on their clocks.
HISTORY_LINES = {
    ("first_response", False): tr("First response at risk (due %(when)s)"),
    ("first_response", True): tr("First response deadline missed (due %(when)s)"),
    ("next_response", False): tr("Next response at risk (due %(when)s)"),
    ("next_response", True): tr("Next response deadline missed (due %(when)s)"),
    ("resolution", False): tr("Resolution at risk (due %(when)s)"),
    ("resolution", True): tr("Resolution deadline missed (due %(when)s)"),
}


def _escalation_line(target: str, breached: bool, due_at: datetime) -> Text:
    line = HISTORY_LINES.get((target, breached), HISTORY_LINES["resolution", breached])
    return tr(line, when=LocalMoment(due_at))


async def escalate_ticket(ticket_id: int, now: datetime) -> str | None:
    """Escalate one ticket if its moment has come and it was not told (inside a write
    transaction); returns the stage told, or None. A deadline already passed is told as
    breached only."""
    ticket = await locked_row(Ticket, ticket_id)
    if (
        ticket is None
        or ticket["removed_at"] is not None
        or ticket["status"] != Ticket.Status.in_progress.value
    ):
        return None
    breached = ticket["due_at"] <= now and not ticket["breach_told"]
    at_risk = (
        not breached
        and ticket["risk_at"] is not None
        and ticket["risk_at"] <= now
        and not ticket["risk_told"]
    )
    if not (breached or at_risk):
        return None
    stage = "breached" if breached else "at_risk"
    target = ticket["due_kind"]
    key = deadline_key(target, ticket)
    told = told_with(ticket, f"{key}:at_risk")
    if breached:
        told = told_with({**ticket, "sla_told": told}, f"{key}:breached")
    await Ticket.update(
        {Ticket.sla_told: told, Ticket.risk_told: True, Ticket.breach_told: breached}
    ).where(Ticket.id == ticket_id)
    label = LABELS.get(target, target)
    words = "breached" if breached else "at risk"
    await record_event(
        ticket_id=ticket_id,
        kind=TicketEvent.Kind.sla,
        actor_id=None,
        old_value=target,
        new_value=f"{label} {words} (due {ticket['due_at']:%Y-%m-%d %H:%M} UTC)",
        text=_escalation_line(target, breached, ticket["due_at"]),
    )
    ticket = await _apply_rule(ticket, stage)
    recipients = await _recipients(ticket)
    kind = notifications.Kind.sla_breached if breached else notifications.Kind.sla_at_risk
    for user_id in recipients:
        await notifications.notify(
            user_id=user_id,
            kind=kind,
            ticket_id=ticket_id,
            text=tr(
                ESCALATION_NOTES.get((target, breached), ESCALATION_NOTES["resolution", breached]),
                id=ticket_id,
                subject=ticket["subject"],
            ),
        )
    await outbox.publish(
        ESCALATED,
        ticket_id=ticket_id,
        stage=stage,
        target=target,
        due_at=ticket["due_at"].isoformat(),
        recipients=recipients,
    )
    log.info("ticket %s: %s %s", ticket_id, label, words)
    return stage
