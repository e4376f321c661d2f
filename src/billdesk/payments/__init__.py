"""Stripe: saved cards, charging paid tickets, Checkout, webhooks, reconcile, refunds.

- states: the tables of moves of a charge and of its attempts, the lock order, the lease;
- attempts: what Stripe said about an attempt, written through those tables;
- charges, checkout: the customer's ways to pay or give up a ticket;
- events, reconcile: Stripe's webhook and the recovery job;
- refunds, ledger: refunds (by people and automatic), and the check of billdesk's
  records against Stripe's.

An opening that will charge starts looking up the saved card (`look_up_card()`), writes
the paid ticket in `awaiting_payment` with its charge and first attempt
(`write_first_attempt()`, in its own transaction, which also starts creating the
PaymentIntent) and then calls `charge_opened_ticket()`, or `abandon_first_attempt()`
when that transaction does not commit;
a ticket whose price is confirmed later is charged by `charge_new_ticket()`. Everything
after that (retry, Checkout, cancel, webhook,
reconcile, refunds) lives here.
"""

from billdesk.payments.cards import finish_card_setup, save_test_card, start_card_setup
from billdesk.payments.charges import (
    ChargeOutcome,
    abandon_first_attempt,
    cancel_unpaid_ticket,
    charge_new_ticket,
    charge_opened_ticket,
    look_up_card,
    retry_saved_card,
    write_first_attempt,
)
from billdesk.payments.checkout import finish_checkout, start_checkout
from billdesk.payments.events import BadSignature, handle_event, verify
from billdesk.payments.reconcile import ReconcileReport, reconcile
from billdesk.payments.refunds import refund_charge
from billdesk.payments.stripe_api import (
    SavedCard,
    payments_configured,
    saved_card,
    stripe_client,
    use_stripe_client,
)

__all__ = [
    "BadSignature",
    "ChargeOutcome",
    "ReconcileReport",
    "SavedCard",
    "abandon_first_attempt",
    "cancel_unpaid_ticket",
    "charge_new_ticket",
    "charge_opened_ticket",
    "finish_card_setup",
    "finish_checkout",
    "handle_event",
    "look_up_card",
    "payments_configured",
    "reconcile",
    "refund_charge",
    "retry_saved_card",
    "save_test_card",
    "saved_card",
    "start_card_setup",
    "start_checkout",
    "stripe_client",
    "use_stripe_client",
    "verify",
    "write_first_attempt",
]
