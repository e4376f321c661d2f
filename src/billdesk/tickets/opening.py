"""Opening a ticket: the free quota, the confirmed price, the payments seam, double submits."""

from __future__ import annotations

import importlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from billdesk import attachments, notifications, quotas, search
from billdesk.attachments import Upload
from billdesk.auth import CurrentUser
from billdesk.errors import (
    DeskError,
    NotFound,
    PaymentConfirmationRequired,
    PaymentsUnavailable,
    PriceChanged,
    ValidationFailed,
)
from billdesk.formatting import LocalMoney
from billdesk.i18n import tr
from billdesk.quotas import Price
from billdesk.settings import get_settings
from billdesk.sla import timers
from billdesk.sla.policy import Policy, policy_for, policy_from_row
from billdesk.sql import Statement
from billdesk.tables import (
    NEVER,
    Department,
    Message,
    RequestKind,
    Service,
    Ticket,
    TicketEvent,
    User,
)
from billdesk.tickets.lifecycle import (
    Status,
    add_message,
    check_body,
    derive_subject,
    ensure_support_enabled,
    record_event,
    utc_now,
    write_transaction,
)


@dataclass(frozen=True)
class Opened:
    ticket_id: int
    created: bool  # False when a repeated submit found the ticket it opened before


def _payments() -> Any | None:
    """`billdesk.payments` when payments exist and are configured: the seam through which
    an opening looks up the saved card while it writes (`look_up_card`), writes a paid
    ticket's charge (`write_first_attempt`, in its transaction, which also has Stripe
    create the PaymentIntent meanwhile) and has it charged (`charge_opened_ticket`,
    after; `abandon_first_attempt` when the transaction did not commit), and a price
    confirmed later is charged (`charge_new_ticket`)."""
    if not get_settings().payments_configured:
        return None
    try:
        return importlib.import_module("billdesk.payments")
    except ModuleNotFoundError:
        return None


def _accepted(accept_price: Price | int | None, price: Price) -> bool:
    if isinstance(accept_price, Price):
        return accept_price.amount == price.amount and accept_price.currency.lower() == price.currency
    return accept_price == price.amount


async def usable_department(department_id: int | None) -> dict[str, Any]:
    """A department customers may open tickets in, or a validation error naming it."""
    row = None
    if department_id is not None:
        row = await Department.select().where(
            (Department.id == department_id)
            & (Department.public == True)  # noqa: E712
            & (Department.active == True)  # noqa: E712
        ).first()
    if row is None:
        raise ValidationFailed.field("department_id", tr("Choose one of the departments listed."))
    return row


# The department's columns an opening uses, and the service level's columns for its clock.
_DEPARTMENT_FIELDS = ("id", "name", "free_tickets", "quota_period", "ticket_price", "currency")

_BEFORE_OPENING = Statement(
    "SELECT (SELECT value FROM settings WHERE key = 'support_enabled') AS support_enabled, "
    "(SELECT id FROM tickets WHERE client_token = :token) AS existing, "
    "(SELECT stripe_customer_id FROM users WHERE id = :customer) AS stripe_customer, "
    "d.id, d.name, d.free_tickets, d.quota_period, d.ticket_price, d.currency, "
    "l.id AS level, l.hours, l.targets, l.paid_targets, l.at_risk_percent, l.rule, "
    "l.rule_stage, l.reassign_to, l.auto_close_days "
    "FROM (SELECT 1 AS one) AS one "
    "LEFT JOIN departments d ON d.id = :department AND d.public = TRUE AND d.active = TRUE "
    "LEFT JOIN service_levels l ON l.department = d.id"
)


def _switched_on(value: Any) -> bool:
    """The `support_enabled` setting as `navigation.support_enabled` reads it (none: on)."""
    if value is None:
        return True
    return bool(json.loads(value) if isinstance(value, str) else value)


_SERVICE = Statement(
    "SELECT name, external_id FROM services WHERE id = :service AND customer = :customer"
)


async def _customers_service(service_id: int | None, customer_id: int) -> dict[str, Any] | None:
    """The customer's own service (name and external id, for the search row), as
    `check_service` checks it."""
    if service_id is None:
        return None
    service = await _SERVICE.first(service=service_id, customer=customer_id)
    if service is None:
        raise ValidationFailed.field(
            "service_id", tr("Choose one of your services, or \u201cnot about a service\u201d.")
        )
    return service


async def check_service(service_id: int | None, customer_id: int) -> None:
    """Refuse a service that is not the customer's own (any status is fine: "why is my
    server suspended?" is a ticket about a suspended service)."""
    if service_id is None:
        return
    ok = await Service.exists().where(
        (Service.id == service_id) & (Service.customer == customer_id)
    )
    if not ok:
        raise ValidationFailed.field(
            "service_id", tr("Choose one of your services, or \u201cnot about a service\u201d.")
        )


async def open_ticket(
    *,
    customer: CurrentUser,
    department_id: int | None,
    service_id: int | None,
    message: str | None,
    files: Sequence[Upload | Any],
    accept_price: Price | int | None,
    client_token: str | None,
    channel: Message.Channel = Message.Channel.web,
    confirm_price_later: bool = False,
    urgent: bool = False,
    request_kind_id: int | None = None,
) -> Opened:
    """Open a ticket for a customer: free while the quota lasts, else paid once the price is accepted.

    A repeated submit with the same `client_token` answers the ticket the first
    one opened. A paid ticket is created as `awaiting_payment` with its charge and
    first attempt (`billdesk.payments.write_first_attempt`, in the same transaction),
    then `billdesk.payments.charge_opened_ticket` charges it and moves it on; without
    payments configured a paid ticket is refused with `payments_unavailable` and
    nothing is stored.

    `confirm_price_later` is for channels that cannot ask first (mail): beyond
    the quota the ticket is kept `awaiting_payment` with `price_unconfirmed`, and
    nothing is charged until the customer confirms the price on the web
    (`confirm_ticket_price`).

    `urgent` is the customer's own "my service is down": the ticket opens with the
    urgent priority, and its history says the customer set it (staff may change it).

    With `request_kind_id` it is a service request of that kind in the department
    (pending until staff decide it): requests never use the quota and are never charged.
    """
    token_key = f"{customer.id}:{client_token}"[:100] if client_token else None
    # Support switched on, a ticket this submit opened already, the customer's Stripe id,
    # the department and its service level: one round trip before the write transaction.
    before = await _BEFORE_OPENING.first(
        token=token_key, department=department_id, customer=customer.id
    )
    assert before is not None  # the statement always answers one row
    if not _switched_on(before["support_enabled"]):
        await ensure_support_enabled()  # raises SupportDisabled
    if before["existing"] is not None:
        return Opened(before["existing"], created=False)
    if before["id"] is None:
        raise ValidationFailed.field("department_id", tr("Choose one of the departments listed."))
    department = {name: before[name] for name in _DEPARTMENT_FIELDS}
    kind = await _request_kind(request_kind_id, department["id"], service_id)
    service = await _customers_service(service_id, customer.id)
    body = check_body(message, "message")
    checked = attachments.check_files(files)

    storage_names = attachments.write_files(checked)
    payments = first_attempt = card = None
    try:
        async with write_transaction():
            paid = kind is None and not await quotas.take_free_ticket(customer.id, department)
            if paid:
                price = Price(department["ticket_price"], department["currency"])
                if accept_price is None and not confirm_price_later:
                    raise PaymentConfirmationRequired(
                        tr(
                            "Every ticket in %(department)s costs %(price)s. "
                            "Confirm the price to open it.",
                            department=department["name"],
                            price=price.label(),
                        )
                        if department["free_tickets"] == 0
                        else tr(
                            "No free tickets are left in %(department)s this period: "
                            "this ticket costs %(price)s. Confirm the price to open it.",
                            department=department["name"],
                            price=price.label(),
                        ),
                        errors={"accept_price": tr("Confirm the price of %(price)s.", price=price.label())},
                        extra={"price": price.as_dict()},
                    )
                if accept_price is not None and not _accepted(accept_price, price):
                    raise PriceChanged(
                        tr(
                            "The price is now %(price)s. Confirm the new price to open the ticket.",
                            price=price.label(),
                        ),
                        errors={"accept_price": tr("The price is now %(price)s.", price=price.label())},
                        extra={"price": price.as_dict()},
                    )
                payments = _payments()
                if payments is None:
                    raise PaymentsUnavailable(
                        tr(
                            "Paid tickets cannot be taken right now, because card payments are "
                            "not available. Nothing was charged and no ticket was opened."
                        ),
                        errors={"accept_price": tr("Card payments are not available right now.")},
                    )
                if accept_price is not None:
                    # Charged once this commits: Stripe finds the card meanwhile.
                    card = payments.look_up_card(before["stripe_customer"])
            ticket_id = await _insert_ticket(
                customer_id=customer.id, department_id=department["id"], service_id=service_id,
                author=customer, body=body, files=checked, storage_names=storage_names,
                status=Status.awaiting_payment if paid else Status.in_progress,
                client_token=token_key, price_unconfirmed=paid and accept_price is None,
                channel=channel, request_kind=kind,
                policy=policy_from_row(before if before["level"] is not None else None),
                service=service,
            )
            if urgent:
                from billdesk.queues import PRIORITY_RANKS

                # The rank too: the queue's priority sort reads it.
                await Ticket.update(
                    {
                        Ticket.priority: Ticket.Priority.urgent,
                        Ticket.priority_rank: PRIORITY_RANKS[Ticket.Priority.urgent.value],
                    }
                ).where(Ticket.id == ticket_id)
                await record_event(
                    ticket_id=ticket_id, kind=TicketEvent.Kind.priority, actor_id=customer.id,
                    old_value=Ticket.Priority.normal.value, new_value=Ticket.Priority.urgent.value,
                )
            if payments is not None and accept_price is not None:
                # The price is confirmed: the charge and its first attempt are written
                # with the ticket, so they commit together, before Stripe is asked.
                first_attempt = await payments.write_first_attempt(
                    ticket_id=ticket_id, customer_id=customer.id,
                    department_id=department["id"], amount=department["ticket_price"],
                    currency=department["currency"], stripe_customer_id=before["stripe_customer"],
                    card=card,
                )
    except DeskError:
        attachments.discard_files(storage_names)
        _abandon(payments, first_attempt)
        raise
    except Exception:
        attachments.discard_files(storage_names)
        _abandon(payments, first_attempt)
        # Two submits of one form at the same moment: the unique client token let
        # one of them in; the other answers with that ticket.
        if token_key:
            existing = await Ticket.select(Ticket.id).where(Ticket.client_token == token_key).first()
            if existing:
                return Opened(existing["id"], created=False)
        raise
    except BaseException:
        # Cancelled (the client went away) or stopping: the transaction rolled back.
        attachments.discard_files(storage_names)
        _abandon(payments, first_attempt)
        raise
    if payments is not None and first_attempt is not None:
        # The ticket, its message and its charge are committed as awaiting_payment;
        # payments charges the saved card and moves the ticket on. If that fails, the
        # ticket waits to be paid.
        await payments.charge_opened_ticket(first_attempt)
    return Opened(ticket_id, created=True)


def _abandon(payments: Any, first_attempt: Any) -> None:
    """The opening did not commit: what its charge started in Stripe is undone."""
    if payments is not None and first_attempt is not None:
        payments.abandon_first_attempt(first_attempt)


async def open_ticket_for_customer(
    *,
    staff: CurrentUser,
    customer_id: int | None,
    department_id: int | None,
    service_id: int | None,
    message: str | None,
    files: Sequence[Upload | Any] = (),
) -> Opened:
    """Staff open a ticket for a customer (an abuse notice, maintenance, a follow-up to a call).

    The department must be an active one the staff member works in (any, for
    admins); the customer an active customer. The ticket starts as "waiting for
    your reply", uses no free ticket and is never charged; the customer is told.
    """
    from billdesk.attachments import staff_may_see_department

    department = None
    if department_id is not None:
        department = await Department.select().where(
            (Department.id == department_id) & (Department.active == True)  # noqa: E712
        ).first()
    if department is None or not await staff_may_see_department(staff, department["id"]):
        raise ValidationFailed.field("department_id", tr("Choose one of your departments."))
    customer = None
    if customer_id is not None:
        customer = await User.select(User.id, User.active).where(
            (User.id == customer_id) & (User.role == User.Role.customer.value)
        ).first()
    if customer is None or not customer["active"]:
        raise ValidationFailed.field("customer_id", tr("Choose an active customer."))
    if service_id is not None:
        try:
            await check_service(service_id, customer_id)  # type: ignore[arg-type]
        except ValidationFailed:
            raise ValidationFailed.field(
                "service_id", tr("Choose one of the customer's services, or none.")
            ) from None
    body = check_body(message, "message")
    checked = attachments.check_files(files)
    storage_names = attachments.write_files(checked)
    try:
        async with write_transaction():
            ticket_id = await _insert_ticket(
                customer_id=customer["id"], department_id=department["id"],
                service_id=service_id, author=staff, body=body, files=checked,
                storage_names=storage_names, status=Status.waiting_for_reply,
                channel=Message.Channel.web, opened_by=staff.id,
            )
            await notifications.notify(
                user_id=customer["id"], kind=notifications.Kind.ticket_opened,
                ticket_id=ticket_id,
                text=tr(
                    "Support opened #%(id)s for you: %(subject)s",
                    id=ticket_id,
                    subject=derive_subject(body),
                ),
            )
    except BaseException:
        attachments.discard_files(storage_names)
        raise
    return Opened(ticket_id, created=True)


async def _request_kind(
    kind_id: int | None, department_id: int, service_id: int | None
) -> dict[str, Any] | None:
    """The active request kind of this department, or a validation error naming it."""
    if kind_id is None:
        return None
    kind = await RequestKind.select().where(
        (RequestKind.id == kind_id)
        & (RequestKind.department == department_id)
        & (RequestKind.active == True)  # noqa: E712
    ).first()
    if kind is None:
        raise ValidationFailed.field(
            "request_kind_id", tr("Choose one of the requests this department takes.")
        )
    if kind["requires_service"] and service_id is None:
        raise ValidationFailed.field(
            "service_id",
            tr("Choose the service this request (%(request)s) is about.", request=kind["name"]),
        )
    return kind


async def _insert_ticket(
    *,
    customer_id: int,
    department_id: int,
    service_id: int | None,
    author: CurrentUser,
    body: str,
    files: list[attachments.CheckedFile],
    storage_names: list[str],
    status: Status,
    channel: Message.Channel,
    client_token: str | None = None,
    price_unconfirmed: bool = False,
    request_kind: dict[str, Any] | None = None,
    opened_by: int | None = None,
    policy: Policy | None = None,
    service: dict[str, Any] | None = None,
) -> int:
    """The ticket row, its opening message and its history line (inside the caller's
    transaction). A message by staff is told to the channels, so the customer hears of it.

    A ticket that opens waiting for support starts its service-level clock with its row
    (`policy` is the department's service level, read here when not given). The
    search row is written from what the opening holds when the customer opens it
    (with `service`, the name and external id of `service_id`)."""
    now = utc_now()
    by_customer = author.id == customer_id
    is_request = request_kind is not None
    subject = derive_subject(request_kind["name"] if is_request else body)  # type: ignore[index]
    clock: dict[str, Any] = {}
    if status == Status.in_progress:
        if policy is None:
            policy = await policy_for(department_id)
        clock = timers.opening_clock(policy, now, priority=Ticket.Priority.normal.value)
    rows = await _TICKET.rows(
        customer=customer_id, department=department_id, service=service_id, subject=subject,
        status=status.value, priority=Ticket.Priority.normal.value, at=now,
        last_author_role=author.role, unread_by_customer=not by_customer,
        unread_by_staff=by_customer, client_token=client_token,
        price_unconfirmed=price_unconfirmed,
        sla_paid=clock.get("sla_paid", False),
        clock_started_at=clock.get("clock_started_at"),
        clock_running_since=clock.get("clock_running_since"),
        clock_elapsed_seconds=clock.get("clock_elapsed_seconds", 0),
        first_response_due_at=clock.get("first_response_due_at"),
        next_response_due_at=clock.get("next_response_due_at"),
        resolution_due_at=clock.get("resolution_due_at"),
        due_at=clock.get("due_at", NEVER), due_kind=clock.get("due_kind", ""),
        risk_at=clock.get("risk_at"), risk_told=clock.get("risk_told", False),
        breach_told=clock.get("breach_told", False),
        type=(Ticket.Type.request if is_request else Ticket.Type.ticket).value,
        request_kind=request_kind["id"] if is_request else None,  # type: ignore[index]
        request_state=Ticket.RequestState.pending.value if is_request else None,
        opened_by=opened_by,
    )
    ticket_id: int = rows[0]["id"]
    index_here = by_customer and (service_id is None or service is not None)
    await add_message(
        ticket_id=ticket_id, author_id=author.id, body=body, internal=False,
        opening=True, files=files, storage_names=storage_names, at=now,
        channel=channel, announce=not by_customer, reindex=not index_here,
    )
    if index_here:
        await search.index_opened_ticket(
            ticket_id=ticket_id, customer_id=customer_id, customer_name=author.name,
            customer_email=author.email, subject=subject, body=body,
            filenames=[file.filename for file in files],
            service_name=service["name"] if service else None,
            service_external_id=service["external_id"] if service else None,
        )
    await record_event(
        ticket_id=ticket_id, kind=TicketEvent.Kind.opened, actor_id=author.id,
        new_value=status.value, clock_moved=True,
    )
    return ticket_id


# Every column, as Piccolo's insert of a new Ticket wrote them; the clock's columns are
# the ones `sla.timers.on_ticket_event` would have written for the `opened` line.
_TICKET = Statement(
    "INSERT INTO tickets (customer, department, service, subject, status, priority, assignee, "
    "archived, removed_at, created_at, last_message_at, last_author_role, answers, "
    "unread_by_customer, unread_by_staff, client_token, price_unconfirmed, priority_rank, "
    "sla_paid, clock_started_at, clock_running_since, clock_elapsed_seconds, "
    "first_response_due_at, first_response_at, first_response_seconds, first_response_met, "
    "next_response_due_at, resolution_due_at, solved_at, resolution_seconds, resolution_met, "
    "due_at, due_kind, risk_at, risk_told, breach_told, sla_told, reminded_at, type, "
    "opened_by, request_kind, request_state, request_reason, decided_by, decided_at, "
    "merged_into) "
    "VALUES (:customer, :department, :service, :subject, :status, :priority, NULL, "
    "FALSE, NULL, :at, :at, :last_author_role, 0, "
    ":unread_by_customer, :unread_by_staff, :client_token, :price_unconfirmed, 1, "
    ":sla_paid, :clock_started_at, :clock_running_since, :clock_elapsed_seconds, "
    ":first_response_due_at, NULL, NULL, NULL, "
    ":next_response_due_at, :resolution_due_at, NULL, NULL, NULL, "
    ":due_at, :due_kind, :risk_at, :risk_told, :breach_told, '', NULL, :type, "
    ":opened_by, :request_kind, :request_state, '', NULL, NULL, "
    "NULL) RETURNING id"
)


async def confirm_ticket_price(
    *, ticket_id: int, customer: CurrentUser, accept_price: Price | int | None
) -> Opened:
    """The customer confirms the price of a ticket opened without it (by mail); it is charged.

    The same rules as opening on the web: no `accept_price` is
    payment_confirmation_required, another price than today's is price_changed.
    A ticket confirmed already (a second click) is not charged again: its payment
    page shows where it stands.
    """
    ticket = await Ticket.select(
        Ticket.id, Ticket.status, Ticket.price_unconfirmed, Ticket.department
    ).where(
        (Ticket.id == ticket_id) & (Ticket.customer == customer.id) & Ticket.removed_at.is_null()
    ).first()
    if ticket is None:
        raise NotFound(tr("There is no such ticket."))
    if not ticket["price_unconfirmed"] or ticket["status"] != Status.awaiting_payment.value:
        return Opened(ticket_id, created=False)
    department = await Department.select().where(Department.id == ticket["department"]).first()
    assert department is not None
    price = Price(department["ticket_price"], department["currency"])
    if accept_price is None:
        raise PaymentConfirmationRequired(
            tr(
                "This ticket costs %(price)s. Confirm the price to have it handled.",
                price=price.label(),
            ),
            errors={"accept_price": tr("Confirm the price of %(price)s.", price=price.label())},
            extra={"price": price.as_dict()},
        )
    if not _accepted(accept_price, price):
        raise PriceChanged(
            tr(
                "The price is now %(price)s. Confirm the new price to have the ticket handled.",
                price=price.label(),
            ),
            errors={"accept_price": tr("The price is now %(price)s.", price=price.label())},
            extra={"price": price.as_dict()},
        )
    payments = _payments()
    if payments is None:
        raise PaymentsUnavailable(
            tr("Card payments are not available right now. Nothing was charged; try again later."),
            errors={"accept_price": tr("Card payments are not available right now.")},
        )
    async with write_transaction():
        confirmed = await Ticket.update({Ticket.price_unconfirmed: False}).where(
            (Ticket.id == ticket_id)
            & (Ticket.price_unconfirmed == True)  # noqa: E712
            & (Ticket.status == Status.awaiting_payment.value)
        ).returning(Ticket.id)
        if confirmed:
            await record_event(
                ticket_id=ticket_id, kind=TicketEvent.Kind.charge, actor_id=customer.id,
                old_value="", new_value=f"price {price.label()} confirmed",
                text=tr(
                    "Price of %(amount)s confirmed",
                    amount=LocalMoney(price.amount, price.currency),
                ),
            )
    if not confirmed:
        return Opened(ticket_id, created=False)  # another click confirmed it a moment ago
    await payments.charge_new_ticket(
        ticket_id=ticket_id, customer_id=customer.id, department_id=department["id"],
        amount=price.amount, currency=price.currency,
    )
    return Opened(ticket_id, created=True)
