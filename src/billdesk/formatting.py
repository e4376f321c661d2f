"""How numbers, counts, money and times read for a person: the one place to change them.

Pages, mails and messages format through these functions (templates through the
filters of the same names), so a later switch to locale-aware formatting is made
here alone.
"""

from __future__ import annotations


def count(number: int, noun: str, plural: str | None = None) -> str:
    """'1 ticket', '2 tickets', '0 tickets': the noun agrees with the number."""
    word = noun if number == 1 else (plural or noun + "s")
    return f"{number} {word}"
