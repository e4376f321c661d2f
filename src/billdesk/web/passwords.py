"""Forgot password, the reset and invitation links, and the password change on the account page."""

from __future__ import annotations

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from billdesk import auth, passwords
from billdesk.auth import CurrentUser, requires_login
from billdesk.errors import DeskError, ValidationFailed
from billdesk.web.layout import render

SENT = (
    "If an account uses this address, a link to choose a new password is on its way. "
    "It works once, within an hour. No mail? Look in the spam folder, or ask again."
)


class PasswordController(Controller):
    tags = ["pages"]
    include_in_schema = False

    @get("/password/forgot")
    async def forgot_page(self, request: Request) -> Template:
        return await render(request, "auth/forgot.html", {"email": "", "errors": {}, "sent": False})

    @post("/password/forgot")
    async def forgot(self, request: Request) -> Template:
        """The same answer whether or not the address has an account."""
        form = await request.form()
        email = str(form.get("email", "")).strip()[:300]
        try:
            await passwords.request_reset(email)
        except ValidationFailed as exc:
            return await render(
                request,
                "auth/forgot.html",
                {"email": email, "errors": exc.errors, "sent": False},
                status_code=exc.status,
            )
        return await render(
            request, "auth/forgot.html", {"email": "", "errors": {}, "sent": True, "message": SENT}
        )

    @get("/password/reset/{token:str}")
    async def reset_page(self, request: Request, token: FromPath[str]) -> Template:
        try:
            link = await passwords.link_for(token)
        except passwords.LinkNotValid as exc:
            return await render(
                request, "auth/reset.html", {"invalid": exc.detail, "token": ""}, status_code=404
            )
        return await render(
            request,
            "auth/reset.html",
            {
                "invalid": None,
                "token": token,
                "purpose": link["purpose"],
                "email": link["email"],
                "errors": {},
            },
        )

    @post("/password/reset/{token:str}")
    async def reset(self, request: Request, token: FromPath[str]) -> Template | Redirect:
        """Set the new password, then log in with it."""
        form = await request.form()
        password = str(form.get("password", ""))
        repeat = str(form.get("password_repeat", ""))
        try:
            user = await passwords.set_password_with_link(token, password=password, repeat=repeat)
        except passwords.LinkNotValid as exc:
            return await render(
                request, "auth/reset.html", {"invalid": exc.detail, "token": ""}, status_code=404
            )
        except DeskError as exc:
            link = await passwords.link_for(token)
            return await render(
                request,
                "auth/reset.html",
                {
                    "invalid": None,
                    "token": token,
                    "purpose": link["purpose"],
                    "email": link["email"],
                    "errors": exc.errors,
                },
                status_code=exc.status,
            )
        # A reset link stands in for the password, never for the second factor.
        from billdesk.web.account import signed_in

        return await signed_in(request, user, via="password reset link")

    @post("/account/password", guards=[requires_login])
    async def change(self, request: Request) -> Template | Redirect:
        """Change one's password; other sessions end, this one stays."""
        from billdesk.web.account import account_page

        user: CurrentUser = request.scope["user"]
        form = await request.form()
        try:
            await passwords.change_password(
                user,
                current=str(form.get("current_password", "")),
                password=str(form.get("password", "")),
                repeat=str(form.get("password_repeat", "")),
                keep_session=request.cookies.get(auth.SESSION_COOKIE, ""),
            )
        except DeskError as exc:
            return await account_page(request, password_errors=exc.errors, status_code=exc.status)
        return await account_page(request, password_changed=True)
