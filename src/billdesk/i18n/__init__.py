"""Languages: the catalogs, the text that waits for a language, and which language a person reads.

Strings are English in the code and the templates and go through gettext:
`tr("…")` in Python, `_("…")` and `{% trans %}` in templates. A `tr()` string is a
`Text`: it reads as English wherever a plain string is expected (logs, tests, the
API by default) and is translated only when it is shown to someone, in their
language. Placeholders are `%(name)s`, the same in Python and in templates.
How to add a string, extract, translate and check: docs/i18n.md.
"""

from __future__ import annotations

from billdesk.i18n.catalogs import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    Localized,
    Text,
    babel_locale,
    catalog_text,
    from_json,
    gettext,
    ngettext,
    supported,
    to_json,
    tr,
    tr_n,
    translate,
    translations,
)
from billdesk.i18n.choice import (
    current_language,
    from_accept_language,
    request_language,
    set_request_language,
    speaking,
)

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "Localized",
    "Text",
    "babel_locale",
    "catalog_text",
    "current_language",
    "from_accept_language",
    "from_json",
    "gettext",
    "ngettext",
    "request_language",
    "set_request_language",
    "speaking",
    "supported",
    "to_json",
    "tr",
    "tr_n",
    "translate",
    "translations",
]
