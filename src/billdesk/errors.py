"""Domain errors: each carries the API's error code, its HTTP status and the fields at fault.

Domain modules raise these; the web layer turns them into problem documents for
the API and into messages next to the fields on pages.
"""

from __future__ import annotations

from typing import Any


class DeskError(Exception):
    """A refused action. `errors` maps a field name to a message for the person."""

    code = "validation_error"
    status = 422
    title = "The request is not valid"

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
    title = "Some fields are not valid"

    @classmethod
    def field(cls, field: str, message: str) -> ValidationFailed:
        return cls(message, errors={field: message})


class NotFound(DeskError):
    code = "not_found"
    status = 404
    title = "Not found"


class Forbidden(DeskError):
    code = "forbidden"
    status = 403
    title = "Forbidden"


class PaymentConfirmationRequired(DeskError):
    code = "payment_confirmation_required"
    status = 402
    title = "This ticket will be charged"


class PriceChanged(DeskError):
    code = "price_changed"
    status = 409
    title = "The price has changed"


class TicketClosed(DeskError):
    code = "ticket_closed"
    status = 409
    title = "The ticket is solved"


class InvalidTransition(DeskError):
    code = "invalid_transition"
    status = 409
    title = "Not possible in the ticket's current status"


class AttachmentRejected(DeskError):
    code = "attachment_rejected"
    status = 422
    title = "An attachment was rejected"


class PayloadTooLarge(DeskError):
    code = "payload_too_large"
    status = 413
    title = "Too large"


class RateLimited(DeskError):
    code = "rate_limited"
    status = 429
    title = "Too many attempts"


class PaymentsUnavailable(DeskError):
    code = "payments_unavailable"
    status = 503
    title = "Payments are unavailable"


class SupportDisabled(DeskError):
    code = "support_disabled"
    status = 403
    title = "Support is switched off"


class PaymentInProgress(DeskError):
    code = "payment_in_progress"
    status = 409
    title = "A payment is in progress"
