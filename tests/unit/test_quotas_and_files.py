"""Quota periods and prices, and the checks every attached file passes."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime

import pytest

from billdesk.attachments import MAX_BYTES, Upload, check_files, clean_filename
from billdesk.errors import AttachmentRejected, PayloadTooLarge
from billdesk.quotas import period_key, resets_at, status_from

NOW = datetime(2026, 12, 31, 23, 59, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 32
GIF = b"GIF89a" + b"\x00" * 32


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "hello")
    return buffer.getvalue()


def test_periods_and_resets():
    assert period_key("month", NOW) == "2026-12"
    assert period_key("year", NOW) == "2026"
    assert period_key("lifetime", NOW) == "lifetime"
    assert resets_at("month", NOW) == datetime(2027, 1, 1, tzinfo=UTC)
    assert resets_at("month", datetime(2026, 11, 20, tzinfo=UTC)) == datetime(2026, 12, 1, tzinfo=UTC)
    assert resets_at("year", NOW) == datetime(2027, 1, 1, tzinfo=UTC)
    assert resets_at("lifetime", NOW) is None


def test_status_from_counts_and_price():
    department = {"id": 1, "free_tickets": 3, "quota_period": "month", "ticket_price": 1500, "currency": "usd"}
    left = status_from(department, 2, NOW)
    assert (left.remaining, left.next_ticket_paid, left.price) == (1, False, None)
    spent = status_from(department, 3, NOW)
    assert spent.remaining == 0 and spent.next_ticket_paid and spent.price.as_dict() == {
        "amount": 1500, "currency": "usd",
    }
    assert spent.price.label() == "15.00 USD"
    free = status_from({**department, "free_tickets": None}, 10, NOW)
    assert free.always_free and not free.next_ticket_paid and free.remaining is None


def test_allowed_files_pass_with_their_real_type():
    checked = check_files([
        Upload("a.png", PNG), Upload("b.JPG", JPEG), Upload("c.jpeg", JPEG), Upload("d.gif", GIF),
        Upload("e.zip", _zip()),
    ])
    assert [f.content_type for f in checked] == [
        "image/png", "image/jpeg", "image/jpeg", "image/gif", "application/zip",
    ]


@pytest.mark.parametrize(
    ("upload", "error"),
    [
        (Upload("a.png", GIF), AttachmentRejected),
        (Upload("a.gif", PNG), AttachmentRejected),
        (Upload("setup.zip", b"MZ\x90\x00" + b"\x00" * 64), AttachmentRejected),
        (Upload("setup.exe", b"MZ\x90\x00"), AttachmentRejected),
        (Upload("noext", PNG), AttachmentRejected),
        (Upload("empty.png", b""), AttachmentRejected),
        (Upload("big.png", PNG + b"\x00" * MAX_BYTES), PayloadTooLarge),
    ],
)
def test_bad_files_are_refused_naming_the_field(upload, error):
    with pytest.raises(error) as caught:
        check_files([upload])
    assert "attachments" in caught.value.errors


def test_six_files_are_too_many_and_five_are_fine():
    assert len(check_files([Upload(f"{i}.png", PNG) for i in range(5)])) == 5
    with pytest.raises(AttachmentRejected):
        check_files([Upload(f"{i}.png", PNG) for i in range(6)])


def test_file_exactly_5_mb_is_accepted():
    data = PNG + b"\x00" * (MAX_BYTES - len(PNG))
    assert len(check_files([Upload("edge.png", data)])) == 1


def test_filenames_lose_paths_and_control_characters():
    assert clean_filename("C:\\Users\\me\\shot.png") == "shot.png"
    assert clean_filename("../../etc/passwd.png") == "passwd.png"
    assert clean_filename('a\x00b"\n.png') == "ab.png"
    assert len(clean_filename("x" * 300 + ".png")) <= 255 and clean_filename("x" * 300 + ".png").endswith(".png")
    assert clean_filename("") == "file"
