"""The committed catalogs are what extraction gives, and Russian leaves nothing in English.

When this fails: `billdesk i18n extract`, translate what it added to
src/billdesk/i18n/locale/ru/LC_MESSAGES/messages.po, commit both (docs/i18n.md).
"""

from __future__ import annotations

import re

from babel.messages.pofile import read_po

from billdesk.i18n import LANGUAGES
from billdesk.i18n.catalogs import po_path
from billdesk.i18n.extract import POT_PATH, missing_translations, stale_entries

PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
TAG = re.compile(r"<(/?[a-z]+)")


def test_the_committed_catalog_is_what_the_sources_hold():
    new, gone = stale_entries()
    assert not new, (
        f"strings missing from messages.pot (run `billdesk i18n extract`): {sorted(new)}"
    )
    assert not gone, (
        f"messages.pot holds strings no source has (run `billdesk i18n extract`): {sorted(gone)}"
    )


def test_every_language_translates_every_string():
    for language in LANGUAGES:
        if language == "en":
            continue
        missing = missing_translations(language)
        assert not missing, f"{language} has no translation of: {missing}"


def test_translations_keep_the_placeholders_and_the_markup():
    with POT_PATH.open("rb") as pot:
        template_ids = {message.id for message in read_po(pot) if message.id}
    for language in LANGUAGES:
        if language == "en":
            continue
        with po_path(language).open("rb") as po:
            catalog = read_po(po, locale=language)
        for message in catalog:
            if not message.id or message.id not in template_ids:
                continue
            source = message.id if isinstance(message.id, str) else message.id[1]
            strings = [message.string] if isinstance(message.string, str) else list(message.string)
            for string in strings:
                assert set(PLACEHOLDER.findall(string)) <= set(PLACEHOLDER.findall(source)) | {
                    "num"
                }, f"{language}: {string!r} names a value {source!r} does not give"
                assert sorted(TAG.findall(string)) == sorted(TAG.findall(source)), (
                    f"{language}: {string!r} does not keep the markup of {source!r}"
                )
