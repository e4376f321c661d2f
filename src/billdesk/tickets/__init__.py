"""Tickets: their lifecycle, and one write path per action (DESIGN.md, "Ticket statuses").

- lifecycle: subjects, the table of allowed status moves, the history, shared helpers;
- opening: open a ticket (free quota, confirmed price, payments seam, double submits);
- actions: replies from both sides, close, archive, delete one's reply, mark read;
- merging: merge a duplicate into another ticket of the same customer;
- reading: the queries the client area and its API show.

Everything is importable from `billdesk.tickets` itself.
"""

from billdesk.tables import Ticket
from billdesk.tickets.actions import (
    archive_ticket,
    close_ticket,
    customer_ticket,
    delete_message_as_staff,
    delete_own_reply,
    mark_read_by_customer,
    mark_read_by_staff,
    reply_as_customer,
    reply_as_staff,
    staff_ticket,
)
from billdesk.tickets.lifecycle import (
    CUSTOMER_LABELS,
    MESSAGE_MAX,
    STAFF_LABELS,
    SUBJECT_MAX,
    TRANSITIONS,
    Action,
    Status,
    check_body,
    derive_subject,
    ensure_support_enabled,
    next_status,
    record_event,
    write_transaction,
)
from billdesk.tickets.merging import merge_ticket
from billdesk.tickets.opening import (
    Opened,
    check_service,
    confirm_ticket_price,
    open_ticket,
    open_ticket_for_customer,
    usable_department,
)
from billdesk.tickets.reading import (
    charges_by_ticket,
    check_status_filter,
    customer_departments,
    customer_jump_target,
    customer_services,
    customer_ticket_page,
    customer_tickets_query,
    search_customer_tickets,
    service_label,
    shown_status,
    thread,
    ticket_detail,
    ticket_payment,
)

__all__ = [
    "CUSTOMER_LABELS",
    "MESSAGE_MAX",
    "STAFF_LABELS",
    "SUBJECT_MAX",
    "TRANSITIONS",
    "Action",
    "Opened",
    "Status",
    "Ticket",
    "archive_ticket",
    "charges_by_ticket",
    "check_body",
    "check_service",
    "check_status_filter",
    "close_ticket",
    "confirm_ticket_price",
    "customer_departments",
    "customer_jump_target",
    "customer_services",
    "customer_ticket",
    "customer_ticket_page",
    "customer_tickets_query",
    "delete_message_as_staff",
    "delete_own_reply",
    "derive_subject",
    "ensure_support_enabled",
    "mark_read_by_customer",
    "mark_read_by_staff",
    "merge_ticket",
    "next_status",
    "open_ticket",
    "open_ticket_for_customer",
    "record_event",
    "reply_as_customer",
    "reply_as_staff",
    "search_customer_tickets",
    "service_label",
    "shown_status",
    "staff_ticket",
    "thread",
    "ticket_detail",
    "ticket_payment",
    "usable_department",
    "write_transaction",
]
