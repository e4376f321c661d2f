"""What every page's layout needs: the user, the navigation counts, flashes, notices."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.response import Template

from billdesk.auth import CurrentUser
from billdesk.navigation import navigation_counts
from billdesk.settings import get_settings

FLASH_KEY = "_flashes"


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
    """A page in the site's layout, with the navigation counts of its user."""
    user = current_user(request)
    nav = await navigation_counts(user)
    nav["active"] = active
    page: dict[str, Any] = {
        "current_user": user,
        "nav": nav,
        "flashes": request.scope.get(FLASH_KEY, []),
        "payments_test_mode": get_settings().payments_test_mode,
        "support_notice": None,
    }
    if user is not None and user.is_customer:
        page["support_notice"] = nav.get("support_notice")
    page.update(context or {})
    return Template(template_name=template, context=page, status_code=status_code)
