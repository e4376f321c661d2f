"""Each person reads billdesk in their language: chosen on the account page, else the browser's."""

from __future__ import annotations

from billdesk.tables import User
from billdesk.tickets import reply_as_staff
from tests.factories import (
    add_member,
    as_current,
    csrf_token,
    login,
    make_department,
    make_ticket,
    make_token,
    make_user,
)

RUSSIAN_BROWSER = {"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.8"}


async def test_the_login_page_follows_the_browser_language(client):
    russian = await client.get("/login", headers=RUSSIAN_BROWSER)
    assert '<html lang="ru">' in russian.text and "Вход в billdesk" in russian.text
    english = await client.get("/login", headers={"Accept-Language": "de, en;q=0.5"})
    assert '<html lang="en">' in english.text and "Log in to billdesk" in english.text


async def test_a_person_chooses_a_language_that_outlasts_the_browser(customer_client):
    account = await customer_client.get("/account")
    assert "Language" in account.text and "As my browser asks" in account.text
    saved = await customer_client.post(
        "/account/language", data={"_csrf_token": csrf_token(account.text), "language": "ru"}
    )
    assert saved.status_code in (302, 303)
    assert (await User.select(User.language).where(User.id == customer_client.user.id))[0] == {
        "language": "ru"
    }
    page = await customer_client.get("/tickets", headers={"Accept-Language": "en"})
    assert '<html lang="ru">' in page.text
    assert "Ваши тикеты" in page.text and "Your tickets" not in page.text
    # Before anyone is recognised (an address no route knows) the choice holds too.
    unknown = await customer_client.get("/no-such-page", headers={"Accept-Language": "en"})
    assert unknown.status_code == 404 and "Здесь ничего нет" in unknown.text

    back = await customer_client.get("/account")
    await customer_client.post(
        "/account/language", data={"_csrf_token": csrf_token(back.text), "language": ""}
    )
    assert "Your tickets" in (await customer_client.get("/tickets")).text


async def test_an_unknown_language_is_refused_by_name(customer_client):
    account = await customer_client.get("/account")
    answer = await customer_client.post(
        "/account/language", data={"_csrf_token": csrf_token(account.text), "language": "xx"}
    )
    assert answer.status_code == 422
    assert "Choose one of the languages offered." in answer.text
    assert 'id="f-language-error"' in answer.text


async def test_error_pages_and_problem_documents_speak_the_language(client):
    user = await make_user(role="customer")
    token = await make_token(user)
    russian_api = {"Authorization": f"Bearer {token}", **RUSSIAN_BROWSER}
    answer = await client.get("/api/v1/tickets/999999", headers=russian_api)
    assert answer.status_code == 404
    assert answer.json()["code"] == "not_found"
    assert answer.json()["title"] == "Не найдено"
    english = await client.get(
        "/api/v1/tickets/999999", headers={"Authorization": f"Bearer {token}"}
    )
    assert english.json()["title"] == "Not found"

    await login(client, user.email)
    page = await client.get("/no-such-page", headers=RUSSIAN_BROWSER)
    assert page.status_code == 404 and "Здесь ничего нет" in page.text


async def test_a_russian_api_user_is_refused_in_russian_with_the_price_in_russian(client):
    """The price-confirmation refusal and a field error read in Russian for a person whose
    browser asks for Russian and for one who chose Russian on the account page; the
    `code`s, the fields and the price object stay as they are."""
    department = await make_department(name="Премиум", free_tickets=0, ticket_price=150000)
    by_browser = await make_user(role="customer")
    by_choice = await make_user(role="customer")
    await User.update({User.language: "ru"}).where(User.id == by_choice.id)
    english = await make_user(role="customer")

    for user, headers in ((by_browser, RUSSIAN_BROWSER), (by_choice, {})):
        api = {"Authorization": f"Bearer {await make_token(user)}", **headers}
        refused = await client.post(
            "/api/v1/tickets", json={"department_id": department, "message": "Сервер не отвечает"},
            headers=api,
        )
        assert refused.status_code == 402
        body = refused.json()
        assert body["code"] == "payment_confirmation_required"
        assert body["price"] == {"amount": 150000, "currency": "usd"}
        assert body["title"] == "Этот тикет платный"
        assert body["detail"] == (
            "Каждый тикет в отделе «Премиум» стоит 1\u00a0500,00 USD. "
            "Подтвердите цену, чтобы открыть его."
        )
        assert body["errors"] == [
            {"field": "accept_price", "message": "Подтвердите цену 1\u00a0500,00 USD."}
        ]

        empty = await client.post(
            "/api/v1/tickets", json={"department_id": department, "message": "   "}, headers=api
        )
        assert empty.status_code == 422
        assert empty.json()["code"] == "validation_error"
        assert empty.json()["errors"] == [
            {"field": "message", "message": "Напишите сообщение: оно не может быть пустым."}
        ]
        bad_id = await client.get("/api/v1/tickets?department=abc", headers=api)
        assert bad_id.status_code == 422
        assert bad_id.json()["errors"][0]["message"] == (
            "department — идентификатор (целое число от 1 до 2147483647)."
        )

    english_api = {"Authorization": f"Bearer {await make_token(english)}"}
    refused = await client.post(
        "/api/v1/tickets", json={"department_id": department, "message": "Server down"},
        headers=english_api,
    )
    assert refused.json()["detail"] == (
        "Every ticket in Премиум costs 1,500.00 USD. Confirm the price to open it."
    )


async def test_notifications_read_in_the_language_of_whoever_opens_them(client):
    """A person who never chose a language reads their notifications in their browser's
    language, on the page and in the API; choosing a language later changes the old ones too."""
    customer = await make_user(role="customer")
    staff = await make_user(role="staff")
    department = await make_department()
    await add_member(department_id=department, user_id=staff.id)
    ticket_id = await make_ticket(customer, department, "Сайт не открывается\nС утра.")
    await reply_as_staff(
        ticket_id=ticket_id, author=as_current(staff), internal=False, files=[], body="Смотрим."
    )

    await login(client, customer.email)
    russian = await client.get("/notifications", headers=RUSSIAN_BROWSER)
    assert f"Поддержка ответила в тикете #{ticket_id}: Сайт не открывается" in russian.text
    assert "Support replied" not in russian.text
    english = await client.get("/notifications", headers={"Accept-Language": "en"})
    assert f"Support replied on #{ticket_id}: Сайт не открывается" in english.text

    api = {"Authorization": f"Bearer {await make_token(customer)}"}
    listed = await client.get("/api/v1/notifications", headers={**api, **RUSSIAN_BROWSER})
    assert [item["text"] for item in listed.json()["items"]] == [
        f"Поддержка ответила в тикете #{ticket_id}: Сайт не открывается"
    ]
    listed = await client.get("/api/v1/notifications", headers={**api, "Accept-Language": "en"})
    assert listed.json()["items"][0]["text"] == f"Support replied on #{ticket_id}: Сайт не открывается"

    await User.update({User.language: "ru"}).where(User.id == customer.id)
    chosen = await client.get("/notifications", headers={"Accept-Language": "en"})
    assert f"Поддержка ответила в тикете #{ticket_id}" in chosen.text
