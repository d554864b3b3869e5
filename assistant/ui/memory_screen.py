"""Memory in the app: the memory screen (F7, or "Memories" in the palette)
to read, edit and delete what is kept and to turn memory on or off, and the
question asked about each memory the model proposes after a reply.

Nothing here is kept without the user's yes: a proposal's dialog answers
``no`` on Esc, and an edit that cannot be kept (empty, too long) stays in
its box with the reason, so nothing typed is lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, Static

from assistant.chat.memory import MemoryService
from assistant.domain import Memory, MemoryProposal, MemorySource, ProposalKind, plural
from assistant.errors import AssistantError
from assistant.textsafe import one_line
from assistant.ui.screens import ConfirmScreen
from assistant.ui.widgets import plain

COLUMNS = ("", "#", "Memory", "From", "Last used")


def origin(memory: Memory) -> str:
    """Where a memory came from, in a few words."""
    if memory.source == MemorySource.PROPOSED:
        where = f"conversation {memory.conversation_id}" if memory.conversation_id else "a chat"
        return f"proposed in {where}"
    return "typed"


def row(memory: Memory, given: bool = False) -> tuple[str, ...]:
    used = memory.last_used_at.strftime("%Y-%m-%d %H:%M") if memory.last_used_at else "never"
    return ("→" if given else "", str(memory.id), one_line(memory.text), origin(memory), used)


class EditMemoryScreen(ModalScreen[str | None]):
    """The text of a memory to change; Enter keeps it, Esc leaves it as it was."""

    BINDINGS = [("escape", "cancel", "Cancel")]

    def __init__(self, memory_id: int, text: str, problem: str = "") -> None:
        super().__init__()
        self.memory_id = memory_id
        self.text = text
        self.problem = problem

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="ask"):
            yield Label(f"Edit memory {self.memory_id}", classes="dialog-title")
            yield Input(value=self.text, id="memory-text")
            hint = f"{self.problem} " if self.problem else ""
            yield Label(plain(f"{hint}Enter keeps it, Esc cancels."), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class MemoryScreen(ModalScreen[None]):
    """Every memory kept, in the order kept: e edits, Delete removes (asks
    first; the text leaves the database and its search index), o turns
    memory on or off everywhere (they stay stored), Esc closes. Those the
    selected reply was given are marked → and listed first, as the sources
    an answer came from are."""

    BINDINGS = [
        ("escape", "close", "Close"),
        ("e", "edit", "Edit"),
        ("delete,d", "delete", "Delete"),
        ("o", "switch", "On/off"),
    ]

    def __init__(
        self, memory: MemoryService, switch: Callable[[bool], Path], given: Sequence[str] = ()
    ) -> None:
        super().__init__()
        self.memory = memory
        self.switch = switch
        self.given = list(given)
        self.memories: list[Memory] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="memories"):
            yield Label("Memories", classes="dialog-title")
            yield Static("", id="memory-state", classes="dialog-text")
            table: DataTable[str] = DataTable(id="memory-table", cursor_type="row")
            table.add_columns(*COLUMNS)
            yield table
            yield Label(
                "e edit · Delete remove · o memory on/off · Esc close", classes="dialog-hint"
            )

    async def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        await self.reload()

    async def reload(self, keep: int | None = None) -> None:
        """Read the memories again (in a thread: it is the database)."""
        memories = await asyncio.to_thread(self.memory.list_memories)
        order = {uid: n for n, uid in enumerate(self.given)}
        memories.sort(key=lambda m: order.get(m.uid, len(order)))  # stable: the rest in order
        self.memories = memories
        table: DataTable[str] = self.query_one(DataTable)
        table.clear()
        for memory in self.memories:
            table.add_row(*row(memory, memory.uid in order), key=str(memory.id))
        state = "on" if self.memory.enabled else "off (they stay stored; o turns it on)"
        count = plural(len(self.memories), "memory", "memories")
        empty = "" if self.memories else " Add one with /remember TEXT in the chat."
        given = sum(m.uid in order for m in self.memories)
        if given:
            empty += f" → {plural(given, 'was', 'were')} given to the selected reply."
        self.query_one("#memory-state", Static).update(
            plain(f"Memory is {state}. {count} kept.{empty}")
        )
        if keep is not None:
            index = next((n for n, m in enumerate(self.memories) if m.id == keep), 0)
            table.move_cursor(row=index)

    def chosen(self) -> Memory | None:
        table: DataTable[str] = self.query_one(DataTable)
        if not self.memories or table.cursor_row < 0:
            return None
        return self.memories[min(table.cursor_row, len(self.memories) - 1)]

    def action_close(self) -> None:
        self.dismiss(None)

    def action_edit(self, text: str | None = None, problem: str = "") -> None:
        memory = self.chosen()
        if memory is None:
            return

        async def edited(new_text: str | None) -> None:
            if new_text is None or new_text == memory.text:
                return
            try:
                await asyncio.to_thread(self.memory.edit, memory.id, new_text)
            except AssistantError as exc:  # empty or too long: back in its box
                self.action_edit(new_text, str(exc))
                return
            await self.reload(keep=memory.id)
            self.notify(f"Memory {memory.id} changed.", title="Memory")

        self.app.push_screen(
            EditMemoryScreen(memory.id, memory.text if text is None else text, problem), edited
        )

    def action_delete(self) -> None:
        memory = self.chosen()
        if memory is None:
            return

        async def answered(yes: bool | None) -> None:
            if not yes:
                return
            await asyncio.to_thread(self.memory.remove, [memory.id])
            await self.reload()
            self.notify(f"Memory {memory.id} deleted.", title="Memory")

        self.app.push_screen(
            ConfirmScreen(f"Delete memory {memory.id}?", memory.text, yes="Delete"), answered
        )

    async def action_switch(self) -> None:
        on_now = not self.memory.enabled
        try:
            await asyncio.to_thread(self.switch, on_now)
        except AssistantError as exc:
            self.notify(str(exc), severity="error", title="Memory")
            return
        await self.reload()


class ProposalScreen(ModalScreen[str]):
    """One memory the model proposes: keep it or not; when it repeats or
    changes a kept one, replace that one, add it beside it, or not. Esc and
    n say no: nothing is kept unasked."""

    BINDINGS = [
        ("escape,n", "answer('no')", "No"),
        ("y", "answer('keep')", "Keep"),
        ("r", "answer('replace')", "Replace"),
        ("a", "answer('add')", "Add"),
    ]

    def __init__(self, proposal: MemoryProposal) -> None:
        super().__init__()
        self.proposal = proposal
        self.pairs = self.proposal.related is not None and self.proposal.kind != ProposalKind.NEW

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="confirm"):
            yield Label("A memory to keep?", classes="dialog-title")
            yield Static(plain(self.proposal.question()), classes="dialog-text")
            with Horizontal(classes="buttons"):
                if self.pairs:
                    yield Button("Replace it (r)", variant="warning", id="replace")
                    yield Button("Add as new (a)", id="add")
                else:
                    yield Button("Keep it (y)", variant="warning", id="keep")
                yield Button("No (n)", variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "no")

    def action_answer(self, answer: str) -> None:
        if self.pairs and answer == "keep":
            return  # y means nothing here: replace, add or no
        if not self.pairs and answer in ("replace", "add"):
            return
        self.dismiss(answer)
