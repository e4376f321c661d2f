"""Satisfaction: a solved ticket that support worked on asks its customer, once, for a
rating from 1 to 5 and an optional comment (on the ticket page, by mail, in Telegram
where linked). One rating per ticket, changeable for 7 days after it was first given.
Staff see it on the ticket; the reports average it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from billdesk import clock, formatting
from billdesk.auth import CurrentUser
from billdesk.errors import InvalidTransition, ValidationFailed
from billdesk.i18n import tr
from billdesk.sql import Statement
from billdesk.tables import Ticket, TicketEvent, TicketRating
from billdesk.tickets.actions import customer_ticket
from billdesk.tickets.lifecycle import record_event, write_transaction

CHANGEABLE_FOR = timedelta(days=7)
COMMENT_MAX = 2000
SCORES = range(1, 6)


def may_be_rated(ticket: dict[str, Any]) -> bool:
    """Solved, and worked on by support (a paid ticket given up before payment is not);
    a ticket merged into another is rated there."""
    return (
        ticket["status"] == Ticket.Status.solved.value
        and ticket["clock_started_at"] is not None
        and ticket.get("merged_into") is None
    )


def check_score(score: Any) -> int:
    if isinstance(score, bool) or not isinstance(score, int) or score not in SCORES:
        raise ValidationFailed.field("score", tr("Rate from 1 (poor) to 5 (excellent)."))
    return score


def check_comment(comment: Any) -> str:
    if comment is None:
        return ""
    if not isinstance(comment, str):
        raise ValidationFailed.field("comment", tr("The comment must be text."))
    text = comment.replace("\r\n", "\n").replace("\x00", "").strip()
    if len(text) > COMMENT_MAX:
        raise ValidationFailed.field(
            "comment",
            tr(
                "The comment is %(length)s characters long; the limit is %(limit)s.",
                length=formatting.number(len(text)),
                limit=formatting.number(COMMENT_MAX),
            ),
        )
    return text


def rating_out(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    until = row["created_at"] + CHANGEABLE_FOR
    return {
        "score": row["score"],
        "comment": row["comment"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "changeable_until": until,
        "changeable": clock.now() < until,
    }


async def rating_of(ticket_id: int) -> dict[str, Any] | None:
    """The ticket's rating, or None (read on every ticket page: SQL written once)."""
    return rating_out(await _RATING.first(ticket=ticket_id))


_RATING = Statement(
    "SELECT score, comment, created_at, updated_at FROM ticket_ratings WHERE ticket = :ticket"
)


async def rate_ticket(
    *, ticket_id: int, customer: CurrentUser, score: Any, comment: Any = None
) -> dict[str, Any]:
    """The customer rates their solved ticket (or changes the rating within 7 days).

    Another person's ticket is NotFound; a ticket not solved, or a rating older than
    7 days, is `invalid_transition`; a score outside 1-5 is a validation error."""
    ticket = await customer_ticket(ticket_id, customer.id)
    if not may_be_rated(ticket):
        raise InvalidTransition(
            tr("Only a solved ticket can be rated."),
            errors={"score": tr("Only a solved ticket can be rated.")},
        )
    value = check_score(score)
    text = check_comment(comment)
    now = clock.now()
    async with write_transaction():
        existing = await TicketRating.select().where(TicketRating.ticket == ticket_id).first()
        if existing is None:
            await TicketRating.insert(
                TicketRating(
                    ticket=ticket_id,
                    department=ticket["department"],
                    agent=ticket["assignee"],
                    score=value,
                    comment=text,
                    created_at=now,
                    updated_at=now,
                )
            ).on_conflict(target=TicketRating.ticket, action="DO NOTHING")
            old = ""
        else:
            if now >= existing["created_at"] + CHANGEABLE_FOR:
                raise InvalidTransition(
                    tr("A rating can be changed for 7 days after it was given."),
                    errors={"score": tr("This rating can no longer be changed.")},
                )
            await TicketRating.update(
                {
                    TicketRating.score: value,
                    TicketRating.comment: text,
                    TicketRating.updated_at: now,
                }
            ).where(TicketRating.id == existing["id"])
            old = f"{existing['score']}/5"
        await record_event(
            ticket_id=ticket_id,
            kind=TicketEvent.Kind.rating,
            actor_id=customer.id,
            old_value=old,
            new_value=f"{value}/5",
        )
    rating = await rating_of(ticket_id)
    assert rating is not None
    return rating
