"""POST /stripe/webhook: Stripe's events, signature checked, each handled once."""

from __future__ import annotations

import logging

from litestar import Request, Response, post

from billdesk.payments import BadSignature, handle_event, verify

log = logging.getLogger("billdesk.payments")


@post("/stripe/webhook", include_in_schema=False, status_code=200)
async def stripe_webhook(request: Request) -> Response[dict[str, str]]:
    """Verify and handle one event; a failure inside answers 500 so that Stripe retries."""
    payload = await request.body()
    try:
        event = verify(payload, request.headers.get("stripe-signature"))
    except BadSignature as error:
        log.warning("webhook refused: %s", error)
        return Response({"error": "bad signature"}, status_code=400)
    try:
        handled = await handle_event(event)
    except Exception:
        log.exception("webhook %s (%s) failed; Stripe will retry", event.id, event.type)
        return Response({"error": "not handled, retry later"}, status_code=500)
    return Response({"received": event.id, "result": "handled" if handled else "duplicate"})
