"""The terminal app: three screens as modes over one runtime.

The App holds only what every screen shares: the runtime, the styles and
the global keys (help, quit, the writing and compose screens, the model
picker, the command palette). Each view is a mode with a screen stack of
its own, so switching keeps every screen as it was:

- ``chat``: ``ChatScreen``, which renders the headless ``ChatController``
  (``assistant.chat.controller``): the sidebar, the branch, the box;
- ``writing``: the writing screen (F4), actions on a text;
- ``compose``: the compose screen (Ctrl+T), new writing from a brief.

The first frame is drawn before anything slow happens: the chat screen's
controller reads the history once the screen is up, then the model loads
and the notes sync, each in a worker.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.command import CommandPalette
from textual.screen import ModalScreen, Screen

from assistant.ui.chat_screen import ChatScreen
from assistant.ui.model_picker import ModelPickerScreen
from assistant.ui.screens import HelpScreen
from assistant.ui.search import ConversationSearch

if TYPE_CHECKING:
    from assistant.runtime import Runtime

CHAT, WRITING, COMPOSE = "chat", "writing", "compose"


class AssistantApp(App[None]):
    """``AssistantApp(runtime, conversation_id=None)``; ``assistant`` runs it."""

    CSS_PATH = "assistant.tcss"
    TITLE = "assistant"
    COMMANDS = App.COMMANDS | {ConversationSearch}
    DEFAULT_MODE = CHAT
    BINDINGS = [
        Binding("f4", "open_writing", "Writing", show=False),
        Binding("ctrl+t", "open_compose", "Compose", show=False),
        Binding("ctrl+l", "pick_model", "Model", show=False),
        Binding("f7", "memories", "Memories", show=False, priority=True),  # over TextArea's F7
        Binding("f1", "help", "Keys"),
        Binding("question_mark", "help", "Keys", show=False),
        Binding("ctrl+q", "quit", "Quit"),  # the chat screen shows it first
    ]

    def __init__(
        self, runtime: Runtime, conversation_id: int | None = None, *, sync_notes: bool = True
    ) -> None:
        super().__init__()
        self.runtime = runtime
        # the database's integrity check runs once the history is on screen
        runtime.defer_database_check = True
        self.chat = ChatScreen(runtime, conversation_id, sync_notes=sync_notes)
        """The chat screen (the ``chat`` mode's)."""
        self.first_screen_at: float | None = None
        """Wall-clock time of the first frame (read by bench/startup.py)."""
        self.add_mode(CHAT, lambda: self.chat)
        self.add_mode(WRITING, self._make_writing_screen)
        self.add_mode(COMPOSE, self._make_compose_screen)
        # What is loaded by now (the modules, the runtime, the screen) lives
        # as long as the app: kept out of the collector's full passes, which
        # otherwise walk it all again (tens of ms) in the middle of a draw
        gc.freeze()

    def _make_writing_screen(self) -> Screen[Any]:
        from assistant.ui.writing_screen import WritingScreen

        return WritingScreen(lambda: self.runtime.chat)

    def _make_compose_screen(self) -> Screen[Any]:
        from assistant.ui.compose_screen import ComposeScreen

        return ComposeScreen(lambda: self.runtime.compose)

    def on_ready(self) -> None:
        self.first_screen_at = time.time()

    def on_unmount(self) -> None:
        # what was kept out of the collector's full passes (``__init__``,
        # the chat screen once its history is up) goes back to it: a process
        # that runs the app again (the tests) must not keep every run's heap
        gc.unfreeze()

    # ------------------------------------------------------------ modes
    def _switch(self, mode: str) -> None:
        """Show ``mode``, or back to the chat from it; not while a dialog is open."""
        if len(self.screen_stack) > 1 and not isinstance(self.screen, CommandPalette):
            return
        self.switch_mode(CHAT if self.current_mode == mode else mode)

    def action_open_writing(self) -> None:
        """The writing screen, and back (its text stays while the app runs)."""
        self._switch(WRITING)

    def action_open_compose(self) -> None:
        """The compose screen, and back (a piece being written goes on)."""
        self._switch(COMPOSE)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_pick_model(self) -> None:
        """The model picker; the chosen model loads in a worker."""
        controller = self.chat.controller
        if controller.streaming:
            self.notify("A reply is still being written; press Esc to stop it first.")
            return

        async def chosen(entry: Any) -> None:
            if entry is not None:
                await controller.pick_model(entry)

        self.push_screen(ModelPickerScreen(controller.model_entries), chosen)

    def action_memories(self) -> None:
        """The memory screen: read, edit, delete; memory on or off."""
        from assistant.ui.memory_screen import MemoryScreen

        if not isinstance(self.screen, ModalScreen):  # not over a dialog, nor itself
            given = self.chat.memories_given() if self.screen is self.chat else []
            self.push_screen(MemoryScreen(self.runtime.memory, self.runtime.set_memory, given))

    def action_search_conversations(self) -> None:
        self.push_screen(
            CommandPalette(providers=[ConversationSearch], placeholder="Search all conversations…")
        )

    async def action_quit(self) -> None:
        # a reply in progress ends as stopped, stored with its text, before the app goes
        await self.chat.controller.shutdown()
        self.exit()

    # ------------------------------------------------- command palette
    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if screen is not self.chat:
            yield SystemCommand("Show keys", "Every key of the app", self.action_help)
            yield SystemCommand("Back to the chat", "The conversations", self._back_to_chat)
            return
        chat = self.chat
        commands: list[tuple[str, str, Callable[[], Any]]] = [
            ("Search all conversations", "Messages of every branch, best first",
             self.action_search_conversations),
            ("New conversation", "Start an empty conversation", chat.action_new_conversation),
            ("Answer again", "A new reply beside the last one (kept)", chat.action_regenerate),
            ("Fork conversation", "Copy this branch into a new conversation", chat.action_fork),
            ("Export conversation", "Markdown or JSON, with sources", chat.action_export),
            ("Copy last reply", "Copy it to the clipboard", chat.action_copy_reply),
            ("Copy code block", "Copy a code block of the last reply", chat.action_copy_code),
            ("Rename conversation", "Give it a new title", chat.action_rename),
            ("Delete conversation", "Asks first", chat.action_delete),
            ("Filter conversations", "Titles and text, in the sidebar", chat.action_filter),
            ("Show or hide the sidebar", "Ctrl+B", chat.action_toggle_sidebar),
            ("Use my notes (toggle)", "Answer from your notes, or not", chat.action_toggle_notes),
            ("Use tools (toggle)", "Replies in this conversation may call tools, or not (F10)",
             chat.action_toggle_tools),
            ("Tools", "Every tool and where it comes from", chat.action_tools),
            ("Retrieval view", "Keyword rank, vector rank and score", chat.action_retrieval),
            ("Open source", "The selected source in $EDITOR", chat.action_open_source),
            ("Switch model", "Local models and the engines' models", self.action_pick_model),
            ("Memories", "What is kept about you: edit, delete, on/off (F7)", self.action_memories),
            ("Show keys", "Every key of the app", self.action_help),
            ("Writing", "Open the writing screen", self.action_open_writing),
            ("Compose", "Write a new piece from a brief (Ctrl+T)", self.action_open_compose),
        ]  # fmt: skip
        for title, help_text, callback in commands:
            yield SystemCommand(title, help_text, callback)

    def _back_to_chat(self) -> None:
        self.switch_mode(CHAT)
