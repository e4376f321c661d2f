"""The parameter types handlers share: ids, integer filters, list pages and page numbers.

Each carries its bounds, so Litestar refuses a value outside them with a 422
naming the parameter (pages: a 400 page naming it), and the OpenAPI document
shows them. Struct fields of JSON bodies use `Id` and `Amount` the same way.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar.params import QueryParameter

from billdesk.validation import MAX_ID, MAX_INT
from billdesk.web.paging import MAX_CURSOR, MAX_LIMIT

MAX_PAGE = 100_000
"""Offset pages beyond this are refused: nobody reads page 100,001 of a list."""

IdQuery = Annotated[
    int | None,
    QueryParameter(ge=1, le=MAX_ID, required=False, description=f"An id (1 to {MAX_ID})."),
]
LimitQuery = Annotated[
    int | None,
    QueryParameter(
        ge=1, le=MAX_LIMIT, required=False,
        description=f"Items per page, 1 to {MAX_LIMIT} (default 50).",
    ),
]
CursorQuery = Annotated[
    str | None,
    QueryParameter(
        max_length=MAX_CURSOR, required=False,
        description="The `next_cursor` of the previous page.",
    ),
]
PageQuery = Annotated[
    int, QueryParameter(ge=1, le=MAX_PAGE, description=f"Page number, 1 to {MAX_PAGE}.")
]

Id = Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]
"""An id in a JSON body."""
Amount = Annotated[int, msgspec.Meta(ge=0, le=MAX_INT)]
"""A count or an amount of minor units in a JSON body."""
