"""SQLAlchemy ORM rows. Only the repository touches these; the rest of the app
sees the plain objects in ``assistant.domain``.

The schema itself is owned by the Alembic migrations in ``migrations/``; these
classes must describe the schema at head (a test compares them).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def new_uid() -> str:
    return uuid.uuid4().hex


class Base(DeclarativeBase):
    pass


class ConversationRow(Base):
    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200), default="New conversation")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    model: Mapped[str | None] = mapped_column(String(500))
    system_prompt: Mapped[str | None] = mapped_column(Text)
    use_notes: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    persona: Mapped[str | None] = mapped_column(String(64))
    engine: Mapped[str | None] = mapped_column(String(64))  # [engines.NAME]; None: local
    # Tools replies may call (migration 0009): null off, ["*"] all, or names;
    # and the tools the user allowed for this conversation.
    tools: Mapped[list[str] | None] = mapped_column(JSON)
    tools_allowed: Mapped[list[str] | None] = mapped_column(JSON)
    # Stable identity across export and import ("chatgpt-<id>", "llm-<id>" for
    # imported ones): importing a conversation whose uid exists adds nothing.
    uid: Mapped[str | None] = mapped_column(String(200), default=new_uid, unique=True, index=True)
    # The last message of the branch in front of the user (None: the newest message).
    current_leaf_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL", use_alter=True)
    )
    # "on", "off" or "private" (MemoryMode): whether replies use memories
    memory: Mapped[str] = mapped_column(String(10), default="on", server_default="on")

    messages: Mapped[list[MessageRow]] = relationship(
        back_populates="conversation",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="MessageRow.id",
        foreign_keys="MessageRow.conversation_id",
    )


class MessageRow(Base):
    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(20))
    content: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="complete", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    model: Mapped[str | None] = mapped_column(String(500))
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    tokens_per_second: Mapped[float | None] = mapped_column(Float)
    time_to_first_token_ms: Mapped[float | None] = mapped_column(Float)
    generation_ms: Mapped[float | None] = mapped_column(Float)
    finish_reason: Mapped[str | None] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(Text)
    owner_pid: Mapped[int | None] = mapped_column(Integer)
    citations: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # Messages form a tree: an edit is a sibling of the message it replaces, a
    # regenerated reply a sibling of the reply. A child always has a larger id
    # than its parent, so ordering by id lists parents first.
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    # The uids of the memories a reply was given (migration 0012).
    memories: Mapped[list[str] | None] = mapped_column(JSON)
    # A reply's calls ([{"id", "name", "arguments"}]); a tool result's call.
    tool_calls: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    tool_call: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    conversation: Mapped[ConversationRow] = relationship(
        back_populates="messages", foreign_keys=[conversation_id]
    )


class DraftRow(Base):
    """A piece written by ``compose`` (migration 0008). ``outline`` is a JSON
    list of ``{"title", "words"}``; ``citations`` as on a message."""

    __tablename__ = "drafts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200), default="Draft")
    status: Mapped[str] = mapped_column(String(20), default="planned", index=True)
    content: Mapped[str] = mapped_column(Text, default="")
    variables: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    outline: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    target_words: Mapped[int] = mapped_column(Integer, default=0)
    words: Mapped[int] = mapped_column(Integer, default=0)
    sections_done: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str | None] = mapped_column(Text)
    citations: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    model: Mapped[str | None] = mapped_column(String(500))
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    generation_ms: Mapped[float | None] = mapped_column(Float)
    finish_reason: Mapped[str | None] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(Text)
    owner_pid: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class MemoryRow(Base):
    """A memory (migration 0012). Its words are in the ``memories_fts``
    virtual table (rowid = id), which the repository writes; ``vector`` is
    its embedding as float32 bytes, by ``vector_model``."""

    __tablename__ = "memories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(200), default=new_uid, unique=True, index=True)
    text: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(20))
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL"), index=True
    )
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), index=True
    )
    lang: Mapped[str | None] = mapped_column(String(8))
    vector: Mapped[bytes | None] = mapped_column(LargeBinary)
    vector_model: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
