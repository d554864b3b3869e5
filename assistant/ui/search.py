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
from typing import TYPE_CHECKING

from textual.command import CommandPalette, Hit, Hits, Provider
from textual.content import Content

from assistant.domain import SearchHit
from assistant.textsafe import sanitize

if TYPE_CHECKING:
    from assistant.ui.chat_screen import ChatScreen

MIN_QUERY = 2
HITS = 20


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
    def host(self) -> ChatScreen | None:
        """The chat screen, when the palette was opened over it (not over the
        writing screen, where opening a conversation would be out of sight)."""
        from assistant.ui.chat_screen import ChatScreen

        stack = [s for s in self.app.screen_stack if not isinstance(s, CommandPalette)]
        if len(stack) != 1 or not isinstance(stack[0], ChatScreen):
            return None
        return stack[0]

    async def search(self, query: str) -> Hits:
        host = self.host
        if host is None or len(query.strip()) < MIN_QUERY:
            return
        hits = await asyncio.to_thread(host.controller.search_messages, query, HITS)
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
