"""Data step: every charge made before payment attempts existed gets its attempt row,
so that events, reconcile and the ledger check find each PaymentIntent by its attempt."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from billdesk.db import DB

ID = "2026-11-27T05:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "payment attempts for existing charges"

COPY_ATTEMPTS = """
INSERT INTO payment_attempts (
    charge, number, method, status, amount, currency, idempotency_key,
    stripe_payment_intent_id, stripe_checkout_session_id, failure_reason, surplus,
    created_at, updated_at
)
SELECT
    id, attempt,
    CASE WHEN stripe_checkout_session_id IS NOT NULL AND stripe_payment_intent_id IS NULL
         THEN 'checkout' ELSE 'saved_card' END,
    CASE status
        WHEN 'succeeded' THEN 'succeeded'
        WHEN 'partially_refunded' THEN 'succeeded'
        WHEN 'refunded' THEN 'succeeded'
        WHEN 'canceled' THEN 'canceled'
        WHEN 'pending' THEN 'unknown'
        ELSE 'declined'
    END,
    amount, currency, idempotency_key, stripe_payment_intent_id,
    stripe_checkout_session_id, failure_reason, FALSE, created_at, updated_at
FROM charges
WHERE NOT EXISTS (SELECT 1 FROM payment_attempts WHERE payment_attempts.charge = charges.id)
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="billdesk", description=DESCRIPTION)

    async def copy_attempts() -> None:
        await DB.run_ddl(COPY_ATTEMPTS)

    manager.add_raw(copy_attempts)
    return manager
