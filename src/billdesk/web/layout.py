"""What every page's layout needs: the user, the navigation counts, flashes, notices."""

from __future__ import annotations

from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context
from litestar import Request
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template

from billdesk import formatting, tags
from billdesk.auth import CurrentUser
from billdesk.errors import DeskError
from billdesk.i18n.jinja import context_language
from billdesk.navigation import navigation_counts
from billdesk.settings import get_settings
from billdesk.tickets.history import event_line
from billdesk.web import flashes

FLASH_KEY = flashes.SCOPE_KEY


def page_errors(exc: DeskError, fields: tuple[str, ...]) -> dict[str, str]:
    """A refusal as a form shows it, each problem once: next to the field it names when that
    field is on the page (the list of problems links there), else the refusal's own words."""
    shown = {key: message for key, message in exc.errors.items() if key in fields}
    return shown or {"form": exc.detail}


def install_filters(engine: JinjaTemplateEngine) -> None:
    """The template filters that format for a person: `money`, `count`."""
    engine.engine.filters["money"] = formatting.money
    engine.engine.filters["count"] = formatting.count
    engine.engine.filters["when"] = formatting.when
    engine.engine.filters["when_zoned"] = formatting.when_zoned
    engine.engine.filters["day"] = formatting.day
    engine.engine.filters["tag_class"] = tags.colour_class
    engine.engine.globals["card_brand"] = formatting.card_brand
    engine.engine.globals["current_time_zone"] = formatting.current_time_zone
    engine.engine.globals["TIME_ZONES"] = [(zone, zone) for zone in formatting.time_zones()]
    engine.engine.globals["event_line"] = _event_line


@pass_context
def _event_line(context: Context, event: dict[str, Any]) -> str | None:
    return event_line(event, context_language(context))


def current_user(request: Request) -> CurrentUser | None:
    return request.scope.get("user")


async def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    active: str = "",
    status_code: int = 200,
) -> Template:
    """A page in the site's layout, with the navigation counts of its user.

    A page shown to a logged-in person is never stored, so Back after paying or
    logging out asks the server again instead of showing a stale "Pay" button.
    """
    user = current_user(request)
    nav = await navigation_counts(user)
    nav["active"] = active
    shown, cookies = flashes.take(request)
    page: dict[str, Any] = {
        "current_user": user,
        "nav": nav,
        "flashes": shown,
        "payments_test_mode": get_settings().payments_test_mode,
        "support_notice": None,
    }
    if user is not None and user.is_customer:
        page["support_notice"] = nav.get("support_notice")
    page.update(context or {})
    if context and "flashes" in context:
        page["flashes"] = shown + list(context["flashes"])
    headers = {"Cache-Control": "no-store"} if user is not None else None
    return Template(
        template_name=template,
        context=page,
        status_code=status_code,
        cookies=cookies,
        headers=headers,
    )
