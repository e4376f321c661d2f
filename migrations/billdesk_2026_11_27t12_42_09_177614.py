from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import BigInt
from piccolo.columns.column_types import Integer
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-27T12:42:09:177614"
VERSION = "1.38.0"
DESCRIPTION = "department queue change counters"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="billdesk", description=DESCRIPTION
    )

    manager.add_table(
        class_name="DepartmentQueueChange",
        tablename="department_queue_changes",
        schema=None,
        columns=None,
    )

    manager.add_column(
        table_class_name="DepartmentQueueChange",
        tablename="department_queue_changes",
        column_name="department",
        db_column_name="department",
        column_class_name="Integer",
        column_class=Integer,
        params={
            "default": 0,
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="DepartmentQueueChange",
        tablename="department_queue_changes",
        column_name="slot",
        db_column_name="slot",
        column_class_name="Integer",
        column_class=Integer,
        params={
            "default": 0,
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="DepartmentQueueChange",
        tablename="department_queue_changes",
        column_name="changes",
        db_column_name="changes",
        column_class_name="BigInt",
        column_class=BigInt,
        params={
            "default": 0,
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    return manager
