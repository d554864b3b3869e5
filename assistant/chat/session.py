"""The conversation in front of the user, as one typed object both shells use.

``ConversationState`` is what a shell keeps about it: which conversation (None
until the first message creates it), the persona, whether replies use the
user's notes and its memory switch (on, off or private). ``ChatSession``
changes that state only through the chat service, so what the app shows,
what ``assistant ask -c ID`` does and what is stored never disagree. A
persona, notes or memory switch chosen before the conversation exists is
applied when the first message creates it.

Every method may touch the database or the model: shells call them off their
event loop (the UI from thread workers).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from assistant.chat.events import ChatEvent
from assistant.chat.service import ChatService
from assistant.chat.tooluse import Approver, ToolUse
from assistant.domain import (
    Conversation,
    GroundingProvider,
    Memory,
    MemoryMode,
    MemoryProposal,
    Thread,
)
from assistant.errors import UsageError

if TYPE_CHECKING:
    from assistant.config import Settings
    from assistant.notes.service import NotesService
    from assistant.tools.registry import ToolRegistry
    from assistant.writing.slash import SlashCommand


@dataclass
class ConversationState:
    conversation_id: int | None = None
    persona: str | None = None  # persona name; None is the default system prompt
    use_notes: bool = False
    engine: str | None = None  # the named engine its replies came from (None: local)
    memory: MemoryMode = MemoryMode.ON  # whether replies use (and may propose) memories
    tools: tuple[str, ...] | None = None  # tools replies may call: None off, ("*",) all


class ChatSession:
    """``chat`` may be a callable that builds the service on first use, so a
    session can exist before the database is open (the UI's first frame)."""

    def __init__(
        self,
        chat: ChatService | Callable[[], ChatService],
        notes: Callable[[], NotesService] | None = None,
        state: ConversationState | None = None,
        tools: Callable[[], ToolRegistry] | None = None,
        tool_settings: Callable[[], Settings] | None = None,
    ) -> None:
        self._chat = chat
        self._notes = notes
        self._tools = tools
        self._tool_settings = tool_settings
        self.state = state or ConversationState()
        self._lock = threading.Lock()
        # Answer in this language (``--to``); None: in the question's language.
        self.answer_language: str | None = None
        # The shell can ask the user about proposed memories (the CLI on a
        # terminal): replies may then bring ``MemoryProposed``.
        self.propose_memories = False
        # Tools for this run only (``ask --tools``), over the conversation's switch.
        self.tools_once: tuple[str, ...] | None = None
        # Asks the user to approve a call (None: no one to ask, calls that need it are refused).
        self.approve: Approver | None = None
        self.allowed_tools: frozenset[str] = frozenset()  # run without asking (--allow)
        self._tools_wanted = False

    @property
    def chat(self) -> ChatService:
        if isinstance(self._chat, ChatService):
            return self._chat
        self._chat = self._chat()
        return self._chat

    @property
    def conversation_id(self) -> int | None:
        return self.state.conversation_id

    # ------------------------------------------------------------- state
    def open(self, conversation_id: int | None, at_message: int | None = None) -> Thread | None:
        """Make ``conversation_id`` (None: a new, not yet stored one) the
        current conversation; returns its current branch. ``at_message``
        first makes the branch through that message current (a search hit)."""
        state = self.state  # changed in place: a shell may hold on to it
        if conversation_id is None:
            state.conversation_id, state.persona, state.use_notes = None, None, False
            state.engine = None
            state.memory = MemoryMode.ON
            state.tools = None
            return None
        if at_message is not None:
            thread = self.chat.select_branch(conversation_id, at_message)
        else:
            thread = self.chat.thread(conversation_id)
        conversation = thread.conversation
        state.conversation_id = conversation_id
        state.persona, state.use_notes = conversation.persona, conversation.use_notes
        state.engine = conversation.engine
        state.memory = conversation.memory
        state.tools = conversation.tools
        return thread

    def thread(self) -> Thread | None:
        if self.state.conversation_id is None:
            return None
        return self.chat.thread(self.state.conversation_id)

    def step_branch(self, message_id: int, step: int) -> Thread:
        """Show the sibling ``step`` places from ``message_id`` (-1 or +1)."""
        return self.chat.step_branch(
            self._current("There is no branch here yet."), message_id, step
        )

    def fork(self, message_id: int | None = None) -> Thread:
        """Copy the branch up to ``message_id`` (default: all of it) into a
        new conversation, and make that one current."""
        fork = self.chat.fork(self._current("There is nothing to fork yet."), message_id)
        thread = self.open(fork.id)
        assert thread is not None
        return thread

    def _current(self, missing: str) -> int:
        if self.state.conversation_id is None:
            raise UsageError(missing)
        return self.state.conversation_id

    def conversation(self) -> Conversation | None:
        if self.state.conversation_id is None:
            return None
        return self.chat.conversation(self.state.conversation_id)

    def set_notes(self, on: bool) -> None:
        if self.state.conversation_id is not None:
            self.chat.set_notes(self.state.conversation_id, on)
        self.state.use_notes = on

    def set_memory(self, mode: MemoryMode | str) -> None:
        """The conversation's memory switch: ``on``, ``off`` or ``private``
        (stored with it; chosen before it exists, applied when it is made)."""
        try:
            mode = MemoryMode(str(mode).lower())
        except ValueError:
            raise UsageError(f"“{mode}” is not a memory setting: use on, off or private.") from None
        if self.state.conversation_id is not None:
            self.chat.set_memory_mode(self.state.conversation_id, mode)
        self.state.memory = mode

    def remember(self, text: str) -> tuple[Memory, bool]:
        """``/remember TEXT``: (the memory, True), or (the one that already
        says it, False)."""
        return self.chat.remember(self.state.conversation_id, text)

    def accept_proposal(self, proposal: MemoryProposal, replace: bool = False) -> Memory:
        """The user said yes to a proposed memory (``replace``: in place of
        the one it repeats or changes)."""
        return self.chat.accept_proposal(proposal, replace)

    def set_tools(self, names: tuple[str, ...] | None) -> None:
        """The conversation's tools switch: None off, ("*",) every tool, or
        these names (an unknown one fails here); remembered with it."""
        if names is not None and self._tools is not None:
            self._tools().select(names)
        if self.state.conversation_id is not None:
            self.chat.set_tools(self.state.conversation_id, names)
        self.state.tools = names

    def tool_use(self) -> ToolUse | None:
        """What a reply may call now: ``tools_once`` if set, else the
        conversation's switch; None when tools are off."""
        names = self.tools_once if self.tools_once is not None else self.state.tools
        if names is None or self._tools is None:
            return None
        self._tools_wanted = True
        registry = self._tools()
        tools = registry.select(names)
        use = ToolUse(tools, approve=self.approve, allowed=self.allowed_tools)
        if self._tool_settings is not None:
            settings = self._tool_settings()
            use.max_steps, use.output_chars = settings.tool_max_steps, settings.tool_output_chars
        return use

    def tool_warnings(self) -> list[str]:
        """Sentences about tool sources that failed (an MCP server that did not
        start); none asked for (and nothing built) while tools were not used."""
        if self._tools is None or not self._tools_wanted:
            return []
        return list(self._tools().warnings)

    def set_persona(self, name: str | None) -> None:
        """``name`` None goes back to the default system prompt."""
        if name:
            name = self.chat.persona(name).name  # an unknown name fails here
        if self.state.conversation_id is not None:
            self.chat.set_persona(self.state.conversation_id, name)
        self.state.persona = name or None

    def _ensure_conversation(self, first_text: str) -> int:
        """The current conversation, created (with the state chosen so far)
        if it does not exist yet."""
        with self._lock:
            if self.state.conversation_id is None:
                persona = self.state.persona
                system = self.chat.persona(persona).system if persona else None
                conversation = self.chat.new_conversation(
                    first_text,
                    system_prompt=system,
                    persona=persona,
                    use_notes=self.state.use_notes,
                    memory=self.state.memory,
                )
                if self.state.tools is not None:
                    self.chat.set_tools(conversation.id, self.state.tools)
                self.state.conversation_id = conversation.id
            return self.state.conversation_id

    def grounding(self) -> GroundingProvider | None:
        if not self.state.use_notes or self._notes is None:
            return None
        return self._notes().grounding(language=self.answer_language)

    # ----------------------------------------------------------- replies
    def send(
        self, text: str, cancel: threading.Event | None = None
    ) -> Generator[ChatEvent, None, None]:
        if not text.strip():
            raise UsageError("The message is empty.")
        tools = self.tool_use()  # an unknown tool name fails before anything is stored
        conversation_id = self._ensure_conversation(text)
        return self.chat.send(
            conversation_id,
            text,
            cancel,
            grounding=self.grounding(),
            answer_language=self.answer_language,
            propose_memories=self.propose_memories,
            tools=tools,
        )

    def regenerate(
        self, cancel: threading.Event | None = None, message_id: int | None = None
    ) -> Generator[ChatEvent, None, None]:
        """A new reply beside the old one (kept as a branch)."""
        conversation_id = self._current("There is no message to answer again yet.")
        return self.chat.regenerate(
            conversation_id,
            cancel,
            grounding=self.grounding(),
            message_id=message_id,
            propose_memories=self.propose_memories,
            tools=self.tool_use(),
        )

    def edit(
        self, message_id: int, text: str, cancel: threading.Event | None = None
    ) -> Generator[ChatEvent, None, None]:
        """A new version of message ``message_id``, answered; the old one stays as a branch."""
        conversation_id = self._current("There is no message to edit yet.")
        return self.chat.edit(
            conversation_id,
            message_id,
            text,
            cancel,
            grounding=self.grounding(),
            propose_memories=self.propose_memories,
            tools=self.tool_use(),
        )

    def run_action(
        self,
        request: str,
        command: SlashCommand,
        text: str,
        cancel: threading.Event | None = None,
    ) -> Generator[ChatEvent, None, None]:
        """A slash writing action on ``text``, stored in this conversation
        (a new one is titled after the action and its text, not the command)."""
        from assistant.chat.titles import action_title

        conversation_id = self._ensure_conversation(action_title(command.name, text))
        return self.chat.run_action(
            conversation_id, request, command.name, text, command.variables, cancel
        )
