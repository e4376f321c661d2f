"""Free tickets per period, and the price of the ones beyond (DESIGN.md, "Quotas").

Each (customer, department, period) has one counter row. Taking a free ticket is
a single conditional upsert (`INSERT … ON CONFLICT DO UPDATE SET used = used + 1
WHERE used < free RETURNING`), so two openings at the same moment, in any number of processes, can never both
take the last free ticket: the database decides, not the application.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from billdesk import formatting
from billdesk.sql import Statement
from billdesk.tables import Department, QuotaCounter

LIFETIME = "lifetime"


@dataclass(frozen=True)
class Price:
    amount: int
    currency: str

    def as_dict(self) -> dict[str, Any]:
        return {"amount": self.amount, "currency": self.currency}

    def label(self) -> str:
        """The price as a person reads it, in the language of whoever reads it: `15.00 USD`."""
        return formatting.LocalMoney(self.amount, self.currency)


@dataclass(frozen=True)
class QuotaStatus:
    """Where a customer stands in one department, as the new-ticket form shows it."""

    free_per_period: int | None  # None: support here is always free
    period: str
    used: int
    remaining: int | None
    resets_at: datetime | None  # None for lifetime quotas and always-free support
    next_ticket_paid: bool
    price: Price | None  # set when the next ticket is paid

    @property
    def always_free(self) -> bool:
        return self.free_per_period is None

    @property
    def always_paid(self) -> bool:
        """No free tickets at all here: every ticket costs the price."""
        return self.free_per_period == 0


def period_key(period: str, now: datetime | None = None) -> str:
    """The counter's period: '2026-11' for months, '2026' for years, 'lifetime'."""
    now = now or datetime.now(UTC)
    if period == Department.Period.month.value:
        return f"{now.year:04d}-{now.month:02d}"
    if period == Department.Period.year.value:
        return f"{now.year:04d}"
    return LIFETIME


def resets_at(period: str, now: datetime | None = None) -> datetime | None:
    """When the current period ends (UTC), or None for a lifetime quota."""
    now = now or datetime.now(UTC)
    if period == Department.Period.month.value:
        if now.month == 12:
            return datetime(now.year + 1, 1, 1, tzinfo=UTC)
        return datetime(now.year, now.month + 1, 1, tzinfo=UTC)
    if period == Department.Period.year.value:
        return datetime(now.year + 1, 1, 1, tzinfo=UTC)
    return None


def counter_key(customer_id: int, department_id: int, period: str) -> str:
    return f"{customer_id}:{department_id}:{period}"


def _field(department: Any, name: str) -> Any:
    """Departments come as table rows (dicts) or as Department objects."""
    if isinstance(department, dict):
        return department[name]
    return getattr(department, name)


async def used_in_period(customer_id: int, department_id: int, period: str) -> int:
    row = await QuotaCounter.select(QuotaCounter.used).where(
        QuotaCounter.key == counter_key(customer_id, department_id, period_key(period))
    ).first()
    return row["used"] if row else 0


def status_from(department: Any, used: int, now: datetime | None = None) -> QuotaStatus:
    """The quota status of a department, given what the customer used this period."""
    free = _field(department, "free_tickets")
    period = _field(department, "quota_period")
    if free is None:
        return QuotaStatus(
            free_per_period=None, period=period, used=used, remaining=None, resets_at=None,
            next_ticket_paid=False, price=None,
        )
    remaining = max(free - used, 0)
    paid = remaining == 0
    price = Price(_field(department, "ticket_price"), _field(department, "currency")) if paid else None
    return QuotaStatus(
        free_per_period=free, period=period, used=used, remaining=remaining,
        resets_at=resets_at(period, now), next_ticket_paid=paid, price=price,
    )


async def quota_status(customer_id: int, department: Any) -> QuotaStatus:
    """Free tickets used and left for this customer in `department`, and the next ticket's price."""
    used = await used_in_period(customer_id, _field(department, "id"), _field(department, "quota_period"))
    return status_from(department, used)


async def quota_statuses(customer_id: int, departments: list[dict[str, Any]]) -> dict[int, QuotaStatus]:
    """The quota status of several departments, with one query for the counters."""
    keys = {
        counter_key(customer_id, dep["id"], period_key(dep["quota_period"])): dep["id"]
        for dep in departments
    }
    used: dict[int, int] = {}
    if keys:
        rows = await QuotaCounter.select(QuotaCounter.key, QuotaCounter.used).where(
            QuotaCounter.key.is_in(list(keys))
        )
        used = {keys[row["key"]]: row["used"] for row in rows}
    return {dep["id"]: status_from(dep, used.get(dep["id"], 0)) for dep in departments}


async def take_free_ticket(customer_id: int, department: Any) -> bool:
    """Use one free ticket of this period, if one is left; True when it was taken.

    Call inside the opening's transaction, so that a failure after this step
    gives the free ticket back. Always-free departments take nothing and answer True;
    departments where every ticket is paid take nothing and answer False, without
    touching the counter (whose row lock would queue a customer's paid openings).
    """
    free = _field(department, "free_tickets")
    if free is None:
        return True
    if free <= 0:
        return False
    department_id = _field(department, "id")
    period = period_key(_field(department, "quota_period"))
    taken = await _TAKE.rows(
        key=counter_key(customer_id, department_id, period), customer=customer_id,
        department=department_id, period=period, free=free,
    )
    return bool(taken) and taken[0]["used"] > 0


# The first ticket of a period creates its counter, at 1 (at 0 where none is free); any
# later one adds 1 only while some are left. One statement: the database decides
# between concurrent openings. A ticket was taken when the counter returned is above 0.
_TAKE = Statement(
    "INSERT INTO quota_counters (key, customer, department, period, used) "
    "VALUES (:key, :customer, :department, :period, CASE WHEN :free > 0 THEN 1 ELSE 0 END) "
    "ON CONFLICT (key) DO UPDATE SET used = quota_counters.used + 1 "
    "WHERE quota_counters.used < :free RETURNING used"
)
