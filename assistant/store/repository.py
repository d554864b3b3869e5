"""The one door to the database for conversations and messages.

Every method opens its own short session and returns plain domain objects, so
callers in any thread (UI workers, the CLI) never hold ORM state. Reads run in
snapshot (deferred) sessions, so listing or opening a conversation never waits
while another process holds the write lock.

Messages form a tree: each has a parent, and a conversation remembers its
current leaf. ``add_message`` appends under the current leaf unless told
otherwise, and the new message becomes the leaf; ``messages`` returns the
path from the root to the leaf (the branch in front of the user, and the
context the model gets); ``all_messages`` returns every branch.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, cast

from sqlalchemy import CursorResult, delete, func, insert, or_, select, text, tuple_, update
from sqlalchemy.orm import Session

from assistant.domain import (
    MARK_END,
    MARK_START,
    Citation,
    Conversation,
    MemoryMode,
    Message,
    MessageStatus,
    Role,
    SearchHit,
    Thread,
    ToolCall,
)
from assistant.errors import NotFound, UsageError
from assistant.language import has_han
from assistant.store.database import Database
from assistant.store.memories import ImportedMemory, MemoryRepository
from assistant.store.tables import ConversationRow, MessageRow, new_uid, utcnow

_MESSAGE_FIELDS = {
    "content",
    "status",
    "model",
    "prompt_tokens",
    "completion_tokens",
    "tokens_per_second",
    "time_to_first_token_ms",
    "generation_ms",
    "finish_reason",
    "error",
    "citations",
    "memories",
    "tool_calls",
}


# ``add_message``'s default parent: the conversation's current leaf.
CURRENT_LEAF: Final = -1

# SQLite's limit on the values of one statement; long id lists go in slices.
_IN_SLICE = 500

# Ranking costs time for every matching message: a word found in more
# messages than this is left out of a ranked query (see ``search``).
RANKED_AT_MOST = 10_000


@dataclass(frozen=True)
class ImportCounts:
    conversations: int = 0  # added
    messages: int = 0  # added
    skipped: int = 0  # already here (same uid): nothing added
    memories: int = 0  # added
    memories_skipped: int = 0  # already here (same uid)


def _message(row: MessageRow) -> Message:
    return Message(
        id=row.id,
        conversation_id=row.conversation_id,
        role=Role(row.role),
        content=row.content,
        status=MessageStatus(row.status),
        created_at=row.created_at,
        model=row.model,
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        tokens_per_second=row.tokens_per_second,
        time_to_first_token_ms=row.time_to_first_token_ms,
        generation_ms=row.generation_ms,
        finish_reason=row.finish_reason,
        error=row.error,
        citations=[Citation.from_dict(c) for c in row.citations or [] if isinstance(c, dict)],
        parent_id=row.parent_id,
        memories=[u for u in row.memories or [] if isinstance(u, str)],
        tool_calls=[ToolCall.from_dict(c) for c in row.tool_calls or [] if isinstance(c, dict)],
        tool_call=ToolCall.from_dict(row.tool_call) if isinstance(row.tool_call, dict) else None,
    )


def _names(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _conversation(row: ConversationRow, count: int = 0) -> Conversation:
    return Conversation(
        id=row.id,
        title=row.title,
        created_at=row.created_at,
        updated_at=row.updated_at,
        model=row.model,
        system_prompt=row.system_prompt,
        use_notes=bool(row.use_notes),
        persona=row.persona,
        engine=row.engine,
        message_count=count,
        uid=row.uid or "",
        current_leaf_id=row.current_leaf_id,
        memory=MemoryMode.read(row.memory),
        tools=_names(row.tools) if row.tools is not None else None,
        tools_allowed=_names(row.tools_allowed),
    )


def _fts_query(query: str) -> str | None:
    """All the words of ``query`` as one FTS5 query: each a quoted phrase (so
    FTS syntax typed by the user is never obeyed), every one must match, and
    a last word of 3+ letters without a space after it also as a prefix."""
    words = _query_words(query)
    if not words:
        return None
    parts = [f'"{w}"' for w in words]
    if not query[-1].isspace() and _prefix_worthy(words[-1]):
        parts[-1] += "*"
    return " ".join(parts)


def _query_words(query: str) -> list[str]:
    """The words of a query, Chinese ones cut as the index cut them (0010)."""
    from assistant.language import segment_han

    return list(dict.fromkeys(re.findall(r"\w+", segment_han(query))))


def _shown_snippet(snippet: str, content: str, words: list[str]) -> str:
    """FTS5's snippet, or for a message with Chinese words one cut from
    the text here: the index counted its words (0010) where FTS5, reading
    the text again for the snippet, sees one long token."""
    flat = " ".join(content.split())
    if not has_han(flat):
        return " ".join(snippet.split())
    lowered = flat.lower()
    at = min((i for w in words if (i := lowered.find(w.lower())) >= 0), default=0)
    start = max(0, at - 30)
    piece = flat[start : start + 90]
    if words:  # one pass, longest words first: a word inside another is not marked twice
        found = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
        piece = re.sub(found, lambda m: f"{MARK_START}{m.group(0)}{MARK_END}", piece, flags=re.I)
    return ("…" if start else "") + piece + ("…" if start + 90 < len(flat) else "")


def _prefix_worthy(word: str) -> bool:
    """Long enough to search as a prefix: 3 letters, or 2 in scripts written
    without spaces (CJK), whose runs the tokenizer keeps whole."""
    return len(word) >= 3 or (len(word) == 2 and any(ord(c) >= 0x2E80 for c in word))


def _path_to(parents: dict[int, int | None], leaf: int) -> list[int]:
    path: list[int] = []
    node: int | None = leaf
    while node is not None and node in parents and len(path) <= len(parents):
        path.append(node)
        node = parents[node]
    path.reverse()
    return path


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mark_orphans(db: Database, row: Any, running: str, ended: str) -> int:
    """Rows of ``row`` (a table with ``status`` and ``owner_pid``) left
    ``running`` by a process that is gone are set to ``ended``; returns how many.

    Looked for in a snapshot first: most starts find none and never take the
    write lock. When another process holds it (a long import), the repair is
    left to a later start rather than holding up this one."""
    from sqlalchemy.exc import OperationalError

    from assistant.store.database import is_busy

    def dead_ids(s: Session) -> list[int]:
        rows = s.execute(select(row.id, row.owner_pid).where(row.status == running)).all()
        return [row_id for row_id, pid in rows if not _pid_alive(pid)]

    with db.reader() as s:
        if not dead_ids(s):
            return 0
    try:
        with db.session_if_free() as s, s.begin():
            dead = dead_ids(s)  # again, under the lock: one may have ended meanwhile
            if dead:
                s.execute(update(row).where(row.id.in_(dead)).values(status=ended, owner_pid=None))
            return len(dead)
    except OperationalError as exc:
        if not is_busy(exc):
            raise
        return 0


class ConversationRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    # conversations -----------------------------------------------------
    def create_conversation(
        self,
        title: str = "New conversation",
        model: str | None = None,
        system_prompt: str | None = None,
    ) -> Conversation:
        with self.db.session() as s, s.begin():
            row = ConversationRow(title=title, model=model, system_prompt=system_prompt)
            s.add(row)
            s.flush()
            return _conversation(row)

    def list_conversations(
        self,
        limit: int | None = None,
        *,
        after: Conversation | None = None,
        counts: bool = True,
    ) -> list[Conversation]:
        """Conversations, most recently changed first. A page at a time:
        ``limit`` of them, those that come ``after`` a conversation of the
        previous page (keyset paging: the index on updated_at serves every
        page, however deep). ``counts`` adds each one's number of messages."""
        stmt = select(ConversationRow).order_by(
            ConversationRow.updated_at.desc(), ConversationRow.id.desc()
        )
        if after is not None:
            stmt = stmt.where(
                tuple_(ConversationRow.updated_at, ConversationRow.id)
                < tuple_(after.updated_at, after.id)
            )
        if limit:
            stmt = stmt.limit(limit)
        with self.db.reader() as s:
            rows = list(s.scalars(stmt))
            numbers: dict[int, int] = {}
            if counts and rows:
                numbers = self._counts(s, [r.id for r in rows])
            return [_conversation(row, numbers.get(row.id, 0)) for row in rows]

    @staticmethod
    def _counts(s: Session, ids: Sequence[int]) -> dict[int, int]:
        numbers: dict[int, int] = {}
        for start in range(0, len(ids), _IN_SLICE):
            part = ids[start : start + _IN_SLICE]
            stmt = (
                select(MessageRow.conversation_id, func.count(MessageRow.id))
                .where(MessageRow.conversation_id.in_(part))
                .group_by(MessageRow.conversation_id)
            )
            numbers.update({int(cid): int(n) for cid, n in s.execute(stmt)})
        return numbers

    def filter_conversations(self, words: str, limit: int = 200) -> list[Conversation]:
        """Conversations whose title contains ``words`` or whose messages
        match them (full text), title matches first, then the most recent."""
        words = " ".join(words.split())
        if not words:
            return self.list_conversations(limit, counts=False)
        like = "%" + words.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        title_match = ConversationRow.title.like(like, escape="\\")
        conditions = [title_match]
        match = _fts_query(words)
        if match is not None:
            found = text(
                "SELECT m.conversation_id FROM messages_fts "
                "JOIN messages m ON m.id = messages_fts.rowid WHERE messages_fts MATCH :q"
            ).bindparams(q=match)
            conditions.append(ConversationRow.id.in_(found))
        stmt = (
            select(ConversationRow)
            .where(or_(*conditions))
            .order_by(
                title_match.desc(), ConversationRow.updated_at.desc(), ConversationRow.id.desc()
            )
            .limit(limit)
        )
        with self.db.reader() as s:
            return [_conversation(row) for row in s.scalars(stmt)]

    def get_conversation(self, conversation_id: int, *, messages: bool = True) -> Conversation:
        """The conversation; with ``messages``, every message of every branch
        (parents before children) and ``current_leaf_id`` resolved."""
        with self.db.reader() as s:
            row = s.get(ConversationRow, conversation_id)
            if row is None:
                raise NotFound(f"There is no conversation {conversation_id}.")
            conv = _conversation(row)
            if messages:
                conv.messages = [_message(m) for m in row.messages]
                conv.message_count = len(conv.messages)
                ids = {m.id for m in conv.messages}
                if conv.current_leaf_id not in ids:
                    conv.current_leaf_id = max(ids) if ids else None
            return conv

    def update_conversation(self, conversation_id: int, **fields: object) -> None:
        allowed = {"title", "model", "system_prompt", "persona", "engine"}
        bad = set(fields) - allowed
        if bad:
            raise ValueError(f"cannot update {sorted(bad)}")
        self._update(conversation_id, **fields, updated_at=utcnow())

    def set_use_notes(self, conversation_id: int, on: bool) -> None:
        """Remember the notes switch; not an edit, so the order of the list stays."""
        self._update(conversation_id, use_notes=on)

    def set_memory_mode(self, conversation_id: int, mode: MemoryMode) -> None:
        """Remember the conversation's memory switch (not an edit: the order stays)."""
        self._update(conversation_id, memory=str(MemoryMode(mode)))

    def set_tools(self, conversation_id: int, tools: Sequence[str] | None) -> None:
        """Which tools replies may call: None off, ``["*"]`` all, or names."""
        self._update(conversation_id, tools=list(tools) if tools is not None else None)

    def allow_tool(self, conversation_id: int, name: str) -> None:
        """Remember that the user allowed ``name`` for this conversation."""
        with self.db.session() as s, s.begin():
            row = s.get(ConversationRow, conversation_id)
            if row is None:
                raise NotFound(f"There is no conversation {conversation_id}.")
            allowed = list(row.tools_allowed or [])
            if name not in allowed:
                row.tools_allowed = allowed + [name]

    def _update(self, conversation_id: int, **values: object) -> None:
        with self.db.session() as s, s.begin():
            result = cast(
                CursorResult[Any],
                s.execute(
                    update(ConversationRow)
                    .where(ConversationRow.id == conversation_id)
                    .values(**values)
                ),
            )
            if result.rowcount == 0:
                raise NotFound(f"There is no conversation {conversation_id}.")

    def rename(self, conversation_id: int, title: str) -> None:
        """A new title; not a change to the conversation, so the order of the list stays."""
        title = " ".join(title.split())[:200] or "Untitled"
        self._update(conversation_id, title=title)

    def delete_conversation(self, conversation_id: int) -> None:
        with self.db.session() as s, s.begin():
            result = cast(
                CursorResult[Any],
                s.execute(delete(ConversationRow).where(ConversationRow.id == conversation_id)),
            )
            if result.rowcount == 0:
                raise NotFound(f"There is no conversation {conversation_id}.")

    def touch(self, conversation_id: int) -> None:
        with self.db.session() as s, s.begin():
            s.execute(
                update(ConversationRow)
                .where(ConversationRow.id == conversation_id)
                .values(updated_at=utcnow())
            )

    # messages ----------------------------------------------------------
    def add_message(
        self,
        conversation_id: int,
        role: Role,
        content: str,
        status: MessageStatus = MessageStatus.COMPLETE,
        model: str | None = None,
        parent_id: int | None = CURRENT_LEAF,
        tool_call: ToolCall | None = None,
    ) -> Message:
        """Store a message under ``parent_id`` (by default the current leaf;
        None makes a new root); it becomes the conversation's current leaf.
        A tool result names the ``tool_call`` it answers. The parent is
        chosen inside the write transaction that stores it."""
        with self.db.session() as s, s.begin():
            conversation = self._conversation_row(s, conversation_id)
            return self._insert(s, conversation, role, content, status, model, parent_id, tool_call)

    def add_exchange(
        self, conversation_id: int, text: str, parent_id: int | None = CURRENT_LEAF
    ) -> tuple[Message, Message]:
        """Store a question and the (empty, ``streaming``) reply that will
        answer it, in one transaction; the reply becomes the current leaf.
        Another process asking in the same conversation never sees the
        question without its reply, so its own question follows the reply
        (a question stored alone, and the reply a moment later, let a second
        ``ask -c`` parent its question to the first question)."""
        with self.db.session() as s, s.begin():
            conversation = self._conversation_row(s, conversation_id)
            question = self._insert(
                s, conversation, Role.USER, text, MessageStatus.COMPLETE, None, parent_id
            )
            reply = self._insert(
                s, conversation, Role.ASSISTANT, "", MessageStatus.STREAMING, None, question.id
            )
            return question, reply

    @staticmethod
    def _conversation_row(s: Session, conversation_id: int) -> ConversationRow:
        conversation = s.get(ConversationRow, conversation_id)
        if conversation is None:
            raise NotFound(f"There is no conversation {conversation_id}.")
        return conversation

    def _insert(
        self,
        s: Session,
        conversation: ConversationRow,
        role: Role,
        content: str,
        status: MessageStatus,
        model: str | None,
        parent_id: int | None,
        tool_call: ToolCall | None = None,
    ) -> Message:
        if parent_id == CURRENT_LEAF:
            parent_id = self._leaf(s, conversation)
        elif parent_id is not None:
            self._check_member(s, conversation.id, parent_id)
        row = MessageRow(
            conversation_id=conversation.id,
            role=str(role),
            content=content,
            status=str(status),
            model=model,
            owner_pid=os.getpid() if status == MessageStatus.STREAMING else None,
            parent_id=parent_id,
            tool_call=tool_call.to_dict() if tool_call is not None else None,
        )
        s.add(row)
        s.flush()
        conversation.current_leaf_id = row.id
        conversation.updated_at = utcnow()
        s.flush()
        return _message(row)

    @staticmethod
    def _leaf(s: Session, conversation: ConversationRow) -> int | None:
        """The current leaf, or the newest message when none is recorded."""
        leaf = conversation.current_leaf_id
        if leaf is not None:
            return leaf
        newest: int | None = s.scalar(
            select(func.max(MessageRow.id)).where(MessageRow.conversation_id == conversation.id)
        )
        return newest

    @staticmethod
    def _check_member(s: Session, conversation_id: int, message_id: int) -> None:
        owner = s.scalar(select(MessageRow.conversation_id).where(MessageRow.id == message_id))
        if owner != conversation_id:
            raise NotFound(f"Conversation {conversation_id} has no message {message_id}.")

    def update_message(self, message_id: int, **fields: object) -> None:
        bad = set(fields) - _MESSAGE_FIELDS
        if bad:
            raise ValueError(f"cannot update {sorted(bad)}")
        values = {k: (str(v) if k == "status" else v) for k, v in fields.items()}
        citations = fields.get("citations")
        if isinstance(citations, list | tuple):
            values["citations"] = [c.to_dict() if isinstance(c, Citation) else c for c in citations]
        calls = fields.get("tool_calls")
        if isinstance(calls, list | tuple):
            values["tool_calls"] = [c.to_dict() if isinstance(c, ToolCall) else c for c in calls]
        if "status" in values and values["status"] != MessageStatus.STREAMING:
            values["owner_pid"] = None
        with self.db.session() as s, s.begin():
            s.execute(
                update(MessageRow)
                .where(MessageRow.id == message_id)
                .values(**values, updated_at=utcnow())
            )

    def get_message(self, message_id: int) -> Message:
        with self.db.reader() as s:
            row = s.get(MessageRow, message_id)
            if row is None:
                raise NotFound(f"There is no message {message_id}.")
            return _message(row)

    def messages(self, conversation_id: int, leaf_id: int | None = None) -> list[Message]:
        """The branch from the root to ``leaf_id`` (default: the current leaf)."""
        return self.thread(conversation_id, leaf_id).messages

    def all_messages(self, conversation_id: int) -> list[Message]:
        """Every message of every branch, parents before children."""
        with self.db.reader() as s:
            rows = s.scalars(
                select(MessageRow)
                .where(MessageRow.conversation_id == conversation_id)
                .order_by(MessageRow.id)
            )
            return [_message(r) for r in rows]

    def thread(self, conversation_id: int, leaf_id: int | None = None) -> Thread:
        """The conversation with the branch ending at ``leaf_id`` (default:
        the current leaf) and the siblings of each message on it. Reads the
        tree's shape (ids only), then the rows of the path alone."""
        with self.db.reader() as s:
            row = s.get(ConversationRow, conversation_id)
            if row is None:
                raise NotFound(f"There is no conversation {conversation_id}.")
            conversation = _conversation(row)
            shape = s.execute(
                select(MessageRow.id, MessageRow.parent_id)
                .where(MessageRow.conversation_id == conversation_id)
                .order_by(MessageRow.id)
            )
            parents: dict[int, int | None] = {}
            children: dict[int | None, list[int]] = {}
            for mid, parent in shape:
                parents[mid] = parent
                children.setdefault(parent, []).append(mid)
            conversation.message_count = len(parents)
            if leaf_id is not None and leaf_id not in parents:
                raise NotFound(f"Conversation {conversation_id} has no message {leaf_id}.")
            leaf = leaf_id if leaf_id is not None else conversation.current_leaf_id
            if leaf not in parents:
                leaf = max(parents) if parents else None
            conversation.current_leaf_id = leaf
            path = _path_to(parents, leaf) if leaf is not None else []
            rows: dict[int, MessageRow] = {}
            for start in range(0, len(path), _IN_SLICE):
                part = path[start : start + _IN_SLICE]
                for message in s.scalars(select(MessageRow).where(MessageRow.id.in_(part))):
                    rows[message.id] = message
            messages = [_message(rows[mid]) for mid in path if mid in rows]
            siblings = {mid: tuple(children.get(parents[mid], (mid,))) for mid in path}
            return Thread(conversation, messages, siblings)

    def set_current_leaf(self, conversation_id: int, message_id: int) -> None:
        """Show the branch ending at ``message_id``; moving between branches
        is not a change, so the order of the list stays."""
        with self.db.session() as s, s.begin():
            self._check_member(s, conversation_id, message_id)
            s.execute(
                update(ConversationRow)
                .where(ConversationRow.id == conversation_id)
                .values(current_leaf_id=message_id)
            )

    def newest_leaf_under(self, message_id: int) -> int:
        """The most recent message in the subtree of ``message_id``: a leaf
        (a child is always newer than its parent), and the branch the user
        was on last below that message."""
        sql = text(
            "WITH RECURSIVE below(id) AS (SELECT :m UNION ALL "
            "SELECT messages.id FROM messages JOIN below ON messages.parent_id = below.id) "
            "SELECT MAX(id) FROM below"
        )
        with self.db.reader() as s:
            if s.get(MessageRow, message_id) is None:
                raise NotFound(f"There is no message {message_id}.")
            newest = s.execute(sql, {"m": message_id}).scalar()
        return int(newest) if newest is not None else message_id

    def copy_path(self, conversation_id: int, leaf_id: int | None, title: str) -> Conversation:
        """A new conversation holding a copy of the branch from the root to
        ``leaf_id`` (default: the current leaf), with the same settings."""
        thread = self.thread(conversation_id, leaf_id)
        source = thread.conversation
        copy = Conversation(
            id=0,
            title=" ".join(title.split())[:200] or "Untitled",
            created_at=utcnow(),
            updated_at=utcnow(),
            model=source.model,
            system_prompt=source.system_prompt,
            use_notes=source.use_notes,
            persona=source.persona,
            uid=new_uid(),
            memory=source.memory,
            tools=source.tools,
        )
        previous: int | None = None
        for m in thread.messages:
            if m.status == MessageStatus.STREAMING:
                continue  # a reply still being written elsewhere is not copied half-way
            m.parent_id, previous = previous, m.id
            copy.messages.append(m)
        copy.current_leaf_id = previous
        with self.db.session() as s, s.begin():
            self._insert_conversations(s, [copy])
        return self.get_conversation(copy.id, messages=False)

    def delete_messages(self, message_ids: Iterable[int]) -> None:
        ids = list(message_ids)
        if not ids:
            return
        with self.db.session() as s, s.begin():
            s.execute(delete(MessageRow).where(MessageRow.id.in_(ids)))

    def recover_interrupted(self) -> int:
        """Mark replies left ``streaming`` by a process that is gone as
        ``stopped``; their finish reason stays empty (the app closed)."""
        return mark_orphans(
            self.db, MessageRow, str(MessageStatus.STREAMING), str(MessageStatus.STOPPED)
        )

    # search ------------------------------------------------------------
    def search(self, query: str, limit: int = 20) -> list[SearchHit]:
        """Full-text search over every message of every branch
        (porter-stemmed FTS5), best first; snippets are one line with the
        matches marked (``SearchHit.marked``/``pieces``). The last word also
        matches as a prefix unless the query ends with a space.

        Ranking (bm25) costs time for every matching message, so a word found
        in more than ``RANKED_AT_MOST`` messages ("the", "and") is left out
        of the query when rarer words are in it; a query of such words alone
        lists the newest matches first. Snippets are made for the hits shown
        only."""
        words = _query_words(query)
        if not words:
            return []
        terms = [f'"{w}"' for w in words]
        with self.db.reader() as s:
            counts = [self._matches(s, term) for term in terms]
            # search as you type: the last word also as a prefix, unless it is
            # short or already common (a prefix query on a common word walks
            # every matching term's list)
            if (
                not query[-1].isspace()
                and _prefix_worthy(words[-1])
                and counts[-1] <= RANKED_AT_MOST
            ):
                terms[-1] += "*"
                counts[-1] = self._matches(s, terms[-1])
            if 0 in counts:
                return []  # every word must be found
            rare = [t for t, n in zip(terms, counts, strict=True) if n <= RANKED_AT_MOST]
            match = " ".join(rare or terms)
            if rare:
                sql = "SELECT rowid, rank FROM messages_fts WHERE messages_fts MATCH :q "
                sql += "ORDER BY rank LIMIT :n"
            else:  # only common words: the newest matches, unranked
                sql = "SELECT rowid, 0.0 FROM messages_fts WHERE messages_fts MATCH :q "
                sql += "ORDER BY rowid DESC LIMIT :n"
            best = s.execute(text(sql), {"q": match, "n": limit}).all()
            if not best:
                return []
            ids = [int(r[0]) for r in best]
            marks = f"'{MARK_START}', '{MARK_END}'"
            snippets: dict[int, str] = dict(
                s.execute(
                    text(
                        f"SELECT rowid, snippet(messages_fts, 0, {marks}, '…', 12) "
                        "FROM messages_fts WHERE messages_fts MATCH :q AND rowid IN "
                        f"({', '.join(str(i) for i in ids)})"
                    ),
                    {"q": match},
                ).all()
            )
            rows = {
                r[2]: r
                for r in s.execute(
                    select(
                        MessageRow.conversation_id,
                        ConversationRow.title,
                        MessageRow.id,
                        MessageRow.role,
                        MessageRow.created_at,
                        MessageRow.content,
                    )
                    .join(ConversationRow, ConversationRow.id == MessageRow.conversation_id)
                    .where(MessageRow.id.in_(ids))
                )
            }
        hits = []
        for mid, score in best:
            row = rows.get(int(mid))
            if row is None:
                continue
            hits.append(
                SearchHit(
                    row[0],
                    row[1],
                    row[2],
                    row[3],
                    _shown_snippet(str(snippets.get(mid, "")), row[5], words),
                    row[4],
                    float(score),
                )
            )
        return hits

    @staticmethod
    def _matches(s: Session, term: str) -> int:
        """How many messages hold ``term``, counted up to RANKED_AT_MOST + 1
        (walking the index, not ranking it)."""
        found = s.execute(
            text(
                "SELECT count(*) FROM (SELECT 1 FROM messages_fts WHERE messages_fts MATCH :q "
                "LIMIT :cap)"
            ),
            {"q": term, "cap": RANKED_AT_MOST + 1},
        ).scalar()
        return int(found or 0)

    def data_version(self) -> int:
        """Changes when anyone commits to the database (see ``Database.data_version``)."""
        return self.db.data_version()

    def stats(self) -> dict[str, int]:
        with self.db.reader() as s:
            conversations = s.scalar(select(func.count(ConversationRow.id))) or 0
            messages = s.scalar(select(func.count(MessageRow.id))) or 0
        return {"conversations": conversations, "messages": messages}

    # import ------------------------------------------------------------
    def known_uids(self, uids: Iterable[str]) -> set[str]:
        wanted = list(dict.fromkeys(uids))
        found: set[str] = set()
        with self.db.reader() as s:
            for start in range(0, len(wanted), _IN_SLICE):
                part = wanted[start : start + _IN_SLICE]
                found.update(
                    uid
                    for uid in s.scalars(
                        select(ConversationRow.uid).where(ConversationRow.uid.in_(part))
                    )
                    if uid
                )
        return found

    def import_conversations(
        self, conversations: Iterable[Conversation], memories: Sequence[ImportedMemory] = ()
    ) -> ImportCounts:
        """Store whole conversations, and ``memories``, in ONE transaction:
        all or nothing.

        Each conversation carries its messages in ``messages`` with ids and
        ``parent_id`` local to it (parents first) and ``current_leaf_id`` in
        the same ids; they get real ids here. A conversation whose ``uid`` is
        already stored is skipped, so importing the same file twice adds
        nothing; so is a memory whose uid is here. A memory is linked to its
        conversation when that is here (and to its message when the
        conversation came in this import)."""
        batch = list(conversations)
        counts = {"conversations": 0, "messages": 0, "skipped": 0}
        with self.db.session() as s, s.begin():
            uids = [c.uid for c in batch if c.uid]
            known: set[str] = set()
            for start in range(0, len(uids), _IN_SLICE):
                part = uids[start : start + _IN_SLICE]
                known.update(
                    u
                    for u in s.scalars(
                        select(ConversationRow.uid).where(ConversationRow.uid.in_(part))
                    )
                    if u
                )
            fresh: list[Conversation] = []
            for conversation in batch:
                if not conversation.uid:
                    conversation.uid = new_uid()
                if conversation.uid in known:
                    counts["skipped"] += 1
                    continue
                known.add(conversation.uid)
                fresh.append(conversation)
            ids = self._insert_conversations(s, fresh)
            counts["conversations"] = len(fresh)
            counts["messages"] = sum(len(c.messages) for c in fresh)
            if memories:
                added, skipped = MemoryRepository.insert_linked(s, memories, ids)
                counts["memories"], counts["memories_skipped"] = added, skipped
        return ImportCounts(**counts)

    @staticmethod
    def _insert_conversations(
        s: Session, conversations: list[Conversation]
    ) -> dict[tuple[str, int], int]:
        """Insert conversations and their trees with ids chosen here (the
        write lock is held: BEGIN IMMEDIATE), in a few bulk statements.
        Message ids and parents come in local to each conversation; each
        conversation's ``id`` is set to the stored one. Returns the stored
        id of each (conversation uid, local message id)."""
        stored: dict[tuple[str, int], int] = {}
        if not conversations:
            return stored
        next_conversation = (s.scalar(select(func.max(ConversationRow.id))) or 0) + 1
        next_message = (s.scalar(select(func.max(MessageRow.id))) or 0) + 1
        conversation_rows: list[dict[str, Any]] = []
        message_rows: list[dict[str, Any]] = []
        leaves: list[tuple[int, int]] = []
        for conversation in conversations:
            cid = next_conversation
            next_conversation += 1
            local: dict[int, int] = {}
            for m in conversation.messages:
                if m.parent_id is not None and m.parent_id not in local:
                    raise UsageError(
                        f"In “{conversation.title}”, a message answers one that is not there."
                    )
                local[m.id] = next_message
                stored[(conversation.uid, m.id)] = next_message
                next_message += 1
                message_rows.append(
                    {
                        "id": local[m.id],
                        "conversation_id": cid,
                        "parent_id": local[m.parent_id] if m.parent_id is not None else None,
                        "role": str(m.role),
                        "content": m.content,
                        "status": str(m.status),
                        "created_at": m.created_at,
                        "updated_at": m.created_at,
                        "model": m.model,
                        "prompt_tokens": m.prompt_tokens,
                        "completion_tokens": m.completion_tokens,
                        "tokens_per_second": m.tokens_per_second,
                        "time_to_first_token_ms": m.time_to_first_token_ms,
                        "generation_ms": m.generation_ms,
                        "finish_reason": m.finish_reason,
                        "error": m.error,
                        "citations": [c.to_dict() for c in m.citations] or None,
                        "memories": list(m.memories) or None,
                        "tool_calls": [c.to_dict() for c in m.tool_calls] or None,
                        "tool_call": m.tool_call.to_dict() if m.tool_call else None,
                    }
                )
            conversation_rows.append(
                {
                    "id": cid,
                    "uid": conversation.uid,
                    "title": conversation.title,
                    "created_at": conversation.created_at,
                    "updated_at": conversation.updated_at,
                    "model": conversation.model,
                    "system_prompt": conversation.system_prompt,
                    "use_notes": conversation.use_notes,
                    "persona": conversation.persona,
                    "memory": str(conversation.memory),
                    "tools": list(conversation.tools) if conversation.tools is not None else None,
                    "tools_allowed": list(conversation.tools_allowed) or None,
                }
            )
            leaf = local.get(conversation.current_leaf_id or 0)
            if leaf is None and local:
                leaf = max(local.values())
            if leaf is not None:
                leaves.append((cid, leaf))
            conversation.id = cid
        s.execute(insert(ConversationRow), conversation_rows)
        for start in range(0, len(message_rows), 5000):
            s.execute(insert(MessageRow), message_rows[start : start + 5000])
        if leaves:
            s.execute(
                update(ConversationRow),
                [{"id": cid, "current_leaf_id": leaf} for cid, leaf in leaves],
            )
        return stored
