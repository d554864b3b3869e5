"""Plain data objects shared by every layer; no ORM, no UI."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final


class Role(StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"  # the result of a tool call, answering the assistant message that asked


class Status(StrEnum):
    """How a message or a draft stands: one enum for both, one word for each
    state wherever it is shown (``status_word``). A reply or a piece that
    ended before it was finished, whether the user stopped it or the app
    closed under it, is ``stopped``: the CLI, JSON, exports and the UI say
    that one word (migrations 0005 and 0011 renamed the older "cancelled"
    and "interrupted" of messages and of drafts)."""

    PLANNED = "planned"  # a draft whose outline exists, no text yet
    WRITING = "writing"  # a draft being written (a process owns it)
    STREAMING = "streaming"  # a reply being written
    COMPLETE = "complete"
    STOPPED = "stopped"
    ERROR = "error"
    # Older names of STOPPED, kept so code written against them still reads right.
    CANCELLED = "stopped"
    INTERRUPTED = "stopped"


MessageStatus = Status
DraftStatus = Status

# What each state is called on screen, in the terminal and in exports.
STATUS_WORDS: dict[str, str] = {
    Status.PLANNED: "outline only",
    Status.WRITING: "being written",
    Status.STREAMING: "being written",
    Status.COMPLETE: "complete",
    Status.STOPPED: "stopped",
    Status.ERROR: "error",
}


def status_word(status: str) -> str:
    """The one word (or words) for ``status`` wherever it is shown."""
    return STATUS_WORDS.get(status, str(status))


@dataclass(frozen=True)
class ToolSpec:
    """A tool as a model is offered it: a name, what it does, and the JSON
    schema of its arguments (OpenAI's ``function`` object)."""

    name: str
    description: str
    parameters: Mapping[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )

    def function(self) -> dict[str, Any]:
        """The OpenAI ``tools`` entry (also what chat templates render)."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": dict(self.parameters),
            },
        }


@dataclass(frozen=True)
class ToolCall:
    """One call a model asked for: ``id`` pairs it with its result."""

    id: str
    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)

    def arguments_json(self) -> str:
        import json

        return json.dumps(dict(self.arguments), ensure_ascii=False)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "arguments": dict(self.arguments)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ToolCall:
        arguments = d.get("arguments")
        return cls(
            id=str(d.get("id") or ""),
            name=str(d.get("name") or ""),
            arguments=dict(arguments) if isinstance(arguments, Mapping) else {},
        )


@dataclass(frozen=True)
class ChatTurn:
    """One message as the model sees it. A reply that asked for tools carries
    its ``tool_calls``; a tool result (role ``tool``) names the call it
    answers (``tool_call_id``) and the tool (``name``)."""

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None
    # For a model without a chat template (a base model), a last user turn
    # with a cue is shown as written and followed by the cue ("Answer:")
    # instead of the reply's role label: such a model completes a document
    # far better than it follows an instruction (bench/answers.py).
    cue: str = ""


@dataclass
class Message:
    id: int
    conversation_id: int
    role: Role
    content: str
    status: MessageStatus
    created_at: datetime
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    tokens_per_second: float | None = None
    time_to_first_token_ms: float | None = None
    generation_ms: float | None = None
    finish_reason: str | None = None
    error: str | None = None
    citations: list[Citation] = field(default_factory=list)
    parent_id: int | None = None  # the message this one answers or follows; None for a root
    # The memories a reply was given, by uid (stable across export and import);
    # a memory deleted since is no longer there to name.
    memories: list[str] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)  # a reply that asked for tools
    tool_call: ToolCall | None = None  # a tool result: the call it answers


USED_MARK = "→ "  # before a source the answer comes from, in every shell and export


@dataclass(frozen=True)
class Citation:
    """A passage of the user's notes that a reply was given, numbered as the
    model saw it ([1], [2]...). Stored with the message as JSON."""

    n: int
    collection: str
    path: str  # relative to the collection's folder
    abs_path: str
    start_line: int
    end_line: int
    page: int | None = None
    heading: str = ""
    keyword_rank: int | None = None
    vector_rank: int | None = None
    score: float | None = None
    chunk_id: int | None = None
    kind: str | None = None  # the file's kind (pdf, pptx, xlsx, ...): names the page unit
    # The reply's answer comes from this passage: it cites it as [n], or
    # (a model that writes no marks) its answering words are found here.
    used: bool = False

    @property
    def place(self) -> str:
        """Where in the file beyond lines: "page 3", "slide 2" or "row 40"; or ""."""
        if not self.page:
            return ""
        unit = {"pptx": "slide", "odp": "slide", "xlsx": "row"}.get(self.kind or "", "page")
        return f"{unit} {self.page}"

    @property
    def lines(self) -> str:
        if self.start_line == self.end_line:
            return str(self.start_line)
        return f"{self.start_line}-{self.end_line}"

    @property
    def location(self) -> str:
        """``path:start-end`` inside its collection."""
        return f"{self.path}:{self.lines}"

    @property
    def source(self) -> str:
        """``collection/path:start-end``: where the passage is, unambiguous
        across collections; every shell and export names a source this way."""
        return f"{self.collection}/{self.location}" if self.collection else self.location

    @property
    def label(self) -> str:
        """``[n] collection/path:start-end (page p) — heading``, after ``→ ``
        when the answer comes from it."""
        text = f"{USED_MARK if self.used else ''}[{self.n}] {self.source}"
        if self.place:
            text += f" ({self.place})"
        if self.heading:
            text += f" — {self.heading}"
        return text

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["location"] = self.location
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Citation:
        """Read a stored citation; unknown keys (``location``) are ignored."""

        def opt_int(key: str) -> int | None:
            value = d.get(key)
            return int(value) if isinstance(value, int | float) else None

        score = d.get("score")
        return cls(
            n=int(d.get("n") or 0),
            collection=str(d.get("collection") or ""),
            path=str(d.get("path") or ""),
            abs_path=str(d.get("abs_path") or ""),
            start_line=int(d.get("start_line") or 1),
            end_line=int(d.get("end_line") or d.get("start_line") or 1),
            page=opt_int("page"),
            heading=str(d.get("heading") or ""),
            keyword_rank=opt_int("keyword_rank"),
            vector_rank=opt_int("vector_rank"),
            score=float(score) if isinstance(score, int | float) else None,
            chunk_id=opt_int("chunk_id"),
            kind=str(d["kind"]) if isinstance(d.get("kind"), str) else None,
            used=d.get("used") is True,
        )


@dataclass(frozen=True)
class Grounding:
    """What the model sees in place of the bare question when a reply is
    grounded in the user's notes: passages as quoted material, and the
    citations they are numbered by."""

    prompt: str
    citations: tuple[Citation, ...] = ()
    # The passages' texts, in the order of ``citations``: what the reply is
    # checked against to mark the sources its answer comes from.
    passages: tuple[str, ...] = ()
    # The same passages and question laid out for a base model: a document
    # to complete after ``cue`` (see ``ChatTurn.cue``).
    document: str = ""
    cue: str = ""
    document_stops: tuple[str, ...] = ()  # what ends an answer to ``document``
    # Set when the notes do not cover the question: this is the reply, and the
    # model is not asked (rather than letting it answer from nothing).
    no_answer: str | None = None


class MemoryMode(StrEnum):
    """Whether a conversation uses memories. ``on``: the memories relevant to
    each message go into the system prompt and, after a reply, the model may
    propose new ones; ``off``: none are given to the model (proposals still
    come); ``private``: memories are neither used nor proposed, and nothing
    typed there is linked to it."""

    ON = "on"
    OFF = "off"
    PRIVATE = "private"

    @classmethod
    def read(cls, value: object) -> MemoryMode:
        """A stored or imported switch; missing or unknown reads as on."""
        try:
            return cls(str(value))
        except ValueError:
            return cls.ON


class MemorySource(StrEnum):
    """Where a memory came from: typed by hand (``memory add``, ``/remember``)
    or proposed by the model after a reply and kept on the user's yes."""

    TYPED = "typed"
    PROPOSED = "proposed"


@dataclass
class Memory:
    """A short statement about the user, kept across conversations."""

    id: int
    uid: str  # stable across export and import
    text: str
    source: MemorySource
    created_at: datetime
    updated_at: datetime
    last_used_at: datetime | None = None  # last given to the model
    conversation_id: int | None = None  # where it was typed or proposed (None: gone, or typed)
    message_id: int | None = None  # the user's message it was proposed from


class ProposalKind(StrEnum):
    """What a proposed memory is to the ones already kept."""

    NEW = "new"
    REPEAT = "repeat"  # an existing memory already says this
    CHANGE = "change"  # it changes or contradicts an existing memory
    CLOSE = "close"  # its meaning is very close to an existing memory's


@dataclass(frozen=True)
class MemoryProposal:
    """A memory the model proposes after a reply; stored only on the user's yes."""

    text: str
    kind: ProposalKind
    conversation_id: int
    message_id: int  # the user's message it comes from
    related: Memory | None = None  # the memory it repeats or changes

    def question(self) -> str:
        """The question a shell asks about it, in one sentence."""
        if self.related is None or self.kind == ProposalKind.NEW:
            return f"Remember “{self.text}”?"
        old = f"memory {self.related.id} (“{self.related.text}”)"
        if self.kind == ProposalKind.REPEAT:
            return f"This repeats {old}: replace it with “{self.text}”?"
        if self.kind == ProposalKind.CHANGE:
            return f"This changes {old}: replace it with “{self.text}”?"
        return f"This is close to {old}: replace it with “{self.text}”?"


@dataclass
class Conversation:
    id: int
    title: str
    created_at: datetime
    updated_at: datetime
    model: str | None = None
    system_prompt: str | None = None
    use_notes: bool = False  # replies are grounded in the user's notes
    persona: str | None = None  # the persona whose system prompt is in use
    engine: str | None = None  # the named engine replies came from last; None: a local model
    messages: list[Message] = field(default_factory=list)
    message_count: int = 0
    uid: str = ""  # stable across export and import: importing it again adds nothing
    current_leaf_id: int | None = None  # the last message of the branch in front of the user
    memory: MemoryMode = MemoryMode.ON  # whether replies use (and the model proposes) memories
    # Tools replies may call: None off, ("*",) every tool, else these names.
    tools: tuple[str, ...] | None = None
    tools_allowed: tuple[str, ...] = ()  # tools the user allowed for this conversation


@dataclass
class Thread:
    """The branch of a conversation in front of the user.

    Messages form a tree (each has a parent); ``messages`` is the path from the
    root to the current leaf, which is also what the model is given.
    ``siblings`` maps each message on the path to its own id and the ids of
    its siblings, oldest first, so a shell can show "2/3" and move between
    them.
    """

    conversation: Conversation
    messages: list[Message] = field(default_factory=list)
    siblings: dict[int, tuple[int, ...]] = field(default_factory=dict)

    def position(self, message_id: int) -> tuple[int, int]:
        """(1-based place among its siblings, how many there are)."""
        ids = self.siblings.get(message_id, (message_id,))
        return ids.index(message_id) + 1, len(ids)

    def sibling(self, message_id: int, step: int) -> int | None:
        """The sibling ``step`` places away (-1 previous, +1 next), or None."""
        ids = self.siblings.get(message_id, (message_id,))
        place = ids.index(message_id) + step
        return ids[place] if 0 <= place < len(ids) else None


@dataclass(frozen=True)
class GenerationOptions:
    max_tokens: int = 512
    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    repeat_penalty: float = 1.1
    seed: int | None = None
    stop: tuple[str, ...] = ()
    # Keep going past end-of-generation tokens (benchmarks, "continue writing").
    ignore_eos: bool = False
    # The fields the user set (config.toml, ASSISTANT_*, the command line):
    # a model's own defaults (``ChatModel.sampling_defaults``) fill the others.
    chosen: frozenset[str] = frozenset()


@dataclass(frozen=True)
class OutlineSection:
    """One section of a long piece: its title and the words it is given."""

    title: str
    words: int


@dataclass
class Draft:
    """A piece written by ``compose``, stored as it is written."""

    id: int
    kind: str
    title: str
    status: DraftStatus
    created_at: datetime
    updated_at: datetime
    content: str = ""
    variables: dict[str, str] = field(default_factory=dict)  # as the user gave them
    outline: list[OutlineSection] = field(default_factory=list)
    target_words: int = 0
    words: int = 0  # words of the text written so far (headings and sources not counted)
    sections_done: int = 0
    source: str | None = None  # "notes: QUERY" or "file: PATH" when written from material
    citations: list[Citation] = field(default_factory=list)
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    generation_ms: float | None = None
    finish_reason: str | None = None
    error: str | None = None

    @property
    def sections_total(self) -> int:
        return len(self.outline)


# (question, token budget for the passages and their delimiters, token counter)
GroundingProvider = Callable[[str, int, Callable[[str], int]], Grounding]


# Around each matched term of a search snippet; each shell draws them its own way.
MARK_START: Final = "\ue000"
MARK_END: Final = "\ue001"
_MARKS = re.compile(f"{MARK_START}(.*?){MARK_END}", re.S)


@dataclass(frozen=True)
class SearchHit:
    """A message found by a history search, with a one-line snippet."""

    conversation_id: int
    conversation_title: str
    message_id: int
    role: str
    snippet: str  # one line; matched terms between MARK_START and MARK_END
    created_at: datetime
    rank: float = 0.0  # bm25: lower is better

    def marked(self, start: str = "[", end: str = "]") -> str:
        """The snippet with its matches between ``start`` and ``end``."""
        return _MARKS.sub(lambda m: f"{start}{m.group(1)}{end}", self.snippet)

    def pieces(self) -> list[tuple[str, bool]]:
        """The snippet as (text, matched) pieces, for a shell that styles matches."""
        pieces: list[tuple[str, bool]] = []
        at = 0
        for m in _MARKS.finditer(self.snippet):
            if m.start() > at:
                pieces.append((self.snippet[at : m.start()], False))
            pieces.append((m.group(1), True))
            at = m.end()
        if at < len(self.snippet):
            pieces.append((self.snippet[at:], False))
        return pieces


def plural(count: int, word: str, words: str | None = None) -> str:
    """``1 file``, ``2 files``: the count and the word that goes with it."""
    return f"{count} {word if count == 1 else (words or word + 's')}"
