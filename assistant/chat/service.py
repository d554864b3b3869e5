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
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
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
from assistant.chat.notes_answer import ground_question
from assistant.chat.titles import action_title, title_from_text
from assistant.chat.tooluse import (
    Approval,
    ApprovalRequest,
    ToolOutcome,
    ToolUse,
    cannot_call_tools,
)
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
from assistant.errors import AssistantError, DatabaseFilesLost, ModelError, UsageError
from assistant.llm.base import ChatModel, Finished, TextPiece, ToolCalls, with_model_defaults
from assistant.llm.handle import ModelHandle
from assistant.llm.prompting import PRIMING

if TYPE_CHECKING:
    from assistant.chat.attachments import Attached
    from assistant.chat.attachments import Document as AttachedDocument
    from assistant.chat.memory import MemorySelection, MemoryService
    from assistant.chat.transfer import ImportResult
    from assistant.chat.writing import ActionRequest
    from assistant.store.repository import ConversationRepository
    from assistant.writing.actions import ActionRunner
    from assistant.writing.templates import Persona, PromptLibrary, PromptTemplate

FLUSH_INTERVAL = 0.1
NEW_TITLE = "New conversation"

# Builds an ActionRunner on a model with the user's options (temperature,
# top_p, seed, max_tokens); the composition root provides it.
RunnerFactory = Callable[[ChatModel], "ActionRunner"]


def priming(model: ChatModel, history: list[ChatTurn]) -> list[ChatTurn]:
    """Earlier exchanges shown to a base model before a conversation that is
    not grounded in notes (``prompting.PRIMING``), in the language of its
    first message: the same for every turn, so a saved state keeps matching.
    None for a model with a chat template."""
    if not model.base_model:
        return []
    from assistant.language import detect

    first = next((t.content for t in history if t.role == Role.USER), "")
    pairs = PRIMING.get(detect(first), PRIMING["en"])
    return [
        ChatTurn(role, text)
        for question, answer in pairs
        for role, text in ((Role.USER, question), (Role.ASSISTANT, answer))
    ]


class ReplyRows:
    """The rows a reply is written into (its conversation and its own row),
    and what happens to it should the database's -wal and -shm files be
    deleted under the reply (``DatabaseFilesLost``). Most often the Database
    saves what was written and opens the file afresh by itself, the rows stay
    the same, and the reply only carries a warning. When it cannot (another
    process had the file open), nothing more can be stored in this process:
    the reply goes on being shown, and is kept in a Markdown file in the
    data folder's ``recovered/`` instead, which the warning names."""

    def __init__(
        self,
        repo: ConversationRepository,
        conversation_id: int,
        question_id: int | None,
        reply_id: int,
    ) -> None:
        self.repo = repo
        self.conversation_id = conversation_id
        self.reply_id = reply_id
        self.lost: DatabaseFilesLost | None = None  # nothing more can be stored
        self._reopened = repo.db.reopened
        # for a recovery file, should it come to that: read while the files are whole
        self._title = repo.get_conversation(conversation_id, messages=False).title
        self._question = repo.get_message(question_id).content if question_id else ""
        self._fields: dict[str, object] = {}  # what would have been stored last
        self.kept_in: Path | None = None

    def write(self, write: Callable[[int, int], object], **fields: object) -> None:
        """``write(conversation_id, reply_id)``; ``fields`` is what it stores
        in the reply (kept for the recovery file should the files be lost)."""
        self._fields.update(fields)
        if self.lost is not None:
            return
        try:
            write(self.conversation_id, self.reply_id)
        except DatabaseFilesLost as exc:
            self.lost = exc

    def end(self, status: MessageStatus, error: str | None = None) -> None:
        """A reply that never started: its row ends ``status``."""
        self.write(
            lambda _c, r: self.repo.update_message(r, status=status, error=error),
            status=status,
            error=error,
        )

    def message(self) -> Message:
        """The reply as stored, or (the files lost) as it would have been."""
        if self.lost is None:
            return self.repo.get_message(self.reply_id)
        from datetime import UTC, datetime

        values = {k: v for k, v in self._fields.items() if k in Message.__dataclass_fields__}
        values.setdefault("status", MessageStatus.STOPPED)
        return Message(
            self.reply_id,
            self.conversation_id,
            Role.ASSISTANT,
            str(values.pop("content", "")),
            MessageStatus(str(values.pop("status"))),
            datetime.now(UTC).replace(tzinfo=None),
            **values,  # type: ignore[arg-type]
        )

    def warning(self) -> str | None:
        """What the user must hear about the database's files, or None."""
        from assistant.store.database import files_lost_sentence

        if self.lost is not None:
            where = self._keep_in_a_file()
            return (
                f"{files_lost_sentence(self.repo.db.path)}, and another process had it open "
                f"too, so this question and its reply could not be saved in it and are kept in "
                f"{where}; close every assistant, then start again."
            )
        if self.repo.db.reopened != self._reopened:
            return (
                f"{files_lost_sentence(self.repo.db.path)}; what it had written was saved into "
                f"the database when it reopened it, and this reply is in conversation "
                f"{self.conversation_id}."
            )
        return None

    def _keep_in_a_file(self) -> Path:
        from datetime import datetime

        from assistant.fileio import atomic_write_text
        from assistant.paths import private_dir

        if self.kept_in is None:
            folder = private_dir(self.repo.db.path.parent / "recovered")
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            self.kept_in = folder / f"reply-{stamp}-{self.reply_id}.md"
            text = (
                f"# {self._title}\n\n## You\n\n{self._question}\n\n## Assistant\n\n"
                f"{self._fields.get('content', '')}\n"
            )
            atomic_write_text(self.kept_in, text, mode=0o600)
        return self.kept_in


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

    def message(self, message_id: int) -> Message:
        return self.repo.get_message(message_id)

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
        user, reply = self.repo.add_exchange(conversation_id, text)
        yield from self._reply(
            conversation_id,
            user.id,
            cancel,
            options,
            grounding,
            answer_language,
            tools,
            reply.id,
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
        action = self._action_of(target)
        if action is not None:  # a writing action: it runs again, on the same text
            yield from self._action_reply(conversation_id, target.id, action, cancel)
            return
        yield from self._reply(
            conversation_id, target.id, cancel, options, grounding, tools=tools,
            propose_memories=propose_memories,
        )  # fmt: skip

    def _action_of(self, request: Message) -> ActionRequest | None:
        """The writing action a stored request asked for (a slash command, or
        the writing screen's), with the text it worked on: its own, or the
        reply it followed. None for a chat message."""
        from assistant.chat.writing import plan_action
        from assistant.writing.slash import is_slash, parse_slash

        line = request.content.strip()
        if not is_slash(line):
            return None
        try:
            library = self.library()
            command = parse_slash(line, library)
            if command.kind != "action":
                return None
            text = command.text
            if not text.strip() and request.parent_id is not None:
                before = self.repo.get_message(request.parent_id)
                text = before.content if before.role == Role.ASSISTANT else ""
            return plan_action(library, command.name, variables=command.variables).on(text)
        except AssistantError:  # not a command after all (a message that starts with /)
            return None

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
        user, reply = self.repo.add_exchange(conversation_id, text, parent_id=original.parent_id)
        yield from self._reply(
            conversation_id,
            user.id,
            cancel,
            options,
            grounding,
            tools=tools,
            reply_id=reply.id,
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
        None starts a conversation (titled ``title`` or after the request).
        The rules are ``plan_action``'s, as for the CLI."""
        from assistant.chat.writing import plan_action

        library = self.library()
        # a bad variable or an empty text fails before anything is stored
        action = plan_action(library, template, variables=variables, persona=persona).on(text)
        name = title or action_title(action.name, action.text)
        if conversation_id is None:
            conversation = self.new_conversation(name)
            conversation_id = conversation.id
        else:
            self._title_if_new(conversation_id, name)
        user, reply = self.repo.add_exchange(conversation_id, request)
        yield from self._action_reply(conversation_id, user.id, action, cancel, reply.id)

    def _action_reply(
        self,
        conversation_id: int,
        user_message_id: int,
        action: ActionRequest,
        cancel: threading.Event | None,
        reply_id: int | None = None,
    ) -> Generator[ChatEvent, None, None]:
        """The result of ``action``, stored as the reply to ``user_message_id``
        (in the row ``reply_id`` when the request was stored with it)."""
        rows = self._reply_rows(conversation_id, user_message_id, reply_id)
        with self._ended_if_not_started(rows):
            model = self.model
            if action.persona is None:
                persona = self._conversation_persona(conversation_id, self.library())
                if persona is not None:
                    action = replace(action, persona=persona)
            name = model.name
            rows.write(lambda _c, r: self.repo.update_message(r, model=name), model=name)
        yield ReplyStarted(
            rows.conversation_id, user_message_id, rows.reply_id, None, action=action.name
        )
        from assistant.chat.writing import stream_action

        source = stream_action(action, self.action_runner(model), cancel)
        yield from self._record(rows, source, None)

    def _reply_rows(
        self, conversation_id: int, user_message_id: int, reply_id: int | None
    ) -> ReplyRows:
        """The rows a reply to ``user_message_id`` goes into: ``reply_id``
        when it was stored with its question, else a new streaming row."""
        if reply_id is None:
            reply_id = self.repo.add_message(
                conversation_id, Role.ASSISTANT, "", MessageStatus.STREAMING,
                parent_id=user_message_id,
            ).id  # fmt: skip
        return ReplyRows(self.repo, conversation_id, user_message_id, reply_id)

    def _write_content(self, text: str, _conversation_id: int, reply_id: int) -> None:
        self.repo.update_message(reply_id, content=text)

    def _write_memories(self, uids: list[str], _conversation_id: int, reply_id: int) -> None:
        self.repo.update_message(reply_id, memories=uids)

    @contextmanager
    def _ended_if_not_started(self, rows: ReplyRows) -> Iterator[None]:
        """Around the work between storing a reply's row and streaming into
        it (loading the model, reading documents, the notes): when that fails
        or is stopped, the row ends as ``error`` (with the sentence) or
        ``stopped`` instead of staying ``streaming``."""
        try:
            yield
        except AssistantError as exc:
            rows.end(MessageStatus.ERROR, str(exc))
            raise
        except Exception as exc:
            rows.end(MessageStatus.ERROR, f"The reply could not start: {type(exc).__name__}.")
            raise
        except BaseException:  # Ctrl-C, or the consumer stopped listening
            rows.end(MessageStatus.STOPPED)
            raise

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
    ) -> tuple[list[ChatTurn], Grounding, GenerationOptions]:
        """Swap the latest question for a grounded prompt that fits the window."""
        turn, result, options = ground_question(model, system, history[-1], options, grounding)
        return history[:-1] + [turn], result, options

    def _reply(
        self,
        conversation_id: int,
        user_message_id: int,
        cancel: threading.Event | None,
        options: GenerationOptions | None,
        grounding: GroundingProvider | None = None,
        answer_language: str | None = None,
        tools: ToolUse | None = None,
        reply_id: int | None = None,
        *,
        propose_memories: bool = False,
    ) -> Generator[ChatEvent, None, None]:
        """Answer ``user_message_id``: the model gets the branch ending
        there, and the reply is stored as that message's child (in the row
        ``reply_id`` when the question was stored with it, else a new one).
        With ``tools``, the reply may call them (``_tool_reply``)."""
        rows = self._reply_rows(conversation_id, user_message_id, reply_id)
        with self._ended_if_not_started(rows):
            model = self.model
            options = with_model_defaults(options or self.options, model)
            conv = self.repo.get_conversation(conversation_id, messages=False)
            system_text = (
                conv.system_prompt if conv.system_prompt is not None else self.system_prompt
            )
            system = ChatTurn(Role.SYSTEM, system_text) if system_text else None
            if tools is not None and tools.tools and not model.supports_tools:
                yield ToolsUnavailable(
                    cannot_call_tools(model.name, "this answer is written without them")
                )
                tools = None
            memory_on = self.memory is not None and self.memory.enabled
            if tools is not None and (conv.memory != MemoryMode.ON or not memory_on):
                # memory off (here or everywhere) or private: nothing is kept
                kept = [t for t in tools.tools if t.name != "remember"]
                tools = replace(tools, tools=kept)
            if tools is not None and not tools.tools:
                tools = None
            history = self.history_turns(conversation_id, user_message_id, tools=tools is not None)
            user_text = history[-1].content if history else ""
            selection = self._memories(model, conv, user_message_id, system, history, options)
            block = selection.block if selection is not None else ""
            # notes and documents get what is left once the memories have their room
            framed = system
            if block:
                from assistant.chat.memory import with_memories

                framed = ChatTurn(Role.SYSTEM, with_memories(system_text, block) or "")
            citations: tuple[Citation, ...] = ()
            finalize: Callable[[str], dict[str, object]] | None = None
            documents = self._documents(history[-1].content) if history else []
            fixed: tuple[str, str] | None = None  # (text, reason) of a reply the app writes
            if documents:
                attached = yield from self._attach(
                    model, framed, history, options, documents, cancel
                )
                if attached is None:  # stopped while reading the documents
                    fixed = ("", "cancelled")
                else:
                    history = history[:-1] + [ChatTurn(Role.USER, attached.prompt)]
                    citations = attached.citations
            elif grounding is not None and history:
                question = history[-1].content
                history, grounded, options = self._ground(
                    model, framed, history, options, grounding
                )
                citations = grounded.citations
                if grounded.passages:
                    finalize = self._marks_sources(question, citations, grounded.passages)
                if grounded.no_answer is not None:
                    fixed = (grounded.no_answer, "stop")
            elif answer_language and history:
                last = history[-1]
                history = history[:-1] + [
                    ChatTurn(Role.USER, f"{last.content}\n\n(Answer in {answer_language}.)")
                ]
            plan: ContextPlan | None = None
            given: tuple[Memory, ...] = ()
            primer = priming(model, history) if grounding is None else []
            if fixed is None:
                engine = getattr(model, "engine", None)  # a named engine's model says which
                if tools is None:
                    plan = plan_context(model, system, primer + history, options.max_tokens, block)
                    self.last_plan = plan
                    given = selection.memories if selection and not plan.memory_dropped else ()
                if conv.model != model.name or conv.engine != engine:
                    rows.write(
                        lambda c, _r: self.repo.update_conversation(
                            c, model=model.name, engine=engine
                        )
                    )
                fields: dict[str, object] = {"model": model.name}
                if citations:
                    fields["citations"] = list(citations)
                if given:
                    fields["memories"] = [m.uid for m in given]
                rows.write(lambda _c, r: self.repo.update_message(r, **fields), **fields)
        if fixed is not None:
            text, reason = fixed
            yield from self._fixed_reply(
                rows.conversation_id, user_message_id, text, reason, rows=rows
            )
            return
        if tools is not None:
            given = yield from self._tool_reply(
                rows, user_message_id, model, system, history, options, cancel, tools, citations,
                selection,
            )  # fmt: skip
        else:
            assert plan is not None
            yield ReplyStarted(
                rows.conversation_id, user_message_id, rows.reply_id, plan, citations,
                memories=given,
            )  # fmt: skip
            source = model.stream(plan.turns, replace(options, max_tokens=plan.max_tokens), cancel)
            yield from self._record(rows, source, plan, finalize=finalize)
        if given and self.memory is not None and rows.lost is None:
            self.memory.mark_used(given)
        if propose_memories and conv.memory != MemoryMode.PRIVATE and rows.lost is None:
            yield from self._propose(
                model, rows.conversation_id, user_message_id, user_text, cancel
            )
        if tools is not None or (cancel is not None and cancel.is_set()) or rows.lost is not None:
            return
        # After the reply is out: let the model get the conversation ready as
        # the next turn will send it (the reply as stored, after the same
        # memories), so continuing it, here or in a new process, evaluates
        # only the new message.
        head = [framed] if given and framed else [system] if system else []
        turns = primer + self.history_turns(rows.conversation_id, rows.reply_id)
        model.prepare_next(head + turns, cancel)

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
        return memory.select(
            history[-1].content, budget, count, previous, relevant_only=model.base_model
        )

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

    @staticmethod
    def _marks_sources(
        question: str, citations: tuple[Citation, ...], passages: tuple[str, ...]
    ) -> Callable[[str], dict[str, object]]:
        """What marks, once the reply is written, the sources its answer comes from."""

        def finalize(text: str) -> dict[str, object]:
            from assistant.notes.grounding import supporting

            used = set(supporting(text, question, passages))
            return {"citations": [replace(c, used=c.n in used) for c in citations]}

        return finalize

    # ------------------------------------------------------------- tools
    def _tool_reply(
        self,
        rows: ReplyRows,
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
        point keeps everything so far, ended by a stopped reply. The first
        answer goes in ``rows`` (the row stored with the question). Every
        step is given the same memories (``selection``); the first step's
        message records them, and they are returned."""
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
            if step == 0:  # its row exists: a prompt too long for the window ends it
                with self._ended_if_not_started(rows):
                    plan = plan_context(model, system, history, options.max_tokens + extra, block)
            else:
                plan = plan_context(model, system, history, options.max_tokens + extra, block)
            self.last_plan = plan
            if step == 0 and selection is not None and not plan.memory_dropped:
                given = selection.memories
                uids = [m.uid for m in given]
                rows.write(partial(self._write_memories, uids), memories=uids)
            room = max(16, plan.max_tokens - extra)
            if step > 0:  # the first answer's row was stored with the question
                reply = self.repo.add_message(
                    rows.conversation_id,
                    Role.ASSISTANT,
                    "",
                    MessageStatus.STREAMING,
                    model=model.name,
                    parent_id=parent,
                )
                rows = ReplyRows(self.repo, rows.conversation_id, user_message_id, reply.id)
            conversation_id = rows.conversation_id
            shown = citations if step == 0 else ()
            yield ReplyStarted(
                conversation_id, user_message_id, rows.reply_id, plan, shown,
                memories=given if step == 0 else (), step=step,
            )  # fmt: skip
            source = model.stream(
                plan.turns, replace(options, max_tokens=room), cancel, tools=offer
            )
            message, finished = yield from self._record(rows, source, plan, done=False)
            if not message.tool_calls or message.status != MessageStatus.COMPLETE:
                yield ReplyDone(message, finished, plan, warning=rows.warning())
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
                yield from self._fixed_reply(
                    conversation_id, user_message_id, "", "cancelled", parent_id=parent
                )
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
        if asks and tool is not None and not tool.always_asks:
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
            elif answer == Approval.CONVERSATION and not tool.always_asks:
                self.repo.allow_tool(conversation_id, call.name)
        if outcome == ToolOutcome.OK and tool is not None:
            try:  # a tool that cannot do it raises ToolFailed (an AssistantError)
                output = tool.run(call.arguments, ToolContext(cancel, conversation_id, result.id))
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
        self,
        conversation_id: int,
        user_message_id: int,
        text: str,
        reason: str = "stop",
        *,
        rows: ReplyRows | None = None,
        parent_id: int | None = None,
    ) -> Generator[ChatEvent, None, None]:
        """A reply the app writes itself (the notes do not cover the question;
        stopped before the model was asked, or while tools ran), stored
        through the same loop: in ``rows``, or a new row under ``parent_id``
        (the question it answers by default, never just the newest message)."""
        if rows is None:
            reply = self.repo.add_message(
                conversation_id, Role.ASSISTANT, "", MessageStatus.STREAMING,
                parent_id=parent_id if parent_id is not None else user_message_id,
            )  # fmt: skip
            rows = ReplyRows(self.repo, conversation_id, user_message_id, reply.id)
        yield ReplyStarted(rows.conversation_id, user_message_id, rows.reply_id, None)
        source: list[Any] = ([TextPiece(text)] if text else []) + [Finished(reason, 0, 0)]
        yield from self._record(rows, source, None)

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
        rows: ReplyRows,
        source: Iterable[Any],
        plan: ContextPlan | None,
        done: bool = True,
        finalize: Callable[[str], dict[str, object]] | None = None,
    ) -> Generator[ChatEvent, None, tuple[Message, Finished]]:
        """Store what ``source`` (a model stream or a writing action) produces
        and hand it on: text only once it is on disk; progress as it comes;
        the figures of the run with the final status, and the tool calls the
        answer asked for. ``done`` False (a step of a reply with tools): no
        ``ReplyDone``; the caller gets the stored message either way.
        ``finalize`` gives more fields to store from the final text (the
        sources it used).

        Should the database's -wal and -shm files be deleted under the reply,
        ``rows`` says so: ``ReplyDone.warning``, and, when what was written
        could not be saved, the reply kept in a file (``ReplyRows``)."""
        from assistant.writing.actions import ActionDone, ActionProgress

        stored = rows.write

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
                    text = "".join(parts)
                    stored(partial(self._write_content, text), content=text)
                    last_flush = now
                    yield TextPiece("".join(pending))
                    pending.clear()
            if pending:
                text = "".join(parts)
                stored(partial(self._write_content, text), content=text)
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
            if finalize is not None and text.strip():
                fields.update(finalize(text))
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
            stored(lambda _c, r: self.repo.update_message(r, **fields), **fields)
            stored(lambda c, _r: self.repo.touch(c))
        message = rows.message()
        if done:
            yield ReplyDone(
                message,
                finished,
                plan,
                empty_parts=action.empty_parts if action else (),
                cut_parts=action.cut_parts if action else (),
                warning=rows.warning(),
            )
        return message, finished
