"""The client area and the desk in Russian: a browser walks every page a customer and
an agent use and finds no English left, by comparing what it shows with the English
catalog (messages.pot). Data typed by people (names, subjects) is Russian here, so
whatever English remains came from billdesk."""

from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po

from billdesk import notifications
from billdesk.i18n import tr
from billdesk.i18n.extract import POT_PATH
from billdesk.tables import Charge, Notification, User
from tests.desk_support import make_desk_ticket
from tests.factories import PASSWORD, add_member, make_department, make_service, make_user
from tests.payment_helpers import make_charge

# Words that read the same in both languages, or are names.
# E-mail addresses, template placeholders ({customer_name}) and product names (1Password)
# are not words to translate.
EMAIL = re.compile(r"\S+@\S+|\{\w+\}|1Password")
# Identifiers shown as they are: slugs (vps-support), event names (ticket.opened).
IDENTIFIER = re.compile(r"(?<![\w.-])[a-z0-9]+(?:[-._][a-z0-9]+)+(?![\w-])")
# Recorded values the audit log shows verbatim (field: value before and after a change).
VERBATIM = "[data-audit] td div"
SAME_IN_BOTH = {"ID", "API", "Telegram", "Email", "Stripe", "billdesk", "JPG", "PNG", "GIF", "ZIP"}


def _english_patterns() -> list[re.Pattern]:
    """One pattern per English string: placeholders match anything, markup is dropped."""
    with POT_PATH.open("rb") as pot:
        catalog = read_po(pot)
    patterns = []
    for message in catalog:
        if not message.id:
            continue
        for english in [message.id] if isinstance(message.id, str) else list(message.id):
            text = re.sub(r"<[^>]+>", "", english).replace("&lt;", "<").replace("&gt;", ">")
            text = " ".join(text.split())
            if text in SAME_IN_BOTH or not re.search(r"[A-Za-z]{2,}", text):
                continue
            parts = re.split(r"%\(\w+\)[sd]|\{n\}", text)
            body = r".+?".join(re.escape(part) for part in parts)
            if sum(len(part) for part in parts) < 4:
                continue
            patterns.append(re.compile(r"(?<![A-Za-z])" + body + r"(?![A-Za-z])"))
    return patterns


async def _english_left(page, patterns) -> list[str]:
    text = await page.evaluate(
        "(sel) => { document.querySelectorAll(sel).forEach(e => e.style.display = 'none');"
        " return document.body.innerText; }",
        VERBATIM,
    )
    title = await page.title()
    found = []
    for line in [title, *text.splitlines()]:
        line = " ".join(IDENTIFIER.sub("", EMAIL.sub("", line)).split())
        found += [f"{line!r} ~ {p.pattern}" for p in patterns if p.search(line)]
    return found


async def _log_in(page, email: str, landing: str) -> None:
    await page.goto("/login")
    await page.fill("#login-email", email)
    await page.fill("#login-password", PASSWORD)
    await page.click("form[action='/login'] button[type=submit]")
    await page.wait_for_url(f"**{landing}")


@pytest.mark.browser
async def test_the_client_area_and_the_desk_have_no_english_left_in_russian(browser_page):
    page = browser_page
    patterns = _english_patterns()
    free = await make_department(name="Техподдержка", free_tickets=3)
    paid = await make_department(name="Администрирование", free_tickets=0, ticket_price=4900)
    customer = await make_user(role="customer", name="Алиса Петрова")
    staff = await make_user(role="staff", name="Сергей Иванов")
    for department in (free, paid):
        await add_member(department_id=department, user_id=staff.id)
    await User.update({User.language: "ru"}).where(User.id.is_in([customer.id, staff.id]))
    service = await make_service(customer_id=customer.id, name="vps-москва")
    answered = await make_desk_ticket(
        customer_id=customer.id, department_id=free, subject="Сервер не отвечает",
        status="waiting_for_reply", service_id=service, minutes_ago=5,
    )
    await make_desk_ticket(
        customer_id=customer.id, department_id=free, subject="Перенос домена", minutes_ago=3
    )
    await make_desk_ticket(
        customer_id=customer.id, department_id=paid, subject="Решённый вопрос",
        status="solved", minutes_ago=1,
    )
    await Notification.insert(
        Notification(user=customer.id, ticket=answered, kind="reply", text="Поддержка ответила")
    )
    # A notification as billdesk writes it (message id and values), read in Russian.
    await notifications.notify(
        user_id=customer.id, kind=notifications.Kind.reply_received, ticket_id=answered,
        text=tr("Support replied on #%(id)s: %(subject)s", id=answered, subject="Сервер не отвечает"),
    )
    # A paid ticket whose card was declined: its page shows the Pay step and the reason.
    unpaid = await make_desk_ticket(
        customer_id=customer.id, department_id=paid, subject="Настройка бэкапов",
        status="awaiting_payment", minutes_ago=2,
    )
    charge = await make_charge(
        ticket_id=unpaid, customer_id=customer.id, department_id=paid, amount=4900,
        status="requires_payment",
    )
    await Charge.update({Charge.failure_reason: "Your card was declined."}).where(
        Charge.id == charge
    )

    await _log_in(page, customer.email, "/tickets")
    client_pages = [
        "/tickets",
        "/tickets?status=solved",
        "/tickets?archived=1",
        "/tickets/new",
        f"/tickets/{answered}",
        f"/tickets/{unpaid}",
        f"/tickets/{unpaid}/payment",
        "/notifications",
        "/payment-method",
        "/account",
        "/account/two-factor",
        "/no-such-page",
    ]
    left = {}
    for path in client_pages:
        await page.goto(path)
        if english := await _english_left(page, patterns):
            left[path] = english
    await page.goto("/tickets/new")
    await page.select_option("#f-department_id", str(paid))
    if english := await _english_left(page, patterns):
        left["/tickets/new (a paid department chosen)"] = english
    # Sent with only blanks: the form comes back with the refusal, in Russian.
    await page.select_option("#f-department_id", str(free))
    await page.fill("#f-message", "   ")
    await page.click("form[action='/tickets/new'] button[type=submit]")
    await page.wait_for_selector("text=Напишите сообщение: оно не может быть пустым.")
    if english := await _english_left(page, patterns):
        left["/tickets/new (sent empty)"] = english

    await page.context.clear_cookies()
    await _log_in(page, staff.email, "/desk")
    desk_pages = [
        "/desk",
        f"/desk?department={free}",
        "/desk?status=solved",
        f"/desk/tickets/{answered}",
        "/desk/tickets/new",
        "/desk/templates",
        "/desk/reports",
        "/notifications",
        "/account",
    ]
    for path in desk_pages:
        await page.goto(path)
        if english := await _english_left(page, patterns):
            left[path] = english
    await page.goto("/desk")
    await page.check(f"input[name=ids][value='{answered}']")
    assert await page.text_content("[data-selected-count=ids]") == "Выбрано: 1"

    assert not left, "English left on Russian pages:\n" + "\n".join(
        f"{path}: {line}" for path, lines in left.items() for line in lines
    )


@pytest.mark.browser
async def test_the_admin_and_finance_pages_have_no_english_left_in_russian(browser_page):
    from tests.payment_helpers import make_charge

    page = browser_page
    patterns = _english_patterns()
    department = await make_department(name="Хостинг", free_tickets=2, ticket_price=4900)
    customer = await make_user(role="customer", name="Алиса Петрова")
    admin = await make_user(role="admin", name="Ольга Смирнова")
    clerk = await make_user(role="finance", name="Павел Кузнецов")
    await add_member(department_id=department, user_id=admin.id)
    await User.update({User.language: "ru"}).where(User.id.is_in([admin.id, clerk.id]))
    ticket = await make_desk_ticket(
        customer_id=customer.id, department_id=department, subject="Продление VPS",
        status="awaiting_payment", minutes_ago=5,
    )
    charge = await make_charge(
        ticket_id=ticket, customer_id=customer.id, department_id=department, amount=4900
    )

    await _log_in(page, admin.email, "/desk")
    admin_pages = [
        "/admin/departments",
        f"/admin/departments/{department}",
        f"/admin/departments/{department}/service-level",
        "/admin/users",
        f"/admin/users/{clerk.id}",
        "/admin/settings",
        "/admin/trash",
        "/admin/audit",
        "/admin/jobs",
        "/admin/mail",
        "/admin/webhooks",
    ]
    left = {}
    for path in admin_pages:
        await page.goto(path)
        if english := await _english_left(page, patterns):
            left[path] = english

    await page.context.clear_cookies()
    await _log_in(page, clerk.email, "/finance")
    finance_pages = [
        "/finance",
        f"/finance/charges/{charge}",
        "/finance/summary",
        "/finance/ledger",
    ]
    for path in finance_pages:
        await page.goto(path)
        if english := await _english_left(page, patterns):
            left[path] = english
    assert await page.title() != "" and "Сверка" in await page.text_content("h1")

    assert not left, "English left on Russian pages:\n" + "\n".join(
        f"{path}: {line}" for path, lines in left.items() for line in lines
    )
