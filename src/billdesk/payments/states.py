"""The money's tables of moves, its one lock order, and the in-flight lease.

A charge is what the customer confirmed for one paid ticket; an attempt is one way
billdesk asked Stripe for that money (a PaymentIntent on the saved card, or a
Checkout Session). The charge points at its current attempt by number.

Every change of a charge's or an attempt's status goes through `move_charge()` or
`move_attempt()`, inside `locked_charge()`, which locks the rows in the one order
used everywhere money and tickets meet: the ticket, then the charge, then the
charge's attempts. So a webhook, reconcile, `/pay` and `/cancel` can race on any
number of processes without a deadlock and without moving anything twice.

At most one billdesk process talks to Stripe about a charge at a time: it holds the
charge's in-flight lease (`in_flight_until`, `in_flight_token`) while it starts an
attempt or cancels; everyone else gets `payment_in_progress` or waits. A process
that dies loses its lease when it expires, and reconcile finishes what it left.
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

from billdesk import clock
from billdesk.errors import InvalidTransition, NotFound
from billdesk.i18n import tr
from billdesk.sql import Statement
from billdesk.tables import Charge, PaymentAttempt, Ticket
from billdesk.tickets.lifecycle import write_transaction

ChargeStatus = Charge.Status
AttemptStatus = PaymentAttempt.Status

# Longer than the slowest Stripe call billdesk makes, retries included (stripe_api.TIMEOUT).
LEASE = timedelta(minutes=5)

UNPAID = (ChargeStatus.pending.value, ChargeStatus.requires_payment.value, ChargeStatus.failed.value)
PAID = (
    ChargeStatus.succeeded.value,
    ChargeStatus.partially_refunded.value,
    ChargeStatus.refunded.value,
)

# charge status -> the statuses it may move to. Not listed: refused.
CHARGE_MOVES: dict[ChargeStatus, frozenset[ChargeStatus]] = {
    # pending: an attempt is under way or its outcome is unknown.
    ChargeStatus.pending: frozenset(
        {ChargeStatus.pending, ChargeStatus.requires_payment, ChargeStatus.succeeded,
         ChargeStatus.canceled}
    ),
    # requires_payment: refused, needs authentication, or no card; the customer acts.
    ChargeStatus.requires_payment: frozenset(
        {ChargeStatus.pending, ChargeStatus.requires_payment, ChargeStatus.succeeded,
         ChargeStatus.canceled}
    ),
    # failed: kept for charges written before attempts existed; moves as requires_payment.
    ChargeStatus.failed: frozenset(
        {ChargeStatus.pending, ChargeStatus.requires_payment, ChargeStatus.succeeded,
         ChargeStatus.canceled}
    ),
    ChargeStatus.succeeded: frozenset(
        {ChargeStatus.partially_refunded, ChargeStatus.refunded}
    ),
    # A refund that fails later gives its amount back.
    ChargeStatus.partially_refunded: frozenset(
        {ChargeStatus.succeeded, ChargeStatus.partially_refunded, ChargeStatus.refunded}
    ),
    ChargeStatus.refunded: frozenset(
        {ChargeStatus.succeeded, ChargeStatus.partially_refunded}
    ),
    # Cancelled only once Stripe confirmed that nothing can be paid. Money that arrives
    # anyway is recorded on its attempt as a surplus payment and refunded.
    ChargeStatus.canceled: frozenset(),
}

# attempt status -> the statuses it may move to.
ATTEMPT_MOVES: dict[AttemptStatus, frozenset[AttemptStatus]] = {
    # started: the lease holder is asking Stripe now.
    AttemptStatus.started: frozenset(
        {AttemptStatus.started, AttemptStatus.unknown, AttemptStatus.declined, AttemptStatus.open,
         AttemptStatus.succeeded, AttemptStatus.canceled}
    ),
    # unknown: Stripe did not answer; the same idempotency key may be sent again.
    AttemptStatus.unknown: frozenset(
        {AttemptStatus.started, AttemptStatus.unknown, AttemptStatus.declined,
         AttemptStatus.succeeded, AttemptStatus.canceled}
    ),
    AttemptStatus.declined: frozenset(
        {AttemptStatus.declined, AttemptStatus.succeeded, AttemptStatus.canceled}
    ),
    # open: a Checkout Session waiting for the customer.
    AttemptStatus.open: frozenset(
        {AttemptStatus.declined, AttemptStatus.succeeded, AttemptStatus.canceled}
    ),
    AttemptStatus.succeeded: frozenset(),
    # Stripe's word wins: a payment it reports as succeeded is always recorded.
    AttemptStatus.canceled: frozenset({AttemptStatus.succeeded}),
}

# Attempts that might still take money, so must be closed before another starts.
LIVE_ATTEMPTS = (
    AttemptStatus.started.value,
    AttemptStatus.unknown.value,
    AttemptStatus.declined.value,
    AttemptStatus.open.value,
)


def charge_may_move(current: str, to: ChargeStatus) -> bool:
    return to in CHARGE_MOVES[ChargeStatus(current)]


def attempt_may_move(current: str, to: AttemptStatus) -> bool:
    return to in ATTEMPT_MOVES[AttemptStatus(current)]


@dataclass
class Locked:
    """The rows of one charge, locked in order, as read inside the transaction."""

    ticket: dict[str, Any]
    charge: dict[str, Any]
    attempts: list[dict[str, Any]]
    # A lease to give back with the charge's next move, in the same statement
    # (`give_back_with_next_move`).
    giving_back: str | None = None
    # The department's service level as `billdesk.sla.policy` reads it (None: it has
    # none), when it was read with the rows (PostgreSQL); else read when needed.
    service_level: dict[str, Any] | None = None
    service_level_read: bool = False

    def attempt(self, number: int | None = None) -> dict[str, Any] | None:
        """The attempt with this number (default: the charge's current one)."""
        wanted = self.charge["attempt"] if number is None else number
        return next((a for a in self.attempts if a["number"] == wanted), None)

    def is_current(self, attempt: dict[str, Any]) -> bool:
        return attempt["number"] == self.charge["attempt"]

    @property
    def unpaid(self) -> bool:
        return self.charge["status"] in UNPAID

    def give_back_with_next_move(self, token: str) -> None:
        """The lease `token` goes back with the charge's next `move_charge`, or with
        `release_lease` when nothing moves the charge."""
        self.giving_back = token

    def lease_held(self, token: str | None = None) -> bool:
        """True while somebody holds the lease (`token`: somebody other than that token)."""
        until = self.charge["in_flight_until"]
        if until is None or until <= clock.now():
            return False
        return token is None or self.charge["in_flight_token"] != token


@asynccontextmanager
async def locked_charge(charge_id: int) -> AsyncIterator[Locked]:
    """A write transaction holding the charge's ticket, the charge and its attempts, in that order."""
    from billdesk.db import DB

    async with write_transaction():
        if DB.engine_type == "postgres":
            row = await _LOCKED_TICKET_AND_CHARGE.first(charge=charge_id)
            if row is None:
                raise NotFound(tr("There is no such payment."))
            ticket, charge, service_level = _split(row)
            attempts = await _LOCKED_ATTEMPTS.rows(charge=charge_id)
            yield Locked(
                ticket=ticket, charge=charge, attempts=attempts,
                service_level=service_level, service_level_read=True,
            )
            return
        ticket = await _LOCKED_TICKET_OF_CHARGE.first(charge=charge_id)
        if ticket is None:
            raise NotFound(tr("There is no such payment."))
        charge = await _LOCKED_CHARGE.first(charge=charge_id)
        assert charge is not None
        attempts = await _LOCKED_ATTEMPTS.rows(charge=charge_id)
        yield Locked(ticket=ticket, charge=charge, attempts=attempts)


def _split(row: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
    """`_LOCKED_TICKET_AND_CHARGE`'s row as the ticket, the charge and the service level."""
    ticket: dict[str, Any] = {}
    charge: dict[str, Any] = {}
    service_level: dict[str, Any] = {}
    for name, value in row.items():
        if name.startswith("charge."):
            charge[name[7:]] = value
        elif name.startswith("sla."):
            service_level[name[4:]] = value
        else:
            ticket[name] = value
    return ticket, charge, service_level if service_level.pop("department") is not None else None


# Every step of a payment runs `locked_charge`, three times for a paid opening: its
# reads are written once (billdesk.sql). On PostgreSQL each row is locked as
# `tickets.lifecycle.locked_row` locks it; on SQLite the immediate write transaction
# already holds the database.
# The ticket comes with its customer's language (`customer_language`, unlocked), for the
# notifications a step writes.
_LOCKED_TICKET_OF_CHARGE = Statement(
    "SELECT tickets.*, (SELECT language FROM users WHERE users.id = tickets.customer) "
    "AS customer_language FROM tickets WHERE id = (SELECT ticket FROM charges WHERE id = :charge)",
    postgres="SELECT tickets.*, (SELECT language FROM users WHERE users.id = tickets.customer) "
    "AS customer_language FROM tickets WHERE id = (SELECT ticket FROM charges WHERE id = :charge) "
    "FOR NO KEY UPDATE",
)
_LOCKED_CHARGE = Statement(
    "SELECT * FROM charges WHERE id = :charge",
    postgres="SELECT * FROM charges WHERE id = :charge FOR NO KEY UPDATE",
)
# On PostgreSQL the ticket and the charge are locked by one statement, in the order its
# FOR NO KEY UPDATE OF list names them (PostgreSQL locks a row's tables in that order),
# so the one lock order holds with a round trip fewer; the department's service level
# comes with them, unlocked, for a payment that starts the ticket's clock.
_SERVICE_LEVEL_COLUMNS = (
    "department", "hours", "targets", "paid_targets", "at_risk_percent", "rule", "rule_stage",
    "reassign_to", "auto_close_days",
)
_LOCKED_TICKET_AND_CHARGE = Statement(
    "SELECT t.*, (SELECT language FROM users WHERE users.id = t.customer) AS customer_language, "  # noqa: S608  # the tables' own column names
    + ", ".join(
        f'c."{column._meta.db_column_name}" AS "charge.{column._meta.db_column_name}"'
        for column in Charge._meta.columns
    )
    + ", "
    + ", ".join(f'sl."{name}" AS "sla.{name}"' for name in _SERVICE_LEVEL_COLUMNS)
    + " FROM tickets t JOIN charges c ON c.ticket = t.id "
    "LEFT JOIN service_levels sl ON sl.department = t.department "
    "WHERE c.id = :charge FOR NO KEY UPDATE OF t, c"
)
_LOCKED_ATTEMPTS = Statement(
    "SELECT * FROM payment_attempts WHERE charge = :charge ORDER BY number",
    postgres="SELECT * FROM payment_attempts WHERE charge = :charge ORDER BY number "
    "FOR NO KEY UPDATE",
)


_UPDATED_TABLES = {"charges": Charge, "payment_attempts": PaymentAttempt, "tickets": Ticket}


@cache
def _update(table: str, columns: tuple[str, ...]) -> Statement:
    """`UPDATE table SET columns… WHERE id = :id`, written once per table and set of columns:
    every step of a payment moves a charge or an attempt, so their updates skip Piccolo's
    SQL building (billdesk.sql). Only the tables' own column names get into the SQL."""
    known = {column._meta.db_column_name for column in _UPDATED_TABLES[table]._meta.columns}
    unknown = set(columns) - known
    if unknown:
        raise ValueError(f"{table} has no column {', '.join(sorted(unknown))}")
    assignments = ", ".join(f'"{name}" = :{name}' for name in columns)
    return Statement(f"UPDATE {table} SET {assignments} WHERE id = :id")  # noqa: S608  # checked names


async def update_row(table: str, row_id: int, values: dict[str, Any]) -> None:
    """Write `values` (column name → value; an enum is written as its value) on one row."""
    arguments = {
        name: value.value if isinstance(value, enum.Enum) else value
        for name, value in values.items()
    }
    await _update(table, tuple(arguments)).write(row=(table, row_id), id=row_id, **arguments)


async def update_ticket(ticket_id: int, values: dict[str, Any]) -> None:
    """Write `values` on the locked charge's ticket (its status and clock when paid)."""
    await update_row("tickets", ticket_id, values)


async def move_charge(locked: Locked, to: ChargeStatus, **values: Any) -> None:
    """Move the locked charge to `to` (refused unless the table allows it), with more columns."""
    current = locked.charge["status"]
    if not charge_may_move(current, to):
        raise InvalidTransition(
            tr("A %(current)s payment cannot become %(to)s.", current=current, to=to.value),
            errors={"status": tr("Not possible while the payment is %(current)s.", current=current)},
        )
    changes: dict[str, Any] = {"status": to.value, "updated_at": clock.now(), **values}
    if locked.giving_back is not None and locked.charge["in_flight_token"] == locked.giving_back:
        changes.update(in_flight_until=None, in_flight_token=None)
        locked.giving_back = None
    await update_row("charges", locked.charge["id"], changes)
    locked.charge.update(changes)


async def move_attempt(
    locked: Locked, attempt: dict[str, Any], to: AttemptStatus, **values: Any
) -> None:
    """Move one of the locked charge's attempts to `to` (refused unless the table allows it)."""
    current = attempt["status"]
    if not attempt_may_move(current, to):
        raise InvalidTransition(
            tr("A %(current)s payment attempt cannot become %(to)s.", current=current, to=to.value),
            errors={"status": tr("Not possible while the attempt is %(current)s.", current=current)},
        )
    changes: dict[str, Any] = {"status": to.value, "updated_at": clock.now(), **values}
    await update_row("payment_attempts", attempt["id"], changes)
    attempt.update(changes)


def new_lease() -> tuple[str, Any]:
    """A fresh lease: its token and until when it holds."""
    return secrets.token_hex(8), clock.now() + LEASE


async def take_lease(locked: Locked) -> str:
    """Hold the charge's in-flight lease (the caller checked nobody else holds it)."""
    token, until = new_lease()
    changes = {"in_flight_until": until, "in_flight_token": token}
    await update_row("charges", locked.charge["id"], changes)
    locked.charge.update(changes)
    return token


async def release_lease(locked: Locked, token: str) -> None:
    """Give the lease back, if it is still this token's (a move of the charge in this
    transaction may have given it back already: `Locked.give_back_with_next_move`)."""
    locked.giving_back = None
    if locked.charge["in_flight_token"] != token:
        return
    changes = {"in_flight_until": None, "in_flight_token": None}
    await update_row("charges", locked.charge["id"], changes)
    locked.charge.update(changes)
