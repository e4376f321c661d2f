"""All of billdesk's tables.

Piccolo has no composite unique constraints, so where a pair must be unique
(a membership, a quota counter) the table carries a `key` column built from the
pair and made unique; the domain modules are the only writers of those keys.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from piccolo.columns import (
    JSON,
    BigInt,
    BigSerial,
    Boolean,
    ForeignKey,
    Integer,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from billdesk.db import DB


def utcnow() -> datetime:
    return datetime.now(UTC)


NEVER = datetime(9999, 12, 31, tzinfo=UTC)
"""A deadline that never comes: a ticket whose clock is not running."""


class User(Table, tablename="users", db=DB):
    class Role(str, enum.Enum):
        customer = "customer"
        staff = "staff"
        finance = "finance"
        admin = "admin"

    id: Serial
    email = Varchar(length=254, unique=True, index=True, help_text="Stored lower-case.")
    name = Varchar(length=200)
    role = Varchar(length=20, choices=Role, default=Role.customer, index=True)
    password_hash = Text(default="", help_text="argon2; empty means no password log-in.")
    active = Boolean(default=True)
    external_id = Varchar(
        length=100, null=True, default=None, unique=True,
        help_text="The customer's id in the billing system.",
    )
    stripe_customer_id = Varchar(length=100, null=True, default=None, index=True)
    language = Varchar(
        length=10, default="",
        help_text="The language chosen on the account page (en, ru); empty: the browser's.",
    )
    time_zone = Varchar(
        length=64, default="",
        help_text="IANA zone chosen on the account page (Europe/Berlin); empty: the browser's.",
    )
    created_at = Timestamptz(default=TimestamptzNow())
    totp_secret = Varchar(
        length=64, null=True, default=None,
        help_text="Base32 TOTP secret of the second factor; null: none (billdesk.two_factor).",
    )
    totp_enabled = Boolean(default=False, help_text="The secret was confirmed with a code.")
    totp_last_step = BigInt(
        null=True, default=None,
        help_text="The 30-second step of the last code accepted; a code of that step or "
        "before is refused, so a code works once.",
    )

    @classmethod
    def get_readable(cls):
        from piccolo.columns.readable import Readable

        return Readable(template="%s", columns=[cls.email])


class Session(Table, tablename="sessions", db=DB):
    id: Serial
    token_hash = Varchar(length=64, unique=True, index=True, help_text="sha256 of the cookie.")
    user = ForeignKey(User, index=True)
    created_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz(index=True, help_text="The absolute end of the session.")
    ip = Varchar(length=64, default="")
    user_agent = Varchar(length=300, default="")
    last_seen_at = Timestamptz(
        default=TimestamptzNow(), help_text="Moved at most once a minute; idle expiry counts from it."
    )
    stage = Varchar(
        length=10, default="",
        help_text="'' signed in; 'code': the password was right, the second factor is asked; "
        "'enrol': the role needs a second factor and may only set one up.",
    )


class ApiToken(Table, tablename="api_tokens", db=DB):
    id: Serial
    user = ForeignKey(User, index=True)
    name = Varchar(length=100, default="")
    token_hash = Varchar(length=64, unique=True, index=True, help_text="sha256 of the token.")
    prefix = Varchar(length=12, default="", help_text="The first characters, to recognise it.")
    created_at = Timestamptz(default=TimestamptzNow())
    last_used_at = Timestamptz(null=True, default=None, help_text="Moved at most once a minute.")
    revoked_at = Timestamptz(null=True, default=None)
    read_only = Boolean(default=False, help_text="GET and HEAD only; anything else is 403.")


class RecoveryCode(Table, tablename="recovery_codes", db=DB):
    """A single-use code that stands in for the second factor (ten are made at enrolment)."""

    id: Serial
    user = ForeignKey(User, index=True)
    code_hash = Varchar(length=64, unique=True, help_text="sha256 of the code, without dashes.")
    created_at = Timestamptz(default=TimestamptzNow())
    used_at = Timestamptz(null=True, default=None)


class AuditEntry(Table, tablename="audit_log", db=DB):
    """Who did what, when, from where, and what changed (billdesk.audit). Written in the
    transaction of the change; the app has no path that changes or deletes a row."""

    id: BigSerial
    created_at = Timestamptz(default=TimestamptzNow(), index=True)
    action = Varchar(length=60, index=True, help_text="e.g. 'login.failed', 'refund.created'.")
    money = Boolean(default=False, index=True, help_text="A money entry: finance sees it.")
    actor_id = Integer(
        null=True, default=None, index=True,
        help_text="The user who acted (no foreign key: entries outlive anything); null: billdesk.",
    )
    actor_email = Varchar(
        length=254, default="", help_text="As it was then; for a failed log-in, the email typed."
    )
    ip = Varchar(length=64, default="")
    user_agent = Varchar(length=300, default="")
    target_type = Varchar(length=30, default="", help_text="'user', 'department', 'charge'…")
    target_id = Integer(null=True, default=None, index=True)
    target = Varchar(length=300, default="", help_text="The target's name as it was then.")
    before = JSON(default="{}")
    after = JSON(default="{}")


class LoginThrottle(Table, tablename="login_throttles", db=DB):
    id: Serial
    key = Varchar(
        length=80, unique=True, index=True,
        help_text="'pair:', 'address:' or 'account:' and the sha256 of what is counted.",
    )
    attempts = Integer(
        default=0, help_text="Failed attempts in the window, and attempts being checked now."
    )
    window_started_at = Timestamptz(default=TimestamptzNow())


class Department(Table, tablename="departments", db=DB):
    class Period(str, enum.Enum):
        month = "month"
        year = "year"
        lifetime = "lifetime"

    id: Serial
    name = Varchar(length=100)
    slug = Varchar(length=60, unique=True, index=True)
    description = Text(default="")
    public = Boolean(default=True, help_text="Customers may open tickets here.", index=True)
    active = Boolean(default=True, index=True)
    free_tickets = Integer(
        null=True, default=None,
        help_text="Free tickets per period for each customer; null means always free.",
    )
    quota_period = Varchar(length=10, choices=Period, default=Period.month)
    ticket_price = Integer(default=0, help_text="Minor units, for each ticket beyond the quota.")
    currency = Varchar(length=3, default="usd", help_text="Lower-case ISO 4217.")
    created_at = Timestamptz(default=TimestamptzNow())
    assign_on_reply = Boolean(
        default=True,
        help_text="A staff reply to an unassigned ticket assigns it to the agent who replied.",
    )
    inbound_address = Varchar(
        length=254, null=True, default=None, index=True,
        help_text="Mail to this address opens tickets here (stored lower-case; one department "
        "each, checked by billdesk.departments).",
    )

    @classmethod
    def get_readable(cls):
        from piccolo.columns.readable import Readable

        return Readable(template="%s", columns=[cls.name])


class DepartmentMember(Table, tablename="department_members", db=DB):
    id: Serial
    key = Varchar(length=40, unique=True, help_text="'<department_id>:<user_id>'.")
    department = ForeignKey(Department, index=True)
    user = ForeignKey(User, index=True)


class Service(Table, tablename="services", db=DB):
    class Kind(str, enum.Enum):
        vps = "vps"
        domain = "domain"
        hosting = "hosting"
        dedicated = "dedicated"
        other = "other"

    class Status(str, enum.Enum):
        active = "active"
        suspended = "suspended"
        cancelled = "cancelled"

    id: Serial
    customer = ForeignKey(User, index=True)
    name = Varchar(length=200)
    kind = Varchar(length=20, choices=Kind, default=Kind.other)
    external_id = Varchar(length=100, null=True, default=None, unique=True)
    status = Varchar(length=20, choices=Status, default=Status.active)
    created_at = Timestamptz(default=TimestamptzNow())


class RequestKind(Table, tablename="request_kinds", db=DB):
    """A kind of service request customers may file in a department ("Unblock SMTP
    port 25"): a ticket a manager approves or rejects (billdesk.requests)."""

    id: Serial
    department = ForeignKey(Department, index=True)
    name = Varchar(length=120)
    description = Text(default="")
    requires_service = Boolean(
        default=False, help_text="The customer must choose one of their services."
    )
    active = Boolean(default=True, index=True)
    created_at = Timestamptz(default=TimestamptzNow())

    @classmethod
    def get_readable(cls):
        from piccolo.columns.readable import Readable

        return Readable(template="%s", columns=[cls.name])


class Ticket(Table, tablename="tickets", db=DB):
    class Type(str, enum.Enum):
        ticket = "ticket"
        request = "request"

    class RequestState(str, enum.Enum):
        pending = "pending"
        approved = "approved"
        rejected = "rejected"

    class Status(str, enum.Enum):
        awaiting_payment = "awaiting_payment"
        in_progress = "in_progress"
        waiting_for_reply = "waiting_for_reply"
        solved = "solved"

    class Priority(str, enum.Enum):
        low = "low"
        normal = "normal"
        high = "high"
        urgent = "urgent"

    id: Serial
    customer = ForeignKey(User, index=True)
    department = ForeignKey(Department, index=True)
    service = ForeignKey(Service, null=True, default=None, index=True)
    subject = Varchar(length=120, help_text="Derived from the first line of the first message.")
    status = Varchar(length=20, choices=Status, default=Status.in_progress, index=True)
    priority = Varchar(length=10, choices=Priority, default=Priority.normal, index=True)
    assignee = ForeignKey(User, null=True, default=None, index=True)
    archived = Boolean(default=False, index=True)
    removed_at = Timestamptz(null=True, default=None, index=True, help_text="In the trash.")
    created_at = Timestamptz(default=TimestamptzNow(), index=True)
    last_message_at = Timestamptz(
        default=TimestamptzNow(),
        help_text="Indexed with id, per list, by the composite indexes of the migrations.",
    )
    last_author_role = Varchar(length=20, default="customer", help_text="Who spoke last.")
    answers = Integer(default=0, help_text="Public messages after the opening one.")
    unread_by_customer = Boolean(default=False, help_text="A staff reply the customer has not seen.")
    unread_by_staff = Boolean(default=True, help_text="A customer message no staff has opened.")
    client_token = Varchar(
        length=100, null=True, default=None, unique=True,
        help_text="'<customer_id>:<form token>', so a repeated submit opens one ticket.",
    )
    price_unconfirmed = Boolean(
        default=False,
        help_text="Opened by mail beyond the quota: nothing is charged until the customer "
        "confirms the price on the web.",
    )
    priority_rank = Integer(
        default=1, index=True,
        help_text="The priority as a number (low 0 … urgent 3), for the queue's priority sort.",
    )
    # Service levels (billdesk.sla): the clock runs while the ticket waits for support.
    sla_paid = Boolean(default=False, help_text="Paid: the department's paid targets apply.")
    clock_started_at = Timestamptz(
        null=True, default=None, index=True,
        help_text="When the clock first ran: opening, or payment for a paid ticket.",
    )
    clock_running_since = Timestamptz(
        null=True, default=None, help_text="Null while the clock is paused or stopped."
    )
    clock_elapsed_seconds = Integer(
        default=0, help_text="Business seconds the clock ran before clock_running_since."
    )
    first_response_due_at = Timestamptz(null=True, default=None)
    first_response_at = Timestamptz(null=True, default=None, index=True)
    first_response_seconds = Integer(
        null=True, default=None, help_text="Business seconds from the clock's start to the answer."
    )
    first_response_met = Boolean(null=True, default=None, help_text="Null: no target applied.")
    next_response_due_at = Timestamptz(null=True, default=None)
    resolution_due_at = Timestamptz(
        null=True, default=None, help_text="While the clock runs; null while it is paused."
    )
    solved_at = Timestamptz(null=True, default=None, index=True)
    resolution_seconds = Integer(
        null=True, default=None, help_text="Business seconds the clock ran until solved."
    )
    resolution_met = Boolean(null=True, default=None, help_text="Null: no target applied.")
    due_at = Timestamptz(
        default=NEVER, index=True,
        help_text="The nearest running deadline; NEVER (9999-12-31) while none runs, so the "
        "queue's due-time sort is one index.",
    )
    due_kind = Varchar(length=20, default="", help_text="first_response, next_response, resolution.")
    risk_at = Timestamptz(
        null=True, default=None, index=True, help_text="When the nearest deadline becomes at risk."
    )
    risk_told = Boolean(default=False, help_text="Escalated as at risk for the current deadline.")
    breach_told = Boolean(default=False, help_text="Escalated as breached for the current deadline.")
    sla_told = Varchar(
        length=400, default="",
        help_text="Escalations already made, e.g. 'first_response:at_risk,resolution:breached'.",
    )
    reminded_at = Timestamptz(
        null=True, default=None, help_text="Inactivity reminder sent to the customer."
    )
    type = Varchar(length=10, choices=Type, default=Type.ticket, index=True)
    opened_by = ForeignKey(
        User, null=True, default=None,
        help_text="The staff member who opened it for the customer; null when the customer did.",
    )
    request_kind = ForeignKey(RequestKind, null=True, default=None, index=True)
    request_state = Varchar(
        length=10, choices=RequestState, null=True, default=None, index=True,
        help_text="Requests only: pending until staff approve or reject it.",
    )
    request_reason = Text(default="", help_text="Why it was approved or rejected, shown to the customer.")
    decided_by = ForeignKey(User, null=True, default=None)
    decided_at = Timestamptz(null=True, default=None)
    merged_into: ForeignKey[Ticket] = ForeignKey(
        "self", null=True, default=None, index=True, on_delete=OnDelete.set_null,
        help_text="Merged into this ticket (billdesk.tickets.merging): solved, its messages moved there.",
    )


class DepartmentOpenCount(Table, tablename="department_open_counts", db=DB):
    """Open tickets of a department, in a few slot rows kept by triggers (billdesk.open_counts).

    `department` is a plain integer, not a foreign key: the triggers write it
    while tickets are deleted, and a counter must never stop that.
    """

    id: Serial
    department = Integer(help_text="The department's id; (department, slot) is unique.")
    slot = Integer(help_text="The ticket id modulo billdesk.open_counts.SLOTS.")
    open_tickets = Integer(default=0)


class DepartmentQueueChange(Table, tablename="department_queue_changes", db=DB):
    """How many times a department's tickets changed, kept by triggers (billdesk.queue_changes).

    The desk's live queue polls the sum over a department's rows: it only grows, so
    a page that saw another sum knows its rows are stale. `department` is a plain
    integer for the same reason as in `department_open_counts`.
    """

    id: Serial
    department = Integer(help_text="The department's id; (department, slot) is unique.")
    slot = Integer(help_text="Spreads concurrent writers over rows (billdesk.queue_changes.SLOTS).")
    changes = BigInt(default=0)


class Message(Table, tablename="messages", db=DB):
    class Channel(str, enum.Enum):
        web = "web"
        api = "api"
        mail = "mail"
        telegram = "telegram"

    id: Serial
    ticket = ForeignKey(Ticket, index=True)
    author = ForeignKey(User, index=True)
    body = Text()
    internal = Boolean(default=False, help_text="A staff-only note.")
    opening = Boolean(default=False, help_text="The ticket's first message; cannot be deleted.")
    channel = Varchar(
        length=20, choices=Channel, default=Channel.web,
        help_text="How the message reached billdesk; staff replies go back the same way.",
    )
    deleted = Boolean(default=False)
    deleted_at = Timestamptz(null=True, default=None)
    deleted_by = ForeignKey(User, null=True, default=None, help_text="Who deleted it.")
    created_at = Timestamptz(default=TimestamptzNow(), index=True)


class Attachment(Table, tablename="attachments", db=DB):
    id: Serial
    ticket = ForeignKey(Ticket, index=True)
    message = ForeignKey(Message, index=True)
    filename = Varchar(length=255)
    content_type = Varchar(length=100)
    size = Integer()
    storage_name = Varchar(length=100, unique=True, help_text="Random name under the upload dir.")
    created_at = Timestamptz(default=TimestamptzNow())


class TicketSearch(Table, tablename="ticket_search", db=DB):
    """Each ticket's searchable text, rewritten by every write path that changes it
    (billdesk.search). PostgreSQL adds a weighted `document` tsvector with a GIN index;
    SQLite an FTS5 table kept in step by triggers (the migration creates both)."""

    id: Serial
    ticket = ForeignKey(Ticket, unique=True, index=True)
    customer = ForeignKey(User, index=True)
    public_text = Text(
        default="",
        help_text="Subject, public messages, their attachment names, customer and service.",
    )
    internal_text = Text(default="", help_text="Internal notes and their attachment names.")


class TicketViewer(Table, tablename="ticket_viewers", db=DB):
    """Who has a ticket open at the desk: each open page says so every few seconds."""

    id: Serial
    key = Varchar(length=40, unique=True, help_text="'<ticket_id>:<user_id>'.")
    ticket = ForeignKey(Ticket, index=True)
    user = ForeignKey(User, index=True)
    seen_at = Timestamptz(default=TimestamptzNow(), index=True)
    typing = Boolean(default=False, help_text="Writing a reply at the last heartbeat.")


class QuotaCounter(Table, tablename="quota_counters", db=DB):
    id: Serial
    key = Varchar(length=80, unique=True, help_text="'<customer_id>:<department_id>:<period>'.")
    customer = ForeignKey(User, index=True)
    department = ForeignKey(Department, index=True)
    period = Varchar(length=10, help_text="'2026-11', '2026' or 'lifetime'.")
    used = Integer(default=0)


class Charge(Table, tablename="charges", db=DB):
    class Status(str, enum.Enum):
        pending = "pending"
        requires_payment = "requires_payment"
        succeeded = "succeeded"
        failed = "failed"
        canceled = "canceled"
        refunded = "refunded"
        partially_refunded = "partially_refunded"

    id: Serial
    ticket = ForeignKey(Ticket, unique=True, index=True)
    customer = ForeignKey(User, index=True)
    department = ForeignKey(Department, index=True)
    amount = Integer()
    currency = Varchar(length=3)
    status = Varchar(length=20, choices=Status, default=Status.pending, index=True)
    refunded_amount = Integer(default=0)
    idempotency_key = Varchar(length=80, unique=True)
    attempt = Integer(default=1, help_text="Saved-card attempts; part of the idempotency key.")
    stripe_payment_intent_id = Varchar(length=100, null=True, default=None, index=True)
    stripe_checkout_session_id = Varchar(length=200, null=True, default=None, index=True)
    failure_reason = Text(default="")
    created_at = Timestamptz(
        default=TimestamptzNow(),
        help_text="Indexed with id, per list, by the composite indexes of the migrations.",
    )
    updated_at = Timestamptz(default=TimestamptzNow())
    paid_at = Timestamptz(null=True, default=None, index=True, help_text="Reports read paid revenue by it.")
    in_flight_until = Timestamptz(
        null=True, default=None,
        help_text="While in the future, one billdesk process is talking to Stripe about this "
        "charge (an attempt or a cancellation) and nobody else may start another.",
    )
    in_flight_token = Varchar(
        length=40, null=True, default=None, help_text="Who holds the in-flight lease."
    )
    surplus_payments = Integer(
        default=0,
        help_text="Payments that arrived although the charge was already paid or cancelled; "
        "each is refunded automatically.",
    )
    card_brand = Varchar(
        length=20, null=True, default=None,
        help_text="The card that paid (Stripe's brand, e.g. visa), read from the paying charge.",
    )
    card_last4 = Varchar(length=4, null=True, default=None)
    receipt_url = Text(null=True, default=None, help_text="Stripe's receipt page, when it has one.")


class ChargeMonthTotal(Table, tablename="charge_month_totals", db=DB):
    """Money taken and refunded per month, department, currency and status, kept by triggers
    on charges (billdesk.payments.month_totals); the finance totals add these rows up.

    `department` is a plain integer, not a foreign key: the triggers write it while
    charges are deleted, and a total must never stop that.
    """

    id: Serial
    month = Varchar(length=7, help_text="The charges' month in UTC, YYYY-MM.")
    department = Integer(help_text="The department's id; (month, department, currency, status) is unique.")
    currency = Varchar(length=3)
    status = Varchar(length=20)
    charged = BigInt(default=0, help_text="The sum of the charges' amounts, in minor units.")
    refunded = BigInt(default=0, help_text="The sum of what was refunded of them.")
    charges = BigInt(default=0, help_text="How many charges.")


class PaymentAttempt(Table, tablename="payment_attempts", db=DB):
    """One way billdesk asked Stripe for a charge's money: a PaymentIntent on the saved card
    or a Checkout Session. The charge points at its current attempt by number."""

    class Method(str, enum.Enum):
        saved_card = "saved_card"
        checkout = "checkout"

    class Status(str, enum.Enum):
        started = "started"
        unknown = "unknown"
        declined = "declined"
        open = "open"
        succeeded = "succeeded"
        canceled = "canceled"

    id: Serial
    charge = ForeignKey(Charge, index=True)
    number = Integer(help_text="1, 2, 3… within the charge.")
    method = Varchar(length=20, choices=Method, default=Method.saved_card)
    status = Varchar(length=20, choices=Status, default=Status.started, index=True)
    amount = Integer()
    currency = Varchar(length=3)
    idempotency_key = Varchar(length=80, unique=True)
    stripe_payment_intent_id = Varchar(length=100, null=True, default=None, index=True)
    stripe_checkout_session_id = Varchar(length=200, null=True, default=None, index=True)
    failure_reason = Text(default="")
    surplus = Boolean(
        default=False,
        help_text="Paid although the charge was already paid or cancelled: refunded automatically.",
    )
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class Refund(Table, tablename="refunds", db=DB):
    class Status(str, enum.Enum):
        pending = "pending"
        succeeded = "succeeded"
        failed = "failed"
        canceled = "canceled"

    id: Serial
    charge = ForeignKey(Charge, index=True)
    amount = Integer()
    reason = Text()
    created_by = ForeignKey(User, null=True, default=None)
    attempt = ForeignKey(
        PaymentAttempt, null=True, default=None, index=True,
        help_text="Set for the automatic refund of a surplus payment (that attempt's money).",
    )
    automatic = Boolean(default=False, help_text="Made by billdesk itself, not by a person.")
    idempotency_key = Varchar(length=80, unique=True)
    stripe_refund_id = Varchar(length=100, null=True, default=None, index=True)
    status = Varchar(length=20, choices=Status, default=Status.pending)
    created_at = Timestamptz(default=TimestamptzNow())


class TicketEvent(Table, tablename="ticket_events", db=DB):
    class Kind(str, enum.Enum):
        opened = "opened"
        status = "status"
        assignee = "assignee"
        department = "department"
        priority = "priority"
        charge = "charge"
        refund = "refund"
        removed = "removed"
        restored = "restored"
        archived = "archived"
        sla = "sla"
        automation = "automation"
        rating = "rating"
        message_deleted = "message_deleted"
        request = "request"
        tag_added = "tag_added"
        tag_removed = "tag_removed"
        merged_into = "merged_into"
        merged_from = "merged_from"

    id: Serial
    ticket = ForeignKey(Ticket, index=True)
    actor = ForeignKey(User, null=True, default=None, help_text="Null: the system or Stripe.")
    kind = Varchar(length=20, choices=Kind)
    old_value = Varchar(length=200, default="")
    new_value = Varchar(length=200, default="")
    params = JSON(
        default="{}",
        help_text="The line as a tr() text with its values (billdesk.tickets.history), to be "
        "read in the reader's language; old_value/new_value stay as the API shows them.",
    )
    created_at = Timestamptz(default=TimestamptzNow(), index=True)


class Tag(Table, tablename="tags", db=DB):
    """A label staff put on tickets (billdesk.tags); admins manage the list."""

    id: Serial
    name = Varchar(length=40)
    name_key = Varchar(
        length=40, unique=True, index=True,
        help_text="The name lower-cased: two tags never differ only in case.",
    )
    colour = Varchar(length=7, help_text="'#rrggbb', one of billdesk.tags.PALETTE.")
    created_at = Timestamptz(default=TimestamptzNow())


class TicketTag(Table, tablename="ticket_tags", db=DB):
    """A tag on a ticket. The pair is unique, and indexed (tag, ticket) for the queue's
    tag filter, by a unique index the migration creates."""

    id: Serial
    ticket = ForeignKey(Ticket, index=True)
    tag = ForeignKey(Tag)
    created_at = Timestamptz(default=TimestamptzNow())


class ReplyTemplate(Table, tablename="reply_templates", db=DB):
    class Scope(str, enum.Enum):
        global_ = "global"
        department = "department"
        personal = "personal"

    id: Serial
    title = Varchar(length=120)
    body = Text()
    scope = Varchar(length=20, choices=Scope, default=Scope.personal, index=True)
    department = ForeignKey(Department, null=True, default=None, index=True)
    owner = ForeignKey(User, null=True, default=None, index=True)
    created_at = Timestamptz(default=TimestamptzNow())


class Notification(Table, tablename="notifications", db=DB):
    class Kind(str, enum.Enum):
        reply_received = "reply_received"
        ticket_solved = "ticket_solved"
        payment_failed = "payment_failed"
        payment_succeeded = "payment_succeeded"
        refund_issued = "refund_issued"
        sla_at_risk = "sla_at_risk"
        sla_breached = "sla_breached"
        inactivity_reminder = "inactivity_reminder"
        rating_request = "rating_request"
        ticket_opened = "ticket_opened"
        request_decided = "request_decided"
        webhook_disabled = "webhook_disabled"

    id: Serial
    user = ForeignKey(User, index=True)
    kind = Varchar(length=30, choices=Kind)
    ticket = ForeignKey(Ticket, null=True, default=None)
    text = Varchar(length=300)
    message = JSON(
        default="{}",
        help_text="The text's message id and values, to be read in the reader's language.",
    )
    read = Boolean(default=False, index=True)
    created_at = Timestamptz(default=TimestamptzNow(), index=True)


class Setting(Table, tablename="settings", db=DB):
    id: Serial
    key = Varchar(length=60, unique=True)
    value = JSON(default="null")


class StripeEvent(Table, tablename="stripe_events", db=DB):
    id: Serial
    event_id = Varchar(length=100, unique=True, help_text="Handled once, by this id.")
    type = Varchar(length=100)
    received_at = Timestamptz(default=TimestamptzNow())


class LedgerCheck(Table, tablename="ledger_checks", db=DB):
    """One run of the ledger check: billdesk's charges and refunds compared with Stripe's."""

    id: Serial
    ran_at = Timestamptz(default=TimestamptzNow(), index=True)
    since = Timestamptz(help_text="PaymentIntents and refunds created from this time were compared.")
    intents_checked = Integer(default=0)
    refunds_checked = Integer(default=0)
    differences = JSON(default="[]", help_text="[{kind, charge_id, stripe_id, detail}]")
    error = Text(default="", help_text="Why the check could not finish, if it did not.")


class Job(Table, tablename="jobs", db=DB):
    """Work to do after a commit (billdesk.jobs). Columns that only matter in one
    status are null otherwise, so each index holds just the rows its query wants."""

    class Status(str, enum.Enum):
        pending = "pending"
        running = "running"
        succeeded = "succeeded"
        failed = "failed"

    id: BigSerial
    kind = Varchar(length=100, index=True, help_text="The handler's name, e.g. 'mail.send'.")
    payload = JSON(default="{}")
    status = Varchar(length=20, choices=Status, default=Status.pending, index=True)
    run_at = Timestamptz(
        null=True, default=None, index=True,
        help_text="When a pending job is due; null in every other status (the claim's index).",
    )
    attempts = Integer(default=0, help_text="Tries started; counted when a worker claims the job.")
    max_attempts = Integer(
        null=True, default=None, help_text="Null: the handler's limit, else the setting's."
    )
    key = Varchar(
        length=200, null=True, default=None, unique=True,
        help_text="Dedupe key, held while the job is pending or running.",
    )
    worker = Varchar(length=120, default="", help_text="The worker that claimed it last.")
    locked_until = Timestamptz(
        null=True, default=None, index=True,
        help_text="A running job's lease; past it, the job goes back to pending.",
    )
    last_error = Text(default="")
    created_at = Timestamptz(default=TimestamptzNow())
    started_at = Timestamptz(null=True, default=None)
    finished_at = Timestamptz(null=True, default=None, index=True)


class JobSchedule(Table, tablename="job_schedules", db=DB):
    """One row per periodic job: the worker that moves `next_run_at` on enqueues it."""

    id: Serial
    name = Varchar(length=100, unique=True)
    every_seconds = Integer()
    next_run_at = Timestamptz()
    last_run_at = Timestamptz(null=True, default=None)


class MailPreference(Table, tablename="mail_preferences", db=DB):
    """Which mails a person wants; a person without a row gets the defaults (all on)."""

    id: Serial
    user = ForeignKey(User, unique=True, index=True)
    staff_reply = Boolean(default=True, help_text="Customers: support answered.")
    ticket_solved = Boolean(default=True, help_text="Customers: support marked a ticket solved.")
    payment_failed = Boolean(default=True, help_text="Customers: a payment failed or needs action.")
    new_ticket = Boolean(default=True, help_text="Staff: a new ticket in one of their departments.")
    customer_reply = Boolean(default=True, help_text="Staff: the customer answered on their ticket.")
    paid_ticket = Boolean(default=True, help_text="Staff: a paid ticket joined their queue.")
    sla_escalation = Boolean(
        default=True, help_text="Staff: a ticket of theirs is at risk of or past its target."
    )
    inactivity_reminder = Boolean(
        default=True, help_text="Customers: a ticket waiting for them closes tomorrow."
    )
    rating_request = Boolean(default=True, help_text="Customers: rate a solved ticket.")


class OutgoingMail(Table, tablename="outgoing_mails", db=DB):
    """Every mail billdesk sends, written when it is decided and sent by a `mail.send` job."""

    class Status(str, enum.Enum):
        queued = "queued"
        sent = "sent"
        failed = "failed"
        unsent = "unsent"

    id: BigSerial
    kind = Varchar(length=40, index=True, help_text="Which template, e.g. 'staff_reply'.")
    to_address = Varchar(length=254, index=True)
    user = ForeignKey(User, null=True, default=None, index=True)
    ticket = ForeignKey(Ticket, null=True, default=None, index=True)
    subject = Varchar(length=300)
    message_id = Varchar(length=250, unique=True, help_text="Its Message-ID header, without <>.")
    params = JSON(default="{}", help_text="Ids the template reads when the mail is sent.")
    dedupe_key = Varchar(
        length=200, null=True, default=None, unique=True,
        help_text="One mail per (happening, kind, person), however often a happening is told.",
    )
    status = Varchar(length=20, choices=Status, default=Status.queued, index=True)
    tries = Integer(default=0)
    last_error = Text(default="")
    job_id = BigInt(null=True, default=None, help_text="The mail.send job.")
    created_at = Timestamptz(default=TimestamptzNow(), index=True)
    sent_at = Timestamptz(null=True, default=None)


class InboundMail(Table, tablename="inbound_mails", db=DB):
    """Every mail that reached billdesk, with what became of it and why."""

    class Outcome(str, enum.Enum):
        replied = "replied"
        opened = "opened"
        refused = "refused"
        ignored = "ignored"
        duplicate = "duplicate"

    id: BigSerial
    message_id = Varchar(length=250, index=True, help_text="Its Message-ID header, without <>.")
    dedupe_key = Varchar(
        length=250, null=True, default=None, unique=True,
        help_text="The Message-ID of the first delivery; null on repeated deliveries.",
    )
    sender = Varchar(length=254, index=True)
    recipient = Varchar(length=254, default="")
    subject = Varchar(length=300, default="")
    source = Varchar(length=10, default="pipe", help_text="'pipe' or 'imap'.")
    outcome = Varchar(length=20, choices=Outcome, index=True)
    reason = Text(default="")
    ticket = ForeignKey(Ticket, null=True, default=None, index=True)
    message = ForeignKey(Message, null=True, default=None)
    received_at = Timestamptz(default=TimestamptzNow(), index=True)


class MailReplyLimit(Table, tablename="mail_reply_limits", db=DB):
    """When billdesk last answered an address automatically, so it answers once a day."""

    id: Serial
    key = Varchar(length=300, unique=True, help_text="'<kind>:<address>'.")
    last_sent_at = Timestamptz()


class PasswordToken(Table, tablename="password_tokens", db=DB):
    """A link that lets a person set their password once, until it expires."""

    class Purpose(str, enum.Enum):
        reset = "reset"
        invite = "invite"

    id: Serial
    user = ForeignKey(User, index=True)
    purpose = Varchar(length=10, choices=Purpose, default=Purpose.reset)
    token_hash = Varchar(length=64, unique=True, help_text="sha256 of the link's secret.")
    created_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)


class TelegramLink(Table, tablename="telegram_links", db=DB):
    """A Telegram chat linked to the one customer it acts as (billdesk.telegram)."""

    id: Serial
    user = ForeignKey(User, unique=True, index=True, help_text="One chat per customer.")
    chat_id = BigInt(unique=True, index=True, help_text="The private chat with the bot.")
    username = Varchar(length=64, default="", help_text="The Telegram @username, if any.")
    linked_at = Timestamptz(default=TimestamptzNow())


class TelegramLinkToken(Table, tablename="telegram_link_tokens", db=DB):
    """A single-use deep link (`/start <token>`) that links a chat to its customer."""

    id: Serial
    token_hash = Varchar(length=64, unique=True, index=True, help_text="sha256 of the token.")
    user = ForeignKey(User, index=True)
    created_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz(index=True)
    used_at = Timestamptz(null=True, default=None)


class TelegramChat(Table, tablename="telegram_chats", db=DB):
    """A chat's conversation with the bot (the step it is at and what was typed so far),
    kept here so any app process can take the next update, even after a restart."""

    id: Serial
    key = Varchar(length=200, unique=True, help_text="'<bot>:<chat>:<user>' (aiogram's key).")
    chat_id = BigInt(index=True)
    state = Varchar(length=100, null=True, default=None, help_text="The step, e.g. NewTicket:message.")
    data = JSON(default="{}", help_text="What the conversation collected so far.")
    locked_until = Timestamptz(
        null=True, default=None, help_text="While in the future, one process is handling an update."
    )
    lock_token = Varchar(length=40, null=True, default=None)
    updated_at = Timestamptz(default=TimestamptzNow())


class TelegramUpdate(Table, tablename="telegram_updates", db=DB):
    """Updates already taken, so one delivered twice is handled once."""

    id: Serial
    key = Varchar(length=60, unique=True, help_text="'<bot id>:<update_id>'.")
    received_at = Timestamptz(default=TimestamptzNow(), index=True)


class TelegramDelivery(Table, tablename="telegram_deliveries", db=DB):
    """Each part of a notification sent to a chat, so a retried job never sends it twice."""

    id: Serial
    key = Varchar(length=200, unique=True, help_text="'<happening id>:text', 'charge:<id>:…'.")
    sent_at = Timestamptz(default=TimestamptzNow(), index=True)


class ServiceLevel(Table, tablename="service_levels", db=DB):
    """A department's business hours, targets, escalation rule and auto-close (billdesk.sla)."""

    class Rule(str, enum.Enum):
        none = ""
        raise_priority = "raise_priority"
        reassign = "reassign"

    class Stage(str, enum.Enum):
        at_risk = "at_risk"
        breached = "breached"

    id: Serial
    department = ForeignKey(Department, unique=True, index=True)
    hours = JSON(
        default="{}",
        help_text="{timezone, always, week: {mon: ['09:00-17:00'], …}, holidays: ['2026-12-25']}",
    )
    targets = JSON(
        default="{}",
        help_text="{priority: {first_response, next_response, resolution}} in business minutes.",
    )
    paid_targets = JSON(default="{}", help_text="The same for paid tickets; empty: as targets.")
    at_risk_percent = Integer(default=80, help_text="Share of a target after which it is at risk.")
    rule = Varchar(length=20, choices=Rule, default=Rule.none)
    rule_stage = Varchar(length=10, choices=Stage, default=Stage.breached)
    reassign_to = ForeignKey(User, null=True, default=None)
    auto_close_days = Integer(default=0, help_text="Days waiting for the customer; 0: never.")
    updated_at = Timestamptz(default=TimestamptzNow())


class TicketRating(Table, tablename="ticket_ratings", db=DB):
    """The customer's rating of a solved ticket: one per ticket, changeable for 7 days."""

    id: Serial
    ticket = ForeignKey(Ticket, unique=True, index=True)
    department = ForeignKey(Department, index=True)
    agent = ForeignKey(User, null=True, default=None, index=True, help_text="Assignee when rated.")
    score = Integer(help_text="1 to 5.")
    comment = Text(default="")
    created_at = Timestamptz(default=TimestamptzNow(), index=True)
    updated_at = Timestamptz(default=TimestamptzNow())
class LoginLink(Table, tablename="login_links", db=DB):
    """A single-use sign-in link the billing panel asked for (billdesk.login_links)."""

    id: Serial
    user = ForeignKey(User, index=True)
    token_hash = Varchar(length=64, unique=True, help_text="sha256 of the link's secret.")
    redirect = Varchar(length=500, default="/", help_text="A path on billdesk.")
    created_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz(index=True)
    used_at = Timestamptz(null=True, default=None)


class WebhookEndpoint(Table, tablename="webhook_endpoints", db=DB):
    """Where billdesk posts what happened (billdesk.webhooks), with the events it wants."""

    id: Serial
    url = Varchar(length=500)
    description = Varchar(length=300, default="")
    events = JSON(default="[]", help_text="The event types sent here.")
    secret = Varchar(length=80, help_text="Signs each delivery (HMAC-SHA256); shown once.")
    active = Boolean(default=True, index=True)
    allow_insecure = Boolean(
        default=False, help_text="An admin allowed plain http to a host other than loopback."
    )
    disabled_reason = Text(default="")
    failing_since = Timestamptz(
        null=True, default=None, help_text="The first failure since the last success."
    )
    created_at = Timestamptz(default=TimestamptzNow())


class WebhookDelivery(Table, tablename="webhook_deliveries", db=DB):
    """One event for one endpoint, with each try's outcome; a job sends it."""

    class Status(str, enum.Enum):
        pending = "pending"
        succeeded = "succeeded"
        failed = "failed"

    id: BigSerial
    endpoint = ForeignKey(WebhookEndpoint, index=True)
    key = Varchar(length=120, unique=True, help_text="'<endpoint id>:<event id>'.")
    event_id = Varchar(length=60, index=True, help_text="Stable across retries: receivers dedupe.")
    event_type = Varchar(length=40)
    body = Text(help_text="The JSON body, byte for byte the same on every try.")
    status = Varchar(length=20, choices=Status, default=Status.pending, index=True)
    tries = Integer(default=0)
    response_code = Integer(null=True, default=None)
    last_error = Text(default="")
    created_at = Timestamptz(default=TimestamptzNow(), index=True)
    last_try_at = Timestamptz(null=True, default=None)
    delivered_at = Timestamptz(null=True, default=None)
