"""The tables of moves of a charge and of its attempts."""

from __future__ import annotations

from billdesk.payments.states import (
    ATTEMPT_MOVES,
    CHARGE_MOVES,
    LIVE_ATTEMPTS,
    PAID,
    UNPAID,
    AttemptStatus,
    ChargeStatus,
    attempt_may_move,
    charge_may_move,
)


def test_every_status_has_its_row():
    assert set(CHARGE_MOVES) == set(ChargeStatus)
    assert set(ATTEMPT_MOVES) == set(AttemptStatus)


def test_a_cancelled_charge_never_moves_and_a_paid_one_never_goes_back_to_unpaid():
    assert CHARGE_MOVES[ChargeStatus.canceled] == frozenset()
    for paid in PAID:
        for unpaid in UNPAID:
            assert not charge_may_move(paid, ChargeStatus(unpaid))
        assert not charge_may_move(paid, ChargeStatus.canceled)


def test_money_stripe_reports_is_recordable_on_any_attempt_not_yet_succeeded():
    for status in AttemptStatus:
        if status != AttemptStatus.succeeded:
            assert attempt_may_move(status.value, AttemptStatus.succeeded), status
    assert ATTEMPT_MOVES[AttemptStatus.succeeded] == frozenset()


def test_only_attempts_that_might_take_money_count_as_live():
    assert set(LIVE_ATTEMPTS) == {"started", "unknown", "declined", "open"}


def test_a_payment_steps_update_names_only_the_tables_own_columns():
    import pytest

    from billdesk.payments.states import _update

    sql, names = _update("charges", ("status", "in_flight_token")).compiled("postgres")
    assert sql == 'UPDATE charges SET "status" = $1, "in_flight_token" = $2 WHERE id = $3'
    assert names == ("status", "in_flight_token", "id")
    with pytest.raises(ValueError, match="no column"):
        _update("charges", ("status", "status = 'succeeded' --"))
    with pytest.raises(KeyError):
        _update("users", ("role",))
