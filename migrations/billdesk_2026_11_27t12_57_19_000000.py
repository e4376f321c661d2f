"""Data step: the triggers that keep `charge_month_totals` and its first sums
(billdesk.payments.month_totals, docs/performance.md).

Piccolo runs a migration's raw steps before its new tables, so this step follows
the migration that adds the table. Every statement is idempotent.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from billdesk.payments import month_totals

ID = "2026-11-27T12:57:19:000000"
VERSION = "1.38.0"
DESCRIPTION = "charge month total triggers"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="billdesk", description=DESCRIPTION)
    manager.add_raw(month_totals.install)
    return manager
