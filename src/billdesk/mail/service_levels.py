"""The mails of service levels (billdesk.sla), as a subscriber to the outbox:

| happening | mail |
| --- | --- |
| a ticket at risk or breached (`ticket.sla_escalated`) | the people told: `sla_escalation` |
| a reminder before auto-close (`ticket.inactivity_reminder`) | the customer: `inactivity_reminder` |
| a ticket support worked on is solved | the customer: `rating_request`, once per ticket |

Each person's mail choices apply; each mail is keyed, so a happening told twice mails once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from billdesk import outbox
from billdesk.i18n import tr
from billdesk.mail.notify import STAFF_ROLES, _mail_people
from billdesk.mail.outgoing import ticket_summary
from billdesk.sla.automation import INACTIVITY_REMINDER
from billdesk.sla.escalation import ESCALATED
from billdesk.sla.satisfaction import may_be_rated
from billdesk.tables import Ticket, User

CUSTOMER = (User.Role.customer.value,)
# Kept in the mail's parameters in English and shown in the recipient's language.
TARGETS = {
    "first_response": tr("first response"),
    "next_response": tr("next response"),
    "resolution": tr("resolution"),
}
BREACHED, AT_RISK = tr("breached"), tr("at risk")


async def wants_rating(ticket_id: int) -> bool:
    """A solved ticket support worked on (not a paid ticket given up before payment, nor
    one merged into another): `satisfaction.may_be_rated`."""
    row = await Ticket.select(
        Ticket.status, Ticket.clock_started_at, Ticket.merged_into
    ).where(Ticket.id == ticket_id).first()
    return row is not None and may_be_rated(row)


@outbox.subscriber("mail.service_levels")
async def mail_service_levels(happening: dict[str, Any]) -> None:
    kind = happening["type"]
    solved = kind == outbox.STATUS_CHANGED and happening.get("new") == Ticket.Status.solved.value
    if kind not in (ESCALATED, INACTIVITY_REMINDER) and not solved:
        return
    ticket = await ticket_summary(happening["ticket_id"])
    if ticket is None:
        return
    if kind == ESCALATED:
        due = datetime.fromisoformat(happening["due_at"])
        await _mail_people(
            happening,
            "sla_escalation",
            list(happening.get("recipients") or []),
            roles=STAFF_ROLES,
            ticket=ticket,
            params={
                "target_label": TARGETS.get(happening.get("target", ""), tr("service-level")),
                "stage_label": BREACHED if happening.get("stage") == "breached" else AT_RISK,
                "due_label": f"{due:%Y-%m-%d %H:%M} UTC",
            },
        )
    elif kind == INACTIVITY_REMINDER:
        await _mail_people(
            {**happening, "actor_id": None},
            "inactivity_reminder",
            [ticket["customer"]],
            roles=CUSTOMER,
            ticket=ticket,
            params={"closes_at": happening.get("closes_at", "")},
        )
    elif await wants_rating(ticket["id"]):
        # Keyed by ticket, not by happening: a ticket asks once.
        await _mail_people(
            {**happening, "id": f"rating:{ticket['id']}", "actor_id": None},
            "rating_request",
            [ticket["customer"]],
            roles=CUSTOMER,
            ticket=ticket,
        )
