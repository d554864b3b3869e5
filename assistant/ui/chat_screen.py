"""The chat screen: a sidebar of conversations, the branch in front of the
user, the message box and the status line.

The screen shows and asks; it decides nothing. What the user does goes to
the headless ``ChatController`` (``assistant.chat.controller``), and what
it emits is drawn here (``show``): the history, the branch, pending
messages, the reply as it streams, edit mode, notices and the status line.
Its own work (reading a page of the list, asking a dialog, opening a source
in the editor) runs in ``@work`` workers; nothing that touches the database,
a file or the model runs on the event loop.

Focus always comes back to the message box after a conversation is opened
or a side panel (sidebar, filter, sources) is left, so the next keys are a
message, not commands.
"""

from __future__ import annotations

import gc
import re
import shutil
import subprocess
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Label, OptionList, TextArea

from assistant.chat.controller import ChatController
from assistant.chat.events import (
    ReplyDone,
    ReplyProgress,
    ReplyStarted,
    TextPiece,
    ToolCallDone,
    ToolCallsAsked,
    ToolCallStarted,
)
from assistant.chat.updates import (
    ApprovalAsked,
    BoxText,
    ChatNote,
    EditMode,
    HistoryRead,
    MarkersChanged,
    MemoriesProposed,
    Notice,
    Queued,
    Recall,
    ReplyClosed,
    ReplyOpened,
    ReplyUpdate,
    SidebarChanged,
    StatusChanged,
    ThreadShown,
    Unqueued,
    Update,
)
from assistant.domain import Citation, Conversation, MemoryProposal, Role
from assistant.ui.panels import KeysFooter, PromptInput, SlashOptions, SourcesPanel, StatusLine
from assistant.ui.screens import (
    ConfirmDeleteScreen,
    ConfirmScreen,
    ExportScreen,
    PassageScreen,
    RenameScreen,
    RetrievalScreen,
)
from assistant.ui.sidebar import ConversationList, Sidebar
from assistant.ui.widgets import (
    ChatView,
    MessageView,
    ToolCallView,
    ToolStepView,
    calls_only,
    code_blocks,
)

if TYPE_CHECKING:
    from assistant.runtime import Runtime

EDIT_NOTE = "Editing: Enter sends a new version (the old one stays), Esc cancels."
NARROW = 60  # below this width the sidebar hides itself (Ctrl+B shows it)
NOTES_POLL_SECONDS = 3.0  # how often to look for notes changed by another process
HISTORY_POLL_SECONDS = 2.0  # how often to look for conversations changed by another process
# An @path being typed at the end of the box: Tab completes it, never leaves the box.
DIALOG = "dialog"  # workers that wait for the user's answer to a dialog
MENTION_TAIL = re.compile(r'(?:^|\s)@("?)([^\s"]*)$')


def slug(title: str) -> str:
    words = re.findall(r"\w+", title.lower())
    return "-".join(words)[:48] or "conversation"


class ChatScreen(Screen[None]):
    """``ChatScreen(runtime, conversation_id=None, sync_notes=True)``."""

    AUTO_FOCUS = "#prompt"
    """The message box has the keys whenever the screen is shown (at start,
    and back from the writing or compose screen): what is typed is a message."""
    BINDINGS = [
        Binding("ctrl+q", "app.quit", "Quit"),
        # Esc stops a streaming reply; otherwise it goes back to the message
        # box (and leaves an edit)
        Binding("escape", "stop", "Stop"),
        Binding("escape", "leave", "Back", show=False),
        Binding("ctrl+n", "new_conversation", "New"),
        Binding("ctrl+r", "regenerate", "Answer again"),
        Binding("ctrl+o", "copy_reply", "Copy reply"),
        Binding("ctrl+g", "copy_code", "Copy code", show=False),
        Binding("f2", "rename", "Rename"),
        Binding("f8", "delete", "Delete"),
        Binding("f5", "toggle_notes", "Notes"),
        Binding("f10", "toggle_tools", "Tools"),
        # F6, F7 and Ctrl+E belong to the input (select line, select all, end)
        Binding("f3", "focus_sources", "Sources", show=False),
        Binding("f9", "retrieval", "Retrieval", show=False),
        Binding("ctrl+s", "export", "Export", show=False),
        Binding("ctrl+f", "filter", "Filter", show=False),
        Binding("ctrl+b", "toggle_sidebar", "Sidebar", show=False),
        Binding("ctrl+up", "pick_messages", "Messages", show=False),
        Binding("alt+left", "branch(-1)", "Prev version", show=False),
        Binding("alt+right", "branch(1)", "Next version", show=False),
    ]

    def __init__(
        self, runtime: Runtime, conversation_id: int | None = None, *, sync_notes: bool = True
    ) -> None:
        super().__init__()
        self.controller = ChatController(
            runtime,
            self.show,
            conversation_id=conversation_id,
            sync_notes=sync_notes,
            spawn=self._spawn,
        )
        self._downloading = False  # as the footer last showed it
        self.sidebar_ready_at: float | None = None
        """Wall-clock time the sidebar first showed conversations (bench/history.py)."""
        self._reply_view: MessageView | None = None
        self._request_view: MessageView | None = None
        self._pending: dict[int, MessageView] = {}
        self._selected_reply: MessageView | None = None
        self._code_presses = 0
        self._mention_base: str | None = None  # text before an @path being completed
        self._tab_waiting = False  # Tab pressed before the @path completions arrived
        self._tool_views: dict[str, ToolCallView] = {}  # the reply's calls, by call id
        self._after_tools = False  # the reply's next step opens a view of its own

    def _spawn(self, work: Coroutine[Any, Any, None], group: str) -> object:
        return self.run_worker(work, group=group, exit_on_error=False)

    # ------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            yield Sidebar(id="sidebar")
            with Vertical(id="chat"):
                yield ChatView(id="messages")
                yield SourcesPanel(id="sources")
                yield Label(EDIT_NOTE, id="prompt-mode")
                yield PromptInput(id="prompt")
                yield SlashOptions(id="slash")
        yield StatusLine(id="status")

    @property
    def prompt(self) -> PromptInput:
        return self.query_one(PromptInput)

    @property
    def chat_view(self) -> ChatView:
        return self.query_one(ChatView)

    @property
    def sidebar_box(self) -> Sidebar:
        return self.query_one(Sidebar)

    @property
    def sidebar(self) -> ConversationList:
        return self.query_one(ConversationList)

    @property
    def status(self) -> StatusLine:
        return self.query_one(StatusLine)

    @property
    def sources(self) -> SourcesPanel:
        return self.query_one(SourcesPanel)

    @property
    def slash_options(self) -> SlashOptions:
        return self.query_one(SlashOptions)

    @property
    def mode_label(self) -> Label:
        return self.query_one("#prompt-mode", Label)

    def on_mount(self) -> None:
        self.status.model_text = self.controller.status.model
        self.slash_options.display = False
        self.mode_label.display = False
        self.prompt.focus()
        self._fit_sidebar(self.app.size.width)
        # the first frame is drawn before the database is opened
        self.call_after_refresh(self.controller.start)

    def on_unmount(self) -> None:
        self.controller.close()

    def on_resize(self, event: events.Resize) -> None:
        self._fit_sidebar(event.size.width)

    def _fit_sidebar(self, width: int) -> None:
        box = self.sidebar_box
        if box.hidden_by_user is None:
            box.display = width >= NARROW

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.app.screen is not self and action != "app.quit":
            return False  # a dialog is on top: its keys, not these
        if action == "stop":
            return self.controller.streaming or self.controller.downloading
        if action == "focus_sources":
            return bool(self.sources.citations)
        if action == "regenerate" and self.controller.streaming:
            return None  # shown, greyed out
        return True

    # --------------------------------------------- what the controller says
    async def show(self, update: Update) -> None:
        """Draw one update of the controller."""
        if isinstance(update, ReplyUpdate):
            await self._reply_event(update)
        elif isinstance(update, StatusChanged):
            self._status(update)
        elif isinstance(update, ThreadShown):
            await self._thread_shown(update)
        elif isinstance(update, ReplyOpened):
            await self._reply_opened(update)
        elif isinstance(update, ReplyClosed):
            await self._reply_closed(update)
        elif isinstance(update, ApprovalAsked):
            # on the screen's own message loop (the question may come from
            # a task the reply's thread started, outside the app's context)
            self.call_later(self._ask_approval, update)
        elif isinstance(update, Queued):
            view = await self.chat_view.add(MessageView(Role.USER, update.text))
            view.set_pending(True)
            self._pending[update.key] = view
        elif isinstance(update, Unqueued):
            pending = self._pending.pop(update.key, None)
            if pending is not None:
                await pending.remove()
        elif isinstance(update, HistoryRead):
            self.sidebar.show(update.conversations, self.controller.conversation_id, update.more)
            self.sidebar_ready_at = time.time()
            # the key hints come after the first page: the footer's keys are
            # a widget each, styled one by one (a third of the first frame)
            if not self.query(KeysFooter):
                self.call_after_refresh(self.mount, KeysFooter())
            # the screen as it stays for the app's life, out of the collector's
            # full passes as the app was (AssistantApp); before any message
            # view is drawn, since those go when another branch is shown
            gc.freeze()
            self.set_interval(NOTES_POLL_SECONDS, self._poll_notes)
            self.set_interval(HISTORY_POLL_SECONDS, self._watch_history)
        elif isinstance(update, SidebarChanged):
            self.refresh_sidebar()
        elif isinstance(update, MarkersChanged):
            self.chat_view.update_markers(update.thread)
        elif isinstance(update, EditMode):
            self._edit_mode(update)
        elif isinstance(update, BoxText):
            draft = self.prompt.text
            self.prompt.load_text(f"{update.text}\n{draft}" if draft else update.text)
            self.prompt.move_cursor(self.prompt.document.end)
        elif isinstance(update, Recall):
            self.prompt.recall_list = list(update.messages)
            self.prompt.reset_recall()
        elif isinstance(update, Notice):
            self.notify(
                update.text,
                title=update.title,
                severity=update.severity,  # type: ignore[arg-type]
                timeout=update.timeout,
                markup=False,
            )
        elif isinstance(update, ChatNote):
            await self.chat_view.add_note(update.text)
        elif isinstance(update, MemoriesProposed):
            self._ask_about_memories(list(update.proposals), [])

    def _ask_about_memories(
        self, proposals: list[MemoryProposal], answers: list[tuple[MemoryProposal, str]]
    ) -> None:
        """One dialog per proposed memory, in turn; then the answers go to
        the controller (only a yes keeps anything)."""
        from assistant.ui.memory_screen import ProposalScreen

        if not proposals:
            if answers:
                self.run_worker(self.controller.decide_memories(answers), group="memory")
            return
        proposal = proposals.pop(0)

        def answered(answer: str | None) -> None:
            self._ask_about_memories(proposals, [*answers, (proposal, answer or "no")])

        self.app.push_screen(ProposalScreen(proposal), answered)

    def _status(self, update: StatusChanged) -> None:
        status, line = update.status, self.status
        if self._downloading != self.controller.downloading:  # Esc stops it, or not
            self._downloading = self.controller.downloading
            self.refresh_bindings()
        line.notice_text = status.notice
        line.model_text = status.model
        line.persona_text = status.persona
        line.notes_text = status.notes
        line.speed_text = status.speed
        if status.context_used is not None and status.context_size:
            line.show_context(status.context_used, status.context_size, status.context_memories)
        else:
            line.clear_context()

    async def _thread_shown(self, update: ThreadShown) -> None:
        self._code_presses = 0
        self._reply_view = self._request_view = None
        with self.app.batch_update():  # one layout for it all, not one per mount
            await self.chat_view.show(update.thread, update.focus)
            self.pick_reply(None)
            self.sidebar.select_id(self.controller.conversation_id)

    def _edit_mode(self, update: EditMode) -> None:
        prompt = self.prompt
        editing = update.message_id is not None
        self.mode_label.display = editing
        prompt.set_class(editing, "-editing")
        if editing:
            prompt.load_text(update.text)
            prompt.move_cursor(prompt.document.end)
            prompt.focus()
        elif update.clear_box:
            prompt.clear()

    async def _reply_opened(self, update: ReplyOpened) -> None:
        chat = self.chat_view
        views = chat.views
        ids = [v.message_id for v in views]
        cut = None
        if update.remove_from is not None and update.remove_from in ids:
            cut = ids.index(update.remove_from)
        elif update.remove_after is not None and update.remove_after in ids:
            cut = ids.index(update.remove_after) + 1
            self._request_view = views[cut - 1]
        if cut is not None:
            pending = set(self._pending.values())
            for view in views[cut:]:
                if view not in pending:
                    await view.remove()
        if update.request is not None:
            self._request_view = await chat.add(MessageView(Role.USER, update.request))
        view = await chat.add(MessageView(Role.ASSISTANT))
        view.set_footer(update.waiting, "streaming")
        self._reply_view = view
        self.prompt.set_class(True, "-streaming")
        self.refresh_bindings()

    async def _reply_event(self, update: ReplyUpdate) -> None:
        event, view = update.event, self._reply_view
        if view is None:
            return
        if isinstance(event, ToolCallsAsked | ToolCallStarted | ToolCallDone):
            await self._tool_event(event)
            return
        if isinstance(event, ReplyStarted) and self._after_tools:
            view = self._reply_view = await self.chat_view.add(MessageView(Role.ASSISTANT))
            self._after_tools = False
        if isinstance(event, TextPiece):
            await view.append(event.text)
        elif isinstance(event, ReplyStarted):
            view.message_id = event.reply_message_id
            view.begin_stream(f"{event.action}…" if event.action else "writing…")
            request = self._request_view
            if request is not None and event.user_message_id is not None:
                request.message_id = event.user_message_id
            if event.citations:
                self.sources.show(list(event.citations))
        elif isinstance(event, ReplyProgress):
            if event.parts > 1:
                view.set_footer(f"part {event.part} of {event.parts}…", "streaming")
        elif isinstance(event, ReplyDone):
            await view.end_stream()
            view.show_final(event.message)
            self.pick_reply(None)

    async def _tool_event(self, event: ToolCallsAsked | ToolCallStarted | ToolCallDone) -> None:
        """A step of the reply asked for tools (a step with no text of its own
        becomes one line naming them); each call is an entry, its result
        filled in when it ends; the next step is a reply view of its own."""
        chat = self.chat_view
        if isinstance(event, ToolCallsAsked):
            view = self._reply_view
            self._after_tools = True
            if view is None:
                return
            await view.end_stream()
            if calls_only(event.message):
                step = ToolStepView(event.message)
                step.set_branch(*view.branch)
                await chat.mount(step, after=view)
                await view.remove()
                self._reply_view = step
            else:
                view.show_final(event.message)
        elif isinstance(event, ToolCallStarted):
            entry = ToolCallView(call=event.call, source=event.source)
            if event.asks_first:
                entry.state = "waiting for your approval…"
            self._tool_views[event.call.id] = await chat.add(entry)  # type: ignore[assignment]
        else:
            found = self._tool_views.pop(event.call.id, None)
            if found is not None:
                found.show_result(event.message)

    def _ask_approval(self, update: ApprovalAsked) -> None:
        """The approval dialog; its answer settles the controller's question.
        A question settled meanwhile (the reply was stopped) closes it."""
        from assistant.chat.tooluse import Approval
        from assistant.ui.tool_screens import ApprovalScreen

        answer = update.answer
        if answer.done():
            return
        dialog = ApprovalScreen(update.request)

        def answered(choice: Approval | None) -> None:
            if choice is None and not answer.done():  # s: the whole reply stops
                self.run_worker(self.controller.stop(), group="stop", exit_on_error=False)
                return
            if not answer.done():
                answer.set_result(choice or Approval.DENY)
            entry = self._tool_views.get(update.request.call.id)
            if entry is not None and choice != Approval.DENY:
                entry.set_state("running…")

        def close() -> None:
            if dialog.is_attached and self.app.screen is dialog:
                dialog.dismiss(Approval.DENY)

        self.app.push_screen(dialog, answered)
        answer.add_done_callback(lambda _: self.call_later(close))

    async def _reply_closed(self, update: ReplyClosed) -> None:
        view, self._reply_view = self._reply_view, None
        self._request_view = None
        self._tool_views.clear()
        self._after_tools = False
        if view is not None:
            await view.end_stream()
            if update.stored is not None and (view.message is None or update.error):
                view.show_final(update.stored)  # the stored row is the truth
            elif view.message_id is None and update.error is not None:
                view.set_footer(f"error: {update.error}", "error")
        self.prompt.set_class(False, "-streaming")
        self.refresh_bindings()
        self.pick_reply(None)
        self._code_presses = 0

    # ----------------------------------------------------------- polling
    async def _poll_notes(self) -> None:
        if not self.controller.streaming:
            self._spawn(self.controller.poll_notes(), "notes-poll")

    async def _watch_history(self) -> None:
        if not self.controller.streaming:
            self._spawn(self._history_changed(), "history-watch")

    async def _history_changed(self) -> None:
        await self.controller.history_changed()

    # ----------------------------------------------------------- sending
    @on(PromptInput.Submitted)
    async def prompt_submitted(self, event: PromptInput.Submitted) -> None:
        text = event.text
        if not text.strip():
            return
        self.slash_options.show([])
        prompt = self.prompt
        prompt.completing = False
        prompt.clear()
        prompt.reset_recall()
        if not await self.controller.submit(text):
            typed = prompt.text  # typed meanwhile stays, below the line to fix
            prompt.load_text(f"{text}\n{typed}" if typed else text)
            prompt.move_cursor(prompt.document.end)

    @on(PromptInput.Recall)
    async def recall(self, event: PromptInput.Recall) -> None:
        """Up in an empty box: a pending message comes back first, then
        earlier messages of the conversation."""
        text = await self.controller.take_back()
        if text is None:
            self.prompt.recall(-1)
            return
        self.prompt.load_text(text)
        self.prompt.move_cursor(self.prompt.document.end)

    @on(PromptInput.Page)
    def page(self, event: PromptInput.Page) -> None:
        self.chat_view.page(event.step)

    @on(TextArea.Changed, "#prompt")
    def prompt_changed(self, event: TextArea.Changed) -> None:
        text = event.text_area.text
        candidates = self.controller.slash_choices(text)
        self.slash_options.show(candidates)
        self._mention_base = None
        # an @path being typed owns Tab even before its completions arrive
        typed = MENTION_TAIL.search(text) if not candidates else None
        self.prompt.completing = bool(candidates) or typed is not None
        if typed is None:
            self._tab_waiting = False
        else:
            self.complete_mention(text)

    @work(exclusive=True, group="complete", exit_on_error=False)
    async def complete_mention(self, text: str) -> None:
        """``@path`` completion: files and folders matching the word being
        typed, listed in a thread (the disk is not read on the event loop).
        A Tab pressed before the list arrived takes its first entry."""
        typed = MENTION_TAIL.search(text)
        if typed is None:
            return
        prefix, base = typed.group(2), text[: typed.start(1) - 1]
        candidates = await self.controller.complete_path(prefix)
        if self.prompt.text != text:  # typed on meanwhile
            return
        self._mention_base = base
        self.slash_options.show([(path, "") for path in candidates])
        if self._tab_waiting and candidates:  # a Tab pressed before the list came
            self._tab_waiting = False
            self._complete(candidates[0])

    @on(PromptInput.Completion)
    def completion_key(self, event: PromptInput.Completion) -> None:
        options = self.slash_options
        if event.key == "tab":
            choice = options.choice
            if choice is not None:
                self._complete(choice)
            elif MENTION_TAIL.search(self.prompt.text):
                self._tab_waiting = True  # the list is on its way
        elif event.key == "up":
            options.action_cursor_up()
        else:
            options.action_cursor_down()

    def _complete(self, choice: str) -> None:
        prompt = self.prompt
        if self._mention_base is not None:  # an @path: complete the last word
            folder = choice.rstrip('"').endswith("/")
            prompt.text = self._mention_base + choice + ("" if folder else " ")
        else:
            prompt.text = choice + " "
        prompt.move_cursor(prompt.document.end)

    # ------------------------------------------------------- key actions
    async def action_stop(self) -> None:
        await self.controller.stop()

    async def action_leave(self) -> None:
        """Esc when no reply streams: leave an edit, or go back to the box."""
        await self.controller.leave_edit()
        self.prompt.focus()

    async def action_new_conversation(self) -> None:
        if await self.controller.new_conversation():
            self.prompt.focus()

    async def action_regenerate(self, message_id: int | None = None) -> None:
        await self.controller.regenerate(message_id)

    async def action_toggle_notes(self) -> None:
        await self.controller.toggle("notes")

    async def action_toggle_tools(self) -> None:
        await self.controller.toggle("tools")

    @work(group=DIALOG, exit_on_error=False)
    async def action_tools(self) -> None:
        """The tools list: every tool and where it comes from."""
        from assistant.ui.tool_screens import ToolsScreen

        listing = await self.controller.tool_listing()
        await self.app.push_screen_wait(ToolsScreen(listing))
        self.prompt.focus()

    def action_pick_messages(self) -> None:
        chat = self.chat_view
        if chat.views:
            chat.focus()
            chat.select(chat.views[-1])

    async def action_branch(self, step: int) -> None:
        """Alt+Left/Right: the picked message, else the nearest message above
        the box that has other versions."""
        target = self.chat_view.selected
        if target is not None and target.branch[1] > 1:
            await self.controller.step_branch(target.message_id, step, target.branch)
            return
        thread = self.controller.thread  # drawn or not: only a screenful is
        found = None
        if thread is not None:
            found = next(
                (m.id for m in reversed(thread.messages) if thread.position(m.id)[1] > 1), None
            )
        if thread is None or found is None:
            await self.controller.notify("No message here has another version.")
            return
        await self.controller.step_branch(found, step, thread.position(found))

    @on(MessageView.StepBranch)
    async def step_branch(self, event: MessageView.StepBranch) -> None:
        view = event.view
        await self.controller.step_branch(view.message_id, event.step, view.branch)

    def on_message_view_picked(self, message: MessageView.Picked) -> None:
        self.chat_view.select(message.view, scroll=False)
        if message.view.role == Role.ASSISTANT:
            self.pick_reply(message.view)

    @on(ChatView.Act)
    async def chat_act(self, event: ChatView.Act) -> None:
        view = event.view
        if event.action == "leave":
            self.prompt.focus()
            return
        if view is None:
            return
        if event.action == "edit":
            await self.controller.start_edit(view.message_id, view.role, view.text)
        elif event.action == "regenerate" and view.message_id is not None:
            await self.controller.regenerate(view.message_id)
        elif event.action == "fork":
            if await self.controller.fork(view.message_id):
                self.prompt.focus()
        elif event.action == "copy":
            self.app.copy_to_clipboard(view.text)
            self.notify(f"Copied the message ({len(view.text)} characters).", markup=False)
        elif event.action == "sources" and isinstance(view, ToolCallView):
            view.toggle()  # Enter opens or closes a tool entry
        elif event.action == "sources" and view.role == Role.ASSISTANT:
            self.pick_reply(view)
            if view.citations:
                self.action_focus_sources()

    async def action_fork(self) -> None:
        if await self.controller.fork(None):
            self.prompt.focus()

    # --------------------------------------------------------- clipboard
    def memories_given(self) -> list[str]:
        """The memories (uids) the selected reply, else the last one, was given."""
        view = self._selected_reply or self._last_reply()
        message = view.message if view is not None else None
        return list(message.memories) if message is not None else []

    def _last_reply(self) -> MessageView | None:
        replies = [v for v in self.chat_view.views if v.role == Role.ASSISTANT]
        return replies[-1] if replies else None

    def action_copy_reply(self) -> None:
        reply = self._last_reply()
        text = reply.shown_text if reply else ""
        if not text.strip():
            self.notify("There is no reply to copy yet.", markup=False)
            return
        self.app.copy_to_clipboard(text)
        self.notify(f"Copied the last reply ({len(text)} characters).", markup=False)

    def action_copy_code(self) -> None:
        reply = self._last_reply()
        blocks = code_blocks(reply.shown_text) if reply else []
        if not blocks:
            self.notify("The last reply has no code block.", markup=False)
            return
        position = len(blocks) - 1 - (self._code_presses % len(blocks))
        self._code_presses += 1
        self.app.copy_to_clipboard(blocks[position])
        self.notify(f"Copied code block {position + 1} of {len(blocks)}.", markup=False)

    # ------------------------------------------------------------ sources
    def pick_reply(self, view: MessageView | None) -> None:
        """Show the sources of ``view`` (None: the last reply)."""
        self._selected_reply = view
        target = view or self._last_reply()
        citations = target.citations if target is not None else []
        if citations or self.sources.citations:
            had = bool(self.sources.citations)
            self.sources.show(citations)
            if had != bool(citations):  # F3 comes or goes (the footer redraws all its keys)
                self.refresh_bindings()

    def action_focus_sources(self) -> None:
        self.sources.query_one(OptionList).focus()

    def action_open_source(self) -> None:
        citation = self.sources.selected
        if citation is None:
            self.notify("The selected reply cites no notes.", markup=False)
            return
        self.open_source(citation)

    def on_sources_panel_open_source(self, message: SourcesPanel.OpenSource) -> None:
        self.open_source(message.citation)

    def on_sources_panel_leave(self, message: SourcesPanel.Leave) -> None:
        self.prompt.focus()

    @work(group=DIALOG, exit_on_error=False)
    async def open_source(self, citation: Citation) -> None:
        """``$EDITOR +LINE FILE`` with the app suspended; a PDF or DOCX (bytes
        to an editor) shows the cited passage instead, with a way to open the
        file in the system's viewer."""
        target = await self.controller.source(citation)
        if target.problem is not None:
            await self.controller.error(target.problem)
        elif target.passage is not None:
            viewer = _system_viewer()
            screen = PassageScreen(citation.label, target.passage, viewer is not None)
            if await self.app.push_screen_wait(screen) and viewer is not None:
                self._open_in_viewer(viewer, citation.abs_path)
            self.prompt.focus()  # what is typed next is a message, not a key of the list
        else:
            await self._run_editor(list(target.argv), f"{citation.abs_path}:{citation.start_line}")

    @work(thread=True, group="viewer", exit_on_error=False)
    def _open_in_viewer(self, viewer: str, path: str) -> None:
        try:
            subprocess.Popen(
                [viewer, path],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            self.app.call_from_thread(self.notify, f"The file could not be opened: {exc}")

    async def _run_editor(self, argv: list[str], where: str) -> None:
        from textual.app import SuspendNotSupported

        try:
            with self.app.suspend():
                result = subprocess.run(argv, check=False)
        except SuspendNotSupported:
            if not self.app.is_headless:
                await self.controller.error(
                    f"This terminal cannot hand over to an editor; open {where}."
                )
                return
            # no terminal to hand over (headless runs): the editor runs as is
            result = subprocess.run(argv, check=False, stdin=subprocess.DEVNULL)
        except OSError as exc:
            await self.controller.error(f"The editor could not start: {exc}")
            return
        if result.returncode != 0:
            self.notify(f"The editor exited with status {result.returncode}.", markup=False)

    def action_retrieval(self) -> None:
        view = self._selected_reply or self._last_reply()
        passages = view.citations if view is not None else []
        self.app.push_screen(RetrievalScreen(passages, self.controller.search_notes))

    # ------------------------------------------------------- the sidebar
    @work(exclusive=True, group="sidebar", exit_on_error=False)
    async def refresh_sidebar(self) -> None:
        """Read the conversation list (the filter's matches when one is
        typed; else as many as are loaded, at least a page) and show it."""
        if not self.controller.database_ready:
            return
        words = self.sidebar_box.filter_text
        conversations, more = await self.controller.conversations(
            words, len(self.sidebar.conversations)
        )
        if words == self.sidebar_box.filter_text:
            listing = self.sidebar
            # the user moving in the list keeps their place; else the open one is marked
            keep = listing.highlighted_id if listing.has_focus else None
            listing.show(conversations, keep or self.controller.conversation_id, more)

    @on(Sidebar.FilterChanged)
    def filter_changed(self, event: Sidebar.FilterChanged) -> None:
        self.refresh_sidebar()

    @on(ConversationList.NeedMore)
    def more_conversations(self, event: ConversationList.NeedMore) -> None:
        if not self.sidebar_box.filter_text:
            self._more(event.after)

    @work(group="sidebar-more", exit_on_error=False)
    async def _more(self, after: Conversation) -> None:
        conversations, more = await self.controller.more_conversations(after)
        listing = self.sidebar
        if listing.conversations and listing.conversations[-1].id == after.id:
            listing.extend(conversations, more)

    def action_filter(self) -> None:
        box = self.sidebar_box
        if not box.display:
            box.display = True
            box.hidden_by_user = False
        box.query_one("#sidebar-filter").focus()

    def action_toggle_sidebar(self) -> None:
        box = self.sidebar_box
        box.display = not box.display
        box.hidden_by_user = not box.display
        focused = self.focused
        if not box.display and (focused is None or box in focused.ancestors):
            self.prompt.focus()

    def on_sidebar_leave(self, message: Sidebar.Leave) -> None:
        self.prompt.focus()

    @on(ConversationList.Opened)
    async def open_selected(self, event: ConversationList.Opened) -> None:
        """Enter on a conversation: it opens, and the keys go back to the box."""
        if not await self.controller.open(event.conversation.id):
            self.sidebar.select_id(self.controller.conversation_id)
        self.prompt.focus()

    @on(ConversationList.Action)
    def sidebar_action(self, event: ConversationList.Action) -> None:
        if event.action == "delete":
            self.ask_delete(event.conversation_id)
        elif event.action == "rename":
            self.ask_rename(event.conversation_id)

    def _target(self, what: str) -> int | None:
        target = self.controller.conversation_id or self.sidebar.highlighted_id
        if target is None:
            self.notify(f"Open a conversation to {what} it.", markup=False)
        return target

    def action_rename(self) -> None:
        target = self._target("rename")
        if target is not None:
            self.ask_rename(target)

    def action_delete(self) -> None:
        target = self._target("delete")
        if target is not None:
            self.ask_delete(target)

    @work(group=DIALOG, exit_on_error=False)
    async def ask_rename(self, conversation_id: int) -> None:
        conversation = await self.controller.conversation(conversation_id)
        if conversation is None:
            return
        title = await self.app.push_screen_wait(RenameScreen(conversation.title))
        if title:
            await self.controller.rename(conversation_id, title)

    @work(group=DIALOG, exit_on_error=False)
    async def ask_delete(self, conversation_id: int) -> None:
        if self.controller.streaming and conversation_id == self.controller.conversation_id:
            await self.controller.delete(conversation_id)  # says why not
            return
        conversation = await self.controller.conversation(conversation_id)
        if conversation is None:
            return
        if await self.app.push_screen_wait(ConfirmDeleteScreen(conversation.title)):
            await self.controller.delete(conversation_id)

    @work(group=DIALOG, exit_on_error=False)
    async def action_export(self) -> None:
        conversation_id = self.controller.conversation_id
        if conversation_id is None:
            self.notify("Open a conversation to export it.", markup=False)
            return
        conversation = await self.controller.conversation(conversation_id)
        if conversation is None:
            return
        suggested = Path.cwd() / f"{slug(conversation.title)}.md"
        path = await self.app.push_screen_wait(ExportScreen(suggested))
        if path is None or await self.controller.export(conversation_id, path):
            return
        question = ConfirmScreen("Replace the file?", f"{path} exists.", yes="Replace")
        if await self.app.push_screen_wait(question):
            await self.controller.export(conversation_id, path, replace=True)

    # ------------------------------------------------------ search hits
    def jump_to_message(self, conversation_id: int, message_id: int) -> None:
        """Open a search hit: its conversation, on the branch holding it."""
        self._jump(conversation_id, message_id)

    @work(group="jump", exit_on_error=False)
    async def _jump(self, conversation_id: int, message_id: int) -> None:
        await self.controller.open(conversation_id, message_id)


def _system_viewer() -> str | None:
    for name in ("xdg-open", "open"):
        found = shutil.which(name)
        if found:
            return found
    return None
