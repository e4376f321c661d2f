"""The Piccolo app: billdesk's tables and its migrations folder."""

from piccolo.conf.apps import AppConfig, table_finder

from billdesk.settings import resource_dir

APP_CONFIG = AppConfig(
    app_name="billdesk",
    migrations_folder_path=str(resource_dir("migrations")),
    table_classes=table_finder(modules=["billdesk.tables"], exclude_imported=True),
    migration_dependencies=[],
    commands=[],
)
