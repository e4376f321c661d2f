"""Choosing a language and translating marked text."""

from __future__ import annotations

from jinja2 import Environment

from billdesk.errors import NotFound
from billdesk.i18n import from_accept_language, speaking, tr, tr_n, translate
from billdesk.i18n.jinja import install


def test_the_browser_language_is_the_best_one_billdesk_speaks():
    assert from_accept_language("ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7") == "ru"
    assert from_accept_language("de-DE,de;q=0.9,ru;q=0.5,en;q=0.4") == "ru"
    assert from_accept_language("en;q=0.5, ru;q=0.8") == "ru"
    assert from_accept_language("fr, de") == "en"
    assert from_accept_language("ru;q=0, en") == "en"
    assert from_accept_language("ru;q=bogus") == "en"
    assert from_accept_language("") == "en"


def test_marked_text_reads_as_english_until_it_is_shown_in_a_language():
    text = tr("Page %(page)s of %(pages)s", page=2, pages=5)
    assert text == "Page 2 of 5"
    assert translate(text, "ru") == "Страница 2 из 5"
    assert translate(NotFound.title, "ru") == "Не найдено"
    assert translate("plain", "ru") == "plain"


def test_counts_agree_with_the_number_in_russian():
    forms = [translate(tr_n("%(num)s ticket", "%(num)s tickets", n), "ru") for n in (1, 3, 5, 21)]
    assert forms == ["1 тикет", "3 тикета", "5 тикетов", "21 тикет"]
    assert tr_n("%(num)s ticket", "%(num)s tickets", 1) == "1 ticket"


def test_templates_speak_the_language_being_rendered():
    env = install(Environment(autoescape=True))
    page = env.from_string(
        '{{ _("Log out") }} · {{ ngettext("%(num)s ticket", "%(num)s tickets", n) }} · {{ flash }}'
    )
    with speaking("ru"):
        assert page.render(n=2, flash=tr("Not found")) == "Выйти · 2 тикета · Не найдено"
    assert page.render(n=2, flash=tr("Not found")) == "Log out · 2 tickets · Not found"


def test_text_inside_an_attribute_keeps_its_quotes_inside_the_attribute():
    env = install(Environment(autoescape=True))
    field = env.from_string(
        '<input placeholder="{{ _("words, \\"a phrase\\", #1042") | attribute_text }}" '
        'title="{{ title | attribute_text }}" alt="{{ other | attribute_text }}">'
    )
    html = field.render(title=tr("Not found"), other='Tom & "Jerry" &amp; <b>')
    assert html == (
        '<input placeholder="words, &#34;a phrase&#34;, #1042" title="Not found" '
        'alt="Tom &amp; &#34;Jerry&#34; &amp;amp; &lt;b&gt;">'
    )
    with speaking("ru"):
        assert 'title="Не найдено"' in field.render(title=tr("Not found"), other="")


def test_money_and_numbers_are_written_the_way_the_locale_writes_them():
    from billdesk import formatting

    assert formatting.money(150000, "usd") == "1,500.00 USD"
    assert formatting.money(500, "JPY") == "500 JPY"
    with speaking("ru"):
        assert formatting.money(150000, "USD") == "1\xa0500,00 USD"
        assert formatting.money(2000, "USD") == "20,00 USD"
        assert formatting.number(12345) == "12\xa0345"
        try:
            formatting.parse_money("20.001", "USD")
        except formatting.MoneyFormatError as exc:
            assert translate(exc.args[0], "ru").startswith("У валюты USD 2 знака")


def test_a_stored_text_reads_later_in_any_language_with_its_money_and_its_day():
    """What a notification keeps (`to_json`) comes back (`from_json`) as the same text, and
    the amount, the day and the count inside it are written for whoever reads it."""
    import json
    from datetime import date

    from billdesk.formatting import LocalDay, LocalMoney
    from billdesk.i18n import from_json, to_json

    paid = tr(
        "Payment of %(amount)s received for ticket #%(id)s. It is now in the support queue.",
        amount=LocalMoney(150000, "usd"), id=7,
    )
    closes = tr(
        "#%(id)s waits for your reply and closes on %(day)s: %(subject)s",
        id=7, day=LocalDay(date(2026, 12, 1)), subject="Сервер",
    )
    closed = tr_n(
        "#%(id)s was closed after %(num)s day without your reply: %(subject)s",
        "#%(id)s was closed after %(num)s days without your reply: %(subject)s",
        5, id=7, subject="Сервер",
    )
    back = [from_json(json.loads(json.dumps(to_json(text)))) for text in (paid, closes, closed)]
    assert [str(text) for text in back] == [str(paid), str(closes), str(closed)]
    assert translate(back[0], "ru").startswith("Оплата 1\u00a0500,00 USD")
    assert translate(back[0], "en").startswith("Payment of 1,500.00 USD received")
    assert "1 декабря 2026" in translate(back[1], "ru")
    assert "December 1, 2026" in translate(back[1], "en")
    assert translate(back[2], "ru") == "#7 закрыт: 5 дней без вашего ответа: Сервер"
