"""Which passwords may be set: 8 to 256 characters, not only blanks, not a common one."""

from __future__ import annotations

import pytest

from billdesk.accounts import check_password, common_passwords
from billdesk.errors import ValidationFailed


def test_the_shipped_list_has_thousands_of_common_passwords():
    assert len(common_passwords()) > 3000
    assert {"password", "123456789", "qwertyuiop", "iloveyou"} <= common_passwords()


@pytest.mark.parametrize(
    "password, says",
    [
        ("short", "at least 8"),
        ("x" * 257, "at most 256"),
        (" " * 12, "only blanks"),
        ("\t \n \t \n ", "only blanks"),
        ("password", "most common"),
        ("Password123", "most common"),
        ("  qwertyuiop ", "most common"),
        ("sunshine2024!", "most common"),
        ("aaaaaaaaaaaa", "most common"),
    ],
)
def test_refused_passwords_name_the_field(password, says):
    with pytest.raises(ValidationFailed) as refused:
        check_password(password)
    assert says in refused.value.errors["password"]


@pytest.mark.parametrize(
    "password", ["correct horse battery", "demo-password", "Tr0ub4dor&3x", "éèàçéèàç", "zy" * 128]
)
def test_accepted_passwords(password):
    assert check_password(password) == password
