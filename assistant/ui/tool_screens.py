"""The dialogs of tools: the approval question a reply puts to the user, and
the tools list of the command palette.

``ApprovalScreen`` returns an ``Approval`` (allow once, allow for this
conversation, deny); Esc denies, and the safe answer has the focus. What the
model asked for is untrusted: it is shown as plain text, cut to a screenful.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Label, Static

from assistant.chat.tooluse import Approval, ApprovalRequest
from assistant.chat.updates import ToolListing
from assistant.textsafe import sanitize
from assistant.ui.widgets import capped, plain


class ApprovalScreen(ModalScreen[Approval | None]):
    """May this call run? y: once, a: for this conversation, n or Esc: no;
    s stops the whole reply (None: the chat screen stops it, which denies)."""

    BINDINGS = [
        ("escape,n", "answer('deny')", "Deny"),
        ("y,o", "answer('once')", "Allow once"),
        ("a", "answer('conversation')", "Allow in this conversation"),
        ("s", "stop", "Stop the reply"),
    ]

    def __init__(self, request: ApprovalRequest) -> None:
        super().__init__()
        self.request = request

    def compose(self) -> ComposeResult:
        tool = self.request.tool
        where = "" if tool.source == "built-in" else f" ({tool.source})"
        what = "run this command" if tool.name == "run_command" else f"call {tool.name}{where}"
        with Vertical(id="dialog", classes="approval"):
            yield Label(plain(f"The model wants to {what}"), classes="dialog-title")
            with VerticalScroll(id="approval-call"):
                yield Static(plain(capped(self.request.shown, 2000, 12)))
            yield Label(
                "Allow it once, for every call of it in this conversation, or deny it "
                "(Esc denies and the reply goes on; s stops the reply).",
                classes="dialog-hint",
            )
            with Horizontal(classes="buttons"):
                yield Button("Once (y)", variant="warning", id="once")
                if not tool.always_asks:  # (remember: every call is asked)
                    yield Button("This conversation (a)", id="conversation")
                yield Button("Deny (n)", variant="primary", id="deny")

    def on_mount(self) -> None:
        self.query_one("#deny", Button).focus()

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(Approval(event.button.id or "deny"))

    def action_answer(self, answer: str) -> None:
        if answer == Approval.CONVERSATION and self.request.tool.always_asks:
            return  # not offered for this tool
        self.dismiss(Approval(answer))

    def action_stop(self) -> None:
        self.dismiss(None)


class ToolsScreen(ModalScreen[None]):
    """Every tool, where it comes from and whether it asks first; the tool
    sources that failed (an MCP server that did not start), one sentence each."""

    BINDINGS = [("escape,q", "close", "Close")]

    def __init__(self, listing: ToolListing) -> None:
        super().__init__()
        self.listing = listing

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="tools"):
            yield Label("Tools", classes="dialog-title")
            table: DataTable[Text] = DataTable(cursor_type="row", zebra_stripes=True)
            table.add_columns("Tool", "From", "Runs", "What it does")
            for tool in self.listing.tools:
                runs = "asks first" if tool.asks_first else "freely"
                cells = (tool.name, tool.source, runs, tool.description)
                table.add_row(*(Text(sanitize(c)) for c in cells))
            yield table
            for problem in self.listing.problems:
                yield Static(plain(problem), classes="tools-problem")
            yield Label(
                "F10 (or /tools on|off) lets this conversation's replies call them. Esc closes.",
                classes="dialog-hint",
            )

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()

    def action_close(self) -> None:
        self.dismiss(None)
