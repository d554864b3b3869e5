"""The sidebar: a filter box over the list of conversations.

The one decision to know: the list is an ``OptionList`` (lines, not one
widget per conversation) filled a page at a time. The first page is read and
drawn at once; the next is asked for (``NeedMore``) only when the highlight
or the scroll position comes near the end of what is loaded, so 10,000
conversations draw as fast as 100. The filter matches titles and message text
(full text) as the user types; the app runs the reads in workers.
"""

from __future__ import annotations

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message as TextualMessage
from textual.timer import Timer
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from assistant.domain import Conversation
from assistant.textsafe import sanitize

PAGE = 100  # conversations per read
NEAR_END = 20  # rows from the end of the loaded ones that ask for the next page
FILTER_DELAY = 0.15  # seconds of quiet typing before the filter runs


class ConversationList(OptionList):
    """The conversations, most recently changed first. Enter (or a click)
    opens; Delete and r act on the highlighted one (the app asks before
    deleting); Esc goes back to the message box."""

    BINDINGS = [
        Binding("delete", "delete_highlighted", "Delete"),
        Binding("r", "rename_highlighted", "Rename"),
        Binding("escape", "leave", "Back", show=False),
    ]

    class Action(TextualMessage):
        """The user asked for ``action`` on conversation ``conversation_id``."""

        def __init__(self, action: str, conversation_id: int) -> None:
            super().__init__()
            self.action = action
            self.conversation_id = conversation_id

    class Opened(TextualMessage):
        """Enter or a click on a conversation."""

        def __init__(self, conversation: Conversation) -> None:
            super().__init__()
            self.conversation = conversation

    class NeedMore(TextualMessage):
        """The user came near the end of the loaded page: read the next one."""

        def __init__(self, after: Conversation) -> None:
            super().__init__()
            self.after = after

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.conversations: list[Conversation] = []
        self.has_more = False
        self._asked_more = False

    @property
    def highlighted_id(self) -> int | None:
        index = self.highlighted
        if index is None or not 0 <= index < len(self.conversations):
            return None
        return self.conversations[index].id

    @staticmethod
    def _option(conversation: Conversation) -> Option:
        return Option(Content(sanitize(" ".join(conversation.title.split()) or "Untitled")))

    def show(
        self, conversations: list[Conversation], current_id: int | None, has_more: bool = False
    ) -> None:
        """Replace the list (the first page, or a filter's results)."""
        self.conversations = list(conversations)
        self.has_more = has_more
        self._asked_more = False
        self.set_options(self._option(c) for c in self.conversations)
        self.select_id(current_id)

    def extend(self, conversations: list[Conversation], has_more: bool) -> None:
        """Add the next page below the loaded ones."""
        known = {c.id for c in self.conversations}
        fresh = [c for c in conversations if c.id not in known]
        self.conversations += fresh
        self.has_more = has_more and bool(fresh)
        self._asked_more = False
        self.add_options(self._option(c) for c in fresh)

    def select_id(self, conversation_id: int | None) -> None:
        for index, conversation in enumerate(self.conversations):
            if conversation.id == conversation_id:
                self.highlighted = index
                return
        self.highlighted = None

    def _maybe_more(self, row: int | None) -> None:
        if not self.has_more or self._asked_more or not self.conversations or row is None:
            return
        if row >= len(self.conversations) - NEAR_END:
            self._asked_more = True
            self.post_message(self.NeedMore(self.conversations[-1]))

    @on(OptionList.OptionHighlighted)
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self._maybe_more(event.option_index)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._maybe_more(int(new_value) + self.scrollable_content_region.height)

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if 0 <= event.option_index < len(self.conversations):
            self.post_message(self.Opened(self.conversations[event.option_index]))

    def on_focus(self) -> None:
        if self.highlighted is None and self.conversations:
            self.highlighted = 0

    def action_delete_highlighted(self) -> None:
        if self.highlighted_id is not None:
            self.post_message(self.Action("delete", self.highlighted_id))

    def action_rename_highlighted(self) -> None:
        if self.highlighted_id is not None:
            self.post_message(self.Action("rename", self.highlighted_id))

    def action_leave(self) -> None:
        self.post_message(Sidebar.Leave())


class FilterInput(Input):
    """Filter the conversations: Down or Enter moves into the list, Esc clears
    it and goes back to the message box."""

    BINDINGS = [
        Binding("down", "into_list", "List", show=False),
        Binding("escape", "clear_filter", "Clear", show=False),
    ]

    def action_into_list(self) -> None:
        self.post_message(Sidebar.IntoList())

    def action_clear_filter(self) -> None:
        """Esc: the filter is cleared and the keys go back to the message box."""
        self.value = ""
        self.post_message(Sidebar.Leave())


class Sidebar(Vertical):
    """Title, filter box and list; posts ``FilterChanged`` after typing stops."""

    class FilterChanged(TextualMessage):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class Leave(TextualMessage):
        """Esc in the sidebar: back to the message box."""

    class IntoList(TextualMessage):
        """Down or Enter in the filter box."""

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self._timer: Timer | None = None
        self.hidden_by_user: bool | None = None  # None: follow the width

    def compose(self) -> ComposeResult:
        yield Label("Conversations", id="sidebar-title")
        yield FilterInput(placeholder="Filter (Ctrl+F)", id="sidebar-filter")
        yield ConversationList(id="conversations")

    @property
    def filter_text(self) -> str:
        return self.query_one(FilterInput).value.strip()

    @on(Input.Changed, "#sidebar-filter")
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(FILTER_DELAY, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self.post_message(self.FilterChanged(self.filter_text))

    @on(Input.Submitted, "#sidebar-filter")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.IntoList())

    @on(IntoList)
    def _into_list(self, event: IntoList) -> None:
        event.stop()
        listing = self.query_one(ConversationList)
        listing.focus()
        if listing.conversations:
            listing.highlighted = listing.highlighted or 0

    def on_key(self, event: events.Key) -> None:
        # Up from the first row of the list goes back to the filter box
        listing = self.query_one(ConversationList)
        if event.key == "up" and listing.has_focus and listing.highlighted in (0, None):
            event.stop()
            self.query_one(FilterInput).focus()
