"""Modal screens: help, delete confirmation, rename.

Each modal is typed by what it returns through ``dismiss()``; Esc always
closes it without doing anything.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, Static

from assistant.textsafe import sanitize
from assistant.ui.keys import KEY_TABLE
from assistant.ui.widgets import plain


class HelpScreen(ModalScreen[None]):
    """Every key of the app, from ``assistant.ui.keys.KEY_TABLE``."""

    BINDINGS = [("escape,f1,question_mark,q", "close", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="help"):
            yield Label("Keys", classes="dialog-title")
            table: DataTable[str] = DataTable(cursor_type="row", zebra_stripes=True)
            table.add_columns("Key", "What it does")
            for row in KEY_TABLE:
                where = "" if row.where == "anywhere" else f"  ({row.where})"
                table.add_row(row.keys, row.action + where)
            yield table
            yield Label("Esc closes this help.", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()

    def action_close(self) -> None:
        self.dismiss(None)


class ConfirmDeleteScreen(ModalScreen[bool]):
    """Asks before a conversation and all its messages are deleted."""

    BINDINGS = [("escape,n", "answer(False)", "Keep"), ("y", "answer(True)", "Delete")]

    def __init__(self, title: str) -> None:
        super().__init__()
        self.conversation_title = sanitize(title)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="confirm"):
            yield Label("Delete this conversation?", classes="dialog-title")
            yield Static(
                plain(f"“{self.conversation_title}” and all its messages are removed."),
                classes="dialog-text",
            )
            with Horizontal(classes="buttons"):
                yield Button("Delete", variant="error", id="yes")
                yield Button("Keep", variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class RenameScreen(ModalScreen[str | None]):
    """Asks for a new title; returns it, or None when cancelled."""

    BINDINGS = [("escape", "cancel", "Cancel")]

    def __init__(self, title: str) -> None:
        super().__init__()
        self.current_title = sanitize(title)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="rename"):
            yield Label("Rename the conversation", classes="dialog-title")
            yield Input(value=self.current_title, id="title")
            yield Label("Enter saves, Esc cancels.", classes="dialog-hint")

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        title = " ".join(event.value.split())
        self.dismiss(title or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
