"""Schemathesis over the live OpenAPI document, as a customer, staff, finance and an admin.

Requests generated from the document, valid and invalid, are sent to billdesk
served by two worker processes; no answer may be a 5xx (but the documented 503
of a paid action while payments are not set up, as here, or of a Telegram link
without a bot), and every answer must
be one the document lists, with the content type, headers and body it describes.
The number of examples per operation is bounded so the whole run takes about
a minute (BILLDESK_SCHEMATHESIS_EXAMPLES raises it for a deeper run).
"""

from __future__ import annotations

import asyncio
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import (
    add_member,
    make_department,
    make_service,
    make_ticket,
    make_token,
    make_user,
)

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("BILLDESK_SCHEMATHESIS_EXAMPLES", "12"))
CONFORMANCE = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# The admin goes last: what it changes (users, departments) cannot hide routes from the others.
ROLES = ("customer", "staff", "finance", "admin")


async def _tokens() -> dict[str, str]:
    people = {role: await make_user(role=role) for role in ROLES}
    department = await make_department(free_tickets=None)
    await add_member(department_id=department, user_id=people["staff"].id)
    await make_service(customer_id=people["customer"].id)
    for _ in range(3):
        await make_ticket(people["customer"], department)
    return {role: await make_token(user) for role, user in people.items()}


def _not_set_up(response) -> bool:
    """The documented 503 of a paid action on a desk without Stripe, or of a Telegram link
    without a bot: not a server error."""
    return response.status_code == 503 and (
        "payments_unavailable" in response.text or "telegram_unavailable" in response.text
    )


def _exercise(operation, base_url: str, headers: dict[str, str]):
    """A Hypothesis test sending generated requests, valid and invalid, to one operation."""
    strategy = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(
        GenerationMode.NEGATIVE
    )

    @settings(
        max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
        phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def exercise(case) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        assert response.status_code < 500 or _not_set_up(response), (
            f"{response.status_code} for {case.as_curl_command(headers)}: {response.text[:300]}"
        )
        case.validate_response(response, checks=CONFORMANCE, headers=headers)

    return exercise


def _run(base_url: str, tokens: dict[str, str]) -> list[str]:
    schema = schemathesis.openapi.from_url(f"{base_url}/api/docs/openapi.json")
    failures: list[str] = []
    for role in ROLES:
        headers = {"Authorization": f"Bearer {tokens[role]}"}
        for result in schema.get_all_operations():
            operation = result.ok()
            try:
                _exercise(operation, base_url, headers)()
            except (Exception, BaseExceptionGroup) as failure:  # every broken operation, at once
                failures.append(f"{role} {operation.label}: {str(failure)[:1500]}")
    return failures


async def test_the_api_answers_as_its_document_says(live_server):
    tokens = await _tokens()
    failures = await asyncio.to_thread(_run, live_server, tokens)
    assert not failures, "\n\n".join(failures)
