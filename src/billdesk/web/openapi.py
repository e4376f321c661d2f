"""The API documentation page: Swagger UI without inline script, so the
Content-Security-Policy can forbid inline scripts there too."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.openapi.plugins import SwaggerRenderPlugin


class SwaggerPage(SwaggerRenderPlugin):
    """Swagger UI with its start-up code in static/js, so no inline script is needed."""

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        title = openapi_schema["info"]["title"]
        return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title} API</title>
  <link href="{self.css_url}" rel="stylesheet">
</head>
<body>
  <div id="swagger-container" data-openapi-url="/api/docs/openapi.json"></div>
  <script src="{self.js_url}" crossorigin></script>
  <script src="{self.standalone_preset_js_url}" crossorigin></script>
  <script src="/static/js/api-docs.js"></script>
</body>
</html>""".encode()
