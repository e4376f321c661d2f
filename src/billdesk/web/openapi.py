"""The OpenAPI document, completed where Litestar cannot infer it, and the docs page.

Litestar writes paths, parameters, bodies read through `data:` and success
answers from the handlers. `complete_document` adds, once at start-up:

- the error answers every API route gives, as RFC 9457 problem documents
  (401 without a token, 403 for another role, 404 for a path id, 413 for a
  body, 422 for anything invalid) and those particular to a route (`PROBLEMS`);
  Litestar's generic 400 goes, since billdesk answers 422 instead;
- the bodies of the routes that read JSON or multipart themselves (`BODIES`);
- the bounds of path ids, which the input guard enforces.

The docs page is Swagger UI without inline script, so the Content-Security-Policy
can forbid inline scripts there too.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import (
    OpenAPI,
    OpenAPIMediaType,
    OpenAPIResponse,
    Operation,
    Reference,
    RequestBody,
    Schema,
)
from litestar.openapi.spec.enums import OpenAPIType
from litestar.routes import HTTPRoute

from billdesk.auth import requires_login
from billdesk.tickets.lifecycle import MESSAGE_MAX
from billdesk.validation import MAX_ID
from billdesk.web.guard import BODY_METHODS

API_PREFIX = "/api/v1"
PROBLEM_MEDIA_TYPE = "application/problem+json"

PROBLEM = Schema(
    type=OpenAPIType.OBJECT,
    description="An RFC 9457 problem document; `errors` names the fields at fault.",
    required=["status", "title", "detail", "code"],
    properties={
        "status": Schema(type=OpenAPIType.INTEGER),
        "title": Schema(type=OpenAPIType.STRING),
        "detail": Schema(type=OpenAPIType.STRING),
        "code": Schema(type=OpenAPIType.STRING),
        "errors": Schema(
            type=OpenAPIType.ARRAY,
            items=Schema(
                type=OpenAPIType.OBJECT,
                required=["field", "message"],
                properties={
                    "field": Schema(type=OpenAPIType.STRING),
                    "message": Schema(type=OpenAPIType.STRING),
                },
            ),
        ),
    },
)

DESCRIPTIONS = {
    401: "No valid Bearer token (`unauthorized`).",
    402: "No free ticket left: confirm the price (`payment_confirmation_required`).",
    403: "The token's role may not do this (`forbidden`), or support is off (`support_disabled`).",
    404: "No such object, or not one the caller may see (`not_found`).",
    409: "Not possible in the object's current state (`invalid_transition`, `ticket_closed`, `price_changed`).",
    413: "The body is too large (`payload_too_large`).",
    422: "Something sent is not valid; `errors` names each field (`validation_error`).",
    502: "The payment provider did not answer.",
    503: "Payments are not available (`payments_unavailable`), or the Telegram bot is off or "
    "cannot reach Telegram (`telegram_unavailable`).",
}

# Answers particular to a route, beyond those every route of its kind gives.
PROBLEMS: dict[tuple[str, str], tuple[int, ...]] = {
    ("POST", "/api/v1/tickets"): (402, 409, 503),
    ("POST", "/api/v1/tickets/{ticket_id}/messages"): (409,),
    ("DELETE", "/api/v1/tickets/{ticket_id}/messages/{message_id}"): (409,),
    ("POST", "/api/v1/tickets/{ticket_id}/close"): (409,),
    ("POST", "/api/v1/tickets/{ticket_id}/archive"): (409,),
    ("POST", "/api/v1/tickets/{ticket_id}/pay"): (409, 502, 503),
    ("POST", "/api/v1/tickets/{ticket_id}/cancel"): (409, 502, 503),
    ("POST", "/api/v1/desk/tickets/{ticket_id}/messages"): (409,),
    ("GET", "/api/v1/desk/templates"): (404,),  # ?ticket_id= of a ticket the caller cannot see
    ("GET", "/api/v1/reports/support"): (404,),  # ?department= that is not among the caller's
    ("PATCH", "/api/v1/desk/tickets/{ticket_id}"): (409,),
    ("POST", "/api/v1/desk/tickets/{ticket_id}/close"): (409,),
    ("POST", "/api/v1/desk/tickets/{ticket_id}/merge"): (409,),
    ("POST", "/api/v1/desk/tickets/{ticket_id}/decision"): (409,),
    ("DELETE", "/api/v1/desk/tickets/{ticket_id}/messages/{message_id}"): (409,),
    ("POST", "/api/v1/admin/customers/{external_id}/login-link"): (409,),
    ("POST", "/api/v1/finance/charges/{charge_id}/refunds"): (409, 502, 503),
    ("POST", "/api/v1/finance/ledger"): (502, 503),
    ("POST", "/api/v1/admin/jobs/{job_id}/retry"): (409,),
    ("POST", "/api/v1/me/telegram-link"): (503,),
}


def _id(description: str) -> Schema:
    return Schema(type=OpenAPIType.INTEGER, minimum=1, maximum=MAX_ID, description=description)


def _files() -> Schema:
    return Schema(
        type=OpenAPIType.ARRAY,
        items=Schema(type=OpenAPIType.STRING, format="binary"),  # type: ignore[arg-type]
        max_items=5,
        description="Up to 5 files (.jpg .png .gif .zip), 5 MB each.",
    )


def _text(description: str, max_length: int = MESSAGE_MAX) -> Schema:
    return Schema(type=OpenAPIType.STRING, max_length=max_length, description=description)


def _body(fields: dict[str, Schema | Reference], required: list[str], *, multipart: bool) -> RequestBody:
    json_schema = Schema(type=OpenAPIType.OBJECT, properties=fields, required=required)
    content = {"application/json": OpenAPIMediaType(schema=json_schema)}
    if multipart:
        form_fields: dict[str, Schema | Reference] = {**fields, "attachments": _files()}
        content["multipart/form-data"] = OpenAPIMediaType(
            schema=Schema(type=OpenAPIType.OBJECT, properties=form_fields, required=required)
        )
    return RequestBody(content=content, required=bool(required))


MONEY = Schema(
    type=OpenAPIType.OBJECT,
    required=["amount", "currency"],
    properties={
        "amount": Schema(type=OpenAPIType.INTEGER, minimum=0, maximum=MAX_ID),
        "currency": Schema(type=OpenAPIType.STRING, max_length=3),
    },
)

BODIES: dict[tuple[str, str], RequestBody] = {
    ("POST", "/api/v1/tickets"): _body(
        {
            "department_id": _id("The department to open the ticket in."),
            "service_id": Schema(
                one_of=[_id("One of the caller's services."), Schema(type=OpenAPIType.NULL)]
            ),
            "message": _text("The first message; the subject is its first line."),
            "accept_price": Schema(
                one_of=[
                    Schema(type=OpenAPIType.INTEGER, minimum=0, maximum=MAX_ID),
                    MONEY,
                    Schema(type=OpenAPIType.NULL),
                ],
                description="The price shown, to confirm a paid ticket.",
            ),
            "client_token": _text("Any string; a repeated submit opens one ticket.", 60),
            "request_kind_id": Schema(
                one_of=[
                    _id("A request kind of the department: a service request, never charged."),
                    Schema(type=OpenAPIType.NULL),
                ]
            ),
        },
        ["department_id", "message"],
        multipart=True,
    ),
    ("POST", "/api/v1/tickets/{ticket_id}/messages"): _body(
        {"body": _text("The reply.")}, ["body"], multipart=True
    ),
    ("POST", "/api/v1/desk/tickets/{ticket_id}/messages"): _body(
        {
            "body": _text("The reply or the note."),
            "internal": Schema(type=OpenAPIType.BOOLEAN, description="A staff-only note."),
        },
        ["body"],
        multipart=True,
    ),
    ("POST", "/api/v1/notifications/read"): _body(
        {
            "ids": Schema(
                type=OpenAPIType.ARRAY, items=_id("A notification id."), max_items=1000,
                description="The notifications to mark read; without it, all of them.",
            )
        },
        [],
        multipart=False,
    ),
}


def _problem(status: int) -> OpenAPIResponse:
    return OpenAPIResponse(
        description=DESCRIPTIONS.get(status, "An error."),
        content={PROBLEM_MEDIA_TYPE: OpenAPIMediaType(schema=Reference("#/components/schemas/Problem"))},
    )


def _statuses(method: str, path: str, operation: Operation, role_guarded: bool) -> set[int]:
    statuses = {401, 422}
    if role_guarded:
        statuses.add(403)
    if "{" in path:
        statuses.add(404)
    if method in BODY_METHODS:
        statuses.add(413)
    statuses.update(PROBLEMS.get((method, path), ()))
    return statuses


CARRIED = ("minimum", "maximum", "max_length", "description")


def _tidy_parameters(operation: Operation) -> None:
    """Bound path ids; an optional query parameter is its type, not "that type or null"
    (a query string has no null), with its bounds on the type itself."""
    for parameter in operation.parameters or []:
        schema = getattr(parameter, "schema", None)
        if not isinstance(schema, Schema):
            continue
        if getattr(parameter, "param_in", None) == "path" and schema.type == OpenAPIType.INTEGER:
            schema.minimum, schema.maximum = 1, MAX_ID
        branches = [
            branch for branch in schema.one_of or []
            if isinstance(branch, Schema) and branch.type != OpenAPIType.NULL
        ]
        if schema.one_of and len(branches) == 1 and len(schema.one_of) == 2:
            plain = branches[0]
            for name in CARRIED:
                if getattr(schema, name, None) is not None and getattr(plain, name, None) is None:
                    setattr(plain, name, getattr(schema, name))
            parameter.schema = plain  # type: ignore[union-attr]


def complete_document(openapi: OpenAPI, app: Litestar) -> OpenAPI:
    """Add what Litestar cannot infer (see the module's docstring) to the API's operations."""
    assert openapi.components is not None
    openapi.components.schemas = {**(openapi.components.schemas or {}), "Problem": PROBLEM}
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or not route.path.startswith(API_PREFIX):
            continue
        item = (openapi.paths or {}).get(route.path_format)
        if item is None:
            continue
        for handler in route.route_handlers:
            # Litestar wraps guards; the function is kept as `.func`.
            role_guarded = any(
                getattr(guard, "func", guard) is not requires_login
                for guard in handler.resolve_guards()
            )
            for method in handler.http_methods:
                operation: Operation | None = getattr(item, method.lower(), None)
                if operation is None:
                    continue
                responses: dict[str, Any] = dict(operation.responses or {})
                responses.pop("400", None)
                for status in sorted(_statuses(method, route.path_format, operation, role_guarded)):
                    responses.setdefault(str(status), _problem(status))
                operation.responses = responses
                if (body := BODIES.get((method, route.path_format))) is not None:
                    operation.request_body = body
                _tidy_parameters(operation)
    health = (openapi.paths or {}).get("/healthz")
    if health is not None and health.get is not None:
        health.get.responses = {
            **(health.get.responses or {}),
            "503": OpenAPIResponse(description="The database is unreachable."),
        }
    return openapi


async def complete_on_startup(app: Litestar) -> None:
    """Start-up hook: complete the document once, before the first request reads it."""
    complete_document(app.openapi_schema, app)


class SwaggerPage(SwaggerRenderPlugin):
    """Swagger UI with its start-up code in static/js, so no inline script is needed."""

    VENDORED = "/static/vendor/swagger-ui"

    @classmethod
    def offline(cls) -> SwaggerPage:
        """The viewer served from billdesk's own static files (static/vendor/swagger-ui), so
        /api/docs works with no network access and loads nothing from a CDN."""
        return cls(
            js_url=f"{cls.VENDORED}/swagger-ui-bundle.js",
            css_url=f"{cls.VENDORED}/swagger-ui.css",
            standalone_preset_js_url=f"{cls.VENDORED}/swagger-ui-standalone-preset.js",
        )

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        title = openapi_schema["info"]["title"]
        return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title} API</title>
  <link href="{self.css_url}" rel="stylesheet">
</head>
<body>
  <div id="swagger-container" data-openapi-url="/api/docs/openapi.json"></div>
  <script src="{self.js_url}" crossorigin></script>
  <script src="{self.standalone_preset_js_url}" crossorigin></script>
  <script src="/static/js/api-docs.js"></script>
</body>
</html>""".encode()
