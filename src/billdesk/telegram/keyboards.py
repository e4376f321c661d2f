"""The bot's inline buttons and what they carry back (aiogram CallbackData, ≤ 64 bytes)."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup


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


CANCEL = button("Cancel", Step(action="cancel"))
COMPLETE = button("Complete", Step(action="complete"))
SKIP = button("Skip", Step(action="skip"))
ALL_TICKETS = button("All my tickets", Step(action="list"))


def cancel_only() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[CANCEL]])


def complete_or_cancel() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[COMPLETE, CANCEL]])
