"""Admin of departments, their quotas, prices and members; the billing-system sync;
and the support on/off setting.

Checks run before anything is written, and each failure names its field, so a
refused change leaves the database as it was.
"""

from __future__ import annotations

import re
from typing import Any

from billdesk import audit, search
from billdesk.accounts import EMAIL, check_email, check_name
from billdesk.auth import Role
from billdesk.errors import NotFound, ValidationFailed
from billdesk.i18n import tr
from billdesk.queues import write_transaction
from billdesk.tables import Department, DepartmentMember, Service, Setting, User
from billdesk.validation import MAX_INT

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
PERIODS = tuple(period.value for period in Department.Period)
SERVICE_KINDS = tuple(kind.value for kind in Service.Kind)
SERVICE_STATUSES = tuple(status.value for status in Service.Status)
MAX_PRICE = 100_000_000

# ISO 4217 codes that Stripe charges in; lower-case, as Stripe and the API write them.
CURRENCIES = frozenset(
    """
    aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bhd bif bmd bnd bob brl bsd bwp byn
    bzd cad cdf chf clp cny cop crc cve czk djf dkk dop dzd egp etb eur fjd fkp gbp gel gip gmd
    gnf gtq gyd hkd hnl htg huf idr ils inr isk jmd jod jpy kes kgs khr kmf krw kwd kyd kzt lak
    lbp lkr lrd lsl mad mdl mga mkd mmk mnt mop mur mvr mwk mxn myr mzn nad ngn nio nok npr nzd
    omr pab pen pgk php pkr pln pyg qar ron rsd rub rwf sar sbd scr sek sgd shp sle sos srd std
    szl thb tjs tnd top try ttd twd tzs uah ugx usd uyu uzs vnd vuv wst xaf xcd xof xpf yer zar zmw
    """.split()
)

FIELDS = (
    "slug", "name", "description", "public", "active", "free_tickets", "quota_period",
    "ticket_price", "currency", "inbound_address", "assign_on_reply",
)
# A change of these is a money entry of the audit log: finance sees it.
MONEY_FIELDS = frozenset({"free_tickets", "quota_period", "ticket_price", "currency"})


def _check_department(values: dict[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    slug = values.get("slug")
    if not isinstance(slug, str) or not SLUG.match(slug) or len(slug) > 60:
        errors["slug"] = tr(
            "The slug is lower-case letters, digits and single hyphens, like 'vps-support'."
        )
    name = values.get("name")
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 100:
        errors["name"] = tr("Enter a name of 1 to 100 characters.")
    description = values.get("description", "")
    if not isinstance(description, str) or len(description) > 2000:
        errors["description"] = tr("Keep the description under 2,000 characters.")
    free = values.get("free_tickets")
    if free is not None and (
        not isinstance(free, int) or isinstance(free, bool) or not 0 <= free <= MAX_INT
    ):
        errors["free_tickets"] = tr(
            "Free tickets must be a whole number of 0 or more (empty: always free)."
        )
    if values.get("quota_period") not in PERIODS:
        errors["quota_period"] = tr("The quota period must be month, year or lifetime.")
    price = values.get("ticket_price")
    if (
        not isinstance(price, int) or isinstance(price, bool) or price < 0 or price > MAX_PRICE
    ):
        errors["ticket_price"] = tr("The price must be a whole number of minor units, 0 or more.")
    if values.get("currency") not in CURRENCIES:
        errors["currency"] = tr("The currency must be a lower-case ISO 4217 code, like usd or eur.")
    for flag in ("public", "active", "assign_on_reply"):
        if not isinstance(values.get(flag), bool):
            errors[flag] = tr("%(field)s must be true or false.", field=flag)
    address = values.get("inbound_address")
    if address is not None and (
        not isinstance(address, str) or len(address) > 254 or not EMAIL.match(address)
    ):
        errors["inbound_address"] = tr(
            "The inbound address is an email address like support@example.com, or empty."
        )
    return errors


def _clean_address(values: dict[str, Any]) -> None:
    """Mail to this address opens tickets here: stored lower-case, empty for none."""
    address = values.get("inbound_address")
    if isinstance(address, str):
        address = address.strip().lower()
        values["inbound_address"] = address or None


async def _address_taken(values: dict[str, Any], department_id: int | None) -> bool:
    if not values.get("inbound_address"):
        return False
    query = Department.exists().where(Department.inbound_address == values["inbound_address"])
    if department_id is not None:
        query = query.where(Department.id != department_id)
    return await query


def _raise(errors: dict[str, str]) -> None:
    if errors:
        raise ValidationFailed(next(iter(errors.values())), errors=errors)


async def list_departments() -> list[dict[str, Any]]:
    return await Department.select().order_by(Department.name)


async def get_department(department_id: int) -> dict[str, Any]:
    row = await Department.select().where(Department.id == department_id).first()
    if row is None:
        raise NotFound(tr("There is no such department."))
    return row


async def create_department(**fields: Any) -> int:
    """A new department; refuses a bad or taken slug, a negative quota or price,
    an unknown currency."""
    values: dict[str, Any] = {
        "description": "", "public": True, "active": True, "free_tickets": None,
        "quota_period": "month", "ticket_price": 0, "currency": "usd", "inbound_address": None,
        "assign_on_reply": True,
    }
    values.update({key: value for key, value in fields.items() if key in FIELDS})
    _clean_address(values)
    errors = _check_department(values)
    async with write_transaction():
        if "inbound_address" not in errors and await _address_taken(values, None):
            errors["inbound_address"] = tr("Another department has this inbound address already.")
        if "slug" not in errors and await Department.exists().where(
            Department.slug == values["slug"]
        ):
            errors["slug"] = tr("Another department has this slug already.")
        _raise(errors)
        values["name"] = values["name"].strip()
        rows = await Department.insert(Department(**values)).returning(Department.id)
        await audit.record(
            "department.created", target_type="department", target_id=rows[0]["id"],
            target=values["name"], after=values,
        )
    return rows[0]["id"]


async def update_department(department_id: int, changes: dict[str, Any]) -> None:
    """Change some fields of a department, with the checks of creation.

    Deactivating is `active: false`."""
    async with write_transaction():
        current = await get_department(department_id)
        values = {key: current[key] for key in FIELDS}
        values.update({key: value for key, value in changes.items() if key in FIELDS})
        _clean_address(values)
        errors = _check_department(values)
        if "inbound_address" not in errors and await _address_taken(values, department_id):
            errors["inbound_address"] = tr("Another department has this inbound address already.")
        if "slug" not in errors and await Department.exists().where(
            (Department.slug == values["slug"]) & (Department.id != department_id)
        ):
            errors["slug"] = tr("Another department has this slug already.")
        _raise(errors)
        values["name"] = values["name"].strip()
        await Department.update(
            {getattr(Department, key): value for key, value in values.items()}
        ).where(Department.id == department_id)
        before, after = audit.changes(current, values)
        if after:
            await audit.record(
                "department.updated", target_type="department", target_id=department_id,
                target=current["name"], before=before, after=after,
                money=bool(MONEY_FIELDS & after.keys()),
            )


# ----------------------------------------------------------------- membership


async def members(department_id: int) -> list[dict[str, Any]]:
    return await (
        DepartmentMember.select(
            DepartmentMember.user.id, DepartmentMember.user.name, DepartmentMember.user.email,
            DepartmentMember.user.role, DepartmentMember.user.active,
        )
        .where(DepartmentMember.department == department_id)
        .order_by(DepartmentMember.user.name)
    )


async def add_member(*, department_id: int, user_id: int) -> None:
    """Make a staff member or an admin a member of the department; adding twice is a no-op."""
    async with write_transaction():
        await get_department(department_id)
        user = await User.select(User.role, User.active).where(User.id == user_id).first()
        if user is None or user["role"] not in (Role.STAFF, Role.ADMIN):
            raise ValidationFailed.field(
                "user_id", tr("Only a staff member or an administrator can join a department.")
            )
        key = f"{department_id}:{user_id}"
        if not await DepartmentMember.exists().where(DepartmentMember.key == key):
            await DepartmentMember.insert(
                DepartmentMember(key=key, department=department_id, user=user_id)
            )
            await _record_membership("department.member_added", department_id, user_id)


async def remove_member(*, department_id: int, user_id: int) -> None:
    """Take a user out of the department; their tickets there are unassigned by hand, not here."""
    await get_department(department_id)
    async with write_transaction():
        rows = await DepartmentMember.delete().where(
            DepartmentMember.key == f"{department_id}:{user_id}"
        ).returning(DepartmentMember.id)
        if not rows:
            raise NotFound(tr("This user is not a member of the department."))
        await _record_membership("department.member_removed", department_id, user_id)


async def _record_membership(action: str, department_id: int, user_id: int) -> None:
    department = await get_department(department_id)
    user = await User.select(User.email).where(User.id == user_id).first()
    email = user["email"] if user else str(user_id)
    member = {"member": email}
    await audit.record(
        action, target_type="department", target_id=department_id, target=department["name"],
        before={} if action.endswith("added") else member,
        after=member if action.endswith("added") else {},
    )


# ------------------------------------------------------------ billing-system sync


async def upsert_customer(
    *, external_id: str, email: str, name: str, stripe_customer_id: str | None = None
) -> tuple[int, bool]:
    """Create or update the customer the billing system knows as `external_id`.

    Returns the user id and whether it was created. An email already used by
    another user is refused, naming `email`.
    """
    errors: dict[str, str] = {}
    if not external_id.strip() or len(external_id) > 100:
        errors["external_id"] = tr("The external id must have 1 to 100 characters.")
    try:
        email = check_email(email)
    except ValidationFailed as exc:
        errors.update(exc.errors)
    try:
        name = check_name(name)
    except ValidationFailed as exc:
        errors.update(exc.errors)
    if stripe_customer_id is not None and (
        not stripe_customer_id.startswith("cus_") or len(stripe_customer_id) > 100
    ):
        errors["stripe_customer_id"] = tr("A Stripe customer id starts with cus_.")
    _raise(errors)
    async with write_transaction():
        current = await User.select(User.id, User.role).where(
            User.external_id == external_id
        ).first()
        taken = await User.select(User.id).where(User.email == email).first()
        if taken is not None and (current is None or taken["id"] != current["id"]):
            raise ValidationFailed.field("email", tr("Another user has this email already."))
        if current is None:
            rows = await User.insert(
                User(
                    email=email, name=name, role=Role.CUSTOMER, external_id=external_id,
                    stripe_customer_id=stripe_customer_id,
                )
            ).returning(User.id)
            return rows[0]["id"], True
        if current["role"] != Role.CUSTOMER:
            raise ValidationFailed.field("external_id", tr("This external id is not a customer's."))
        changes: dict[Any, Any] = {User.email: email, User.name: name}
        if stripe_customer_id is not None:
            changes[User.stripe_customer_id] = stripe_customer_id
        await User.update(changes).where(User.id == current["id"])
        await search.reindex_customer(current["id"])
        return current["id"], False


async def upsert_service(
    *, external_id: str, customer_external_id: str, name: str, kind: str, status: str
) -> tuple[int, bool]:
    """Create or update the service the billing system knows as `external_id`.

    Returns the service id and whether it was created."""
    errors: dict[str, str] = {}
    if not external_id.strip() or len(external_id) > 100:
        errors["external_id"] = tr("The external id must have 1 to 100 characters.")
    name = " ".join(name.split())
    if not name or len(name) > 200:
        errors["name"] = tr("Enter a name of 1 to 200 characters.")
    if kind not in SERVICE_KINDS:
        errors["kind"] = tr("The kind must be one of: %(choices)s.", choices=", ".join(SERVICE_KINDS))
    if status not in SERVICE_STATUSES:
        errors["status"] = tr(
            "The status must be one of: %(choices)s.", choices=", ".join(SERVICE_STATUSES)
        )
    async with write_transaction():
        customer = await User.select(User.id).where(
            (User.external_id == customer_external_id) & (User.role == Role.CUSTOMER)
        ).first()
        if customer is None:
            errors["customer_external_id"] = tr("No customer has this external id; sync it first.")
        _raise(errors)
        current = await Service.select(Service.id).where(
            Service.external_id == external_id
        ).first()
        values: dict[Any, Any] = {
            Service.customer: customer["id"],  # type: ignore[index]
            Service.name: name, Service.kind: kind, Service.status: status,
        }
        if current is None:
            rows = await Service.insert(
                Service(
                    customer=customer["id"],  # type: ignore[index]
                    name=name, kind=kind, status=status, external_id=external_id,
                )
            ).returning(Service.id)
            return rows[0]["id"], True
        await Service.update(values).where(Service.id == current["id"])
        await search.reindex_service(current["id"])
        return current["id"], False


# ---------------------------------------------------------------------- settings

SUPPORT_ENABLED = "support_enabled"


async def set_support_enabled(enabled: bool) -> None:
    """Switch support on or off for customers; history and the desk stay as they are."""
    from billdesk.navigation import support_enabled

    async with write_transaction():
        before = await support_enabled()
        if await Setting.exists().where(Setting.key == SUPPORT_ENABLED):
            await Setting.update({Setting.value: enabled}).where(Setting.key == SUPPORT_ENABLED)
        else:
            await Setting.insert(Setting(key=SUPPORT_ENABLED, value=enabled))
        if before != enabled:
            await audit.record(
                "setting.changed", target_type="setting", target=SUPPORT_ENABLED,
                before={SUPPORT_ENABLED: before}, after={SUPPORT_ENABLED: enabled},
            )
