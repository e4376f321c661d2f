"""The session cookie look-up every page request makes (sessions.session_for): who it
finds, who it refuses, and when it moves `last_seen_at`."""

from __future__ import annotations

from datetime import timedelta

from billdesk import accounts, sessions
from billdesk.auth import CurrentUser
from billdesk.tables import Session, User
from tests.factories import make_user


async def _last_seen(session_id: int):
    row = await Session.select(Session.last_seen_at).where(Session.id == session_id).first()
    assert row is not None
    return row["last_seen_at"]


async def test_a_signed_in_session_gives_its_own_user_with_every_field(clock):
    person = await make_user(role="staff", name="Ada Staff")
    await accounts.set_language(user_id=person.id, language="ru")
    await accounts.set_time_zone(user_id=person.id, time_zone="Europe/Berlin")
    other = await make_user()
    token, _ = await sessions.start_session(user_id=person.id)
    await sessions.start_session(user_id=other.id)

    found = await sessions.session_for(token)

    assert found is not None
    assert found.stage == sessions.SIGNED_IN
    assert found.user == CurrentUser(
        id=person.id, email=person.email, name="Ada Staff", role="staff",
        language="ru", time_zone="Europe/Berlin",
    )
    row = await Session.select(Session.id).where(Session.token_hash == sessions.digest(token)).first()
    assert row is not None and found.id == row["id"]


async def test_a_user_without_choices_reads_empty_language_and_zone(clock):
    person = await make_user()
    token, _ = await sessions.start_session(user_id=person.id)
    found = await sessions.session_for(token)
    assert found is not None
    assert (found.user.language, found.user.time_zone) == ("", "")


async def test_unknown_overlong_and_empty_cookies_find_nothing(clock):
    person = await make_user()
    token, _ = await sessions.start_session(user_id=person.id)
    assert await sessions.session_for(token + "x") is None
    assert await sessions.session_for("x" * 101) is None
    assert await sessions.session_for("") is None


async def test_a_disabled_user_has_no_session(clock):
    person = await make_user()
    token, _ = await sessions.start_session(user_id=person.id)
    await User.update({User.active: False}).where(User.id == person.id)
    assert await sessions.session_for(token) is None


async def test_a_pending_session_keeps_its_stage_and_ends_with_its_short_life(clock):
    person = await make_user(role="admin")
    token, _ = await sessions.start_session(user_id=person.id, stage=sessions.CODE)
    found = await sessions.session_for(token)
    assert found is not None and found.stage == sessions.CODE and found.user.id == person.id
    clock.advance(sessions.PENDING_LIFETIME[sessions.CODE] + timedelta(seconds=1))
    assert await sessions.session_for(token) is None


async def test_last_seen_moves_once_a_minute_and_idle_sessions_end(clock):
    person = await make_user()
    token, _ = await sessions.start_session(user_id=person.id)
    found = await sessions.session_for(token)
    assert found is not None
    started = await _last_seen(found.id)

    clock.advance(sessions.TOUCH_EVERY - timedelta(seconds=1))
    assert await sessions.session_for(token) is not None
    assert await _last_seen(found.id) == started  # a busy page costs no write

    clock.advance(timedelta(seconds=1))
    assert await sessions.session_for(token) is not None
    assert await _last_seen(found.id) == clock.now()

    clock.advance(sessions.idle_limit())
    assert await sessions.session_for(token) is None
