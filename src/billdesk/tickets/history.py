"""A ticket's history as the pages write it: each line in the reader's language.

A line (`TicketEvent`) keeps `old_value`/`new_value` as the API shows them, and, where
the line is a sentence (a price confirmed, a refund, a deadline missed), `params`: the
tr() text with its values (`billdesk.i18n.to_json`). Money is written for the reader
(15.00 USD, 15,00 USD), times on the reader's clocks. Lines written before `params`
existed read as they were kept.
"""

from __future__ import annotations

import json
import re
from typing import Any

from billdesk.i18n import Text, from_json, translate

_MESSAGE = re.compile(r"^message (\d+)$")


def event_line(event: dict[str, Any], language: str) -> str | None:
    """What follows the kind's label on the line, in `language`: a sentence or a value;
    "" when the label says it all; None when the page writes the values itself."""
    params = event.get("params")
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except ValueError:
            params = None
    if params:
        restored = from_json(params)
        if isinstance(restored, Text):
            return str(translate(restored, language))
    kind = str(event.get("kind") or "")
    if kind == "archived":
        return ""
    if kind == "message_deleted":
        found = _MESSAGE.match(str(event.get("old_value") or ""))
        return f"#{found.group(1)}" if found else ""
    return None
