"""The customer's ticket list and finance's charge list, row by row and field by field.

Both lists read their page with one statement written once (billdesk.sql). Here they
answer, for every filter and page size, exactly what the ORM's query of the same
list (`customer_tickets_query`, `finance.charges_query`) paged by `keyset_page`
answers, formatted as API.md says: the same rows, fields, times and cursors; and
the totals are the sums over every matching charge.
"""

from __future__ import annotations

import itertools
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from billdesk.db import DB
from billdesk.payments import finance
from billdesk.requests import request_out
from billdesk.tables import Charge, RequestKind, Ticket
from billdesk.tickets import charges_by_ticket, customer_tickets_query
from billdesk.web.paging import keyset_page
from tests.factories import make_department, make_service, make_token, make_user

BASE = datetime(2026, 11, 10, 9, 30, 15, 250_000, tzinfo=UTC)
"""Times with microseconds, which the API drops."""


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@contextmanager
def counting_statements():
    """Every statement sent, whether built by the ORM or written once."""
    sent: list[str] = []
    engine_class = type(DB)
    original = engine_class._run

    async def _run(self, sql, args):
        sent.append(sql)
        return await original(self, sql, args)

    engine_class._run = _run  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        engine_class._run = original  # type: ignore[method-assign]


async def _pages(client, path: str, token: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every page of a list, following its cursors."""
    pages, cursor = [], None
    while True:
        answer = await client.get(
            path, params={**params, **({"cursor": cursor} if cursor else {})},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 200, answer.text
        pages.append(answer.json())
        cursor = pages[-1]["next_cursor"]
        if cursor is None:
            return pages


# ------------------------------------------------------------------ customer's tickets


async def _customer_data() -> dict[str, Any]:
    """A customer's tickets in two departments that take every branch of the list."""
    me, other, manager = await make_user(), await make_user(), await make_user(role="admin")
    hosting = await make_department(name="Hosting")
    domains = await make_department(name="Domains")
    vps = await make_service(customer_id=me.id, name="VPS-7")
    kind = (
        await RequestKind.insert(RequestKind(department=hosting, name="Unblock port 25"))
        .returning(RequestKind.id)
    )[0]["id"]
    made: dict[str, int] = {}

    async def ticket(name: str, minutes: int, **values: Any) -> int:
        moment = BASE - timedelta(minutes=minutes)
        fields = {
            "customer": me.id, "department": hosting, "subject": f"Ticket {name}",
            "created_at": moment - timedelta(days=1, microseconds=1), "last_message_at": moment,
            **values,
        }
        row = await Ticket.insert(Ticket(**fields)).returning(Ticket.id)
        made[name] = row[0]["id"]
        return made[name]

    async def charge(ticket_id: int, status: str, *, amount: int = 1500, refunded: int = 0,
                     currency: str = "usd") -> None:
        await Charge.insert(Charge(
            ticket=ticket_id, customer=me.id, department=hosting, amount=amount,
            currency=currency, status=status, refunded_amount=refunded,
            idempotency_key=f"list-{ticket_id}",
        ))

    await ticket("plain", 1)
    await ticket("tie low", 2)
    await ticket("tie high", 2)  # the same time: the higher id comes first
    await ticket("service", 3, service=vps, answers=2, unread_by_customer=True)
    await ticket("waiting", 4, status="waiting_for_reply", department=domains)
    await ticket("solved", 5, status="solved", department=domains)
    await charge(await ticket("paid", 6), "succeeded")
    await charge(await ticket("refunded", 7, status="solved"), "partially_refunded", refunded=500)
    await charge(await ticket("cancelled", 8, status="solved"), "canceled", currency="eur")
    await charge(await ticket("unpaid", 9, status="awaiting_payment"), "requires_payment")
    await ticket(
        "request", 10, type="request", request_kind=kind, request_state="approved",
        request_reason="Done", decided_by=manager.id, decided_at=BASE + timedelta(seconds=1),
    )
    await ticket("pending request", 11, type="request", request_kind=kind)
    await ticket("archived", 12, archived=True, status="solved")
    await charge(await ticket("archived paid", 13, archived=True, status="solved"), "refunded",
                 refunded=1500)
    await ticket("removed", 14, removed_at=BASE)
    await ticket("removed archived", 15, removed_at=BASE, archived=True)
    await ticket("not mine", 0, customer=other.id)
    return {"me": me, "token": await make_token(me), "hosting": hosting, "domains": domains,
            "ids": made}


def _expected_summary(row: dict[str, Any], charge: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "id": row["id"], "subject": row["subject"], "status": row["status"],
        "archived": row["archived"],
        "department": {"id": row["department_id"], "name": row["department_name"]},
        "service": {"id": row["service_id"], "name": row["service_name"]}
        if row["service_id"] else None,
        "created_at": _time(row["created_at"]), "last_message_at": _time(row["last_message_at"]),
        "answers": row["answers"], "unread": row["unread_by_customer"],
        "charge": {key: charge[key] for key in ("id", "amount", "currency", "status")}
        if charge else None,
        "type": row["type"], "request": request_out(row),
    }


async def _expected_customer_pages(customer_id: int, limit: int, **filters: Any):
    pages, cursor = [], None
    while True:
        rows, cursor = await keyset_page(
            customer_tickets_query(customer_id, **filters), sort=Ticket.last_message_at,
            id_column=Ticket.id, limit=limit, cursor=cursor,
        )
        charges = await charges_by_ticket([row["id"] for row in rows])
        pages.append({
            "items": [_expected_summary(row, charges.get(row["id"])) for row in rows],
            "next_cursor": cursor,
        })
        if cursor is None:
            return pages


async def test_customer_list_shows_own_tickets_with_every_field(client):
    data = await _customer_data()
    ids = data["ids"]
    first = (await _pages(client, "/api/v1/tickets", data["token"], {}))[0]["items"]
    # Newest activity first, ties by id; neither removed tickets, archived ones, nor
    # another customer's.
    assert [item["id"] for item in first] == [ids[name] for name in (
        "plain", "tie high", "tie low", "service", "waiting", "solved", "paid", "refunded",
        "cancelled", "unpaid", "request", "pending request",
    )]
    by_name = {name: item for item in first for name, id_ in ids.items() if item["id"] == id_}
    assert by_name["plain"] == {
        "id": ids["plain"], "subject": "Ticket plain", "status": "in_progress",
        "archived": False, "department": {"id": data["hosting"], "name": "Hosting"},
        "service": None, "created_at": "2026-11-09T09:29:15Z",
        "last_message_at": "2026-11-10T09:29:15Z", "answers": 0, "unread": False,
        "charge": None, "type": "ticket", "request": None,
    }
    assert by_name["service"]["service"]["name"] == "VPS-7"
    assert (by_name["service"]["answers"], by_name["service"]["unread"]) == (2, True)
    assert by_name["refunded"]["charge"] == {
        "id": by_name["refunded"]["charge"]["id"], "amount": 1500, "currency": "usd",
        "status": "partially_refunded",
    }
    assert by_name["cancelled"]["charge"]["currency"] == "eur"
    assert by_name["request"]["request"] == {
        "kind": {"id": by_name["request"]["request"]["kind"]["id"], "name": "Unblock port 25"},
        "state": "approved", "reason": "Done",
        "decided_by": by_name["request"]["request"]["decided_by"],
        "decided_at": "2026-11-10T09:30:16Z",
    }
    assert by_name["request"]["request"]["decided_by"]["id"] is not None
    assert by_name["pending request"]["request"]["decided_by"] is None
    archived = (await _pages(client, "/api/v1/tickets", data["token"], {"archived": "true"}))
    assert [item["id"] for item in archived[0]["items"]] == [ids["archived"], ids["archived paid"]]
    assert archived[0]["items"][1]["charge"]["status"] == "refunded"


async def test_customer_list_pages_as_the_orm_query_does(client):
    data = await _customer_data()
    statuses = [None, "in_progress", "waiting_for_reply", "solved", "awaiting_payment"]
    departments = [None, data["hosting"], data["domains"]]
    for status, department, archived, limit in itertools.product(
        statuses, departments, [False, True], [2, 50]
    ):
        params: dict[str, Any] = {"limit": limit, "archived": str(archived).lower()}
        params |= {"status": status} if status else {}
        params |= {"department": department} if department else {}
        answered = await _pages(client, "/api/v1/tickets", data["token"], params)
        expected = await _expected_customer_pages(
            data["me"].id, limit, status=status, department_id=department, archived=archived
        )
        assert answered == expected, params


async def test_customer_list_sends_one_statement_whatever_the_page(client):
    data = await _customer_data()
    headers = {"Authorization": f"Bearer {data['token']}"}
    await client.get("/api/v1/tickets", headers=headers)  # the token's last use is written once
    counts = []
    for limit in (1, 50):
        with counting_statements() as sent:
            answer = await client.get("/api/v1/tickets", params={"limit": limit}, headers=headers)
        assert answer.status_code == 200
        counts.append(len(sent))
    # The token's owner, then the page with each ticket's charge.
    assert counts == [2, 2]


# ------------------------------------------------------------------ finance's charges


async def _finance_data() -> dict[str, Any]:
    """Charges of two customers in two departments and currencies, over three months, in
    every status, some at the same time, some with nothing paid yet."""
    alice, bob = await make_user(name="Alice"), await make_user(name="=Bob")
    tech = await make_department(name="Tech")
    premium = await make_department(name="Premium", currency="eur")
    made: list[int] = []
    plan = [
        # customer, department, status, amount, refunded, currency, created
        (alice, tech, "succeeded", 1500, 0, "usd", BASE),
        (alice, tech, "succeeded", 1500, 0, "usd", BASE),  # a tie: the higher id first
        (alice, tech, "partially_refunded", 2500, 700, "usd", BASE - timedelta(days=3)),
        (alice, premium, "refunded", 4900, 4900, "eur", BASE - timedelta(days=12)),
        (bob, premium, "succeeded", 4900, 0, "eur", datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC)),
        (bob, tech, "requires_payment", 900, 0, "usd", datetime(2026, 10, 15, 10, 0, tzinfo=UTC)),
        (bob, tech, "canceled", 900, 0, "usd", datetime(2026, 10, 2, tzinfo=UTC)),
        (bob, tech, "failed", 900, 0, "usd", datetime(2026, 9, 20, 8, 0, 0, 999_999, tzinfo=UTC)),
        (alice, tech, "succeeded", 1200, 0, "usd", datetime(2026, 9, 1, tzinfo=UTC)),
        (bob, premium, "partially_refunded", 3000, 1000, "eur", datetime(2026, 9, 30, tzinfo=UTC)),
    ]
    for n, (customer, department, status, amount, refunded, currency, created) in enumerate(plan):
        owner = customer.id
        ticket = (
            await Ticket.insert(Ticket(customer=owner, department=department, subject=f"T{n}"))
            .returning(Ticket.id)
        )[0]["id"]
        paid = status in finance.COLLECTED
        rows = await Charge.insert(Charge(
            ticket=ticket, customer=owner, department=department, amount=amount,
            currency=currency, status=status, refunded_amount=refunded,
            idempotency_key=f"fin-{ticket}", created_at=created,
            stripe_payment_intent_id=f"pi_{ticket}" if status != "requires_payment" else None,
            paid_at=created + timedelta(minutes=1) if paid else None,
            surplus_payments=1 if n == 0 else 0,
        )).returning(Charge.id)
        made.append(rows[0]["id"])
    token = await make_token(await make_user(role="finance"))
    return {"alice": alice, "bob": bob, "tech": tech, "premium": premium, "ids": made,
            "token": token}


def _expected_charge(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "ticket_id": row["ticket"],
        "customer": {"id": row["customer.id"], "name": row["customer.name"],
                     "email": row["customer.email"]},
        "department": {"id": row["department.id"], "name": row["department.name"]},
        "amount": row["amount"], "currency": row["currency"], "status": row["status"],
        "refunded_amount": row["refunded_amount"],
        "stripe_payment_intent_id": row["stripe_payment_intent_id"],
        "created_at": _time(row["created_at"]), "paid_at": _time(row["paid_at"]),
        "surplus_payments": row["surplus_payments"],
    }


async def _expected_finance_pages(filters: finance.ChargeFilters, limit: int):
    everything = await finance.charges_query(filters)
    sums: dict[str, list[int]] = {}
    for row in everything:
        if row["status"] in finance.COLLECTED:
            total = sums.setdefault(row["currency"], [0, 0])
            total[0] += row["amount"]
            total[1] += row["refunded_amount"]
    totals = [
        {"currency": currency, "charged": charged, "refunded": refunded, "net": charged - refunded}
        for currency, (charged, refunded) in sorted(sums.items())
    ]
    pages, cursor = [], None
    while True:
        rows, cursor = await keyset_page(
            finance.charges_query(filters), sort=Charge.created_at, id_column=Charge.id,
            limit=limit, cursor=cursor,
        )
        pages.append({"items": [_expected_charge(row) for row in rows], "next_cursor": cursor,
                      "totals": totals})
        if cursor is None:
            return pages


async def test_finance_list_shows_every_field(client):
    data = await _finance_data()
    ids = data["ids"]
    [page] = await _pages(client, "/api/v1/finance/charges", data["token"], {})
    assert [item["id"] for item in page["items"]] == [ids[n] for n in (1, 0, 2, 4, 3, 5, 6, 9, 7, 8)]
    assert page["items"][1] == {
        "id": ids[0], "ticket_id": page["items"][1]["ticket_id"],
        "customer": {"id": data["alice"].id, "name": "Alice", "email": data["alice"].email},
        "department": {"id": data["tech"], "name": "Tech"},
        "amount": 1500, "currency": "usd", "status": "succeeded", "refunded_amount": 0,
        "stripe_payment_intent_id": f"pi_{page['items'][1]['ticket_id']}",
        "created_at": "2026-11-10T09:30:15Z", "paid_at": "2026-11-10T09:31:15Z",
        "surplus_payments": 1,
    }
    unpaid = page["items"][5]
    assert (unpaid["status"], unpaid["paid_at"], unpaid["stripe_payment_intent_id"]) == (
        "requires_payment", None, None,
    )
    assert page["totals"] == [
        {"currency": "eur", "charged": 12800, "refunded": 5900, "net": 6900},
        {"currency": "usd", "charged": 6700, "refunded": 700, "net": 6000},
    ]


async def test_finance_list_pages_and_totals_as_the_orm_query_does(client):
    data = await _finance_data()
    dates = [
        (None, None),
        ("2026-10-01", None),  # whole months, from the kept month totals
        (None, "2026-10-31"),  # a part-month at the end
        ("2026-09-15T12:00:00Z", "2026-11-10"),  # part-months at both ends
        ("2026-10-02", "2026-10-20"),  # within one month
    ]
    for status, department, customer, (start, end), limit in itertools.product(
        [None, "succeeded", "partially_refunded", "requires_payment"],
        [None, data["tech"], data["premium"]],
        [None, data["bob"].id],
        dates,
        [3, 50],
    ):
        raw = {"status": status, "department": department, "customer": customer,
               "from": start, "to": end}
        params = {key: value for key, value in raw.items() if value} | {"limit": limit}
        answered = await _pages(client, "/api/v1/finance/charges", data["token"], params)
        filters = finance.parse_filters({key: str(value) for key, value in params.items()})
        assert answered == await _expected_finance_pages(filters, limit), params


async def test_finance_list_refuses_what_it_refused(client):
    data = await _finance_data()
    headers = {"Authorization": f"Bearer {data['token']}"}
    for params, fields in (
        ({"status": "paid", "from": "soon"}, {"status", "from"}),
        ({"cursor": "garbage!"}, {"cursor"}),
        ({"cursor": "WzEsMl0"}, {"cursor"}),  # an id-only cursor, from another list
        ({"limit": 0}, {"limit"}),
        ({"from": "2026-11-02", "to": "2026-11-01"}, {"to"}),
    ):
        answer = await client.get("/api/v1/finance/charges", params=params, headers=headers)
        assert answer.status_code == 422, params
        assert {error["field"] for error in answer.json()["errors"]} == fields, params
