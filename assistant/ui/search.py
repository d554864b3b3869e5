"""Search every conversation from the command palette (Ctrl+P).

Each query runs the repository's FTS5 search (ranked by bm25, the last word
matching as a prefix) in a thread, never on the event loop; hits show the
conversation's title and a one-line snippet with the matched words
highlighted. Choosing one opens that conversation on the branch that holds
the message, and scrolls to it.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import TYPE_CHECKING, Protocol

from textual.command import Hit, Hits, Provider
from textual.content import Content

from assistant.textsafe import sanitize

if TYPE_CHECKING:
    from assistant.store.repository import SearchHit

MIN_QUERY = 2
HITS = 20


class SearchHost(Protocol):
    """What the provider needs from the app."""

    database_ready: bool

    @property
    def chat_screen_on_top(self) -> bool: ...

    def search_messages(self, query: str, limit: int) -> list[SearchHit]: ...

    def jump_to_message(self, conversation_id: int, message_id: int) -> None: ...


def hit_content(hit: SearchHit) -> Content:
    """``Title — snippet`` with the matched words in bold (all of it sanitised)."""
    pieces: list[Content | tuple[str, str] | str] = [
        (sanitize(hit.conversation_title), "bold"),
        " — ",
    ]
    for text, matched in hit.pieces():
        clean = sanitize(text)
        pieces.append((clean, "bold reverse") if matched else clean)
    return Content.assemble(*pieces)


class ConversationSearch(Provider):
    """Messages of every conversation, as palette hits."""

    @property
    def host(self) -> SearchHost | None:
        """The app, when the palette was opened over the chat (not over the
        writing screen, where opening a conversation would be out of sight)."""
        app = self.app
        if not getattr(app, "chat_screen_on_top", False):
            return None
        return app  # type: ignore[return-value]

    async def search(self, query: str) -> Hits:
        host = self.host
        if host is None or not host.database_ready or len(query.strip()) < MIN_QUERY:
            return
        hits = await asyncio.to_thread(host.search_messages, query, HITS)
        for rank, hit in enumerate(hits):
            when = f"{hit.created_at:%Y-%m-%d}"
            who = "you" if hit.role == "user" else hit.role
            yield Hit(
                # below an exact command match, in the search's own order
                0.9 - rank * 0.01,
                hit_content(hit),
                partial(host.jump_to_message, hit.conversation_id, hit.message_id),
                text=f"{hit.conversation_title} {hit.marked('', '')}",
                help=f"{who} · {when} · conversation {hit.conversation_id}",
            )
