"""What finance reads: charges filtered, totals per currency, a monthly summary, one charge."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any

from piccolo.query import Select

from billdesk import formatting
from billdesk.db import count_up_to
from billdesk.errors import NotFound, ValidationFailed
from billdesk.i18n import tr
from billdesk.sql import Statement
from billdesk.tables import Charge, Message, PaymentAttempt, Refund, TicketEvent
from billdesk.validation import parse_id

Status = Charge.Status
# Charges where money was taken (refunds included, counted separately).
COLLECTED = (Status.succeeded.value, Status.partially_refunded.value, Status.refunded.value)

LIST_COLUMNS = (
    Charge.id,
    Charge.ticket,
    Charge.customer.id,
    Charge.customer.name,
    Charge.customer.email,
    Charge.department.id,
    Charge.department.name,
    Charge.amount,
    Charge.currency,
    Charge.status,
    Charge.refunded_amount,
    Charge.stripe_payment_intent_id,
    Charge.stripe_checkout_session_id,
    Charge.failure_reason,
    Charge.created_at,
    Charge.paid_at,
    Charge.surplus_payments,
)


@dataclass(frozen=True)
class ChargeFilters:
    status: str | None = None
    department_id: int | None = None
    customer_id: int | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None

    def as_query(self) -> dict[str, str]:
        """The filters as query parameters, for links and the CSV export."""
        values = {
            "status": self.status or "",
            "department": str(self.department_id or ""),
            "customer": str(self.customer_id or ""),
            "from": self.date_from.date().isoformat() if self.date_from else "",
            "to": (self.date_to - timedelta(microseconds=1)).date().isoformat()
            if self.date_to
            else "",
        }
        return {k: v for k, v in values.items() if v}


def _day_or_time(field: str, value: str, *, end: bool) -> datetime:
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day, time.min, tzinfo=UTC)
            return moment + timedelta(days=1) if end else moment
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    except ValueError:
        raise ValidationFailed.field(
            field, tr("%(field)s must be a date (2026-11-20) or an RFC 3339 time.", field=field)
        ) from None


def _id(field: str, value: str) -> int | None:
    return parse_id(field, value)


def parse_filters(raw: Mapping[str, str | None]) -> ChargeFilters:
    """Filters from query parameters: status, department, customer, from, to (dates inclusive)."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    status = (raw.get("status") or "").strip()
    if status and status not in {s.value for s in Status}:
        errors["status"] = tr(
            "status must be one of %(choices)s.", choices=", ".join(s.value for s in Status)
        )
    elif status:
        values["status"] = status
    for field, key in (("department", "department_id"), ("customer", "customer_id")):
        if raw.get(field):
            try:
                values[key] = _id(field, str(raw[field]))
            except ValidationFailed as error:
                errors.update(error.errors)
    for field, key, end in (("from", "date_from", False), ("to", "date_to", True)):
        if raw.get(field):
            try:
                values[key] = _day_or_time(field, str(raw[field]), end=end)
            except ValidationFailed as error:
                errors.update(error.errors)
    if not errors and values.get("date_from") and values.get("date_to"):
        if values["date_from"] >= values["date_to"]:
            errors["to"] = tr("to must not be before from.")
    if errors:
        raise ValidationFailed(tr("Some filters are not valid."), errors=errors)
    return ChargeFilters(**values)


def _where(query: Any, filters: ChargeFilters) -> Any:
    if filters.status:
        query = query.where(Charge.status == filters.status)
    if filters.department_id:
        query = query.where(Charge.department == filters.department_id)
    if filters.customer_id:
        query = query.where(Charge.customer == filters.customer_id)
    if filters.date_from:
        query = query.where(Charge.created_at >= filters.date_from)
    if filters.date_to:
        query = query.where(Charge.created_at < filters.date_to)
    return query


def charges_query(filters: ChargeFilters) -> Select:
    """The filtered charges, with their customer and department, in one query."""
    return _where(Charge.select(*LIST_COLUMNS), filters)


# The list's statements, written once per combination of filters (billdesk.sql): each
# filter given adds its fragment, in this order, so that each combination has one text.
_FILTERS = (
    ("status", "c.status = :status"),
    ("department_id", "c.department = :department_id"),
    ("customer_id", "c.customer = :customer_id"),
    ("date_from", "c.created_at >= :date_from"),
    ("date_to", "c.created_at < :date_to"),
)

_PAGE = """
SELECT c.id, c.ticket, u.id AS "customer.id", u.name AS "customer.name",
       u.email AS "customer.email", d.id AS "department.id", d.name AS "department.name",
       c.amount, c.currency, c.status, c.refunded_amount, c.stripe_payment_intent_id,
       c.stripe_checkout_session_id, c.failure_reason, c.created_at, c.paid_at,
       c.surplus_payments
FROM charges c
LEFT JOIN users u ON u.id = c.customer
LEFT JOIN departments d ON d.id = c.department
WHERE {conditions}
ORDER BY c.created_at DESC, c.id DESC
LIMIT {limit}
"""

_COLLECTED_SQL = ", ".join(f"'{status}'" for status in COLLECTED)

_CHARGE_SUMS = """
SELECT c.currency, SUM(c.amount) AS charged, SUM(c.refunded_amount) AS refunded,
       COUNT(c.id) AS charges
FROM charges c
WHERE c.status IN ({collected}){conditions}
GROUP BY c.currency
"""

_MONTH_SUMS = """
SELECT m.currency, SUM(m.charged) AS charged, SUM(m.refunded) AS refunded,
       SUM(m.charges) AS charges
FROM charge_month_totals m
WHERE m.status IN ({collected}){conditions}
GROUP BY m.currency
"""


def _given(filters: ChargeFilters) -> tuple[str, ...]:
    """The names of the filters set, in the order of _FILTERS."""
    return tuple(name for name, _ in _FILTERS if getattr(filters, name))


def _values(filters: ChargeFilters) -> dict[str, Any]:
    return {name: getattr(filters, name) for name, _ in _FILTERS}


@cache
def _page_statement(given: tuple[str, ...], after: bool, limit: int) -> Statement:
    # The limit is part of the text, as the ORM writes it (see reading._customer_page).
    conditions = [fragment for name, fragment in _FILTERS if name in given]
    if after:
        # A row comparison: the page starts where the last one ended, as a range of the
        # (…, created_at, id) index the filter picks.
        conditions.append("(c.created_at, c.id) < (:after_time, :after_id)")
    return Statement(_PAGE.format(conditions=" AND ".join(conditions) or "TRUE", limit=int(limit)))


async def charge_page(
    filters: ChargeFilters, *, after: tuple[datetime, int] | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Up to `limit` of the filtered charges (the rows of `charges_query`), newest first,
    starting after the (created_at, id) of `after`; one statement."""
    after_time, after_id = after if after is not None else (None, None)
    return await _page_statement(_given(filters), after is not None, limit).rows(
        **_values(filters), after_time=after_time, after_id=after_id
    )


@cache
def _charge_sums_statement(given: tuple[str, ...]) -> Statement:
    conditions = "".join(f" AND {fragment}" for name, fragment in _FILTERS if name in given)
    return Statement(_CHARGE_SUMS.format(collected=_COLLECTED_SQL, conditions=conditions))


@cache
def _month_sums_statement(status: bool, department: bool, first: bool, end: bool) -> Statement:
    conditions = "".join(
        f" AND {fragment}"
        for wanted, fragment in (
            (status, "m.status = :status"),
            (department, "m.department = :department_id"),
            (first, "m.month >= :first"),
            (end, "m.month < :end"),
        )
        if wanted
    )
    return Statement(_MONTH_SUMS.format(collected=_COLLECTED_SQL, conditions=conditions))


COUNT_CAP = 1000


async def count_charges_capped(filters: ChargeFilters) -> tuple[int, bool]:
    """How many charges match, counted up to COUNT_CAP and no further; True when capped."""
    return await count_up_to(_where(Charge.select(Charge.id), filters), COUNT_CAP)


def _month_start(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def _next_month(month: datetime) -> datetime:
    return datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=UTC)


async def _charge_sums(filters: ChargeFilters) -> list[dict[str, Any]]:
    """Per currency over the charges themselves; bounded by the caller (a customer, a month)."""
    return await _charge_sums_statement(_given(filters)).rows(**_values(filters))


async def _month_sums(filters: ChargeFilters, first: datetime | None, end: datetime | None) -> list[dict[str, Any]]:
    """Per currency over the kept month totals of the whole months from `first` up to `end`."""
    statement = _month_sums_statement(
        bool(filters.status), bool(filters.department_id), first is not None, end is not None
    )
    return await statement.rows(
        status=filters.status, department_id=filters.department_id,
        first=f"{first:%Y-%m}" if first is not None else None,
        end=f"{end:%Y-%m}" if end is not None else None,
    )


async def totals(filters: ChargeFilters) -> list[dict[str, Any]]:
    """Per currency: charged (money taken), refunded and net, over the filtered charges.

    Exact, and bounded whatever the number of charges: the whole months of the date
    filter come from the month totals the database keeps (billdesk.payments.month_totals),
    only the part-months at its edges, or one customer's charges, are added up here."""
    parts: list[list[dict[str, Any]]] = []
    start, end = filters.date_from, filters.date_to
    first = start if start is None or start == _month_start(start) else _next_month(_month_start(start))
    last = end if end is None or end == _month_start(end) else _month_start(end)
    if filters.customer_id or (first is not None and last is not None and first >= last):
        parts.append(await _charge_sums(filters))
    else:
        parts.append(await _month_sums(filters, first, last))
        if start is not None and first is not None and start < first:
            parts.append(await _charge_sums(replace(filters, date_to=first)))
        if end is not None and last is not None and last < end:
            parts.append(await _charge_sums(replace(filters, date_from=last)))
    by_currency: dict[str, list[int]] = {}
    for rows in parts:
        for row in rows:
            sums = by_currency.setdefault(row["currency"], [0, 0, 0])
            sums[0] += int(row["charged"] or 0)
            sums[1] += int(row["refunded"] or 0)
            sums[2] += int(row["charges"] or 0)
    return [
        {"currency": currency, "charged": charged, "refunded": refunded, "net": charged - refunded}
        for currency, (charged, refunded, count) in sorted(by_currency.items())
        if count
    ]


async def monthly_summary(filters: ChargeFilters) -> list[dict[str, Any]]:
    """Per department, per month (of the charge, UTC) and currency: count, charged, refunded, net."""
    rows = await _where(
        Charge.select(
            Charge.department.name,
            Charge.currency,
            Charge.amount,
            Charge.refunded_amount,
            Charge.created_at,
        ).where(Charge.status.is_in(list(COLLECTED))),
        filters,
    )
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in rows:
        month = row["created_at"].astimezone(UTC).strftime("%Y-%m")
        key = (month, row["department.name"], row["currency"])
        group = groups.setdefault(
            key,
            {
                "month": month,
                "department": row["department.name"],
                "currency": row["currency"],
                "charges": 0,
                "charged": 0,
                "refunded": 0,
            },
        )
        group["charges"] += 1
        group["charged"] += row["amount"]
        group["refunded"] += row["refunded_amount"]
    summary = sorted(groups.values(), key=lambda g: (g["month"], g["department"], g["currency"]))
    summary.reverse()
    for group in summary:
        group["net"] = group["charged"] - group["refunded"]
    return summary


CSV_HEADER = [
    "charge_id",
    "ticket_id",
    "customer_id",
    "customer_name",
    "customer_email",
    "department",
    "amount",
    "currency",
    "status",
    "refunded_amount",
    "stripe_payment_intent_id",
    "created_at",
    "paid_at",
]


def _time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""


def _cell(value: Any) -> Any:
    # A spreadsheet runs a cell starting with = + - @ as a formula: defuse names and emails.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


async def charges_csv(filters: ChargeFilters) -> str:
    """The filtered charges as CSV, amounts in minor units, times in UTC."""
    rows = await charges_query(filters).order_by(Charge.created_at, ascending=False)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for row in rows:
        writer.writerow(
            [
                _cell(v)
                for v in (
                    row["id"],
                    row["ticket"],
                    row["customer.id"],
                    row["customer.name"],
                    row["customer.email"],
                    row["department.name"],
                    row["amount"],
                    row["currency"],
                    row["status"],
                    row["refunded_amount"],
                    row["stripe_payment_intent_id"] or "",
                    _time(row["created_at"]),
                    _time(row["paid_at"]),
                )
            ]
        )
    return out.getvalue()


async def charge_detail(charge_id: int) -> dict[str, Any]:
    """One charge with its refunds, its ticket, the ticket's thread and history."""
    charge = (
        await Charge.select(
            *LIST_COLUMNS,
            Charge.idempotency_key,
            Charge.attempt,
            Charge.updated_at,
            Charge.card_brand,
            Charge.card_last4,
            Charge.receipt_url,
            Charge.ticket.subject,
            Charge.ticket.status,
            Charge.ticket.created_at,
        )
        .where(Charge.id == charge_id)
        .first()
    )
    if charge is None:
        raise NotFound(tr("There is no such charge."))
    refunds = (
        await Refund.select(
            Refund.id,
            Refund.amount,
            Refund.reason,
            Refund.status,
            Refund.stripe_refund_id,
            Refund.created_at,
            Refund.created_by.name,
            Refund.automatic,
            Refund.attempt,
            Refund.attempt.stripe_payment_intent_id,
        )
        .where(Refund.charge == charge_id)
        .order_by(Refund.id)
    )
    attempts = (
        await PaymentAttempt.select(
            PaymentAttempt.id,
            PaymentAttempt.number,
            PaymentAttempt.method,
            PaymentAttempt.status,
            PaymentAttempt.amount,
            PaymentAttempt.currency,
            PaymentAttempt.stripe_payment_intent_id,
            PaymentAttempt.stripe_checkout_session_id,
            PaymentAttempt.failure_reason,
            PaymentAttempt.surplus,
            PaymentAttempt.created_at,
        )
        .where(PaymentAttempt.charge == charge_id)
        .order_by(PaymentAttempt.number)
    )
    messages = (
        await Message.select(
            Message.id,
            Message.body,
            Message.internal,
            Message.deleted,
            Message.opening,
            Message.created_at,
            Message.author.id,
            Message.author.name,
            Message.author.role,
        )
        .where(Message.ticket == charge["ticket"])
        .order_by(Message.created_at)
        .order_by(Message.id)
    )
    events = (
        await TicketEvent.select(
            TicketEvent.kind,
            TicketEvent.old_value,
            TicketEvent.new_value,
            TicketEvent.params,
            TicketEvent.created_at,
            TicketEvent.actor.name,
        )
        .where(TicketEvent.ticket == charge["ticket"])
        .order_by(TicketEvent.id)
    )
    return {
        "charge": charge,
        "refunds": refunds,
        "attempts": attempts,
        "messages": messages,
        "events": events,
        "left_to_refund": charge["amount"] - charge["refunded_amount"]
        if charge["status"] in (Status.succeeded.value, Status.partially_refunded.value)
        else 0,
    }


def parse_amount(field: str, text: str, currency: str) -> int | None:
    """A refund amount typed in the currency's units ("12.50", "12,50"; yen whole) into minor
    units; blank means the rest."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return formatting.parse_money(text, currency)
    except formatting.MoneyFormatError as exc:
        raise ValidationFailed.field(field, exc.args[0]) from None
