"""The chat service: the only code that writes messages.

Both shells (the CLI and the UI) call it for every change to a conversation:
send a message, answer again, edit a sent message, move between branches,
fork, run a writing action in the conversation, set the persona, the notes or
the memory switch, rename, remember something (``/remember``). Replies and
action results go through one streaming loop (``_record``), so they are
stored, shown and measured the same way.

Messages form a tree and nothing is ever overwritten: answering again adds a
sibling reply, editing a message adds a sibling message and answers it; the
model is given the branch from the root to the message being answered.

Order matters for never losing text: the user's message is committed before
the model is asked for a token; the reply row exists as ``streaming`` from the
start; text is written to it before it is handed to the caller (batched every
``flush_interval`` seconds); every exit path (finish, cancel, error, Ctrl-C)
leaves the row with a final status and the figures of the run.

Memories (``assistant.chat.memory``): a reply in a conversation whose memory
switch is on is given the memories relevant to the user's message in the
system prompt, within a budget taken before notes or documents get theirs;
the reply records their uids. After the reply, a caller that can ask the user
(``propose_memories``) gets ``MemoryProposed`` from a model that can propose;
a private conversation neither uses nor proposes memories.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.chat.context import ContextPlan, plan_context
from assistant.chat.events import (
    ChatEvent,
    MemoryProposed,
    ReplyDone,
    ReplyProgress,
    ReplyStarted,
    ToolCallDone,
    ToolCallsAsked,
    ToolCallStarted,
    ToolsUnavailable,
)
from assistant.chat.titles import title_from_text
from assistant.chat.tooluse import Approval, ApprovalRequest, ToolOutcome, ToolUse
from assistant.domain import (
    ChatTurn,
    Citation,
    Conversation,
    GenerationOptions,
    Grounding,
    GroundingProvider,
    Memory,
    MemoryMode,
    MemoryProposal,
    MemorySource,
    Message,
    MessageStatus,
    Role,
    Thread,
    ToolCall,
)
from assistant.errors import AssistantError, ModelError, UsageError
from assistant.llm.base import ChatModel, Finished, TextPiece, ToolCalls
from assistant.llm.handle import ModelHandle

if TYPE_CHECKING:
    from assistant.chat.attachments import Attached
    from assistant.chat.attachments import Document as AttachedDocument
    from assistant.chat.memory import MemorySelection, MemoryService
    from assistant.chat.transfer import ImportResult
    from assistant.store.repository import ConversationRepository
    from assistant.writing.actions import ActionRunner
    from assistant.writing.templates import Persona, PromptLibrary, PromptTemplate

FLUSH_INTERVAL = 0.1
NEW_TITLE = "New conversation"

# Builds an ActionRunner on a model with the user's options (temperature,
# top_p, seed, max_tokens); the composition root provides it.
RunnerFactory = Callable[[ChatModel], "ActionRunner"]


class ChatService:
    def __init__(
        self,
        repo: ConversationRepository,
        model: ModelHandle | ChatModel,
        options: GenerationOptions | None = None,
        system_prompt: str | None = None,
        flush_interval: float = FLUSH_INTERVAL,
        library: Callable[[], PromptLibrary] | None = None,
        runner_factory: RunnerFactory | None = None,
        memory: MemoryService | Callable[[], MemoryService] | None = None,
    ) -> None:
        """``memory``: the memories (or what builds them on first use); None:
        replies are given none and nothing is proposed."""
        self.repo = repo
        self.handle = model if isinstance(model, ModelHandle) else ModelHandle(lambda: model)
        self.options = options or GenerationOptions()
        self.system_prompt = system_prompt
        self.flush_interval = flush_interval
        self._library = library
        self._runner_factory = runner_factory
        self._memory = memory
        self.last_plan: ContextPlan | None = None

    @property
    def memory(self) -> MemoryService | None:
        """The memories (built on first use), or None."""
        if callable(self._memory):
            self._memory = self._memory()
        return self._memory

    @property
    def model(self) -> ChatModel:
        return self.handle.get()

    def library(self) -> PromptLibrary:
        if self._library is None:
            from assistant.writing.templates import load_library

            return load_library()
        return self._library()

    def action_runner(self, model: ChatModel | None = None) -> ActionRunner:
        """A runner for writing actions on ``model`` with the user's options."""
        model = model or self.model
        if self._runner_factory is not None:
            return self._runner_factory(model)
        from assistant.writing.actions import ActionRunner

        return ActionRunner(model, self.library(), options=self.options)

    # ------------------------------------------------------ conversations
    def new_conversation(
        self,
        first_text: str = "",
        system_prompt: str | None = None,
        persona: str | None = None,
        use_notes: bool = False,
        memory: MemoryMode = MemoryMode.ON,
    ) -> Conversation:
        model = self.handle.loaded
        conversation = self.repo.create_conversation(
            title=title_from_text(first_text) if first_text else NEW_TITLE,
            model=model.name if model else None,
            system_prompt=system_prompt if system_prompt is not None else self.system_prompt,
        )
        if persona is not None:
            self.repo.update_conversation(conversation.id, persona=persona)
            conversation.persona = persona
        if use_notes:
            self.repo.set_use_notes(conversation.id, True)
            conversation.use_notes = True
        if memory != MemoryMode.ON:
            self.repo.set_memory_mode(conversation.id, memory)
            conversation.memory = MemoryMode(memory)
        return conversation

    def conversation(self, conversation_id: int) -> Conversation:
        return self.repo.get_conversation(conversation_id, messages=False)

    def rename(self, conversation_id: int, title: str) -> None:
        self.repo.rename(conversation_id, title)

    def delete(self, conversation_id: int) -> None:
        self.repo.delete_conversation(conversation_id)

    def set_notes(self, conversation_id: int, on: bool) -> None:
        """Remember whether replies in the conversation use the user's notes."""
        self.repo.set_use_notes(conversation_id, on)

    def set_memory_mode(self, conversation_id: int, mode: MemoryMode) -> None:
        """Whether the conversation's replies use memories (``on``/``off``),
        or it is ``private``: memories neither used nor proposed."""
        self.repo.set_memory_mode(conversation_id, mode)

    def remember(self, conversation_id: int | None, text: str) -> tuple[Memory, bool]:
        """``/remember TEXT``: keep ``text`` as a memory typed by the user,
        linked to the conversation unless it is private. Returns (memory,
        True), or (the memory that already says it, False)."""
        memory = self.memory
        if memory is None:
            raise UsageError("Memory is not available here.")
        linked = conversation_id
        if conversation_id is not None:
            conversation = self.repo.get_conversation(conversation_id, messages=False)
            if conversation.memory == MemoryMode.PRIVATE:
                linked = None  # nothing typed in a private conversation points back to it
        return memory.add(text, MemorySource.TYPED, conversation_id=linked)

    def accept_proposal(self, proposal: MemoryProposal, replace: bool = False) -> Memory:
        """Keep a proposed memory the user said yes to (``replace``: in place
        of the memory it repeats or changes)."""
        memory = self.memory
        if memory is None:
            raise UsageError("Memory is not available here.")
        return memory.accept(proposal, replace)

    def set_tools(self, conversation_id: int, names: tuple[str, ...] | None) -> None:
        """Remember which tools replies in the conversation may call (None: off)."""
        self.repo.set_tools(conversation_id, names)

    def persona(self, name: str) -> Persona:
        return self.library().persona(name)

    def set_persona(self, conversation_id: int, name: str | None) -> None:
        """Use persona ``name``'s system prompt from now on (None: the default)."""
        system = self.persona(name).system if name else None
        self.repo.update_conversation(
            conversation_id, system_prompt=system, persona=name.lower() if name else None
        )

    def _title_if_new(self, conversation_id: int, text: str) -> None:
        conv = self.repo.get_conversation(conversation_id, messages=False)
        if conv.message_count == 0 and conv.title == NEW_TITLE:
            self.repo.rename(conversation_id, title_from_text(text))

    # ----------------------------------------------------------- branches
    def thread(self, conversation_id: int, leaf_id: int | None = None) -> Thread:
        """The branch in front of the user (or the one ending at ``leaf_id``)."""
        return self.repo.thread(conversation_id, leaf_id)

    def select_branch(self, conversation_id: int, message_id: int) -> Thread:
        """Make the branch through ``message_id`` current: down to the newest
        message below it, where the user was last on that branch."""
        leaf = self.repo.newest_leaf_under(message_id)
        self.repo.set_current_leaf(conversation_id, leaf)
        return self.repo.thread(conversation_id)

    def step_branch(self, conversation_id: int, message_id: int, step: int) -> Thread:
        """Move to the sibling ``step`` places from ``message_id`` (-1, +1)."""
        thread = self.repo.thread(conversation_id)
        if message_id not in thread.siblings:
            thread = self.select_branch(conversation_id, message_id)
        target = thread.sibling(message_id, step)
        if target is None:
            return thread
        return self.select_branch(conversation_id, target)

    def fork(self, conversation_id: int, message_id: int | None = None) -> Conversation:
        """A new conversation with a copy of the branch from the root to
        ``message_id`` (default: the current leaf)."""
        source = self.repo.get_conversation(conversation_id, messages=False)
        return self.repo.copy_path(conversation_id, message_id, f"{source.title} (fork)")

    # ------------------------------------------------- import and export
    def memories_by_uid(self, uids: Iterable[str]) -> dict[str, Memory]:
        """The memories with these uids that still exist (a deleted one is gone)."""
        wanted = list(dict.fromkeys(uids))
        if not wanted or self.memory is None:
            return {}
        return self.memory.by_uids(wanted)

    def export_text(self, conversation_id: int, fmt: str) -> str:
        """The conversation as Markdown (``md``: the current branch, with
        sources) or JSON (``json``: every branch, with sources)."""
        from assistant.chat.transfer import conversation_record, dumps, thread_markdown

        if fmt == "md":
            thread = self.repo.thread(conversation_id)
            memories = self.memories_by_uid(u for m in thread.messages for u in m.memories)
            return thread_markdown(thread, memories)
        if fmt == "json":
            conversation = self.repo.get_conversation(conversation_id)
            memories = self.memories_by_uid(u for m in conversation.messages for u in m.memories)
            return dumps(conversation_record(conversation, memories=memories)) + "\n"
        raise UsageError(f"Unknown export format “{fmt}”: use md or json.")

    def export_all_text(self) -> str:
        """Every conversation with every branch, and every memory, as one JSON document."""
        from assistant.chat.transfer import archive_record, dumps

        ids = [c.id for c in self.repo.list_conversations(counts=False)]
        memories = self.memory.list_memories() if self.memory is not None else []
        conversations = (self.repo.get_conversation(i) for i in ids)
        return dumps(archive_record(conversations, memories)) + "\n"

    def import_file(self, path: Path) -> ImportResult:
        """Import a ChatGPT export, an llm logs.db or our JSON export (format
        detected) in one transaction; conversations (and memories) already
        here are skipped."""
        from assistant.chat.transfer import ImportResult, read_archive

        archive = read_archive(path)
        memories = []
        if archive.memories:
            if self.memory is None:
                raise UsageError(f"{path} holds memories, and memory is not available here.")
            memories = self.memory.prepare_records(archive.memories, path)
        counts = self.repo.import_conversations(archive.conversations, memories)
        return ImportResult(
            archive.format,
            counts.conversations,
            counts.messages,
            counts.skipped,
            archive.empty,
            counts.memories,
            counts.memories_skipped + (len(archive.memories) - len(memories)),
        )

    def history_turns(
        self, conversation_id: int, leaf_id: int | None = None, tools: bool = False
    ) -> list[ChatTurn]:
        """What the model is given: the branch ending at ``leaf_id``. With
        ``tools``, tool calls and their results (quoted as data) are part of
        it; without, they are left out and the answers around them joined,
        so a model that cannot call tools sees plain turns."""
        from assistant.tools.base import quoted_for_model

        turns: list[ChatTurn] = []
        for m in self.repo.messages(conversation_id, leaf_id):
            if m.role == Role.SYSTEM or m.status == MessageStatus.STREAMING:
                continue
            if m.role == Role.TOOL:
                if tools and m.tool_call is not None:
                    name = m.tool_call.name
                    turns.append(
                        ChatTurn(
                            Role.TOOL,
                            quoted_for_model(name, m.content),
                            tool_call_id=m.tool_call.id,
                            name=name,
                        )
                    )
                continue
            calls = tuple(m.tool_calls) if tools and m.role == Role.ASSISTANT else ()
            if not m.content.strip() and not calls:
                continue
            if (
                not tools
                and turns
                and m.role == Role.ASSISTANT
                and turns[-1].role == Role.ASSISTANT
            ):  # the answers before and after a tool call, as one
                turns[-1] = ChatTurn(Role.ASSISTANT, f"{turns[-1].content}\n\n{m.content}")
                continue
            turns.append(ChatTurn(m.role, m.content, tool_calls=calls))
        return turns

    # ------------------------------------------------------------ replies
    def send(
        self,
        conversation_id: int | None,
        text: str,
        cancel: threading.Event | None = None,
        options: GenerationOptions | None = None,
        grounding: GroundingProvider | None = None,
        answer_language: str | None = None,
        tools: ToolUse | None = None,
        propose_memories: bool = False,
    ) -> Generator[ChatEvent, None, None]:
        """Store ``text`` as a user message, then stream and store the reply.

        With ``grounding``, the question the model sees is replaced by the
        provider's prompt (passages from the user's notes plus the question);
        the stored user message stays exactly what the user wrote.
        ``answer_language`` (``--to``) asks for the reply in that language.
        ``propose_memories``: the caller can ask the user about memories the
        model proposes (``MemoryProposed`` after ``ReplyDone``).
        """
        if not text.strip():
            raise UsageError("The message is empty.")
        if conversation_id is None:
            conversation_id = self.new_conversation(text).id
        else:
            self._title_if_new(conversation_id, text)
        user = self.repo.add_message(conversation_id, Role.USER, text)
        yield from self._reply(
            conversation_id,
            user.id,
            cancel,
            options,
            grounding,
            answer_language,
            tools,
            propose_memories=propose_memories,
        )

    def regenerate(
        self,
        conversation_id: int,
        cancel: threading.Event | None = None,
        options: GenerationOptions | None = None,
        grounding: GroundingProvider | None = None,
        message_id: int | None = None,
        tools: ToolUse | None = None,
        propose_memories: bool = False,
    ) -> Generator[ChatEvent, None, None]:
        """Answer a message again: a new reply beside the old ones, which are
        kept as branches. ``message_id`` is the reply to redo or the message
        to answer; by default the last message of yours on the branch."""
        messages = self.repo.messages(conversation_id)
        target: Message | None = None
        if message_id is not None:
            chosen = self.repo.get_message(message_id)
            if chosen.conversation_id != conversation_id:
                raise UsageError(f"Conversation {conversation_id} has no message {message_id}.")
            if chosen.role == Role.ASSISTANT and chosen.parent_id is not None:
                chosen = self.repo.get_message(chosen.parent_id)
            target = chosen if chosen.role == Role.USER else None
        else:
            target = next((m for m in reversed(messages) if m.role == Role.USER), None)
        if target is None:
            raise UsageError("There is no message to answer again.")
        yield from self._reply(
            conversation_id,
            target.id,
            cancel,
            options,
            grounding,
            tools=tools,
            propose_memories=propose_memories,
        )

    def edit(
        self,
        conversation_id: int,
        message_id: int,
        text: str,
        cancel: threading.Event | None = None,
        options: GenerationOptions | None = None,
        grounding: GroundingProvider | None = None,
        tools: ToolUse | None = None,
        propose_memories: bool = False,
    ) -> Generator[ChatEvent, None, None]:
        """Replace a message of yours by a new version and answer it. The new
        version is a sibling of the old one; the old branch stays."""
        if not text.strip():
            raise UsageError("The message is empty.")
        original = self.repo.get_message(message_id)
        if original.conversation_id != conversation_id:
            raise UsageError(f"Conversation {conversation_id} has no message {message_id}.")
        if original.role != Role.USER:
            raise UsageError(
                f"Message {message_id} is a reply; only your own messages can be edited "
                "(answer it again instead)."
            )
        user = self.repo.add_message(conversation_id, Role.USER, text, parent_id=original.parent_id)
        yield from self._reply(
            conversation_id,
            user.id,
            cancel,
            options,
            grounding,
            tools=tools,
            propose_memories=propose_memories,
        )

    def run_action(
        self,
        conversation_id: int | None,
        request: str,
        template: str | PromptTemplate,
        text: str,
        variables: Mapping[str, str] | None = None,
        cancel: threading.Event | None = None,
        *,
        persona: Persona | None = None,
        title: str | None = None,
    ) -> Generator[ChatEvent, None, None]:
        """Run a writing action in a conversation: ``request`` (the command as
        the user typed it) is stored as the user message, the result as the
        reply, through the same loop as a chat reply. ``conversation_id``
        None starts a conversation (titled ``title`` or after the request)."""
        library = self.library()
        if isinstance(template, str):
            template = library.template(template)
        template.resolve_values(variables)  # a bad variable fails before anything is stored
        if not text.strip():
            raise UsageError("There is no text to work on.")
        if conversation_id is None:
            conversation = self.new_conversation(request)
            conversation_id = conversation.id
            if title:
                self.repo.rename(conversation_id, title)
        else:
            self._title_if_new(conversation_id, title or request)
        user = self.repo.add_message(conversation_id, Role.USER, request)
        model = self.model
        if persona is None:
            persona = self._conversation_persona(conversation_id, library)
        reply = self.repo.add_message(
            conversation_id,
            Role.ASSISTANT,
            "",
            MessageStatus.STREAMING,
            model=model.name,
            parent_id=user.id,
        )
        yield ReplyStarted(conversation_id, user.id, reply.id, None, action=template.name)
        runner = self.action_runner(model)
        source = runner.run(template, text, variables, persona, cancel)
        yield from self._record(conversation_id, reply.id, source, None)

    def _conversation_persona(self, conversation_id: int, library: PromptLibrary) -> Persona | None:
        name = self.repo.get_conversation(conversation_id, messages=False).persona
        if not name:
            return None
        try:
            return library.persona(name)
        except AssistantError:  # the persona file went away: run without it
            return None

    def _ground(
        self,
        model: ChatModel,
        system: ChatTurn | None,
        history: list[ChatTurn],
        options: GenerationOptions,
        grounding: GroundingProvider,
    ) -> tuple[list[ChatTurn], Grounding]:
        """Swap the latest question for a grounded prompt that fits the window:
        passages get what is left after the system prompt and the answer's
        room, and never more than half the window so some history survives."""
        n_ctx = model.context_size
        base = model.count_tokens(([system] if system else []) + [history[-1]])
        reserve = min(options.max_tokens, max(64, n_ctx // 4))
        budget = max(0, min(n_ctx // 2, n_ctx - reserve - base))

        def count(text: str) -> int:
            return model.count_tokens([ChatTurn(Role.USER, text)])

        result = grounding(history[-1].content, budget, count)
        return history[:-1] + [ChatTurn(Role.USER, result.prompt)], result

    def _reply(
        self,
        conversation_id: int,
        user_message_id: int,
        cancel: threading.Event | None,
        options: GenerationOptions | None,
        grounding: GroundingProvider | None = None,
        answer_language: str | None = None,
        tools: ToolUse | None = None,
        *,
        propose_memories: bool = False,
    ) -> Generator[ChatEvent, None, None]:
        """Answer ``user_message_id``: the model gets the branch ending
        there, and the reply is stored as that message's child. With
        ``tools``, the reply may call them (``_tool_reply``)."""
        options = options or self.options
        model = self.model
        conv = self.repo.get_conversation(conversation_id, messages=False)
        system_text = conv.system_prompt if conv.system_prompt is not None else self.system_prompt
        system = ChatTurn(Role.SYSTEM, system_text) if system_text else None
        if tools is not None and tools.tools and not model.supports_tools:
            yield ToolsUnavailable(
                f"{model.name} cannot call tools (its chat template does not offer them; the "
                "bundled base model has none), so this answer is written without them."
            )
            tools = None
        if tools is not None and not tools.tools:
            tools = None
        history = self.history_turns(conversation_id, user_message_id, tools=tools is not None)
        user_text = history[-1].content if history else ""
        selection = self._memories(model, conv, user_message_id, system, history, options)
        # notes and documents get what is left once the memories have their room
        framed = system
        if selection is not None and selection.block:
            from assistant.chat.memory import with_memories

            framed = ChatTurn(Role.SYSTEM, with_memories(system_text, selection.block) or "")
        citations: tuple[Citation, ...] = ()
        documents = self._documents(history[-1].content) if history else []
        if documents:
            attached = yield from self._attach(model, framed, history, options, documents, cancel)
            if attached is None:  # stopped while reading the documents
                yield from self._fixed_reply(conversation_id, user_message_id, "", "cancelled")
                return
            history = history[:-1] + [ChatTurn(Role.USER, attached.prompt)]
            citations = attached.citations
        elif grounding is not None and history:
            history, grounded = self._ground(model, framed, history, options, grounding)
            citations = grounded.citations
            if grounded.no_answer is not None:
                yield from self._fixed_reply(conversation_id, user_message_id, grounded.no_answer)
                return
        elif answer_language and history:
            last = history[-1]
            history = history[:-1] + [
                ChatTurn(Role.USER, f"{last.content}\n\n(Answer in {answer_language}.)")
            ]
        engine = getattr(model, "engine", None)  # a named engine's model says which
        if conv.model != model.name or conv.engine != engine:
            self.repo.update_conversation(conversation_id, model=model.name, engine=engine)
        given: tuple[Memory, ...]
        if tools is not None:
            given = yield from self._tool_reply(
                conversation_id, user_message_id, model, system, history, options, cancel,
                tools, citations, selection,
            )  # fmt: skip
        else:
            block = selection.block if selection is not None else ""
            plan = plan_context(model, system, history, options.max_tokens, block)
            self.last_plan = plan
            given = selection.memories if selection and not plan.memory_dropped else ()
            reply = self.repo.add_message(
                conversation_id,
                Role.ASSISTANT,
                "",
                MessageStatus.STREAMING,
                model=model.name,
                parent_id=user_message_id,
            )
            if citations or given:
                self.repo.update_message(
                    reply.id, citations=list(citations), memories=[m.uid for m in given]
                )
            yield ReplyStarted(
                conversation_id, user_message_id, reply.id, plan, citations, memories=given
            )
            source = model.stream(plan.turns, replace(options, max_tokens=plan.max_tokens), cancel)
            yield from self._record(conversation_id, reply.id, source, plan)
        if given and self.memory is not None:
            self.memory.mark_used(given)
        if propose_memories and conv.memory != MemoryMode.PRIVATE:
            yield from self._propose(model, conversation_id, user_message_id, user_text, cancel)

    def _memories(
        self,
        model: ChatModel,
        conversation: Conversation,
        user_message_id: int,
        system: ChatTurn | None,
        history: list[ChatTurn],
        options: GenerationOptions,
    ) -> MemorySelection | None:
        """The memories to give with the latest message: none unless the
        conversation's switch is on. Their budget is the memory setting's,
        and never more than half of what the window leaves after the system
        prompt, the message and the answer's room."""
        memory = self.memory
        if memory is None or not memory.enabled or conversation.memory != MemoryMode.ON:
            return None
        if not history:
            return None
        n_ctx = model.context_size
        base = model.count_tokens(([system] if system else []) + [history[-1]])
        reserve = min(options.max_tokens, max(64, n_ctx // 4))
        budget = max(0, min(memory.budget_tokens, (n_ctx - reserve - base) // 2))

        def count(text: str) -> int:
            return model.count_tokens([ChatTurn(Role.SYSTEM, text)])

        # the memories the last reply on this branch was given, kept in place
        branch = self.repo.messages(conversation.id, user_message_id)
        previous = next(
            (m.memories for m in reversed(branch) if m.role == Role.ASSISTANT and m.memories),
            [],
        )
        return memory.select(history[-1].content, budget, count, previous)

    def _propose(
        self,
        model: ChatModel,
        conversation_id: int,
        user_message_id: int,
        user_text: str,
        cancel: threading.Event | None,
    ) -> Generator[ChatEvent, None, None]:
        """Ask a model that can for memories from the user's message, once
        its reply is complete; a failure here costs the proposals, not the
        reply."""
        memory = self.memory
        if memory is None or not memory.enabled or not model.can_propose_memories:
            return
        if cancel is not None and cancel.is_set():
            return
        try:
            proposals = memory.propose(model, user_text, conversation_id, user_message_id, cancel)
        except AssistantError:
            return
        if proposals:
            yield MemoryProposed(tuple(proposals))

    # ------------------------------------------------------------- tools
    def _tool_reply(
        self,
        conversation_id: int,
        user_message_id: int,
        model: ChatModel,
        system: ChatTurn | None,
        history: list[ChatTurn],
        options: GenerationOptions,
        cancel: threading.Event | None,
        tools: ToolUse,
        citations: tuple[Citation, ...],
        selection: MemorySelection | None = None,
    ) -> Generator[ChatEvent, None, tuple[Memory, ...]]:
        """A reply that may call tools: each step is an answer stored as its
        own message; one that asks for tools is followed by a message per
        call (its result), and the model is asked again with the results,
        up to ``max_steps`` rounds (the last answer is asked for without
        tools). Each piece is stored as soon as it exists, so a stop at any
        point keeps everything so far, ended by a stopped reply. Every step
        is given the same memories (``selection``); the first step's message
        records them, and they are returned."""
        import json

        cancel = cancel or threading.Event()
        specs = [t.spec for t in tools.tools]
        # the tools' descriptions take room in the prompt too (about 4 characters a token)
        spec_tokens = len(json.dumps([s.function() for s in specs])) // 4 + 8 * len(specs)
        parent = user_message_id
        block = selection.block if selection is not None else ""
        given: tuple[Memory, ...] = ()
        for step in range(tools.max_steps + 1):
            offer = specs if step < tools.max_steps else None
            extra = spec_tokens if offer else 0
            plan = plan_context(model, system, history, options.max_tokens + extra, block)
            self.last_plan = plan
            if step == 0 and selection is not None and not plan.memory_dropped:
                given = selection.memories
            room = max(16, plan.max_tokens - extra)
            reply = self.repo.add_message(
                conversation_id,
                Role.ASSISTANT,
                "",
                MessageStatus.STREAMING,
                model=model.name,
                parent_id=parent,
            )
            shown = citations if step == 0 else ()
            memories = given if step == 0 else ()
            if shown or memories:
                self.repo.update_message(
                    reply.id, citations=list(shown), memories=[m.uid for m in memories]
                )
            yield ReplyStarted(
                conversation_id,
                user_message_id,
                reply.id,
                plan,
                shown,
                memories=memories,
                step=step,
            )
            source = model.stream(
                plan.turns, replace(options, max_tokens=room), cancel, tools=offer
            )
            message, finished = yield from self._record(
                conversation_id, reply.id, source, plan, done=False
            )
            if not message.tool_calls or message.status != MessageStatus.COMPLETE:
                yield ReplyDone(message, finished, plan)
                return given
            yield ToolCallsAsked(message)
            history.append(
                ChatTurn(Role.ASSISTANT, message.content, tool_calls=tuple(message.tool_calls))
            )
            parent = message.id
            from assistant.tools.base import quoted_for_model

            for call in message.tool_calls:
                result = yield from self._run_tool(conversation_id, parent, call, tools, cancel)
                parent = result.id
                history.append(
                    ChatTurn(
                        Role.TOOL,
                        quoted_for_model(call.name, result.content),
                        tool_call_id=call.id,
                        name=call.name,
                    )
                )
            if cancel.is_set():  # stopped while tools ran: end with a stopped reply
                yield from self._fixed_reply(conversation_id, user_message_id, "", "cancelled")
                return given
        return given

    def _run_tool(
        self,
        conversation_id: int,
        parent_id: int,
        call: ToolCall,
        tools: ToolUse,
        cancel: threading.Event,
    ) -> Generator[ChatEvent, None, Message]:
        """Ask (when needed), run and store one call; the stored result.
        The result row exists before the tool runs, so a kill leaves it
        found as stopped, like a reply."""
        from assistant.tools.base import ToolContext, ToolOutput, safe_output

        tool = tools.get(call.name)
        result = self.repo.add_message(
            conversation_id,
            Role.TOOL,
            "",
            MessageStatus.STREAMING,
            parent_id=parent_id,
            tool_call=call,
        )
        asks = tool is not None and tool.asks_first and call.name not in tools.allowed
        if asks:
            allowed_here = self.repo.get_conversation(conversation_id, messages=False)
            asks = call.name not in allowed_here.tools_allowed
        yield ToolCallStarted(call, tool.source if tool else "", asks)
        text = ""
        found: tuple[Citation, ...] = ()
        outcome = ToolOutcome.OK
        if tool is None:
            outcome = ToolOutcome.UNKNOWN
            names = ", ".join(t.name for t in tools.tools)
            text = f"There is no tool named {call.name}; the tools are: {names}."
        elif cancel.is_set():
            outcome, text = ToolOutcome.STOPPED, "Not run: the user stopped the reply."
        elif asks and tools.approve is None:
            outcome = ToolOutcome.REFUSED
            text = (
                f"Not run: {call.name} needs the user's approval and none could be asked "
                f"(not on a terminal); allow it with --allow {call.name}."
            )
        if outcome == ToolOutcome.OK and asks and tool is not None and tools.approve is not None:
            answer = tools.approve(ApprovalRequest(conversation_id, call, tool), cancel)
            if cancel.is_set():
                outcome, text = ToolOutcome.STOPPED, "Not run: the user stopped the reply."
            elif answer == Approval.DENY:
                outcome, text = ToolOutcome.DENIED, "Not run: the user denied this call."
            elif answer == Approval.CONVERSATION:
                self.repo.allow_tool(conversation_id, call.name)
        if outcome == ToolOutcome.OK and tool is not None:
            try:  # a tool that cannot do it raises ToolFailed (an AssistantError)
                output = tool.run(call.arguments, ToolContext(cancel, conversation_id))
            except AssistantError as exc:
                outcome, text = ToolOutcome.ERROR, f"Error: {exc}"
            except Exception as exc:  # a tool's own bug: the reply goes on, the model is told
                outcome, text = ToolOutcome.ERROR, f"Error: {call.name} failed ({exc})."
            else:
                if isinstance(output, ToolOutput):
                    text, found = output.text, output.citations
                else:
                    text = str(output)
                if cancel.is_set():
                    outcome = ToolOutcome.STOPPED
        status = {
            ToolOutcome.STOPPED: MessageStatus.STOPPED,
            ToolOutcome.ERROR: MessageStatus.ERROR,
        }.get(outcome, MessageStatus.COMPLETE)
        self.repo.update_message(
            result.id,
            content=safe_output(text, tools.output_chars),
            status=status,
            finish_reason=str(outcome),
            citations=list(found),
        )
        stored = self.repo.get_message(result.id)
        yield ToolCallDone(call, stored, str(outcome))
        return stored

    def _fixed_reply(
        self, conversation_id: int, user_message_id: int | None, text: str, reason: str = "stop"
    ) -> Generator[ChatEvent, None, None]:
        """A reply the app writes itself (the notes do not cover the question;
        stopped before the model was asked), stored through the same loop."""
        reply = self.repo.add_message(conversation_id, Role.ASSISTANT, "", MessageStatus.STREAMING)
        yield ReplyStarted(conversation_id, user_message_id, reply.id, None)
        source: list[Any] = ([TextPiece(text)] if text else []) + [Finished(reason, 0, 0)]
        yield from self._record(conversation_id, reply.id, source, None)

    @staticmethod
    def _documents(text: str) -> list[AttachedDocument]:
        """The files a message names with ``@path`` (relative to the working folder)."""
        from assistant.chat.attachments import mentioned_files, read_document

        return [read_document(label, path) for label, path in mentioned_files(text)]

    def _attach(
        self,
        model: ChatModel,
        system: ChatTurn | None,
        history: list[ChatTurn],
        options: GenerationOptions,
        documents: list[AttachedDocument],
        cancel: threading.Event | None,
    ) -> Generator[ChatEvent, None, Attached | None]:
        """Whole documents in the prompt, or map-reduce over their parts
        (``assistant.chat.attachments``), with a progress event per part."""
        from assistant.chat.attachments import attach

        n_ctx = model.context_size
        base = model.count_tokens(([system] if system else []) + [history[-1]])
        reserve = min(options.max_tokens, max(64, n_ctx // 4))
        budget = max(0, n_ctx - reserve - base)
        steps = attach(model, history[-1].content, documents, budget, options, cancel)
        while True:
            try:
                part, parts = next(steps)
            except StopIteration as done:
                result: Attached | None = done.value
                return result
            yield ReplyProgress("read", part, parts)

    # ------------------------------------------------------ the one loop
    def _record(
        self,
        conversation_id: int,
        reply_id: int,
        source: Iterable[Any],
        plan: ContextPlan | None,
        done: bool = True,
    ) -> Generator[ChatEvent, None, tuple[Message, Finished]]:
        """Store what ``source`` (a model stream or a writing action) produces
        and hand it on: text only once it is on disk; progress as it comes;
        the figures of the run with the final status, and the tool calls the
        answer asked for. ``done`` False (a step of a reply with tools): no
        ``ReplyDone``; the caller gets the stored message either way."""
        from assistant.writing.actions import ActionDone, ActionProgress

        parts: list[str] = []
        pending: list[str] = []
        last_flush = time.monotonic()
        finished: Finished | None = None
        action: ActionDone | None = None
        status = MessageStatus.STOPPED
        error: str | None = None
        calls: tuple[ToolCall, ...] = ()
        try:
            for event in source:
                if isinstance(event, Finished):
                    finished = event
                    continue
                if isinstance(event, ToolCalls):
                    calls = event.calls
                    continue
                if isinstance(event, ActionDone):
                    action, finished = event, event.finished
                    continue
                if isinstance(event, ActionProgress):
                    yield ReplyProgress(event.phase, event.part, event.parts)
                    continue
                parts.append(event.text)
                pending.append(event.text)
                now = time.monotonic()
                # Write before showing: text reaches the caller only once it is
                # on disk, so a kill -9 never loses what the user has seen. The
                # first piece goes at once (time to first token is untouched),
                # later ones in batches of flush_interval.
                if len(parts) == 1 or now - last_flush >= self.flush_interval:
                    self.repo.update_message(reply_id, content="".join(parts))
                    last_flush = now
                    yield TextPiece("".join(pending))
                    pending.clear()
            if pending:
                self.repo.update_message(reply_id, content="".join(parts))
                yield TextPiece("".join(pending))
                pending.clear()
            if finished is None:
                raise ModelError("The model's answer ended before it was finished.")
            status = (
                MessageStatus.STOPPED
                if finished.finish_reason == "cancelled"
                else MessageStatus.COMPLETE
            )
        except AssistantError as exc:
            status, error = MessageStatus.ERROR, str(exc)
            raise
        except Exception as exc:
            status, error = MessageStatus.ERROR, f"The model failed: {exc}"
            raise ModelError(error) from exc
        finally:
            # Runs on success, cancel, error, and when the consumer stops
            # iterating (GeneratorExit, KeyboardInterrupt): the text is kept.
            text = "".join(parts)
            if status == MessageStatus.COMPLETE:
                text = text.rstrip()
            fields: dict[str, object] = {"content": text, "status": status, "error": error}
            if calls:
                fields["tool_calls"] = list(calls)
            if finished is not None:
                fields.update(
                    prompt_tokens=finished.prompt_tokens,
                    completion_tokens=finished.completion_tokens,
                    tokens_per_second=finished.tokens_per_second,
                    time_to_first_token_ms=finished.time_to_first_token_ms,
                    generation_ms=finished.generation_ms,
                    # stored, shown and exported as the one word for a stopped reply
                    finish_reason=(
                        "stopped"
                        if finished.finish_reason == "cancelled"
                        else finished.finish_reason
                    ),
                )
            self.repo.update_message(reply_id, **fields)
            self.repo.touch(conversation_id)
        message: Message = self.repo.get_message(reply_id)
        if done:
            yield ReplyDone(
                message,
                finished,
                plan,
                empty_parts=action.empty_parts if action else (),
                cut_parts=action.cut_parts if action else (),
            )
        return message, finished
