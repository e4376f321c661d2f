"""Bad input of every kind answers a 4xx naming the field, never a 500, and changes nothing.

One table for the JSON API (problem documents with `errors[].field`) and one for
the pages (a readable page naming the field): ids and integer filters beyond the
database's integer range, NUL characters anywhere text goes, JSON nested too
deep, a log-in email longer than the column, a million ids, page and cursor garbage.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from billdesk.tables import Message, Notification, Ticket, User
from tests.factories import (
    PASSWORD,
    csrf_token,
    login,
    make_department,
    make_ticket,
    make_token,
    make_user,
)

BIG = "99999999999999999999"
OVER = str(2**31)  # one past the database's INTEGER


def _cursor(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _nested(depth: int) -> bytes:
    return b'{"department_id": 1, "message": ' + b"[" * depth + b"]" * depth + b"}"


@dataclass
class Case:
    role: str
    method: str
    path: str
    field: str
    status: int = 422
    json: Any = None
    content: bytes | None = None
    data: dict[str, str] | None = None
    files: list | None = None
    headers: dict[str, str] = field(default_factory=dict)


API_CASES = [
    # Path ids beyond the database's integer range: no such object can exist.
    Case("customer", "GET", f"/api/v1/tickets/{BIG}", "ticket_id", 404),
    Case("customer", "POST", f"/api/v1/tickets/{OVER}/close", "ticket_id", 404),
    Case("customer", "DELETE", f"/api/v1/tickets/{{ticket}}/messages/{BIG}", "message_id", 404),
    Case("customer", "GET", f"/api/v1/attachments/{BIG}", "attachment_id", 404),
    Case("admin", "GET", f"/api/v1/desk/tickets/{OVER}", "ticket_id", 404),
    Case("finance", "GET", f"/api/v1/finance/charges/{BIG}", "charge_id", 404),
    Case("admin", "PATCH", f"/api/v1/admin/users/{BIG}", "user_id", 404, json={"name": "X"}),
    # Integer filters beyond the range.
    Case("customer", "GET", f"/api/v1/tickets?department={BIG}", "department"),
    Case("admin", "GET", f"/api/v1/desk/tickets?department={BIG}", "department"),
    Case("admin", "GET", f"/api/v1/desk/tickets?customer={OVER}", "customer"),
    Case("admin", "GET", f"/api/v1/desk/tickets?assignee={BIG}", "assignee"),
    Case("admin", "GET", f"/api/v1/desk/tickets?service={BIG}", "service"),
    Case("admin", "GET", f"/api/v1/desk/tickets?id={OVER}", "id"),
    Case("admin", "GET", f"/api/v1/desk/templates?ticket_id={BIG}", "ticket_id"),
    Case("finance", "GET", f"/api/v1/finance/charges?customer={BIG}", "customer"),
    Case("finance", "GET", f"/api/v1/finance/charges.csv?department={BIG}", "department"),
    # Page size and cursor garbage.
    Case("customer", "GET", "/api/v1/tickets?limit=1e20", "limit"),
    Case("customer", "GET", "/api/v1/tickets?limit=0", "limit"),
    Case("customer", "GET", "/api/v1/notifications?limit=101", "limit"),
    Case("customer", "GET", "/api/v1/services?cursor=garbage", "cursor"),
    Case("customer", "GET", "/api/v1/tickets?cursor=" + _cursor(b'["x", ' + BIG.encode() + b"]"), "cursor"),
    Case("customer", "GET", "/api/v1/notifications?cursor=" + _cursor(b"[" * 100), "cursor"),
    Case("finance", "GET", "/api/v1/finance/charges?cursor=" + "A" * 5000, "cursor"),
    # NUL characters in JSON, forms, paths and query strings.
    Case("customer", "POST", "/api/v1/tickets", "message", json={"department_id": "{department}", "message": "a\x00b"}),
    Case("customer", "POST", "/api/v1/tickets", "message", data={"department_id": "{department}", "message": "a\x00b"},
         files=[("attachments", ("", b"", "application/octet-stream"))]),
    Case("customer", "POST", "/api/v1/tickets/{ticket}/messages", "body", json={"body": "\x00"}),
    Case("customer", "POST", "/api/v1/tickets", "client_token", json={"department_id": 1, "message": "hi", "client_token": "\x00"}),
    Case("admin", "POST", "/api/v1/desk/tickets/{ticket}/messages", "body", json={"body": "x\x00"}),
    Case("admin", "POST", "/api/v1/admin/users", "email", json={"email": "a\x00@b.example", "name": "A", "role": "staff"}),
    Case("admin", "POST", "/api/v1/admin/users", "password", json={"email": "n@b.example", "name": "N", "role": "staff", "password": "long enough\x00"}),
    Case("admin", "PUT", "/api/v1/admin/customers/c%00x", "external_id", json={"email": "c@b.example", "name": "C"}),
    Case("admin", "GET", "/api/v1/desk/tickets?q=%00", "q"),
    Case("admin", "PATCH", "/api/v1/desk/tickets/{ticket}", "priority", json={"priority": "\x00"}),
    Case("customer", "POST", "/api/v1/notifications/read", "note", content=b'{"ids": [], "n\\u0000ote": 1}'),
    # Integers in JSON bodies beyond the range.
    Case("customer", "POST", "/api/v1/tickets", "department_id", json={"department_id": int(BIG), "message": "hi"}),
    Case("customer", "POST", "/api/v1/tickets", "service_id", json={"department_id": "{department}", "service_id": int(OVER), "message": "hi"}),
    Case("admin", "POST", "/api/v1/desk/tickets/bulk", "ticket_ids", json={"action": "close", "ticket_ids": [int(BIG)]}),
    Case("admin", "PATCH", "/api/v1/desk/tickets/{ticket}", "assignee_id", json={"assignee_id": int(OVER)}),
    Case("admin", "POST", "/api/v1/admin/departments", "free_tickets", json={"slug": "s", "name": "S", "free_tickets": int(OVER)}),
    Case("admin", "POST", "/api/v1/admin/departments/{department}/members", "user_id", json={"user_id": int(BIG)}),
    # Nesting and size.
    Case("customer", "POST", "/api/v1/tickets", "message", content=_nested(100)),
    Case("customer", "POST", "/api/v1/tickets", "body", content=_nested(100_000)),
    Case("customer", "POST", "/api/v1/notifications/read", "body", 413,
         content=b'{"ids": [' + b",".join(str(n).encode() for n in range(1, 1_300_001)) + b"]}"),
    Case("customer", "POST", "/api/v1/notifications/read", "ids", json={"ids": list(range(1, 1002))}),
    Case("customer", "POST", "/api/v1/notifications/read", "ids", json={"ids": [int(OVER)]}),
]


async def _world(app_client_factory) -> dict[str, Any]:
    customer = await make_user(role="customer")
    people = {
        "customer": customer,
        "admin": await make_user(role="admin"),
        "finance": await make_user(role="finance"),
    }
    department = await make_department()
    ticket = await make_ticket(customer, department)
    return {"people": people, "department": department, "ticket": ticket}


def _fill(value: Any, world: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return value.replace("{department}", str(world["department"])).replace(
            "{ticket}", str(world["ticket"])
        )
    if isinstance(value, dict):
        return {key: _fill(item, world) for key, item in value.items()}
    return value


def _problem_fields(answer) -> list[str]:
    assert answer.headers["content-type"].startswith("application/problem+json"), answer.text[:200]
    return [error["field"] for error in answer.json().get("errors", [])]


async def _counts() -> tuple[int, ...]:
    return (
        await Ticket.count(), await Message.count(), await User.count(),
        await Notification.count().where(Notification.read == True),  # noqa: E712
    )


async def test_bad_api_input_answers_4xx_naming_the_field(client, app_client_factory):
    world = await _world(app_client_factory)
    tokens = {role: await make_token(user) for role, user in world["people"].items()}
    before = await _counts()
    wrong = []
    for case in API_CASES:
        headers = {"Authorization": f"Bearer {tokens[case.role]}", **case.headers}
        path = _fill(case.path, world)
        body = _fill(case.json, world)
        if isinstance(body, dict) and body.get("department_id") == str(world["department"]):
            body["department_id"] = world["department"]
        answer = await client.request(
            case.method, path, headers=headers, json=body, content=case.content,
            data=_fill(case.data, world), files=case.files,
        )
        if answer.status_code != case.status or case.field not in _problem_fields(answer):
            wrong.append(f"{case.method} {path[:70]}: {answer.status_code} {answer.text[:160]}")
    assert not wrong, "\n".join(wrong)
    assert await _counts() == before  # nothing refused changed anything


PAGE_CASES = [
    # (role, method, path, form, status, what the page must say)
    ("customer", "GET", "/tickets?cursor=1e20", None, 422, "<strong>cursor</strong>"),
    ("customer", "GET", "/tickets?cursor=" + "A" * 300, None, 400, "<strong>cursor</strong>"),
    ("customer", "GET", f"/tickets?department={BIG}", None, 422, "<strong>department</strong>"),
    ("customer", "GET", f"/tickets/{BIG}", None, 404, "<strong>ticket_id</strong>"),
    ("customer", "GET", f"/attachments/{OVER}", None, 404, "<strong>attachment_id</strong>"),
    ("customer", "POST", "/tickets/new", {"department_id": BIG, "message": "Help"}, 422, "department_id must be"),
    ("customer", "POST", "/tickets/new", {"department_id": "{department}", "message": "a\x00b"}, 422, "<strong>message</strong>"),
    ("customer", "POST", "/tickets/{ticket}/reply", {"body": "\x00"}, 422, "<strong>body</strong>"),
    ("admin", "GET", "/desk?cursor=1e20", None, 422, "cursor is not valid"),
    ("admin", "GET", f"/desk?customer={BIG}", None, 422, "customer must be"),
    ("admin", "GET", f"/desk?assignee={OVER}", None, 422, "The assignee must be"),
    ("admin", "GET", "/desk?q=%00", None, 422, "<strong>q</strong>"),
    ("admin", "GET", f"/desk/tickets/{BIG}", None, 404, "<strong>ticket_id</strong>"),
    ("admin", "POST", "/desk/bulk", {"action": "close", "ids": BIG}, 422, "ticket_ids must be"),
    ("admin", "POST", "/desk/tickets/{ticket}/assign", {"assignee_id": OVER}, 422, "assignee_id must be"),
    ("admin", "POST", "/admin/users", {"email": "x@y.example", "name": "N\x00", "role": "staff"}, 422, "<strong>name</strong>"),
    ("admin", "POST", "/admin/departments", {"slug": "s", "name": "S", "free_tickets": BIG, "quota_period": "month", "ticket_price": "0", "currency": "usd"}, 422, "Free tickets must be"),
    ("admin", "POST", "/admin/departments/{department}/members", {"user_id": BIG}, 422, "user_id must be"),
    ("finance", "GET", "/finance?cursor=1e20", None, 422, "<strong>cursor</strong>"),
    ("finance", "GET", f"/finance?customer={BIG}", None, 422, "customer must be"),
    ("finance", "GET", f"/finance/charges/{BIG}", None, 404, "<strong>charge_id</strong>"),
]

LOGIN_CASES = [
    ({"email": "a\x00b@example.test", "password": PASSWORD}, 422, "<strong>email</strong>"),
    ({"email": "{email}", "password": "pass\x00word"}, 422, "<strong>password</strong>"),
    ({"email": "x" * 300 + "@example.test", "password": PASSWORD}, 422, "at most 254 characters"),
    ({"email": "{email}", "password": "p" * 300}, 422, "at most 256 characters"),
]


async def test_bad_page_input_answers_a_readable_4xx_naming_the_field(app_client_factory):
    world = await _world(app_client_factory)
    wrong = []
    before = await _counts()
    for role, user in world["people"].items():
        async with app_client_factory() as browser:
            await login(browser, user.email)
            for case_role, method, path, form, status, says in PAGE_CASES:
                if case_role != role:
                    continue
                path = _fill(path, world)
                if method == "GET":
                    answer = await browser.get(path)
                else:
                    page = await browser.get("/account")
                    data = {**_fill(form, world), "_csrf_token": csrf_token(page.text)}
                    answer = await browser.post(path, data=data)
                if answer.status_code != status or says not in answer.text:
                    wrong.append(f"{role} {method} {path[:60]}: {answer.status_code}")
                assert "Traceback" not in answer.text
    async with app_client_factory() as browser:
        email = world["people"]["customer"].email
        for form, status, says in LOGIN_CASES:
            page = await browser.get("/login")
            data = {**_fill(form, {"department": 0, "ticket": 0}), "_csrf_token": csrf_token(page.text)}
            data["email"] = data["email"].replace("{email}", email)
            answer = await browser.post("/login", data=data)
            if answer.status_code != status or says not in answer.text:
                wrong.append(f"login {form['email'][:20]!r}: {answer.status_code}")
    assert not wrong, "\n".join(wrong)
    assert await _counts() == before


async def test_litestars_own_refusals_speak_the_askers_language(client):
    """A wrong type, a value out of range, a missing field, broken JSON: the field and the
    code stay as they are; the message says what was expected, in the asker's words."""
    world = await _world(None)
    token = await make_token(world["people"]["admin"])
    ticket = world["ticket"]

    async def ask(language: str, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}", "Accept-Language": language}
        answer = await client.request(method, path, headers=headers, **kwargs)
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["code"] == "validation_error"
        return answer.json()

    query = await ask("ru", "GET", "/api/v1/desk/tickets?limit=abc")
    assert query["title"] == "Некоторые поля заполнены неверно"
    assert query["errors"] == [{"field": "limit", "message": "limit: нужно целое число, а не текст."}]
    assert query["detail"] == "limit: нужно целое число, а не текст."
    body = await ask("ru", "PATCH", f"/api/v1/desk/tickets/{ticket}", json={"assignee_id": "x"})
    assert body["errors"] == [
        {"field": "assignee_id", "message": "assignee_id: нужно целое число, а не текст."}
    ]
    flag = await ask("ru", "POST", "/api/v1/admin/departments",
                     json={"slug": "s", "name": "S", "public": "yes"})
    assert flag["errors"] == [{"field": "public", "message": "public: нужно true или false, а не текст."}]
    below = await ask("ru", "POST", "/api/v1/admin/departments",
                      json={"slug": "s", "name": "S", "free_tickets": -5})
    assert below["errors"] == [
        {"field": "free_tickets", "message": "free_tickets: значение должно быть не меньше 0."}
    ]
    missing = await ask("ru", "POST", "/api/v1/admin/departments", json={"slug": "s"})
    assert missing["errors"] == [{"field": "name", "message": "Не указано поле name."}]
    broken = await ask("ru", "POST", "/api/v1/admin/departments", content=b"{bad")
    assert broken["detail"] == "Тело запроса — не корректный JSON (ошибка в байте 1)."

    english = await ask("en", "GET", "/api/v1/desk/tickets?limit=abc")
    assert english["errors"] == [{"field": "limit", "message": "limit must be a whole number, not text."}]
    listed = await ask("en", "POST", "/api/v1/desk/tickets/bulk",
                       json={"action": "close", "ticket_ids": ["x"]})
    assert listed["errors"] == [
        {"field": "ticket_ids[0]", "message": "ticket_ids[0] must be a whole number, not text."}
    ]
    fraction = await ask("en", "PATCH", f"/api/v1/desk/tickets/{ticket}", json={"assignee_id": 1.5})
    assert fraction["errors"][0]["message"] == "assignee_id must be a whole number, not a decimal number."
    missing = await ask("en", "POST", "/api/v1/admin/departments", json={"slug": "s"})
    assert missing["detail"] == "The field name is missing."
