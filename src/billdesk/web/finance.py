"""Finance: charged tickets, reconciliation with Stripe, refunds and exports."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from billdesk import payments
from billdesk.auth import CurrentUser, requires_finance
from billdesk.errors import DeskError, NotFound, ValidationFailed
from billdesk.i18n import tr
from billdesk.payments import finance, ledger
from billdesk.tables import Charge, Department
from billdesk.web.layout import render
from billdesk.web.paging import cut_page, time_cursor
from billdesk.web.params import CursorQuery

PER_PAGE = 50
FILTER_NAMES = ("status", "department", "customer", "from", "to")
STATUS_LABELS = {
    "pending": tr("Pending"),
    "requires_payment": tr("Requires payment"),
    "succeeded": tr("Succeeded"),
    "failed": tr("Failed"),
    "canceled": tr("Cancelled"),
    "refunded": tr("Refunded"),
    "partially_refunded": tr("Partially refunded"),
}
STATUS_OPTIONS = [("", tr("Any status"))] + [
    (status.value, STATUS_LABELS.get(status.value, status.value.replace("_", " ").capitalize()))
    for status in Charge.Status
]


def _raw_filters(request: Request) -> dict[str, str]:
    return {name: request.query_params.get(name, "").strip() for name in FILTER_NAMES}


async def _department_options() -> list[tuple[str, str]]:
    rows = await Department.select(Department.id, Department.name).order_by(Department.name)
    return [("", tr("Any department"))] + [(str(row["id"]), row["name"]) for row in rows]


def _page_url(raw: dict[str, str], cursor: str | None) -> str:
    query = {k: v for k, v in raw.items() if v}
    if cursor:
        query["cursor"] = cursor
    return "/finance" + ("?" + urlencode(query) if query else "")


class FinanceController(Controller):
    path = "/finance"
    tags = ["finance"]
    include_in_schema = False
    guards = [requires_finance]

    @get("/")
    async def charges(self, request: Request, cursor: CursorQuery = None) -> Template:
        """Charges with filters and totals per currency; keyset pages, a count capped at 1,000."""
        raw = _raw_filters(request)
        context: dict[str, Any] = {
            "raw": raw,
            "errors": {},
            "status_options": STATUS_OPTIONS,
            "department_options": await _department_options(),
            "rows": [],
            "totals": [],
            "total": 0,
            "total_capped": False,
            "first_url": None,
            "next_url": None,
            "csv_url": "/finance/charges.csv",
            "reconciled": request.query_params.get("reconciled"),
        }
        try:
            filters = finance.parse_filters(raw)
        except ValidationFailed as error:
            context["errors"] = error.errors
            return await render(
                request, "finance/charges.html", context, active="finance", status_code=422
            )
        rows, next_cursor = cut_page(
            await finance.charge_page(filters, after=time_cursor(cursor), limit=PER_PAGE + 1),
            limit=PER_PAGE, sort_key="created_at",
        )
        total, capped = await finance.count_charges_capped(filters)
        context.update(
            rows=rows,
            totals=await finance.totals(filters),
            total=total,
            total_capped=capped,
            first_url=_page_url(raw, None) if cursor else None,
            next_url=_page_url(raw, next_cursor) if next_cursor else None,
            csv_url="/finance/charges.csv"
            + ("?" + urlencode(filters.as_query()) if filters.as_query() else ""),
        )
        return await render(request, "finance/charges.html", context, active="finance")

    @get("/charges.csv")
    async def charges_csv(self, request: Request) -> Response[str]:
        filters = finance.parse_filters(_raw_filters(request))
        return Response(
            await finance.charges_csv(filters),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="charges.csv"'},
        )

    @get("/summary")
    async def summary(self, request: Request) -> Template:
        """Per department, per month: charges, charged, refunded, net."""
        raw = _raw_filters(request)
        errors: dict[str, str] = {}
        rows: list[dict[str, Any]] = []
        try:
            rows = await finance.monthly_summary(finance.parse_filters(raw))
        except ValidationFailed as error:
            errors = error.errors
        return await render(
            request,
            "finance/summary.html",
            {"rows": rows, "raw": raw, "errors": errors},
            active="finance_summary",
            status_code=422 if errors else 200,
        )

    @post("/reconcile")
    async def reconcile(self) -> Redirect:
        """Ask Stripe about every unpaid charge now, as `billdesk reconcile` does."""
        report = await payments.reconcile()
        summary = f"{report.checked}:{report.paid}:{report.unpaid}:{len(report.errors)}"
        return Redirect(f"/finance?reconciled={summary}", status_code=303)

    @get("/ledger")
    async def ledger(self, request: Request) -> Template:
        """The ledger checks: billdesk's charges and refunds compared with Stripe's."""
        return await render(
            request,
            "finance/ledger.html",
            {
                "checks": await ledger.recent_checks(),
                "configured": payments.payments_configured(),
                "flashes": [("success", tr("The ledger check ran."))]
                if request.query_params.get("checked") else [],
            },
            active="finance_ledger",
        )

    @post("/ledger")
    async def check_ledger(self) -> Redirect:
        """Run the ledger check now (it also runs on its own every day)."""
        await ledger.verify_ledger()
        return Redirect("/finance/ledger?checked=1", status_code=303)

    @get("/charges/{charge_id:int}")
    async def charge(self, request: Request, charge_id: FromPath[int]) -> Template:
        """A charge with its Stripe ids, its refunds and its ticket's thread (read-only)."""
        return await _charge_page(request, charge_id)

    @post("/charges/{charge_id:int}/refunds")
    async def refund(self, request: Request, charge_id: FromPath[int]) -> Template | Redirect:
        user: CurrentUser = request.scope["user"]
        form = await request.form()
        typed = {"amount": str(form.get("amount", "")), "reason": str(form.get("reason", ""))}
        try:
            charge = await Charge.select(Charge.currency).where(Charge.id == charge_id).first()
            if charge is None:
                raise NotFound(tr("There is no such charge."))
            amount = finance.parse_amount("amount", typed["amount"], charge["currency"])
            await payments.refund_charge(
                charge_id=charge_id, amount=amount, reason=typed["reason"], actor_id=user.id
            )
        except DeskError as error:
            if error.status == 404:
                raise
            return await _charge_page(
                request, charge_id, errors=error.errors or {"amount": error.detail},
                typed=typed, status_code=error.status,
            )
        return Redirect(f"/finance/charges/{charge_id}?refunded=1", status_code=303)


async def _charge_page(
    request: Request,
    charge_id: int,
    *,
    errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    detail = await finance.charge_detail(charge_id)
    flashes = []
    if request.query_params.get("refunded"):
        flashes.append(("success", tr("The refund was sent to Stripe.")))
    return await render(
        request,
        "finance/charge.html",
        {**detail, "errors": errors or {}, "typed": typed or {}, "flashes": flashes},
        active="finance",
        status_code=status_code,
    )
