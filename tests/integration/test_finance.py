"""The finance area and its API: filters, totals, CSV, summary, a charge's page, refunds."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from billdesk import payments
from billdesk.tables import Charge, Message
from tests.factories import csrf_token, login, make_department, make_token, make_user
from tests.payment_helpers import awaiting_ticket, give_card


async def a_charge(customer_id: int, department_id: int, *, amount: int = 1500,
                   currency: str = "usd", status: str = "succeeded", refunded: int = 0,
                   created: datetime | None = None) -> int:
    ticket_id = await awaiting_ticket(customer_id=customer_id, department_id=department_id,
                                      body="=HYPERLINK(\"x\") my server is down")
    created = created or datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
    rows = await Charge.insert(Charge(
        ticket=ticket_id, customer=customer_id, department=department_id, amount=amount,
        currency=currency, status=status, refunded_amount=refunded,
        idempotency_key=f"k-{ticket_id}", stripe_payment_intent_id=f"pi_{ticket_id}",
        created_at=created, paid_at=created if status != "requires_payment" else None,
    )).returning(Charge.id)
    return rows[0]["id"]


@pytest.fixture
async def ledger() -> dict:
    alice = await make_user(name="Alice")
    bob = await make_user(name="=Bob")
    tech = await make_department(name="Tech")
    premium = await make_department(name="Premium", currency="eur")
    october = datetime(2026, 10, 5, tzinfo=UTC)
    ids = {
        "a1": await a_charge(alice.id, tech),
        "a2": await a_charge(alice.id, tech, status="partially_refunded", refunded=500),
        "a3": await a_charge(alice.id, tech, status="requires_payment"),
        "b1": await a_charge(bob.id, premium, amount=4900, currency="eur", created=october),
    }
    finance = await make_user(role="finance")
    return {"alice": alice, "bob": bob, "tech": tech, "premium": premium, "ids": ids,
            "token": await make_token(finance), "finance": finance}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_api_lists_filters_and_totals(client, ledger):
    answer = await client.get("/api/v1/finance/charges", headers=bearer(ledger["token"]))
    assert answer.status_code == 200
    body = answer.json()
    assert [c["id"] for c in body["items"]] == [
        ledger["ids"][k] for k in ("a3", "a2", "a1", "b1")
    ]
    assert body["next_cursor"] is None
    first = body["items"][-1]
    assert first["customer"]["name"] == "=Bob" and first["department"]["name"] == "Premium"
    assert first["created_at"] == "2026-10-05T00:00:00Z"
    assert {"amount", "currency", "status", "refunded_amount", "stripe_payment_intent_id",
            "paid_at", "ticket_id"} <= set(first)
    assert body["totals"] == [
        {"currency": "eur", "charged": 4900, "refunded": 0, "net": 4900},
        {"currency": "usd", "charged": 3000, "refunded": 500, "net": 2500},
    ]

    only = await client.get(
        "/api/v1/finance/charges",
        params={"customer": ledger["alice"].id, "status": "succeeded", "from": "2026-11-01",
                "to": "2026-11-30"},
        headers=bearer(ledger["token"]),
    )
    assert [c["id"] for c in only.json()["items"]] == [ledger["ids"]["a1"]]
    paged = await client.get("/api/v1/finance/charges", params={"limit": 3},
                             headers=bearer(ledger["token"]))
    rest = await client.get("/api/v1/finance/charges",
                            params={"limit": 3, "cursor": paged.json()["next_cursor"]},
                            headers=bearer(ledger["token"]))
    assert [c["id"] for c in rest.json()["items"]] == [ledger["ids"]["b1"]]

    bad = await client.get("/api/v1/finance/charges", params={"status": "paid", "from": "soon"},
                           headers=bearer(ledger["token"]))
    assert bad.status_code == 422 and bad.json()["code"] == "validation_error"
    assert {e["field"] for e in bad.json()["errors"]} == {"status", "from"}


async def test_api_is_for_finance_and_admins_only(client, ledger):
    customer_token = await make_token(ledger["alice"])
    staff_token = await make_token(await make_user(role="staff"))
    admin_token = await make_token(await make_user(role="admin"))
    for token, expected in ((customer_token, 403), (staff_token, 403), (admin_token, 200)):
        answer = await client.get("/api/v1/finance/charges", headers=bearer(token))
        assert answer.status_code == expected
    assert (await client.get("/api/v1/finance/charges")).status_code == 401


async def test_api_charge_detail_and_csv(client, ledger):
    charge_id = ledger["ids"]["a2"]
    detail = await client.get(f"/api/v1/finance/charges/{charge_id}",
                              headers=bearer(ledger["token"]))
    assert detail.status_code == 200
    body = detail.json()
    assert body["ticket"]["status"] == "awaiting_payment"
    assert body["ticket"]["messages"][0]["body"].endswith("my server is down")
    assert body["refunds"] == []
    missing = await client.get("/api/v1/finance/charges/999999", headers=bearer(ledger["token"]))
    assert missing.status_code == 404

    exported = await client.get("/api/v1/finance/charges.csv", params={"currency": "x",
                                "department": ledger["premium"]},
                                headers=bearer(ledger["token"]))
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0][:3] == ["charge_id", "ticket_id", "customer_id"]
    assert len(rows) == 2 and rows[1][3] == "'=Bob" and rows[1][6] == "4900"


async def test_pages_list_summary_and_charge(client, ledger):
    await login(client, ledger["finance"].email)
    listing = await client.get("/finance", params={"department": ledger["tech"]})
    assert listing.status_code == 200
    assert listing.text.count('href="/finance/charges/') == 3
    assert "30.00 USD" in listing.text and "25.00 USD" in listing.text
    assert "department=" in listing.text and "charges.csv?" in listing.text

    bad = await client.get("/finance", params={"to": "2026-13-01"})
    assert bad.status_code == 422 and "to must be a date" in bad.text

    summary = await client.get("/finance/summary")
    assert summary.status_code == 200
    assert "2026-11" in summary.text and "2026-10" in summary.text and "49.00 EUR" in summary.text

    page = await client.get(f"/finance/charges/{ledger['ids']['a1']}")
    assert page.status_code == 200
    assert "pi_" in page.text and "my server is down" in page.text
    assert 'action="/finance/charges/' in page.text

    exported = await client.get("/finance/charges.csv", params={"status": "succeeded"})
    assert len(list(csv.reader(io.StringIO(exported.text)))) == 3


async def test_finance_thread_hides_deleted_messages(client, ledger):
    charge = await Charge.select(Charge.ticket).where(Charge.id == ledger["ids"]["a1"]).first()
    await Message.insert(Message(ticket=charge["ticket"], author=ledger["alice"].id,
                                 body="secret typo", deleted=True))
    detail = await client.get(f"/api/v1/finance/charges/{ledger['ids']['a1']}",
                              headers=bearer(ledger["token"]))
    messages = detail.json()["ticket"]["messages"]
    assert messages[-1]["deleted"] and messages[-1]["body"] == ""


@pytest.mark.stripe
async def test_refunds_through_the_api_and_the_page(sdk, client):
    customer = await make_user()
    department = await make_department(free_tickets=0)
    await give_card(sdk, customer.id)
    ticket_id = await awaiting_ticket(customer_id=customer.id, department_id=department)
    outcome = await payments.charge_new_ticket(ticket_id=ticket_id)
    finance = await make_user(role="finance")
    token = await make_token(finance)
    path = f"/api/v1/finance/charges/{outcome.charge_id}/refunds"

    no_reason = await client.post(path, json={"amount": 100}, headers=bearer(token))
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"
    part = await client.post(path, json={"amount": 400, "reason": "Slow answer"},
                             headers=bearer(token))
    assert part.status_code == 201
    assert (part.json()["amount"], part.json()["status"]) == (400, "succeeded")
    assert part.json()["stripe_refund_id"].startswith("re_")
    too_much = await client.post(path, json={"amount": 1101, "reason": "Oops"},
                                 headers=bearer(token))
    assert too_much.status_code == 422 and too_much.json()["errors"][0]["field"] == "amount"

    await login(client, finance.email)
    page = await client.get(f"/finance/charges/{outcome.charge_id}")
    assert "Slow answer" in page.text and "11.00 USD" in page.text
    typed_badly = await client.post(
        f"/finance/charges/{outcome.charge_id}/refunds",
        data={"amount": "12.00", "reason": "More", "_csrf_token": csrf_token(page.text)},
    )
    assert typed_badly.status_code == 422 and "At most 11.00 USD" in typed_badly.text
    assert 'value="12.00"' in typed_badly.text
    rest = await client.post(
        f"/finance/charges/{outcome.charge_id}/refunds",
        data={"amount": "", "reason": "Goodwill", "_csrf_token": csrf_token(page.text)},
    )
    assert rest.status_code == 303
    detail = await client.get(f"/api/v1/finance/charges/{outcome.charge_id}",
                              headers=bearer(token))
    assert detail.json()["status"] == "refunded" and detail.json()["refunded_amount"] == 1500
    assert [r["amount"] for r in detail.json()["refunds"]] == [400, 1100]
