"""The model picker (Ctrl+L, or "Switch model" in the command palette).

It lists the models on this machine (bundled, downloaded, from the hub) with
their size, quant and whether they fit in free memory, and the models each
named engine serves (``assistant.chat.models``). The list is read in a
worker: the screen opens at once with "Reading the models…". The chosen
entry is returned; the chat controller loads it in the background.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from assistant.chat.models import PickerEntry
from assistant.domain import plural
from assistant.ui.widgets import plain

Gather = Callable[[], Awaitable["list[PickerEntry] | str"]]


class ModelPickerScreen(ModalScreen["PickerEntry | None"]):
    """Choose the model to chat with; returns the entry, or None (Esc)."""

    BINDINGS = [("escape", "close", "Close")]

    def __init__(self, gather: Gather) -> None:
        super().__init__()
        self.gather = gather
        self.entries: list[PickerEntry] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="models"):
            yield Label("Switch model", classes="dialog-title")
            yield Static("Reading the models…", id="models-about", markup=False)
            yield OptionList(id="models-list")
            yield Label("Enter loads the model; Esc closes.", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()
        self.read_entries()

    @work(exclusive=True, exit_on_error=False, group="model-picker")
    async def read_entries(self) -> None:
        result = await self.gather()
        about = self.query_one("#models-about", Static)
        if isinstance(result, str):
            about.update(plain(result))
            return
        self.entries = list(result)
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options(Option(plain(e.line), disabled=not e.choosable) for e in self.entries)
        if self.entries:
            options.highlighted = next((i for i, e in enumerate(self.entries) if e.current), 0)
            about.update(
                plain(
                    f"{plural(sum(e.offer is None for e in self.entries), 'model')} · size, "
                    "quant, parameters, context, fit"
                )
            )
        else:
            about.update(plain("No models yet: `assistant models pull OWNER/REPO` downloads one."))

    @on(OptionList.OptionSelected, "#models-list")
    def chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        entry = self.entries[event.option_index]
        if entry.choosable:
            self.dismiss(entry)

    def action_close(self) -> None:
        self.dismiss(None)
