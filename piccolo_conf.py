"""Piccolo configuration for the `piccolo` command run from a checkout."""

from billdesk.db import APP_REGISTRY, DB

__all__ = ["APP_REGISTRY", "DB"]
