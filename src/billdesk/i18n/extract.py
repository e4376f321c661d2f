"""Extracting the strings of the code and the templates, and keeping the catalogs in step.

`billdesk i18n extract` writes `messages.pot` and merges it into every language's
.po; `billdesk i18n check` (and the test suite) fails when the committed catalogs
are not what extraction gives or a translation is missing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po, write_po

from billdesk.i18n.catalogs import DEFAULT_LANGUAGE, DOMAIN, LANGUAGES, LOCALE_DIR, po_path
from billdesk.settings import resource_dir

KEYWORDS = {**DEFAULT_KEYWORDS, "tr": None, "tr_n": (1, 2)}
PYTHON_MAP = [("**.py", "python")]
TEMPLATE_MAP = [("**.html", "jinja2"), ("**.txt", "jinja2")]
TEMPLATE_OPTIONS = {
    "**.html": {"trimmed": "true", "silent": "false"},
    "**.txt": {"trimmed": "true", "silent": "false"},
}
POT_PATH = LOCALE_DIR / f"{DOMAIN}.pot"
HEADER = "Translations of billdesk, the support desk of a hosting provider."
# A fixed date, so that extracting again changes the files only when a string changed.
CREATED = datetime(2026, 11, 27, tzinfo=UTC)


def _source_root() -> Path:
    return Path(__file__).resolve().parents[1]


def _template_root() -> Path:
    return Path(resource_dir("templates"))


def extract() -> Catalog:
    """Every translatable string of the Python code and the templates."""
    catalog = Catalog(
        project="billdesk",
        version="1",
        domain=DOMAIN,
        header_comment=f"# {HEADER}",
        fuzzy=False,
        creation_date=CREATED,
        revision_date=CREATED,
    )
    sources = [
        (_source_root(), PYTHON_MAP, {}, "src/billdesk"),
        (_template_root(), TEMPLATE_MAP, TEMPLATE_OPTIONS, "templates"),
    ]
    for root, method_map, options, prefix in sources:
        for filename, lineno, message, comments, context in extract_from_dir(
            str(root),
            method_map,
            options,
            keywords=KEYWORDS,
            strip_comment_tags=True,
            comment_tags=("Translators:",),
        ):
            catalog.add(
                message,
                None,
                [(f"{prefix}/{filename}", lineno)],
                auto_comments=comments,
                context=context,
            )
    return catalog


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as po:
        return read_po(po, locale=locale, domain=DOMAIN)


def _write(path: Path, catalog: Catalog) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as po:
        write_po(po, catalog, width=100, sort_output=False, include_lineno=False)


def update() -> list[str]:
    """Write messages.pot from the sources and merge it into each language's .po.
    Returns the languages whose catalogs now lack translations."""
    template = extract()
    _write(POT_PATH, template)
    incomplete = []
    for language in LANGUAGES:
        if language == DEFAULT_LANGUAGE:
            continue
        path = po_path(language)
        catalog = (
            _read(path, language) if path.exists() else Catalog(locale=language, domain=DOMAIN)
        )
        catalog.update(template, no_fuzzy_matching=True, update_header_comment=True)
        catalog.obsolete.clear()
        catalog.project, catalog.version, catalog.fuzzy = "billdesk", "1", False
        catalog.revision_date = CREATED
        _write(path, catalog)
        if missing_translations(language):
            incomplete.append(language)
    return incomplete


def _keys(catalog: Catalog) -> set[tuple[str, str | None]]:
    return {(_msgid(message.id), message.context) for message in catalog if message.id}


def _msgid(value: object) -> str:
    return value[0] if isinstance(value, tuple | list) else str(value)


def stale_entries() -> tuple[set, set]:
    """(strings in the sources but not in messages.pot, strings in it no source has)."""
    extracted = _keys(extract())
    committed = _keys(_read(POT_PATH)) if POT_PATH.exists() else set()
    return extracted - committed, committed - extracted


def missing_translations(language: str) -> list[str]:
    """The msgids of messages.pot that `language` leaves untranslated or marks fuzzy."""
    path = po_path(language)
    template = _keys(_read(POT_PATH)) if POT_PATH.exists() else set()
    if not path.exists():
        return sorted(msgid for msgid, _ctx in template)
    catalog = _read(path, language)
    translated = set()
    for message in catalog:
        if not message.id or message.fuzzy:
            continue
        strings = message.string if isinstance(message.string, tuple | list) else [message.string]
        if all(strings):
            translated.add((_msgid(message.id), message.context))
    return sorted(msgid for msgid, _ctx in template - translated)
