"""Each person reads billdesk in their language: chosen on the account page, else the browser's."""

from __future__ import annotations

from billdesk.tables import User
from tests.factories import csrf_token, login, make_token, make_user

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
