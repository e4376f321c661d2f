"""Files attached to messages: checked by content, stored under random names, served with care.

A file is accepted only when its extension is allowed and its bytes agree with
it (magic bytes), so a renamed executable is refused whatever it is called.
Files live in settings.upload_dir under a random name, never under the name the
person gave, and are served as downloads only to people who may see the ticket.
"""

from __future__ import annotations

import io
import os
import re
import secrets
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import filetype

from billdesk.auth import CurrentUser
from billdesk.errors import AttachmentRejected, NotFound, PayloadTooLarge
from billdesk.i18n import tr
from billdesk.settings import get_settings
from billdesk.tables import Attachment, DepartmentMember

MAX_FILES = 5
MAX_BYTES = 5 * 1024 * 1024
FIELD = "attachments"

# extension -> the content type its bytes must have
ALLOWED = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "zip": "application/zip",
}


@dataclass(frozen=True)
class Upload:
    """A file as it came in, before any check."""

    filename: str
    data: bytes


@dataclass(frozen=True)
class CheckedFile:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Download:
    path: Path
    filename: str
    content_type: str


def clean_filename(name: str) -> str:
    """The last path part of the name, without control characters, at most 255 characters."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[\x00-\x1f\x7f\"]", "", name).strip()
    if len(name) > 255:
        stem, dot, ext = name.rpartition(".")
        name = stem[: 250 - len(ext)] + dot + ext if dot else name[:255]
    return name or "file"


def _content_type(extension: str, data: bytes) -> str | None:
    """The content type the bytes really have, when it is the one the extension promises."""
    expected = ALLOWED[extension]
    if expected == "application/zip":
        return expected if zipfile.is_zipfile(io.BytesIO(data)) else None
    kind = filetype.guess(data)
    return expected if kind is not None and kind.mime == expected else None


def as_upload(item: Any) -> Upload:
    """An Upload from itself or from an uploaded form file (anything with .filename and .file)."""
    if isinstance(item, Upload):
        return item
    handle = item.file
    handle.seek(0)
    return Upload(filename=item.filename or "", data=handle.read())


def check_files(uploads: Sequence[Any]) -> list[CheckedFile]:
    """The files if every one of them may be attached; else the first problem, naming the file.

    Accepts Upload objects or the form files of a request (a browser's empty
    file input, with no name and no bytes, is ignored).
    """
    given = [as_upload(item) for item in uploads]
    given = [upload for upload in given if upload.filename or upload.data]
    if len(given) > MAX_FILES:
        raise AttachmentRejected(
            tr(
                "At most %(max)s files can be attached to a message; %(sent)s were sent.",
                max=MAX_FILES,
                sent=len(given),
            ),
            errors={FIELD: tr("Attach at most %(max)s files.", max=MAX_FILES)},
        )
    checked = []
    for upload in given:
        filename = clean_filename(upload.filename)
        if len(upload.data) > MAX_BYTES:
            message = tr("%(file)s is larger than 5 MB.", file=filename)
            raise PayloadTooLarge(message, errors={FIELD: message})
        if not upload.data:
            message = tr("%(file)s is empty.", file=filename)
            raise AttachmentRejected(message, errors={FIELD: message})
        extension = filename.rpartition(".")[2].lower() if "." in filename else ""
        if extension not in ALLOWED:
            message = tr(
                "%(file)s: only .jpg, .png, .gif and .zip files can be attached.", file=filename
            )
            raise AttachmentRejected(message, errors={FIELD: message})
        content_type = _content_type(extension, upload.data)
        if content_type is None:
            message = tr(
                "%(file)s is not a real .%(extension)s file (its content does not match its name).",
                file=filename,
                extension=extension,
            )
            raise AttachmentRejected(message, errors={FIELD: message})
        checked.append(CheckedFile(filename=filename, content_type=content_type, data=upload.data))
    return checked


def _upload_dir() -> Path:
    directory = get_settings().upload_dir
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def write_files(files: list[CheckedFile]) -> list[str]:
    """Write the files under fresh random names; the storage names, in order."""
    names = []
    directory = _upload_dir()
    try:
        for file in files:
            name = secrets.token_hex(20)
            # O_EXCL: a random name that somehow exists is never overwritten.
            fd = os.open(directory / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(file.data)
            names.append(name)
    except OSError:
        discard_files(names)
        raise
    return names


def discard_files(storage_names: list[str]) -> None:
    """Remove written files whose database rows were never committed."""
    directory = get_settings().upload_dir
    for name in storage_names:
        try:
            (directory / name).unlink()
        except FileNotFoundError:
            pass


async def insert_rows(
    *, ticket_id: int, message_id: int, files: list[CheckedFile], storage_names: list[str]
) -> None:
    """The attachment rows of a message (inside the message's transaction)."""
    if not files:
        return
    await Attachment.insert(
        *[
            Attachment(
                ticket=ticket_id, message=message_id, filename=file.filename,
                content_type=file.content_type, size=len(file.data), storage_name=name,
            )
            for file, name in zip(files, storage_names, strict=True)
        ]
    )


async def staff_may_see_department(user: CurrentUser, department_id: int) -> bool:
    if user.is_admin:
        return True
    if not user.is_staff:
        return False
    return await DepartmentMember.exists().where(
        DepartmentMember.key == f"{department_id}:{user.id}"
    )


async def download_for(attachment_id: int, user: CurrentUser) -> Download:
    """The file to send, when `user` may see it; NotFound otherwise, as if it did not exist.

    Customers see the attachments of their own tickets' public, not deleted
    messages; staff those of the tickets the desk shows them, by the desk's own
    rule (`queues.visible_ticket`: not awaiting payment, in the trash only for
    admins), so a file is never served where its ticket answers 404.
    """
    from billdesk import queues  # the desk's rule; queues builds on this module

    row = await Attachment.select(
        Attachment.filename, Attachment.content_type, Attachment.storage_name,
        Attachment.ticket,
        Attachment.ticket.customer.as_alias("customer"),
        Attachment.ticket.removed_at.as_alias("removed_at"),
        Attachment.message.internal.as_alias("internal"),
        Attachment.message.deleted.as_alias("deleted"),
    ).where(Attachment.id == attachment_id).first()
    missing = NotFound(tr("There is no such attachment."))
    if row is None:
        raise missing
    if user.is_customer:
        if (
            row["customer"] != user.id or row["internal"] or row["deleted"]
            or row["removed_at"] is not None
        ):
            raise missing
    else:
        try:
            await queues.visible_ticket(user, row["ticket"], include_removed=True)
        except NotFound:
            raise missing from None
    path = get_settings().upload_dir / row["storage_name"]
    if not path.is_file():
        raise missing
    return Download(path=path, filename=row["filename"], content_type=row["content_type"])


async def attachments_by_message(message_ids: list[int]) -> dict[int, list[dict]]:
    """The attachments of these messages, grouped by message, in upload order."""
    if not message_ids:
        return {}
    rows = await Attachment.select(
        Attachment.id, Attachment.message, Attachment.filename, Attachment.content_type,
        Attachment.size,
    ).where(Attachment.message.is_in(message_ids)).order_by(Attachment.id)
    grouped: dict[int, list[dict]] = {}
    for row in rows:
        grouped.setdefault(row["message"], []).append(row)
    return grouped

