"""Admins set a department's service level through the API and the admin page; bad
values answer 422 naming the field, and nobody else may."""

from __future__ import annotations

from tests.factories import csrf_token, login, make_department, make_token, make_user


async def test_admin_sets_a_service_level_through_the_api(client):
    admin = await make_user(role="admin")
    headers = {"Authorization": f"Bearer {await make_token(admin)}"}
    department = await make_department()
    url = f"/api/v1/admin/departments/{department}/service-level"
    empty = (await client.get(url, headers=headers)).json()
    assert empty["hours"]["always"] is True and empty["targets"] == {}
    answer = await client.put(
        url,
        headers=headers,
        json={
            "hours": {
                "timezone": "Europe/Berlin",
                "always": False,
                "week": {"mon": ["09:00-17:00"]},
                "holidays": ["2026-12-25"],
            },
            "targets": {"high": {"first_response": 30, "resolution": 240}},
            "auto_close_days": 5,
        },
    )
    assert answer.status_code == 200, answer.text
    saved = answer.json()
    assert saved["hours"]["week"]["mon"] == ["09:00-17:00"]
    assert saved["targets"] == {
        "high": {"first_response": 30, "next_response": None, "resolution": 240}
    }
    assert saved["auto_close_days"] == 5 and saved["at_risk_percent"] == 80

    for body, field in [
        ({"hours": {"timezone": "Nowhere/Town"}}, "hours.timezone"),
        ({"hours": {"always": False, "week": {"tue": ["18:00-08:00"]}}}, "hours.week.tue"),
        ({"targets": {"high": {"resolution": 0}}}, "targets.high.resolution"),
        ({"targets": {"extreme": {"resolution": 5}}}, "targets.extreme"),
        ({"at_risk_percent": 100}, "at_risk_percent"),
        ({"auto_close_days": -1}, "auto_close_days"),
        ({"rule": "reassign", "reassign_to_id": admin.id}, "reassign_to_id"),
        ({"colour": "red"}, "colour"),
    ]:
        refused = await client.put(url, headers=headers, json=body)
        assert refused.status_code == 422, body
        assert refused.json()["errors"][0]["field"] == field
    assert (await client.get(url, headers=headers)).json() == saved  # nothing changed
    assert (
        await client.get("/api/v1/admin/departments/999999/service-level", headers=headers)
    ).status_code == 404

    staff = await make_user(role="staff")
    staff_headers = {"Authorization": f"Bearer {await make_token(staff)}"}
    assert (await client.get(url, headers=staff_headers)).status_code == 403


async def test_admin_page_keeps_what_was_typed_and_names_the_wrong_field(client):
    admin = await make_user(role="admin")
    await login(client, admin.email)
    department = await make_department()
    url = f"/admin/departments/{department}/service-level"
    page = await client.get(url)
    assert page.status_code == 200 and "Business hours" in page.text
    form = {
        "_csrf_token": csrf_token(page.text),
        "hours.timezone": "Europe/Berlin",
        "hours.week.mon": "09:00-12:00, 13:00-17:00",
        "hours.holidays": "2026-12-24",
        "targets.normal.first_response": "abc",
        "at_risk_percent": "75",
        "rule": "",
        "rule_stage": "breached",
        "auto_close_days": "3",
    }
    refused = await client.post(url, data=form)
    assert refused.status_code == 422
    assert "Write a whole number." in refused.text and "13:00-17:00" in refused.text
    form["targets.normal.first_response"] = "45"
    saved = await client.post(url, data=form, follow_redirects=True)
    assert saved.status_code == 200 and "Saved." in saved.text
    assert 'value="45"' in saved.text and "09:00-12:00, 13:00-17:00" in saved.text
