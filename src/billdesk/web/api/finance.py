"""The JSON API of the finance area (API.md "Finance"): charges, one charge, CSV, refunds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from billdesk import payments
from billdesk.auth import CurrentUser, requires_finance
from billdesk.payments import finance, ledger
from billdesk.tables import Refund
from billdesk.web.paging import cut_page, parse_limit, time_cursor
from billdesk.web.params import Amount, CursorQuery, LimitQuery


def rfc3339(value: datetime | None) -> str | None:
    """A time as API.md writes it: UTC, seconds, with a Z."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat()[:19] + "Z"  # "2026-11-27T15:42:54", whatever follows it


class Person(msgspec.Struct):
    id: int
    name: str
    email: str


class DepartmentRef(msgspec.Struct):
    id: int
    name: str


class ChargeItem(msgspec.Struct):
    id: int
    ticket_id: int
    customer: Person
    department: DepartmentRef
    amount: int
    currency: str
    status: str
    refunded_amount: int
    stripe_payment_intent_id: str | None
    created_at: str
    paid_at: str | None
    surplus_payments: int = 0


class Total(msgspec.Struct):
    currency: str
    charged: int
    refunded: int
    net: int


class ChargeList(msgspec.Struct):
    items: list[ChargeItem]
    next_cursor: str | None
    totals: list[Total]


class RefundItem(msgspec.Struct):
    id: int
    charge_id: int
    amount: int
    currency: str
    reason: str
    status: str
    stripe_refund_id: str | None
    created_by: str | None
    created_at: str
    automatic: bool = False
    attempt_id: int | None = None


class AttemptItem(msgspec.Struct):
    """One PaymentIntent or Checkout Session billdesk asked Stripe for."""

    id: int
    number: int
    method: str
    status: str
    amount: int
    currency: str
    stripe_payment_intent_id: str | None
    stripe_checkout_session_id: str | None
    failure_reason: str
    surplus: bool
    created_at: str


class ThreadAuthor(msgspec.Struct):
    id: int
    name: str
    role: str


class ThreadMessage(msgspec.Struct):
    id: int
    author: ThreadAuthor
    body: str
    internal: bool
    deleted: bool
    created_at: str


class TicketView(msgspec.Struct):
    id: int
    subject: str
    status: str
    created_at: str
    messages: list[ThreadMessage]


class ChargeDetail(msgspec.Struct):
    id: int
    ticket_id: int
    customer: Person
    department: DepartmentRef
    amount: int
    currency: str
    status: str
    refunded_amount: int
    stripe_payment_intent_id: str | None
    stripe_checkout_session_id: str | None
    failure_reason: str
    created_at: str
    paid_at: str | None
    refunds: list[RefundItem]
    ticket: TicketView
    attempts: list[AttemptItem] = msgspec.field(default_factory=list)
    surplus_payments: int = 0


class LedgerDifferenceItem(msgspec.Struct):
    kind: str
    stripe_id: str
    detail: str
    charge_id: int | None


class LedgerCheckItem(msgspec.Struct):
    """One comparison of billdesk's records with Stripe's (`billdesk reconcile --verify`)."""

    id: int
    ran_at: str
    since: str
    intents_checked: int
    refunds_checked: int
    differences: list[LedgerDifferenceItem]
    error: str


class LedgerChecks(msgspec.Struct):
    items: list[LedgerCheckItem]


def ledger_item(row: dict[str, Any]) -> LedgerCheckItem:
    return LedgerCheckItem(
        id=row["id"],
        ran_at=rfc3339(row["ran_at"]) or "",
        since=rfc3339(row["since"]) or "",
        intents_checked=row["intents_checked"],
        refunds_checked=row["refunds_checked"],
        differences=[LedgerDifferenceItem(**d) for d in row["differences"]],
        error=row["error"],
    )


class RefundIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: str = ""
    amount: Amount | None = None


def charge_item(row: dict[str, Any]) -> ChargeItem:
    return ChargeItem(
        id=row["id"],
        ticket_id=row["ticket"],
        customer=Person(
            id=row["customer.id"], name=row["customer.name"], email=row["customer.email"]
        ),
        department=DepartmentRef(id=row["department.id"], name=row["department.name"]),
        amount=row["amount"],
        currency=row["currency"],
        status=row["status"],
        refunded_amount=row["refunded_amount"],
        stripe_payment_intent_id=row["stripe_payment_intent_id"],
        created_at=rfc3339(row["created_at"]) or "",
        paid_at=rfc3339(row["paid_at"]),
        surplus_payments=row.get("surplus_payments", 0),
    )


def refund_item(row: dict[str, Any], charge_id: int, currency: str) -> RefundItem:
    return RefundItem(
        id=row["id"],
        charge_id=charge_id,
        amount=row["amount"],
        currency=currency,
        reason=row["reason"],
        status=row["status"],
        stripe_refund_id=row["stripe_refund_id"],
        created_by=row.get("created_by.name"),
        created_at=rfc3339(row["created_at"]) or "",
        automatic=bool(row.get("automatic", False)),
        attempt_id=row.get("attempt"),
    )




def _filters(**raw: str | None) -> finance.ChargeFilters:
    return finance.parse_filters(raw)


class FinanceApiController(Controller):
    path = "/api/v1/finance"
    tags = ["finance"]
    guards = [requires_finance]

    @get("/charges")
    async def charges(
        self,
        status: FromQuery[str | None] = None,
        department: FromQuery[str | None] = None,
        customer: FromQuery[str | None] = None,
        date_from: Annotated[str | None, QueryParameter(name="from", required=False)] = None,
        date_to: Annotated[str | None, QueryParameter(name="to", required=False)] = None,
        limit: LimitQuery = None,
        cursor: CursorQuery = None,
    ) -> ChargeList:
        """Charges, newest first, filtered; `totals` per currency cover every matching charge."""
        filters = _filters(
            status=status, department=department, customer=customer, **{"from": date_from},
            to=date_to,
        )
        limit = parse_limit(limit)
        rows, next_cursor = cut_page(
            await finance.charge_page(filters, after=time_cursor(cursor), limit=limit + 1),
            limit=limit,
            sort_key="created_at",
        )
        return ChargeList(
            items=[charge_item(row) for row in rows],
            next_cursor=next_cursor,
            totals=[Total(**total) for total in await finance.totals(filters)],
        )

    @get("/charges.csv", media_type="text/csv")
    async def charges_csv(
        self,
        status: FromQuery[str | None] = None,
        department: FromQuery[str | None] = None,
        customer: FromQuery[str | None] = None,
        date_from: Annotated[str | None, QueryParameter(name="from", required=False)] = None,
        date_to: Annotated[str | None, QueryParameter(name="to", required=False)] = None,
    ) -> Response[str]:
        """The same filters as the list, as CSV (amounts in minor units)."""
        filters = _filters(
            status=status, department=department, customer=customer, **{"from": date_from},
            to=date_to,
        )
        return Response(
            await finance.charges_csv(filters),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="charges.csv"'},
        )

    @get("/charges/{charge_id:int}")
    async def charge(self, charge_id: FromPath[int]) -> ChargeDetail:
        """One charge with its refunds and its ticket's thread (read-only)."""
        return await charge_detail(charge_id)

    @post("/charges/{charge_id:int}/refunds", status_code=201)
    async def refund(
        self, request: Request, charge_id: FromPath[int], data: JSONBody[RefundIn]
    ) -> RefundItem:
        """Refund `amount` (minor units; none = what is left) with a reason; too much → 422."""
        user: CurrentUser = request.scope["user"]
        refund_id = await payments.refund_charge(
            charge_id=charge_id, amount=data.amount, reason=data.reason, actor_id=user.id
        )
        row = await Refund.select(
            Refund.id, Refund.amount, Refund.reason, Refund.status, Refund.stripe_refund_id,
            Refund.created_at, Refund.created_by.name, Refund.charge.currency,
        ).where(Refund.id == refund_id).first()
        assert row is not None
        return refund_item(row, charge_id, row["charge.currency"])


    @get("/ledger")
    async def ledger_checks(self) -> LedgerChecks:
        """The ten latest ledger checks (billdesk's charges and refunds against Stripe's), newest first."""
        return LedgerChecks(items=[ledger_item(row) for row in await ledger.recent_checks()])

    @post("/ledger", status_code=201)
    async def check_ledger(self) -> LedgerCheckItem:
        """Compare every PaymentIntent and refund of the last 35 days in Stripe with billdesk's records now."""
        report = await ledger.verify_ledger()
        [row] = [r for r in await ledger.recent_checks(1) if r["id"] == report.check_id]
        return ledger_item(row)


async def charge_detail(charge_id: int) -> ChargeDetail:
    detail = await finance.charge_detail(charge_id)
    row = detail["charge"]
    item = charge_item(row)
    return ChargeDetail(
        **msgspec.structs.asdict(item),
        stripe_checkout_session_id=row["stripe_checkout_session_id"],
        failure_reason=row["failure_reason"],
        refunds=[refund_item(r, row["id"], row["currency"]) for r in detail["refunds"]],
        attempts=[
            AttemptItem(**{**a, "created_at": rfc3339(a["created_at"]) or ""})
            for a in detail["attempts"]
        ],
        ticket=TicketView(
            id=row["ticket"],
            subject=row["ticket.subject"],
            status=row["ticket.status"],
            created_at=rfc3339(row["ticket.created_at"]) or "",
            messages=[
                ThreadMessage(
                    id=m["id"],
                    author=ThreadAuthor(
                        id=m["author.id"], name=m["author.name"], role=m["author.role"]
                    ),
                    body="" if m["deleted"] else m["body"],
                    internal=m["internal"],
                    deleted=m["deleted"],
                    created_at=rfc3339(m["created_at"]) or "",
                )
                for m in detail["messages"]
            ],
        ),
    )
