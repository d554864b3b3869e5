"""Conversations in and out: our JSON and Markdown exports, and imports of
ChatGPT's ``conversations.json``, simonw/llm's ``logs.db`` and our own JSON.

The one decision to know: every reader turns a file into whole
``Conversation`` objects first (message ids and parents local to each, parents
before children, ``current_leaf_id`` in the same ids), and only then is
anything stored, in one transaction (``ConversationRepository.
import_conversations``). A malformed file is one sentence and nothing is half
imported; a conversation already stored (same ``uid``) is skipped, so
importing a file twice adds nothing.

Branches survive both ways: our JSON export holds every message with its
parent and the current leaf, and ChatGPT's mapping is already a tree (every
branch is kept and the conversation opens on its ``current_node``).

Memories travel too: a reply names the memories it was given by uid (with
their text, when they still exist), ``export --all`` carries every memory
with the conversation and message it came from, and importing it links them
again in the same transaction.
"""

from __future__ import annotations

import json
import re
import sqlite3
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assistant.chat.titles import title_from_text
from assistant.domain import (
    Citation,
    Conversation,
    Memory,
    MemoryMode,
    Message,
    MessageStatus,
    Role,
    Thread,
    ToolCall,
    status_word,
)
from assistant.errors import UsageError

FORMAT = "assistant.conversation"
FORMAT_ALL = "assistant.conversations"
FORMAT_MEMORIES = "assistant.memories"
VERSION = 2
MEMORIES_VERSION = 1

CHATGPT = "ChatGPT export"
LLM = "llm logs.db"
OURS = "assistant export"


# JSON leaves these raw with ensure_ascii=False; a terminal obeys C1 controls.
_JSON_RAW = re.compile("[\x7f-\x9f\u2028\u2029]")


def dumps(obj: Any, indent: int | None = 2) -> str:
    """JSON text that is safe to ``cat``: readable Unicode, no raw C1 controls."""
    text = json.dumps(obj, ensure_ascii=False, default=str, indent=indent)
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


# ------------------------------------------------------------------ export
def memory_ref(uid: str, memories: Mapping[str, Memory] | None) -> dict[str, Any]:
    """A memory a reply was given: its uid, and its number and text while it exists."""
    memory = (memories or {}).get(uid)
    return {
        "uid": uid,
        "id": memory.id if memory else None,
        "text": memory.text if memory else None,
    }


def memory_record(memory: Memory, conversation_uids: Mapping[int, str]) -> dict[str, Any]:
    """One memory as exported (``conversation_uid``: where it was typed or proposed)."""
    return {
        "id": memory.id,
        "uid": memory.uid,
        "text": memory.text,
        "source": str(memory.source),
        "conversation_uid": conversation_uids.get(memory.conversation_id or 0),
        "message_id": memory.message_id,
        "created_at": memory.created_at.isoformat(),
        "updated_at": memory.updated_at.isoformat(),
        "last_used_at": memory.last_used_at.isoformat() if memory.last_used_at else None,
    }


def memories_record(
    memories: Iterable[Memory], conversation_uids: Mapping[int, str]
) -> dict[str, Any]:
    """Every memory in one file (``memory export``)."""
    return {
        "format": FORMAT_MEMORIES,
        "version": MEMORIES_VERSION,
        "memories": [memory_record(m, conversation_uids) for m in memories],
    }


def message_record(m: Message, memories: Mapping[str, Memory] | None = None) -> dict[str, Any]:
    """One message as exported (``sources``: the same word as ``ask --json``)."""
    return {
        "id": m.id,
        "parent_id": m.parent_id,
        "role": str(m.role),
        "content": m.content,
        "status": str(m.status),
        "created_at": m.created_at.isoformat(),
        "model": m.model,
        "prompt_tokens": m.prompt_tokens,
        "completion_tokens": m.completion_tokens,
        "tokens_per_second": m.tokens_per_second,
        "time_to_first_token_ms": m.time_to_first_token_ms,
        "generation_ms": m.generation_ms,
        "finish_reason": m.finish_reason,
        "error": m.error,
        "sources": [c.to_dict() for c in m.citations],
        "memories": [memory_ref(u, memories) for u in m.memories],
        **({"tool_calls": [c.to_dict() for c in m.tool_calls]} if m.tool_calls else {}),
        **({"tool_call": m.tool_call.to_dict()} if m.tool_call else {}),
    }


def conversation_record(
    conversation: Conversation,
    messages: Iterable[Message] | None = None,
    memories: Mapping[str, Memory] | None = None,
) -> dict[str, Any]:
    """The conversation as exported: every message of every branch (or the
    given ones) with its parent, and the current leaf; ``memories`` names
    the memories its replies were given."""
    chosen = list(conversation.messages if messages is None else messages)
    return {
        "format": FORMAT,
        "version": VERSION,
        "uid": conversation.uid,
        "id": conversation.id,
        "title": conversation.title,
        "created_at": conversation.created_at.isoformat(),
        "updated_at": conversation.updated_at.isoformat(),
        "model": conversation.model,
        "system_prompt": conversation.system_prompt,
        "persona": conversation.persona,
        "use_notes": conversation.use_notes,
        "memory": str(conversation.memory),
        "tools": list(conversation.tools) if conversation.tools is not None else None,
        "message_count": len(chosen) if messages is not None else conversation.message_count,
        "current_leaf": conversation.current_leaf_id,
        "messages": [message_record(m, memories) for m in chosen],
    }


def archive_record(
    conversations: Iterable[Conversation], memories: Sequence[Memory] = ()
) -> dict[str, Any]:
    """Several conversations in one file (``history export --all``), with
    every memory."""
    by_uid = {m.uid: m for m in memories}
    records = []
    uids: dict[int, str] = {}
    for c in conversations:
        records.append(conversation_record(c, memories=by_uid))
        uids[c.id] = c.uid
    return {
        "format": FORMAT_ALL,
        "version": VERSION,
        "conversations": records,
        "memories": [memory_record(m, uids) for m in memories],
    }


STATUS_NOTE = {
    status: status_word(status)
    for status in (MessageStatus.STOPPED, MessageStatus.ERROR, MessageStatus.STREAMING)
}


def memory_lines(uids: Sequence[str], memories: Mapping[str, Memory] | None) -> list[str]:
    """The memories a reply was given, one line each (a deleted one says so)."""
    lines = []
    for uid in uids:
        memory = (memories or {}).get(uid)
        if memory is None:
            lines.append("- (a memory deleted since)")
        else:
            lines.append(f"- [{memory.id}] {' '.join(memory.text.split())}")
    return lines


def thread_markdown(thread: Thread, memories: Mapping[str, Memory] | None = None) -> str:
    """The branch in front of the user as Markdown, each reply followed by
    its sources and the memories it was given; a note says when other
    branches exist (the JSON export holds them all)."""
    conv = thread.conversation
    lines = [f"# {conv.title}", ""]
    lines.append(f"- Conversation: {conv.id}")
    lines.append(f"- Created: {conv.created_at:%Y-%m-%d %H:%M} UTC")
    if conv.model:
        lines.append(f"- Model: {conv.model}")
    if conv.persona:
        lines.append(f"- Persona: {conv.persona}")
    if conv.memory != "on":
        lines.append(f"- Memory: {conv.memory}")
    if conv.system_prompt:
        lines.append(f"- System prompt: {conv.system_prompt}")
    forks = sum(1 for ids in thread.siblings.values() if len(ids) > 1)
    if forks:
        lines.append(
            f"- Branches: this is the current branch; {forks} of its messages have "
            "other versions (the JSON export keeps every branch)"
        )
    lines.append("")
    for m in thread.messages:
        who = {Role.USER: "You", Role.ASSISTANT: "Assistant", Role.TOOL: "Tool"}.get(
            m.role, "System"
        )
        if m.role == Role.TOOL and m.tool_call is not None:
            who = f"Tool {m.tool_call.name}"
        place, count = thread.position(m.id)
        notes = [f"{place}/{count}"] if count > 1 else []
        if m.status in STATUS_NOTE:
            notes.append(STATUS_NOTE[m.status])
        note = f" ({', '.join(notes)})" if notes else ""
        if m.role == Role.TOOL:
            fence = "````" if "```" in m.content else "```"
            lines += [f"## {who}{note}", "", fence, m.content.rstrip(), fence, ""]
        else:
            lines += [f"## {who}{note}", "", m.content.rstrip(), ""]
        for call in m.tool_calls:
            lines += [f"- Tool call: `{call.name}` {call.arguments_json()}"]
        if m.tool_calls:
            lines.append("")
        if m.error:
            lines += [f"> error: {m.error}", ""]
        if m.citations:
            lines.append("Sources:")
            lines += [f"- {c.label}" for c in m.citations]
            lines.append("")
        if m.memories:
            lines.append("Memories given:")
            lines += memory_lines(m.memories, memories)
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


# ------------------------------------------------------------------ import
@dataclass(frozen=True)
class ImportResult:
    format: str  # CHATGPT, LLM or OURS
    conversations: int  # added
    messages: int  # added
    skipped: int  # already imported before: nothing added
    empty: int  # held no message to keep (e.g. only hidden system text)
    memories: int = 0  # added
    memories_skipped: int = 0  # already here

    def sentence(self, path: Path) -> str:
        parts = [
            f"Imported {self.conversations} conversation{'s' * (self.conversations != 1)} "
            f"({self.messages} message{'s' * (self.messages != 1)})"
            + (
                f" and {self.memories} memor{'ies' if self.memories != 1 else 'y'}"
                if self.memories
                else ""
            )
            + f" from {path} ({self.format})"
        ]
        if self.skipped:
            parts.append(f"{self.skipped} already imported, skipped")
        if self.memories_skipped:
            parts.append(f"{self.memories_skipped} memories already here, skipped")
        if self.empty:
            parts.append(f"{self.empty} empty, left out")
        return "; ".join(parts) + "."


@dataclass
class Archive:
    """What a file holds, read in full before anything is stored."""

    format: str
    conversations: list[Conversation]
    empty: int = 0
    memories: list[dict[str, Any]] = field(default_factory=list)  # ours, as in the file


def read_archive(path: Path) -> Archive:
    """Read ``path`` whatever its format (detected from its content); a
    problem is a ``UsageError`` with one sentence naming the file."""
    from assistant.fileio import reading_import

    with reading_import(path), path.open("rb") as fh:
        head = fh.read(16)
    if head.startswith(b"SQLite format 3\x00"):
        return _read_llm(path)
    if head.startswith(b"PK\x03\x04"):
        return _read_zip(path)
    try:
        data = json.loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise UsageError(
            f"{path} is not a ChatGPT export, an llm logs.db or an assistant export."
        ) from None
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}): "
            "nothing was imported."
        ) from None
    except OSError as exc:
        raise UsageError(f"{path} could not be read: {exc.strerror}.") from None
    return read_json(data, path)


def read_json(data: Any, path: Path) -> Archive:
    """A parsed JSON document: ours (one, a list, or ``--all``) or ChatGPT's."""
    memories: list[dict[str, Any]] = []
    if isinstance(data, dict) and data.get("format") == FORMAT_MEMORIES:
        raise UsageError(
            f"{path} holds memories, not conversations: import it with `assistant memory import`."
        )
    if isinstance(data, dict) and data.get("format") == FORMAT_ALL:
        raw_memories = data.get("memories") or []
        if not isinstance(raw_memories, list) or not all(isinstance(r, dict) for r in raw_memories):
            raise UsageError(f"{path} has a list of memories that is not one: nothing imported.")
        memories = list(raw_memories)
        data = data.get("conversations")
        if not isinstance(data, list):
            raise UsageError(f"{path} is an assistant export without its conversations.")
        if not data and memories:
            return Archive(OURS, [], memories=memories)
    items = data if isinstance(data, list) else [data]
    if not items:
        raise UsageError(f"{path} holds no conversations.")
    if all(isinstance(i, dict) and i.get("format") == FORMAT for i in items):
        return Archive(
            OURS, [_ours(i, path, n) for n, i in enumerate(items, start=1)], memories=memories
        )
    if any(isinstance(i, dict) and ("mapping" in i or "current_node" in i) for i in items):
        kept: list[Conversation] = []
        empty = 0
        for n, item in enumerate(items, start=1):
            if not isinstance(item, dict):
                raise UsageError(f"Conversation {n} in {path} is not a conversation object.")
            conversation = _chatgpt(item, path, n)
            if conversation.messages:
                kept.append(conversation)
            else:
                empty += 1
        return Archive(CHATGPT, kept, empty)
    raise UsageError(f"{path} is not a ChatGPT export, an llm logs.db or an assistant export.")


MB = 1024 * 1024
# The largest conversations.json read from a zip, and the most it may inflate
# (past a few MB): a heavy user's real export is some hundreds of MB and
# compresses about tenfold; a 1 MB zip bomb inflating to 1 GiB once took
# 2.2 GB of memory to be refused.
MAX_ZIPPED_JSON_BYTES = 512 * MB
MAX_ZIP_RATIO = 100
_RATIO_FROM_BYTES = 16 * MB


def _read_zip(path: Path) -> Archive:
    """ChatGPT's download is a zip with ``conversations.json`` inside. Its
    unpacked size is checked from the archive's directory before it is read
    (zipfile never inflates an entry past the size the directory declares)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.rsplit("/", 1)[-1] == "conversations.json"]
            if not names:
                raise UsageError(f"{path} is a zip file without a conversations.json.")
            entry = archive.getinfo(min(names, key=len))
            _check_inflation(path, entry)
            raw = archive.read(entry)
    except zipfile.BadZipFile:
        raise UsageError(f"{path} is a damaged zip file: nothing was imported.") from None
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise UsageError(
            f"The conversations.json in {path} is not valid JSON: nothing was imported."
        ) from None
    return read_json(data, path)


def _check_inflation(path: Path, entry: zipfile.ZipInfo) -> None:
    size, packed = entry.file_size, max(entry.compress_size, 1)
    too_big = size > MAX_ZIPPED_JSON_BYTES
    if too_big or (size > _RATIO_FROM_BYTES and size > MAX_ZIP_RATIO * packed):
        why = (
            f"over the {MAX_ZIPPED_JSON_BYTES // MB} MB this import reads"
            if too_big
            else f"{size // packed:,} times its packed size (perhaps a zip bomb)"
        )
        raise UsageError(
            f"The conversations.json in {path} would unpack to {size // MB} MB from "
            f"{packed / MB:.1f} MB, {why}: nothing was imported."
        )


# ------------------------------------------------------------- our format
def _when(value: Any, fallback: datetime | None = None) -> datetime:
    """A stored time (ISO text or epoch seconds) as naive UTC."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), UTC).replace(tzinfo=None)
    if isinstance(value, str) and value.strip():
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if parsed.tzinfo is not None:
                parsed = parsed.astimezone(UTC).replace(tzinfo=None)
            return parsed
    if fallback is not None:
        return fallback
    return datetime.now(UTC).replace(tzinfo=None)


def _status(value: Any) -> MessageStatus:
    text = str(value or "complete")
    if text in ("cancelled", "interrupted", "streaming"):
        return MessageStatus.STOPPED
    try:
        return MessageStatus(text)
    except ValueError:
        return MessageStatus.COMPLETE


def _role(value: Any, where: str) -> Role:
    try:
        return Role(str(value))
    except ValueError:
        raise UsageError(f"{where} has a message of unknown role “{value}”.") from None


def _opt_int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _opt_float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _ours(item: Mapping[str, Any], path: Path, n: int) -> Conversation:
    where = f"Conversation {n} in {path}"
    raw_messages = item.get("messages")
    if not isinstance(raw_messages, list):
        raise UsageError(f"{where} has no list of messages.")
    created = _when(item.get("created_at"))
    conversation = Conversation(
        id=0,
        title=str(item.get("title") or "Untitled")[:200],
        created_at=created,
        updated_at=_when(item.get("updated_at"), created),
        model=_opt_str(item.get("model")),
        system_prompt=_opt_str(item.get("system_prompt")),
        use_notes=bool(item.get("use_notes")),
        persona=_opt_str(item.get("persona")),
        uid=str(item.get("uid") or ""),
        current_leaf_id=_opt_int(item.get("current_leaf")),
        memory=MemoryMode.read(item.get("memory")),
        tools=_tool_names(item.get("tools")),
    )
    seen: set[int] = set()
    previous: int | None = None
    for raw in raw_messages:
        if not isinstance(raw, dict) or not isinstance(raw.get("content"), str):
            raise UsageError(f"{where} has a message without text.")
        mid = _opt_int(raw.get("id"))
        if mid is None or mid in seen:
            raise UsageError(f"{where} has a message without a unique id.")
        # version 1 files (before branches) have no parents: one branch in order
        parent = _opt_int(raw.get("parent_id")) if "parent_id" in raw else previous
        if parent is not None and parent not in seen:
            raise UsageError(f"{where} has a message whose parent comes after it or is missing.")
        sources = raw.get("sources", raw.get("citations")) or []
        conversation.messages.append(
            Message(
                id=mid,
                conversation_id=0,
                role=_role(raw.get("role"), where),
                content=raw["content"],
                status=_status(raw.get("status")),
                created_at=_when(raw.get("created_at"), created),
                model=_opt_str(raw.get("model")),
                prompt_tokens=_opt_int(raw.get("prompt_tokens")),
                completion_tokens=_opt_int(raw.get("completion_tokens")),
                tokens_per_second=_opt_float(raw.get("tokens_per_second")),
                time_to_first_token_ms=_opt_float(raw.get("time_to_first_token_ms")),
                generation_ms=_opt_float(raw.get("generation_ms")),
                finish_reason=_finish(raw.get("finish_reason")),
                error=_opt_str(raw.get("error")),
                citations=[Citation.from_dict(c) for c in sources if isinstance(c, dict)],
                parent_id=parent,
                memories=_memory_uids(raw.get("memories")),
                tool_calls=[
                    ToolCall.from_dict(c)
                    for c in raw.get("tool_calls") or []
                    if isinstance(c, dict)
                ],
                tool_call=(
                    ToolCall.from_dict(raw["tool_call"])
                    if isinstance(raw.get("tool_call"), dict)
                    else None
                ),
            )
        )
        seen.add(mid)
        previous = mid
    conversation.message_count = len(conversation.messages)
    return conversation


def _memory_uids(value: Any) -> list[str]:
    """The uids of the memories a reply was given ({"uid": ...} or plain text)."""
    if not isinstance(value, list):
        return []
    uids = []
    for item in value:
        uid = item.get("uid") if isinstance(item, dict) else item
        if isinstance(uid, str) and uid:
            uids.append(uid)
    return uids


def _tool_names(value: Any) -> tuple[str, ...] | None:
    if not isinstance(value, list):
        return None
    return tuple(str(v) for v in value if isinstance(v, str))


def _finish(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return "stopped" if value == "cancelled" else value


# ---------------------------------------------------------------- ChatGPT
def _chatgpt_text(message: Mapping[str, Any]) -> str:
    """The visible text of a ChatGPT message ('' for what is not shown)."""
    content = message.get("content")
    if not isinstance(content, dict):
        return ""
    kind = content.get("content_type")
    if kind in ("text", "multimodal_text"):
        pieces: list[str] = []
        for part in content.get("parts") or []:
            if isinstance(part, str):
                pieces.append(part)
            elif isinstance(part, dict):
                if isinstance(part.get("text"), str):
                    pieces.append(part["text"])
                elif str(part.get("content_type", "")).startswith("image"):
                    pieces.append("[image]")
                elif part.get("content_type") == "audio_transcription" and isinstance(
                    part.get("text"), str
                ):
                    pieces.append(part["text"])
        return "\n\n".join(p for p in pieces if p.strip())
    if kind == "code" and isinstance(content.get("text"), str):
        language = content.get("language")
        fence = language if isinstance(language, str) and language != "unknown" else ""
        return f"```{fence}\n{content['text'].rstrip()}\n```"
    return ""


def _keep_chatgpt(message: Any) -> bool:
    if not isinstance(message, dict):
        return False
    author = message.get("author")
    role = author.get("role") if isinstance(author, dict) else None
    if role not in ("user", "assistant"):
        return False  # system prompts, tool calls and their outputs
    if message.get("recipient", "all") != "all":
        return False  # the assistant talking to a tool
    metadata = message.get("metadata")
    if isinstance(metadata, dict) and metadata.get("is_visually_hidden_from_conversation"):
        return False
    return bool(_chatgpt_text(message).strip())


def _chatgpt(item: Mapping[str, Any], path: Path, n: int) -> Conversation:
    where = f"Conversation {n} in {path}"
    key = item.get("conversation_id") or item.get("id")
    mapping = item.get("mapping")
    if not isinstance(key, str) or not key:
        raise UsageError(f"{where} has no conversation id.")
    if not isinstance(mapping, dict):
        raise UsageError(f"{where} has no message tree (“mapping”).")
    created = _when(item.get("create_time"))
    conversation = Conversation(
        id=0,
        title=(str(item.get("title") or "").strip() or "Untitled")[:200],
        created_at=created,
        updated_at=_when(item.get("update_time"), created),
        model=_opt_str(item.get("default_model_slug")),
        uid=f"chatgpt-{key}",
    )
    for node_id, node in mapping.items():
        if not isinstance(node, dict):
            raise UsageError(f"{where} has a damaged message node “{node_id}”.")
    roots = [
        node_id
        for node_id, node in mapping.items()
        if not isinstance(node.get("parent"), str) or node["parent"] not in mapping
    ]
    if mapping and not roots:
        raise UsageError(f"{where} has a message tree without a root.")
    local: dict[str, int] = {}  # kept node id -> local message id
    nearest: dict[str, int | None] = {}  # any node -> nearest kept node at or above it
    stack: list[tuple[str, int | None]] = [(r, None) for r in reversed(roots)]
    while stack:
        node_id, above = stack.pop()
        if node_id in nearest:
            raise UsageError(f"{where} has a message tree with a loop.")
        node = mapping[node_id]
        message = node.get("message")
        kept = above
        if _keep_chatgpt(message):
            mid = len(local) + 1
            local[node_id] = mid
            kept = mid
            conversation.messages.append(_chatgpt_message(message, mid, above, created))
        nearest[node_id] = kept
        children = node.get("children") or []
        for child in reversed([c for c in children if isinstance(c, str) and c in mapping]):
            stack.append((child, kept))
    current = item.get("current_node")
    conversation.current_leaf_id = nearest.get(current) if isinstance(current, str) else None
    conversation.message_count = len(conversation.messages)
    return conversation


def _chatgpt_message(
    message: Mapping[str, Any], mid: int, parent: int | None, created: datetime
) -> Message:
    role = Role(message["author"]["role"])
    metadata = message.get("metadata") if isinstance(message.get("metadata"), dict) else {}
    assert isinstance(metadata, dict)
    details = metadata.get("finish_details")
    finish = details.get("type") if isinstance(details, dict) else None
    status = MessageStatus.COMPLETE
    reason: str | None = None
    if role == Role.ASSISTANT:
        reason = {"stop": "stop", "max_tokens": "length", "interrupted": "stopped"}.get(
            str(finish), None
        )
        if reason == "stopped" or message.get("status") == "in_progress":
            status, reason = MessageStatus.STOPPED, "stopped"
    return Message(
        id=mid,
        conversation_id=0,
        role=role,
        content=_chatgpt_text(message),
        status=status,
        created_at=_when(message.get("create_time"), created),
        model=_opt_str(metadata.get("model_slug")) if role == Role.ASSISTANT else None,
        finish_reason=reason,
        parent_id=parent,
    )


# -------------------------------------------------------------------- llm
def _read_llm(path: Path) -> Archive:
    """simonw/llm's logs.db: each row of ``responses`` is one exchange (a
    prompt and its response) in a conversation of ``conversations``."""
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise UsageError(f"{path} could not be opened as a database ({exc}).") from None
    try:
        return _llm_archive(db, path)
    except sqlite3.DatabaseError as exc:
        raise UsageError(
            f"{path} could not be read as an llm logs.db ({exc}): nothing was imported."
        ) from None
    finally:
        db.close()


def _llm_archive(db: sqlite3.Connection, path: Path) -> Archive:
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "responses" not in tables:
        raise UsageError(f"{path} is a SQLite database but not an llm logs.db (no responses).")
    columns = {r[1] for r in db.execute("PRAGMA table_info(responses)")}
    needed = {"id", "prompt", "response", "conversation_id", "datetime_utc"}
    if not needed <= columns:
        missing = ", ".join(sorted(needed - columns))
        raise UsageError(f"{path} is not an llm logs.db its responses lack {missing}.")

    def column(name: str) -> str:
        return name if name in columns else "NULL"

    names: dict[str, tuple[str | None, str | None]] = {}
    if "conversations" in tables:
        for cid, name, model in db.execute("SELECT id, name, model FROM conversations"):
            names[str(cid)] = (name, model)
    rows = db.execute(
        "SELECT id, conversation_id, prompt, system, response, model, "
        f"{column('resolved_model')}, {column('duration_ms')}, datetime_utc, "
        f"{column('input_tokens')}, {column('output_tokens')} "
        "FROM responses ORDER BY conversation_id, datetime_utc, id"
    )
    conversations: dict[str, Conversation] = {}
    for rid, cid, prompt, system, response, model, resolved, ms, when, n_in, n_out in rows:
        key = str(cid) if cid else str(rid)
        conversation = conversations.get(key)
        created = _when(when)
        if conversation is None:
            name, conv_model = names.get(key, (None, None))
            conversation = Conversation(
                id=0,
                title=(name or title_from_text(str(prompt or "")) or "Untitled")[:200],
                created_at=created,
                updated_at=created,
                model=conv_model or model,
                system_prompt=system or None,
                uid=f"llm-{key}",
            )
            conversations[key] = conversation
        conversation.updated_at = max(conversation.updated_at, created)
        parent = conversation.messages[-1].id if conversation.messages else None
        user = Message(
            id=len(conversation.messages) + 1,
            conversation_id=0,
            role=Role.USER,
            content=str(prompt or ""),
            status=MessageStatus.COMPLETE,
            created_at=created,
            parent_id=parent,
        )
        speed = (
            n_out / (ms / 1000) if isinstance(n_out, int) and isinstance(ms, int) and ms else None
        )
        reply = Message(
            id=user.id + 1,
            conversation_id=0,
            role=Role.ASSISTANT,
            content=str(response or ""),
            status=MessageStatus.COMPLETE,
            created_at=created,
            model=resolved or model,
            prompt_tokens=n_in if isinstance(n_in, int) else None,
            completion_tokens=n_out if isinstance(n_out, int) else None,
            tokens_per_second=speed,
            generation_ms=float(ms) if isinstance(ms, int) else None,
            parent_id=user.id,
        )
        conversation.messages += [user, reply]
    for conversation in conversations.values():
        conversation.current_leaf_id = conversation.messages[-1].id
        conversation.message_count = len(conversation.messages)
    ordered = sorted(conversations.values(), key=lambda c: c.created_at)
    return Archive(LLM, ordered)
