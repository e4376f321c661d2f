"""Admin: the mail log (sent, with Retry; received, with why), and in the offline
demo the mails the local catcher kept, readable one by one."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from billdesk.auth import requires_admin
from billdesk.errors import DeskError
from billdesk.i18n import tr
from billdesk.mail import catcher, inbound, outgoing
from billdesk.settings import get_settings
from billdesk.tables import InboundMail, OutgoingMail
from billdesk.web import flashes
from billdesk.web.layout import render
from billdesk.web.paging import keyset_page

PER_PAGE = 50
STATUS_LABELS = {
    "queued": tr("Queued"),
    "sent": tr("Sent"),
    "failed": tr("Failed"),
    "unsent": tr("Unsent"),
}
OUTCOME_LABELS = {
    "replied": tr("Replied"),
    "opened": tr("Opened"),
    "refused": tr("Refused"),
    "ignored": tr("Ignored"),
    "duplicate": tr("Duplicate"),
}
STATUS_OPTIONS = [("", tr("Any status"))] + [
    (s.value, STATUS_LABELS.get(s.value, s.value.capitalize())) for s in OutgoingMail.Status
]
OUTCOME_OPTIONS = [("", tr("Any outcome"))] + [
    (o.value, OUTCOME_LABELS.get(o.value, o.value.capitalize())) for o in InboundMail.Outcome
]


def _url(raw: dict[str, str], **extra: str | None) -> str:
    query = {name: value for name, value in {**raw, **extra}.items() if value}
    return "/admin/mail" + ("?" + urlencode(query) if query else "")


class AdminMailController(Controller):
    path = "/admin/mail"
    tags = ["admin"]
    include_in_schema = False
    guards = [requires_admin]

    @get("/")
    async def mail_page(
        self,
        request: Request,
        status: FromQuery[str | None] = None,
        outcome: FromQuery[str | None] = None,
        cursor: FromQuery[str | None] = None,
        inbound_cursor: FromQuery[str | None] = None,
    ) -> Template:
        raw = {"status": (status or "").strip(), "outcome": (outcome or "").strip()}
        settings = get_settings()
        context: dict[str, Any] = {
            "raw": raw,
            "errors": {},
            "status_options": STATUS_OPTIONS,
            "status_labels": STATUS_LABELS,
            "outcome_labels": OUTCOME_LABELS,
            "outcome_options": OUTCOME_OPTIONS,
            "sent": [],
            "received": [],
            "sent_next": None,
            "received_next": None,
            "configured": bool(settings.smtp_url),
            "catcher": settings.mail_catcher_dir is not None,
            "caught": catcher.caught_mails(settings.mail_catcher_dir)
            if settings.mail_catcher_dir
            else [],
            "here": _url(raw, cursor=cursor, inbound_cursor=inbound_cursor),
        }
        status_code = 200
        try:
            sent, sent_next = await keyset_page(
                outgoing.mails_query(status=raw["status"] or None),
                sort=None,
                id_column=OutgoingMail.id,
                limit=PER_PAGE,
                cursor=cursor,
            )
            received, received_next = await keyset_page(
                inbound.inbound_query(outcome=raw["outcome"] or None),
                sort=None,
                id_column=InboundMail.id,
                limit=PER_PAGE,
                cursor=inbound_cursor,
            )
        except DeskError as exc:
            context["errors"], status_code = exc.errors, exc.status
        else:
            context.update(
                sent=sent,
                received=received,
                sent_next=_url(raw, cursor=sent_next) if sent_next else None,
                received_next=_url(raw, inbound_cursor=received_next) if received_next else None,
            )
        return await render(
            request, "admin/mail.html", context, active="admin_mail", status_code=status_code
        )

    @post("/{mail_id:int}/retry")
    async def retry(self, request: Request, mail_id: FromPath[int]) -> Redirect:
        await outgoing.retry_mail(mail_id)
        form = await request.form()
        back = str(form.get("back") or "")
        return flashes.saved(
            request,
            back if back.startswith("/admin/mail") and "//" not in back else "/admin/mail",
            tr("Mail #%(id)s will be sent again.", id=mail_id),
        )

    @get("/caught/{name:str}")
    async def caught(self, request: Request, name: FromPath[str]) -> Template:
        """One mail the demo's catcher kept: headers, text, and the HTML in a sandboxed frame."""
        directory = get_settings().mail_catcher_dir
        mail = catcher.caught_mail(directory, name) if directory else None
        if mail is None:
            raise NotFoundException(tr("There is no such caught mail."))
        return await render(request, "admin/caught_mail.html", {"mail": mail}, active="admin_mail")
