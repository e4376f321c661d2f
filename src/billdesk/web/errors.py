"""Every failure becomes a problem document (API) or a friendly page (browser).

No traceback ever leaves the server: unexpected errors are logged and answered
with a plain 500.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from billdesk.errors import DeskError
from billdesk.i18n import Text, current_language, set_request_language, tr, translate
from billdesk.settings import get_settings
from billdesk.web.litestar_messages import field_named, said_again
from billdesk.web.middleware import API_PREFIX

log = logging.getLogger("billdesk")

CODES = {
    400: "validation_error",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "invalid_transition",
    413: "payload_too_large",
    422: "validation_error",
    429: "rate_limited",
}

TITLES = {
    400: tr("The request is not valid"),
    401: tr("Log in to continue"),
    403: tr("You may not do this"),
    404: tr("Not found"),
    405: tr("Method not allowed"),
    413: tr("Too large"),
    422: tr("Some fields are not valid"),
    429: tr("Too many attempts"),
    500: tr("Something went wrong on our side"),
    503: tr("Temporarily unavailable"),
}

FRIENDLY = {
    401: tr("Log in to continue."),
    403: tr("Your account may not open this page."),
    404: tr("There is nothing here. The page may have moved, or the address may be mistyped."),
    413: tr("What you sent is too large."),
    500: tr("The error has been logged. Try again in a moment; if it keeps happening, contact us."),
}

CSRF_MESSAGE = tr(
    "This form has expired or was sent from another site. "
    "Go back, reload the page and send it again."
)


def problem(
    status: int,
    *,
    code: str,
    title: str,
    detail: str,
    errors: list[dict[str, str]] | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    language = current_language()
    body: dict[str, Any] = {
        "status": status,
        "title": translate(title, language),
        "detail": translate(detail, language),
        "code": code,
    }
    if errors:
        body["errors"] = [
            {**error, "message": translate(error["message"], language)} for error in errors
        ]
    body.update(extra or {})
    return Response(
        content=body,
        status_code=status,
        media_type="application/problem+json",
        headers=headers,
    )


def _field_errors(errors: dict[str, str]) -> list[dict[str, str]]:
    return [{"field": field, "message": message} for field, message in errors.items()]


def problem_for(exc: DeskError) -> Response[dict[str, Any]]:
    return problem(
        exc.status,
        code=exc.code,
        title=exc.title,
        detail=exc.detail,
        errors=_field_errors(exc.errors),
        extra=exc.extra,
    )


def _validation_errors(exc: ValidationException) -> list[dict[str, str]]:
    # Litestar's and msgspec's English, said again in the asker's language.
    errors: list[dict[str, str]] = []
    for item in exc.extra or []:
        if isinstance(item, dict):
            field = field_named(item.get("key"), item.get("message"))
            errors.append({"field": field, "message": said_again(item.get("message"), field)})
    if errors:
        return errors
    field = field_named(None, exc.detail)
    return [{"field": field, "message": said_again(exc.detail, field)}]


def _error_page(
    request: Request,
    status: int,
    title: str,
    detail: str,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Template:
    # Exception handlers are synchronous, so the error page goes without the
    # navigation counts (which would need the database, possibly what failed).
    return Template(
        template_name="errors/error.html",
        context={
            "current_user": request.scope.get("user"),
            "nav": {},
            "status_code": status,
            "title": title,
            "detail": detail,
            "errors": errors or [],
            "payments_test_mode": get_settings().payments_test_mode,
        },
        status_code=status,
        headers=headers,
    )


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX)


def handle_exception(request: Request, exc: Exception) -> Response[Any]:
    """The one exception handler of the app."""
    # An unknown path fails before any middleware ran: go by the browser's language.
    set_request_language(request.scope)
    if isinstance(exc, DeskError):
        if _is_api(request):
            return problem_for(exc)
        return _error_page(
            request, exc.status, exc.title, exc.detail, _field_errors(exc.errors)
        )

    if isinstance(exc, HTTPException):
        status = exc.status_code
        # A tr() detail stays a Text, so it is shown in the asker's language.
        detail = exc.detail if isinstance(exc.detail, Text) else str(exc.detail or "")
        if status == 400 and detail.startswith("JSON is malformed"):
            detail = said_again(detail, "body")
        # Allow on 405, WWW-Authenticate on 401: what the exception says goes out.
        headers = dict(exc.headers or {})
        if isinstance(exc, ValidationException) or status == 400:
            errors = _validation_errors(exc) if isinstance(exc, ValidationException) else []
            if _is_api(request):
                return problem(
                    422,
                    code="validation_error",
                    title=TITLES[422],
                    detail=errors[0]["message"] if errors else detail,
                    errors=errors,
                )
            return _error_page(
                request, 400, TITLES[400], tr("Some of what was sent is not valid."), errors
            )
        if status == 403 and "csrf" in detail.lower():
            detail = CSRF_MESSAGE
        if _is_api(request):
            return problem(
                status,
                code=CODES.get(status, "validation_error"),
                title=TITLES.get(status, tr("Error")),
                detail=detail if status < 500 else TITLES.get(status, tr("Error")),
                headers={**headers, "WWW-Authenticate": "Bearer"} if status == 401 else headers,
            )
        if status == 401:
            target = request.url.path
            if request.url.query:
                target += "?" + request.url.query
            return Redirect(path=f"/login?next={quote(target, safe='')}")
        if status >= 500:
            return _error_page(request, status, TITLES.get(status, tr("Error")), FRIENDLY[500])
        if status == 404:
            detail = FRIENDLY[404]
        return _error_page(
            request, status, TITLES.get(status, tr("Error")), detail or FRIENDLY.get(status, ""),
            headers=headers,
        )

    log.exception("Unhandled error on %s %s", request.method, request.url.path)
    if _is_api(request):
        return problem(
            HTTP_500_INTERNAL_SERVER_ERROR,
            code="internal_error",
            title=TITLES[500],
            detail=FRIENDLY[500],
        )
    return _error_page(request, 500, TITLES[500], FRIENDLY[500])


def media_type_for(request: Request) -> str:
    return MediaType.JSON if _is_api(request) else MediaType.HTML
