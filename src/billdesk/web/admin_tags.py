"""Admin: the tags staff put on tickets, with their colours (page and API)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.params import FromPath, JSONBody
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from billdesk import tags
from billdesk.auth import requires_admin
from billdesk.errors import DeskError
from billdesk.i18n import tr
from billdesk.web import flashes
from billdesk.web.layout import render


class TagIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    colour: str = tags.DEFAULT_COLOUR


class TagChanges(msgspec.Struct, forbid_unknown_fields=True):
    name: str | msgspec.UnsetType = msgspec.UNSET
    colour: str | msgspec.UnsetType = msgspec.UNSET


class AdminTagsApiController(Controller):
    path = "/api/v1/admin/tags"
    tags = ["admin"]
    guards = [requires_admin]

    @get("/")
    async def list_tags(self) -> dict[str, Any]:
        """Every tag `{id, name, colour}`, by name."""
        return {"items": [tags.tag_out(row) for row in await tags.list_tags()], "next_cursor": None}

    @post("/", status_code=HTTP_201_CREATED)
    async def create_tag(self, data: JSONBody[TagIn]) -> dict[str, Any]:
        """Add a tag: a new name (whatever its case), a colour of the palette (`#rrggbb`)."""
        return tags.tag_out(await tags.create_tag(name=data.name, colour=data.colour))

    @patch("/{tag_id:int}")
    async def change_tag(self, tag_id: FromPath[int], data: JSONBody[TagChanges]) -> dict[str, Any]:
        """Rename or recolour a tag."""
        changes = {
            name: getattr(data, name)
            for name in data.__struct_fields__
            if getattr(data, name) is not msgspec.UNSET
        }
        return tags.tag_out(await tags.update_tag(tag_id, changes))

    @delete("/{tag_id:int}", status_code=HTTP_204_NO_CONTENT)
    async def delete_tag(self, tag_id: FromPath[int]) -> None:
        """Delete a tag: it comes off every ticket; their histories keep what happened."""
        await tags.delete_tag(tag_id)


def _typed(form: Any) -> dict[str, str]:
    return {"name": str(form.get("name", "")), "colour": str(form.get("colour", ""))}


class AdminTagsController(Controller):
    path = "/admin/tags"
    tags = ["admin"]
    include_in_schema = False
    guards = [requires_admin]

    @get("/")
    async def tags_page(self, request: Request) -> Template:
        return await self._list(request)

    async def _list(
        self,
        request: Request,
        *,
        typed: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None,
        editing: int | None = None,
        status_code: int = 200,
    ) -> Template:
        return await render(
            request,
            "admin/tags.html",
            {
                "tags": await tags.list_tags(),
                "colour_options": list(tags.PALETTE.items()),
                "typed": typed or {"colour": tags.DEFAULT_COLOUR},
                "errors": errors or {},
                "editing": editing,
            },
            active="admin_tags",
            status_code=status_code,
        )

    @post("/")
    async def create_tag(self, request: Request) -> Template | Redirect:
        typed = _typed(await request.form())
        try:
            row = await tags.create_tag(**typed)
        except DeskError as exc:
            return await self._list(request, typed=typed, errors=exc.errors, status_code=exc.status)
        return flashes.saved(
            request, "/admin/tags", tr("Tag “%(name)s” added.", name=row["name"])
        )

    @post("/{tag_id:int}")
    async def update_tag(self, request: Request, tag_id: FromPath[int]) -> Template | Redirect:
        """Rename and recolour, from the tag's row of the list."""
        typed = _typed(await request.form())
        try:
            row = await tags.update_tag(tag_id, typed)
        except DeskError as exc:
            if exc.status == 404:
                raise
            return await self._list(
                request, typed=typed, errors=exc.errors, editing=tag_id, status_code=exc.status
            )
        return flashes.saved(request, "/admin/tags", tr("Tag “%(name)s” saved.", name=row["name"]))

    @post("/{tag_id:int}/delete")
    async def delete_tag(self, request: Request, tag_id: FromPath[int]) -> Redirect:
        row = await tags.get_tag(tag_id)
        await tags.delete_tag(tag_id)
        return flashes.saved(
            request, "/admin/tags", tr("Tag “%(name)s” deleted.", name=row["name"])
        )
