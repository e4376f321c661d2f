"""The live OpenAPI document says what the API does: bodies, error answers, bounds; 405s say Allow."""

from __future__ import annotations

import pytest

from billdesk.validation import MAX_ID
from tests.factories import login, make_token, make_user

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture
async def document(client):
    answer = await client.get("/api/docs/openapi.json")
    assert answer.status_code == 200
    return answer.json()


def _operations(document):
    for path, item in document["paths"].items():
        if path.startswith("/api/v1"):
            for method in METHODS:
                if method in item:
                    yield method.upper(), path, item[method]


async def test_routes_that_read_a_body_document_it(document):
    paths = document["paths"]
    for path, method, multipart in (
        ("/api/v1/tickets", "post", True),
        ("/api/v1/tickets/{ticket_id}/messages", "post", True),
        ("/api/v1/desk/tickets/{ticket_id}/messages", "post", True),
        ("/api/v1/notifications/read", "post", False),
    ):
        content = paths[path][method]["requestBody"]["content"]
        assert "application/json" in content
        assert ("multipart/form-data" in content) is multipart
    opening = paths["/api/v1/tickets"]["post"]["requestBody"]["content"]["application/json"]
    assert set(opening["schema"]["required"]) == {"department_id", "message"}
    without_body = [
        f"{method} {path}" for method, path, operation in _operations(document)
        if method in ("PUT", "PATCH") and "requestBody" not in operation
    ]
    assert not without_body


async def test_every_operation_documents_its_problems(document):
    assert "Problem" in document["components"]["schemas"]
    for method, path, operation in _operations(document):
        responses = operation["responses"]
        expected = {"401", "422"} | ({"404"} if "{" in path else set())
        if method in ("POST", "PUT", "PATCH", "DELETE"):
            expected.add("413")
        assert expected <= set(responses), (method, path)
        assert "400" not in responses, (method, path)  # billdesk answers 422 instead
        for status, response in responses.items():
            if status.startswith("4"):
                assert list(response["content"]) == ["application/problem+json"], (path, status)
    opening = document["paths"]["/api/v1/tickets"]["post"]["responses"]
    assert {"200", "201", "402", "409", "503"} <= set(opening)
    # A report asked for a department that is not among the caller's answers 404.
    assert "404" in document["paths"]["/api/v1/reports/support"]["get"]["responses"]


async def test_limits_and_ids_carry_their_bounds(document):
    limits = 0
    for _, path, operation in _operations(document):
        for parameter in operation.get("parameters", []):
            schema = parameter["schema"]
            if parameter["name"] == "limit":
                limits += 1
                assert schema["type"] == "integer"
                assert (schema["minimum"], schema["maximum"]) == (1, 100), path
            if parameter["in"] == "path" and schema.get("type") == "integer":
                assert (schema["minimum"], schema["maximum"]) == (1, MAX_ID), path
    assert limits >= 4


async def test_method_not_allowed_says_what_is(client):
    user = await make_user()
    token = await make_token(user)
    api = await client.put("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 405
    assert set(api.headers["allow"].replace(" ", "").split(",")) >= {"GET"}
    assert api.json()["code"] == "method_not_allowed"
    await login(client, user.email)
    page = await client.put("/tickets")
    assert page.status_code == 405 and "GET" in page.headers["allow"]


async def test_every_endpoint_says_in_a_sentence_what_it_does(document):
    missing = [
        f"{method} {path}"
        for method, path, operation in _operations(document)
        if len((operation.get("description") or "").split()) < 3
    ]
    assert missing == []
    tickets = document["paths"]["/api/v1/tickets"]["post"]
    problem = document["components"]["schemas"]["Problem"]
    assert {"status", "title", "detail", "code"} <= set(problem["required"])
    assert "payment_confirmation_required" in tickets["responses"]["402"]["description"]


async def test_the_docs_page_loads_its_viewer_from_billdesk_not_a_cdn(client):
    page = await client.get("/api/docs")
    assert "cdn." not in page.text and "https://" not in page.text
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.headers["content-security-policy"]


async def test_the_billing_system_routes_are_documented(document):
    paths = document["paths"]
    for path, method in [
        ("/api/v1/admin/customers/{external_id}/login-link", "post"),
        ("/api/v1/admin/webhooks", "get"),
        ("/api/v1/admin/webhooks", "post"),
        ("/api/v1/admin/webhooks/{endpoint_id}", "patch"),
        ("/api/v1/admin/webhooks/{endpoint_id}", "delete"),
        ("/api/v1/admin/webhooks/{endpoint_id}/deliveries", "get"),
        ("/api/v1/admin/webhooks/{endpoint_id}/deliveries/{delivery_id}/resend", "post"),
        ("/api/v1/admin/departments/{department_id}/request-kinds", "post"),
        ("/api/v1/admin/requests", "post"),
        ("/api/v1/desk/tickets", "post"),
        ("/api/v1/desk/tickets/{ticket_id}/decision", "post"),
        ("/api/v1/desk/tickets/{ticket_id}/messages/{message_id}", "delete"),
    ]:
        assert method in paths[path], (method, path)
    opening = paths["/api/v1/tickets"]["post"]["requestBody"]["content"]["application/json"]
    assert "request_kind_id" in opening["schema"]["properties"]
    assert "409" in paths["/api/v1/desk/tickets/{ticket_id}/decision"]["post"]["responses"]
    queue = {p["name"] for p in paths["/api/v1/desk/tickets"]["get"]["parameters"]}
    assert {"type", "request_state"} <= queue
