"""Service requests: the kinds a department takes ("Unblock SMTP port 25", "An additional
IPv4 address") and the approve-or-reject decision on each request.

A request is a ticket of type `request`, opened through the one opening path
(`tickets.open_ticket(request_kind_id=…)`, which skips the quota and the charge).
A decision adds a public message, solves the ticket, tells the customer and
publishes `request.decided`, so the billing system can do the work. It is taken
once: a decided request answers `invalid_transition` (409).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from billdesk import notifications, outbox
from billdesk.accounts import language_of
from billdesk.auth import CurrentUser
from billdesk.errors import InvalidTransition, NotFound, ValidationFailed
from billdesk.i18n import Text, tr, translate
from billdesk.tables import Department, Message, RequestKind, Ticket, TicketEvent, User
from billdesk.tickets.lifecycle import (
    Action,
    add_message,
    current_row,
    move_status,
    record_event,
    utc_now,
    write_transaction,
)

Type = Ticket.Type
State = Ticket.RequestState
DECISIONS = (State.approved.value, State.rejected.value)
NAME_MAX = 120
DESCRIPTION_MAX = 2000
REASON_MAX = 2000
KIND_COLUMNS = (
    RequestKind.id,
    RequestKind.department,
    RequestKind.name,
    RequestKind.description,
    RequestKind.requires_service,
    RequestKind.active,
)


# ------------------------------------------------------------------ kinds


async def create_kind(
    *, department_id: int, name: Any, description: Any = "", requires_service: Any = False
) -> dict[str, Any]:
    """Add a request kind to a department (admins; checked by the caller). The new kind."""
    if not await Department.exists().where(Department.id == department_id):
        raise NotFound(tr("There is no such department."))
    errors: dict[str, str] = {}
    name = " ".join(str(name or "").split()) if isinstance(name, str | type(None)) else None
    if not name:
        errors["name"] = tr("Give the request a name, e.g. \u201cUnblock SMTP port 25\u201d.")
    elif len(name) > NAME_MAX:
        errors["name"] = tr("The name has at most %(num)s characters.", num=NAME_MAX)
    if not isinstance(description, str):
        errors["description"] = tr("The description is text.")
    elif len(description) > DESCRIPTION_MAX:
        errors["description"] = tr("The description has at most %(num)s characters.", num=DESCRIPTION_MAX)
    if not isinstance(requires_service, bool):
        errors["requires_service"] = tr("requires_service must be true or false.")
    if errors:
        raise ValidationFailed(next(iter(errors.values())), errors=errors)
    rows = await RequestKind.insert(
        RequestKind(
            department=department_id,
            name=name,
            description=description.strip(),
            requires_service=requires_service,
        )
    ).returning(*KIND_COLUMNS)
    return rows[0]


async def set_kind_active(*, department_id: int, kind_id: int, active: bool) -> None:
    """Offer a kind again, or stop offering it (requests already filed keep it)."""
    rows = (
        await RequestKind.update({RequestKind.active: active})
        .where((RequestKind.id == kind_id) & (RequestKind.department == department_id))
        .returning(RequestKind.id)
    )
    if not rows:
        raise NotFound(tr("There is no such request kind in this department."))


async def kinds_by_department(
    department_ids: list[int], *, active_only: bool = True
) -> dict[int, list[dict[str, Any]]]:
    """The request kinds of these departments, by department, by name (one query)."""
    if not department_ids:
        return {}
    query = RequestKind.select(*KIND_COLUMNS).where(RequestKind.department.is_in(department_ids))
    if active_only:
        query = query.where(RequestKind.active == True)  # noqa: E712
    grouped: dict[int, list[dict[str, Any]]] = {}
    for row in await query.order_by(RequestKind.name).order_by(RequestKind.id):
        grouped.setdefault(row["department"], []).append(row)
    return grouped


def kind_out(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "department_id": row["department"],
        "name": row["name"],
        "description": row["description"],
        "requires_service": row["requires_service"],
        "active": row["active"],
    }


# --------------------------------------------------------------- decisions


def check_decision(decision: Any, reason: Any) -> tuple[str, str]:
    """The decision and the reason, or a validation error naming the field."""
    if decision not in DECISIONS:
        raise ValidationFailed.field("decision", tr("The decision must be approved or rejected."))
    if reason is None:
        reason = ""
    if not isinstance(reason, str):
        raise ValidationFailed.field("reason", tr("The reason is text."))
    reason = reason.replace("\r\n", "\n").strip()
    if len(reason) > REASON_MAX:
        raise ValidationFailed.field("reason", tr("The reason has at most %(num)s characters.", num=REASON_MAX))
    return decision, reason


DECIDED_ALREADY = {
    State.approved.value: tr("This request was approved already."),
    State.rejected.value: tr("This request was rejected already."),
}


def decision_message(decision: str, kind_name: str) -> Text:
    """What the customer reads when their request is decided (the reason, typed by staff, follows)."""
    if decision == State.approved.value:
        return tr("Your request \u201c%(request)s\u201d was approved.", request=kind_name)
    return tr("Your request \u201c%(request)s\u201d was rejected.", request=kind_name)


async def decide_request(
    *, actor: CurrentUser, ticket_id: int, decision: Any, reason: Any = ""
) -> None:
    """Approve or reject a pending request of one of the actor's departments.

    Adds a public message (with the reason, shown to the customer), solves the
    ticket, notifies the customer and publishes `request.decided`. A ticket that
    is not a request, or a request decided already, is `invalid_transition`.
    """
    from billdesk import queues

    decision, reason = check_decision(decision, reason)
    await queues.visible_ticket(actor, ticket_id)
    async with write_transaction():
        ticket = await current_row(ticket_id)
        if ticket["type"] != Type.request.value:
            raise InvalidTransition(
                tr("Only a request can be approved or rejected."),
                errors={"decision": tr("This ticket is not a request.")},
            )
        if ticket["request_state"] != State.pending.value:
            raise InvalidTransition(
                DECIDED_ALREADY[ticket["request_state"]],
                errors={"decision": DECIDED_ALREADY[ticket["request_state"]]},
            )
        kind = (
            await RequestKind.select(RequestKind.name)
            .where(RequestKind.id == ticket["request_kind"])
            .first()
        )
        kind_name = kind["name"] if kind else ticket["subject"]
        now = utc_now()
        await add_message(
            ticket_id=ticket_id,
            author_id=actor.id,
            # The thread keeps the message as written, in the customer's language.
            body="\n\n".join(
                part
                for part in (
                    translate(decision_message(decision, kind_name), await language_of(ticket["customer"])),
                    reason,
                )
                if part
            ),
            internal=False,
            opening=False,
            files=[],
            storage_names=[],
            at=now,
        )
        new = await move_status(ticket, Action.close, actor.id)
        await Ticket.update(
            {
                Ticket.status: new,
                Ticket.request_state: decision,
                Ticket.request_reason: reason,
                Ticket.decided_by: actor.id,
                Ticket.decided_at: now,
                Ticket.last_message_at: now,
                Ticket.last_author_role: actor.role,
                Ticket.answers: Ticket.answers + 1,
                Ticket.unread_by_customer: True,
                Ticket.unread_by_staff: False,
            }
        ).where(Ticket.id == ticket_id)
        await record_event(
            ticket_id=ticket_id,
            kind=TicketEvent.Kind.request,
            actor_id=actor.id,
            old_value=State.pending.value,
            new_value=decision,
        )
        await notifications.notify(
            user_id=ticket["customer"],
            kind=notifications.Kind.request_decided,
            ticket_id=ticket_id,
            text=tr(
                "#%(id)s: %(decision)s", id=ticket_id, decision=decision_message(decision, kind_name)
            ),
        )
        await outbox.publish(
            outbox.REQUEST_DECIDED,
            ticket_id=ticket_id,
            actor_id=actor.id,
            decision=decision,
            reason=reason,
            kind_id=ticket["request_kind"],
        )


def request_out(row: dict[str, Any], prefix: str = "") -> dict[str, Any] | None:
    """A ticket's `request` object as the API shows it, from a row selected with
    REQUEST_COLUMNS (under `prefix`); None for an ordinary ticket."""
    if row.get(f"{prefix}type") != Type.request.value:
        return None
    decided_by = row.get(f"{prefix}decided_by.id")
    return {
        "kind": {"id": row[f"{prefix}request_kind.id"], "name": row[f"{prefix}request_kind.name"]},
        "state": row[f"{prefix}request_state"],
        "reason": row[f"{prefix}request_reason"],
        "decided_by": (
            {"id": decided_by, "name": row[f"{prefix}decided_by.name"]} if decided_by else None
        ),
        "decided_at": _rfc3339(row[f"{prefix}decided_at"]),
    }


def _rfc3339(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def customer_by_external_id(external_id: Any) -> CurrentUser:
    """The active customer the billing system knows by this id, or a validation error."""
    row = None
    if isinstance(external_id, str) and external_id:
        row = (
            await User.select(User.id, User.email, User.name, User.role, User.active)
            .where(
                (User.external_id == external_id[:100]) & (User.role == User.Role.customer.value)
            )
            .first()
        )
    if row is None or not row["active"]:
        raise ValidationFailed.field(
            "customer_external_id", tr("No active customer has this external id; sync it first.")
        )
    return CurrentUser(id=row["id"], email=row["email"], name=row["name"], role=row["role"])


async def file_request(
    *, customer_external_id: Any, kind_id: Any, service_external_id: Any, message: Any
) -> int:
    """The billing system files a request for a customer (as the affiliate panel does when
    access to a pre-moderated offer is asked for). The new ticket's id."""
    from billdesk.tables import Service
    from billdesk.tickets.opening import open_ticket

    customer = await customer_by_external_id(customer_external_id)
    kind = None
    if isinstance(kind_id, int) and not isinstance(kind_id, bool):
        kind = (
            await RequestKind.select(RequestKind.id, RequestKind.department)
            .where(
                (RequestKind.id == kind_id) & (RequestKind.active == True)  # noqa: E712
            )
            .first()
        )
    if kind is None:
        raise ValidationFailed.field("kind_id", tr("There is no such request kind."))
    service_id = None
    if service_external_id is not None:
        service = None
        if isinstance(service_external_id, str):
            service = (
                await Service.select(Service.id)
                .where(
                    (Service.external_id == service_external_id[:100])
                    & (Service.customer == customer.id)
                )
                .first()
            )
        if service is None:
            raise ValidationFailed.field(
                "service_external_id", tr("The customer has no service with this external id.")
            )
        service_id = service["id"]
    if not isinstance(message, str):
        raise ValidationFailed.field("message", tr("Write the request's message."))
    opened = await open_ticket(
        customer=customer,
        department_id=kind["department"],
        service_id=service_id,
        message=message,
        files=[],
        accept_price=None,
        client_token=None,
        channel=Message.Channel.api,
        request_kind_id=kind["id"],
    )
    return opened.ticket_id
