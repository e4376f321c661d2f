"""The bot's inline buttons and what they carry back (aiogram CallbackData, ≤ 64 bytes)."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from billdesk.telegram.speech import _


class Step(CallbackData, prefix="step"):
    """complete, cancel, skip, confirm (the price), list (the tickets)."""

    action: str


class DepartmentChoice(CallbackData, prefix="department"):
    id: int


class ServiceChoice(CallbackData, prefix="service"):
    id: int


class TicketAction(CallbackData, prefix="ticket"):
    """open (show it) or reply (start a reply)."""

    action: str
    id: int


def button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def link_button(text: str, url: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, url=url)


def rows(*buttons: InlineKeyboardButton | None) -> InlineKeyboardMarkup | None:
    """One button per row, leaving out the Nones (no keyboard when none is left)."""
    kept = [[b] for b in buttons if b is not None]
    return InlineKeyboardMarkup(inline_keyboard=kept) if kept else None


# The buttons every conversation has, labelled in its language when they are sent.
def cancel_button() -> InlineKeyboardButton:
    return button(_("Cancel"), Step(action="cancel"))


def skip_button() -> InlineKeyboardButton:
    return button(_("Skip"), Step(action="skip"))


def all_tickets_button() -> InlineKeyboardButton:
    return button(_("All my tickets"), Step(action="list"))


def cancel_only() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[cancel_button()]])


def complete_or_cancel() -> InlineKeyboardMarkup:
    complete = button(_("Complete"), Step(action="complete"))
    return InlineKeyboardMarkup(inline_keyboard=[[complete, cancel_button()]])
