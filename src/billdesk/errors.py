"""Domain errors: each carries the API's error code, its HTTP status and the fields at fault.

Domain modules raise these; the web layer turns them into problem documents for
the API and into messages next to the fields on pages.
"""

from __future__ import annotations

from typing import Any

from billdesk.i18n import tr


class DeskError(Exception):
    """A refused action. `errors` maps a field name to a message for the person.

    `title`, `detail` and the messages are `tr()` strings where they are written, so
    the web layer shows them in the language of whoever is asking."""

    code = "validation_error"
    status = 422
    title: str = tr("The request is not valid")

    def __init__(
        self,
        detail: str,
        *,
        errors: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or {}
        self.extra = extra or {}


class ValidationFailed(DeskError):
    code = "validation_error"
    status = 422
    title = tr("Some fields are not valid")

    @classmethod
    def field(cls, field: str, message: str) -> ValidationFailed:
        return cls(message, errors={field: message})


class NotFound(DeskError):
    code = "not_found"
    status = 404
    title = tr("Not found")


class Forbidden(DeskError):
    code = "forbidden"
    status = 403
    title = tr("Forbidden")


class PaymentConfirmationRequired(DeskError):
    code = "payment_confirmation_required"
    status = 402
    title = tr("This ticket will be charged")


class PriceChanged(DeskError):
    code = "price_changed"
    status = 409
    title = tr("The price has changed")


class TicketClosed(DeskError):
    code = "ticket_closed"
    status = 409
    title = tr("The ticket is solved")


class InvalidTransition(DeskError):
    code = "invalid_transition"
    status = 409
    title = tr("Not possible in the ticket's current status")


class AttachmentRejected(DeskError):
    code = "attachment_rejected"
    status = 422
    title = tr("An attachment was rejected")


class PayloadTooLarge(DeskError):
    code = "payload_too_large"
    status = 413
    title = tr("Too large")


class RateLimited(DeskError):
    code = "rate_limited"
    status = 429
    title = tr("Too many attempts")


class PaymentsUnavailable(DeskError):
    code = "payments_unavailable"
    status = 503
    title = tr("Payments are unavailable")


class SupportDisabled(DeskError):
    code = "support_disabled"
    status = 403
    title = tr("Support is switched off")


class PaymentInProgress(DeskError):
    code = "payment_in_progress"
    status = 409
    title = tr("A payment is in progress")


class StaleReply(DeskError):
    """Someone wrote on the ticket after the newest message the agent had seen; `extra`
    carries those `messages`. Sent anyway with `force`."""

    code = "stale_reply"
    status = 409
    title = tr("New messages arrived while you were writing")
