"""billdesk.sql: SQL written once, compiled to each engine's placeholders."""

import pytest

from billdesk.sql import Statement


def test_named_parameters_become_each_engines_placeholders():
    statement = Statement(
        "SELECT id FROM tickets WHERE customer = :customer AND (assignee = :me OR opened_by = :me) "
        "AND created_at::date >= :since AND subject <> '10:30' LIMIT :limit"
    )

    sql, names = statement.compiled("postgres")
    assert sql == (
        "SELECT id FROM tickets WHERE customer = $1 AND (assignee = $2 OR opened_by = $2) "
        "AND created_at::date >= $3 AND subject <> '10:30' LIMIT $4"
    )
    assert names == ("customer", "me", "since", "limit")

    sql, names = statement.compiled("sqlite")
    assert sql.count("?") == 5 and "::date" in sql and "'10:30'" in sql
    assert names == ("customer", "me", "me", "since", "limit")


def test_a_postgres_text_is_used_on_postgres_only():
    statement = Statement(
        "SELECT id FROM tickets WHERE id IN (SELECT value FROM json_each(:ids))",
        postgres="SELECT id FROM tickets WHERE id = ANY(:ids::bigint[])",
    )
    assert statement.compiled("postgres")[0].endswith("ANY($1::bigint[])")
    assert "json_each(?)" in statement.compiled("sqlite")[0]


async def test_a_missing_parameter_is_named():
    with pytest.raises(TypeError, match="digest"):
        await Statement("SELECT 1 WHERE :digest = 'x'").rows()
