"""Memories: what the assistant keeps about the user, always in their hands.

A memory is a short statement ("I am vegetarian.") typed by the user or
proposed by the model after a reply and kept only on the user's yes. This
module adds, edits, deletes, selects and proposes them; the chat service puts
the selected ones into the system prompt.

The decisions a reader must know:

- Selection: while the memories are few (all of them fit the token budget) a
  reply is given all of them; when they are many, the closest to the user's
  message by the notes embedder and by keywords (BM25 over words segmented
  and stemmed as the notes index does), fused as notes search fuses them but
  with keywords weighing less, best first while the block stays within the
  budget. A memory must clear a small relevance floor to be given
  (bench/memory.py measures recall and tokens). Within a conversation the
  memories given to the last reply stay in place, so the block, and the
  conversation after it, stay in the model's prompt cache.
- Memories are quoted as data: each between guillemets on the header's line,
  whitespace folded (a memory can never start a line of the transcript such
  as ``User:``), controls shown in caret form, after a header that says they
  are notes, not instructions.
- Vectors are made when selection first needs them (``memory add`` never
  waits for the embedder) and kept in the database by embedder name.
- Proposals are asked of a model that says it can (``can_propose_memories``),
  only for a message that speaks about its writer; a proposal identical to a
  kept memory is dropped, one the model says repeats or changes a kept memory
  (or that is very close to one) is shown with it, for the user to replace it.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.domain import (
    ChatTurn,
    GenerationOptions,
    Memory,
    MemoryProposal,
    MemorySource,
    ProposalKind,
    Role,
)
from assistant.errors import AssistantError, UsageError
from assistant.llm.base import ChatModel, TextPiece
from assistant.textsafe import sanitize

if TYPE_CHECKING:
    from assistant.notes.service import NotesService
    from assistant.store.memories import ImportedMemory, MemoryRepository, NewMemory

MAX_MEMORY_CHARS = 500
# While there are at most this many memories, all of them are tried first.
FEW = 24
# At most this many memories are given with one message when they are many
# (the budget usually stops first): on bench/memory.py's 40 questions among
# 500 memories the bundled embedder ranks the needed one in its top 8 for 35,
# in its top 16 for 39. A later turn may add clearly relevant ones (below).
MAX_GIVEN = 16
# A fresh selection takes at most this share of the budget (the rest would be
# room for clearly relevant memories a later turn adds after it). On the
# bench's 40 questions, recall of the needed memory with a chat-template
# model: 36/40 at 0.75 and a cosine floor of 0.20, 39/40 at 1.0 and 0.15
# (median 170 -> 187 tokens given); a later turn that finds no room starts
# the selection afresh.
FRESH_SHARE = 1.0
CANDIDATES = 50
# A memory is given only above these (one is enough): the cosine of its
# vector to the message's, or the share of the message's words it holds.
MIN_COSINE = 0.15
MIN_KEYWORD_SHARE = 0.25
# A memory this relevant that the last reply was not given is added to the
# block of a conversation (which then is evaluated again); less relevant
# ones wait, so the block stays in the prompt cache.
STRONG_COSINE = 0.35
STRONG_KEYWORD_SHARE = 0.5
# Keywords count for this share of the fused score, vectors for the rest:
# memories are short, and a common word they share with the message ("work",
# "away") put a wrong one first for 20 of the 40 bench questions at equal
# weights (vectors alone: 10; keywords at 0.2: 11, while still finding a name
# the embedder does not know). Where the embedder cannot read the message's
# language, keywords alone rank.
KEYWORD_WEIGHT = 0.2
# Memories embedded per reply at most; the others are found by keywords until then.
EMBED_PER_TURN = 256
# A proposal this close to a kept memory (cosine) is shown with it.
CLOSE_COSINE = 0.85
MAX_PROPOSALS = 3
PROPOSAL_KEPT = 8  # kept memories shown with a proposal request, the closest first
PROPOSAL_TOKENS = 160
# Words by which a message speaks about its writer, per language; a message
# in a language listed here is asked about only when it holds one of them.
FIRST_PERSON: dict[str, re.Pattern[str]] = {
    "en": re.compile(r"\b(i|i'm|im|i've|i'd|i'll|me|my|mine|myself|we|our|us)\b", re.I),
    "fr": re.compile(r"\b(je|j'|moi|mon|ma|mes|nous|notre|nos)", re.I),
    "de": re.compile(r"\b(ich|mich|mir|mein|meine|meinen|meiner|wir|unser|unsere)\b", re.I),
    "es": re.compile(r"\b(yo|me|mi|mis|soy|estoy|tengo|nosotros|nuestro|nuestra)\b", re.I),
    "it": re.compile(r"\b(io|mi|mio|mia|miei|mie|sono|ho|noi|nostro|nostra)\b", re.I),
    "pt": re.compile(r"\b(eu|me|meu|minha|meus|minhas|sou|estou|tenho|nós|nosso)\b", re.I),
    "nl": re.compile(r"\b(ik|mij|me|mijn|wij|we|ons|onze)\b", re.I),
    "zh": re.compile("[我咱]"),
    "ja": re.compile("(私|僕|俺|わたし|ぼく)"),
}
_LINE = re.compile(
    r"^\s*(?:[-*•]\s*)?(NEW|SAME\s*#?\s*(\d+)|CHANGES?\s*#?\s*(\d+))\s*[:：]\s*(.+?)\s*$", re.I
)


@cache
def prompt_text(name: str) -> str:
    """A memory prompt from the bundled prompts (``prompts/memory/NAME.txt``)."""
    from assistant.writing.templates import bundled_root

    return (bundled_root() / "memory" / f"{name}.txt").read_text(encoding="utf-8").strip()


def clean_text(text: str) -> str:
    """A memory's text as it is kept: stripped; empty or too long is a sentence."""
    text = text.strip()
    if not text:
        raise UsageError('A memory needs some text, e.g. assistant memory add "I am vegetarian."')
    if len(text) > MAX_MEMORY_CHARS:
        raise UsageError(
            f"A memory holds at most {MAX_MEMORY_CHARS} characters and this one has "
            f"{len(text):,}; keep one short fact per memory (nothing was saved)."
        )
    return text


def normal(text: str) -> str:
    """For telling whether two memories say the same: case, width, spacing
    and closing punctuation do not count."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(text.split()).rstrip(" .!。！")


def quoted(text: str) -> str:
    """A memory as the model sees it: on one line, controls visible, between
    guillemets (its own made single, so the quote around it stays whole)."""
    line = " ".join(sanitize(text).split())
    return "«" + line.replace("«", "‹").replace("»", "›") + "»"


def clearly_relevant(r: Ranked) -> bool:
    return (r.cosine is not None and r.cosine >= STRONG_COSINE) or (
        r.keyword_share >= STRONG_KEYWORD_SHARE
    )


def render_block(memories: Sequence[Memory]) -> str:
    """The text added to the system prompt for ``memories`` ("" for none):
    the header, then the memories on the same line. Measured on the bundled
    base model (bench/memory.py), a bulleted list of quoted memories was
    carried on by the model in its replies ("- “I am an animal lover.”")
    and this one line was not."""
    if not memories:
        return ""
    return prompt_text("block") + " " + " ".join(quoted(m.text) for m in memories)


def with_memories(system: str | None, block: str) -> str | None:
    """The system prompt with the memory block after it."""
    if not block:
        return system
    return f"{system.rstrip()}\n\n{block}" if system and system.strip() else block


def speaks_of_writer(text: str) -> bool:
    """True when a message may say something about its writer: it holds a
    first-person word of its language (of any listed language when its
    language is undetermined; always for a language not listed)."""
    from assistant.language import UNDETERMINED, detect

    lang = detect(text)
    if lang in FIRST_PERSON:
        return bool(FIRST_PERSON[lang].search(text))
    if lang == UNDETERMINED:
        return any(p.search(text) for p in FIRST_PERSON.values())
    return True


@dataclass(frozen=True)
class MemorySelection:
    """The memories a reply is given, and what they cost."""

    memories: tuple[Memory, ...] = ()
    block: str = ""  # the text added to the system prompt
    total: int = 0  # how many memories there are
    scores: dict[int, float] = field(default_factory=dict)  # fused score of each given one

    @property
    def uids(self) -> list[str]:
        return [m.uid for m in self.memories]


EMPTY = MemorySelection()


@dataclass(frozen=True)
class Ranked:
    memory_id: int
    score: float  # fused, in [0, 1]
    cosine: float | None
    keyword_share: float


class MemoryService:
    """``notes`` builds the notes service whose embedder ranks memories
    (None: keywords only)."""

    def __init__(
        self,
        repo: MemoryRepository,
        notes: Callable[[], NotesService] | None = None,
        *,
        enabled: bool = True,
        budget_tokens: int = 256,
    ) -> None:
        self.repo = repo
        self._notes = notes
        self.enabled = enabled
        self.budget_tokens = budget_tokens
        self._keywords_ok = False
        self._lock = threading.Lock()
        # vectors of the memories by embedder: (stamp, ids, matrix)
        self._vectors: tuple[tuple[Any, ...], list[int], np.ndarray] | None = None

    # ------------------------------------------------------------ keeping
    def _entry(self, text: str) -> tuple[str, str]:
        """(language, words to index) for a memory's text."""
        from assistant.language import detect
        from assistant.notes.keywords import index_terms

        lang = detect(text)
        return lang, index_terms(text, lang)

    def _new(self, text: str, source: MemorySource, **where: Any) -> NewMemory:
        from assistant.store.memories import NewMemory

        lang, terms = self._entry(text)
        return NewMemory(text=text, terms=terms, lang=lang, source=source, **where)

    def same_as(self, text: str) -> Memory | None:
        """The kept memory that says exactly ``text`` (case, spacing and the
        closing full stop aside), if any."""
        wanted = normal(text)
        for memory_id, kept in self.repo.texts():
            if normal(kept) == wanted:
                return self.repo.get(memory_id)
        return None

    def add(
        self,
        text: str,
        source: MemorySource = MemorySource.TYPED,
        conversation_id: int | None = None,
        message_id: int | None = None,
    ) -> tuple[Memory, bool]:
        """Keep ``text``; returns (the memory, True), or (the memory that
        already says it, False) with nothing added."""
        text = clean_text(text)
        self._ensure_keywords()
        existing = self.same_as(text)
        if existing is not None:
            return existing, False
        memory = self.repo.add(
            self._new(text, source, conversation_id=conversation_id, message_id=message_id)
        )
        return memory, True

    def edit(self, memory_id: int, text: str) -> Memory:
        """New text for memory ``memory_id``; its old words leave the index."""
        text = clean_text(text)
        self._ensure_keywords()
        lang, terms = self._entry(text)
        return self.repo.update(memory_id, text, terms, lang)

    def remove(self, ids: Sequence[int]) -> int:
        """Delete memories: their text leaves the database and its index."""
        missing = [i for i in ids if i not in self.repo.many(list(ids))]
        if missing:
            raise UsageError(
                f"There is no memory {missing[0]}; `assistant memory list` shows their numbers."
            )
        return self.repo.delete(list(ids))

    def get(self, memory_id: int) -> Memory:
        from assistant.errors import NotFound

        try:
            return self.repo.get(memory_id)
        except NotFound:
            raise UsageError(
                f"There is no memory {memory_id}; `assistant memory list` shows their numbers."
            ) from None

    def list_memories(self, limit: int | None = None) -> list[Memory]:
        return self.repo.list_memories(limit)

    def count(self) -> int:
        return self.repo.count()

    def by_uids(self, uids: Sequence[str]) -> dict[str, Memory]:
        return self.repo.by_uids(uids)

    def accept(self, proposal: MemoryProposal, replace: bool = False) -> Memory:
        """Keep a proposal the user said yes to: as a new memory, or in place
        of the one it repeats or changes (``replace``)."""
        from assistant.errors import NotFound

        text = clean_text(proposal.text)
        if replace and proposal.related is not None:
            self._ensure_keywords()
            lang, terms = self._entry(text)
            try:
                return self.repo.update(
                    proposal.related.id,
                    text,
                    terms,
                    lang,
                    source=MemorySource.PROPOSED,
                    conversation_id=proposal.conversation_id,
                    message_id=proposal.message_id,
                )
            except NotFound:  # deleted meanwhile: kept as a new one
                pass
        memory, _ = self.add(
            text,
            MemorySource.PROPOSED,
            conversation_id=proposal.conversation_id,
            message_id=proposal.message_id,
        )
        return memory

    def mark_used(self, memories: Sequence[Memory]) -> None:
        self.repo.mark_used([m.id for m in memories])

    def import_memories(self, memories: Sequence[NewMemory]) -> tuple[int, int]:
        """Store imported memories (prepared by ``prepare_import``); (added, skipped)."""
        self._ensure_keywords()
        return self.repo.import_memories(memories)

    def import_file(self, path: Path) -> tuple[int, int]:
        """``memory import``: our memory export, a conversations export
        (its memories), or a text file with one memory per line, in one
        transaction; a bad record is a sentence and nothing is stored.
        Returns (added, already here)."""
        records = read_memory_file(path)
        prepared = self.prepare_records(records, path)
        added, skipped = self.repo.import_linked(prepared)
        return added, skipped + len(records) - len(prepared)

    def prepare_records(
        self, records: Sequence[dict[str, Any]], path: Path
    ) -> list[ImportedMemory]:
        """Memory records from a file, checked (a bad one is a sentence
        naming it), each with where it came from; one that says what a kept
        memory (or an earlier record) says is left out."""
        self._ensure_keywords()
        seen = {normal(t) for _, t in self.repo.texts()}
        prepared: list[ImportedMemory] = []
        for n, record in enumerate(records, start=1):
            memory = self.prepare_import(record, f"Memory {n} in {path}")
            key = normal(memory.text)
            if key in seen:
                continue
            seen.add(key)
            uid = record.get("conversation_uid")
            message = record.get("message_id")
            prepared.append(
                (
                    memory,
                    uid if isinstance(uid, str) and uid else None,
                    message if isinstance(message, int) and not isinstance(message, bool) else None,
                )
            )
        return prepared

    def prepare_import(self, record: dict[str, Any], where: str) -> NewMemory:
        """A memory read from an export: a bad one is a sentence naming ``where``."""
        from datetime import datetime

        text = record.get("text")
        if not isinstance(text, str):
            raise UsageError(f"{where} has no text.")
        try:
            text = clean_text(text)
        except UsageError as exc:
            raise UsageError(f"{where}: {exc}") from None
        try:
            source = MemorySource(str(record.get("source") or "typed"))
        except ValueError:
            source = MemorySource.TYPED

        def when(key: str) -> datetime | None:
            value = record.get(key)
            if not isinstance(value, str) or not value:
                return None
            try:
                return datetime.fromisoformat(value).replace(tzinfo=None)
            except ValueError:
                raise UsageError(f"{where} has a bad date in “{key}”.") from None

        uid = record.get("uid")
        lang, terms = self._entry(text)
        from assistant.store.memories import NewMemory

        return NewMemory(
            text=text,
            terms=terms,
            lang=lang,
            source=source,
            uid=str(uid) if isinstance(uid, str) and uid.strip() else None,
            created_at=when("created_at"),
            updated_at=when("updated_at"),
            last_used_at=when("last_used_at"),
        )

    # ------------------------------------------------------------ keywords
    def _ensure_keywords(self) -> None:
        """Write the keyword index again if it was made by another version
        of the segmenter or stemmer (once per process)."""
        if self._keywords_ok:
            return
        from assistant.notes.keywords import index_terms, tokenizer_version

        version = tokenizer_version()
        if self.repo.keyword_version() != version:
            entries = [(i, index_terms(t, lang or "und")) for i, t, lang in self.repo.langs()]
            self.repo.reindex_keywords(entries, version)
        self._keywords_ok = True

    def _keyword_ranks(self, query: str, limit: int) -> list[tuple[int, float]]:
        from assistant.notes.keywords import query_groups

        groups = query_groups(query)
        if not groups:
            return []
        match = " OR ".join(
            "(" + " OR ".join('"' + t.replace('"', '""') + '"' for t in g) + ")" for g in groups
        )
        return self.repo.keyword_search(match, limit)

    def keyword_share(self, query: str, memory: Memory) -> float:
        """Share of the message's words (as searched) that the memory holds."""
        from assistant.notes.keywords import index_terms, query_groups

        groups = query_groups(query)
        if not groups:
            return 0.0
        lang, _ = self._entry(memory.text)
        terms = set(index_terms(memory.text, lang).split())
        return sum(1 for g in groups if any(form in terms for form in g)) / len(groups)

    # ------------------------------------------------------------- vectors
    def _embedder_usable(self, query: str) -> bool:
        if self._notes is None:
            return False
        from assistant.language import detect
        from assistant.notes.retriever import covered

        try:
            languages = self._notes().embedding_languages()
        except AssistantError:
            return False
        return covered(detect(query), languages)

    def _matrix(self) -> tuple[list[int], np.ndarray, str] | None:
        """Every memory's vector by the notes embedder, the missing ones made
        first (at most EMBED_PER_TURN a call)."""
        if self._notes is None:
            return None
        notes = self._notes()
        embedder = notes.embedder
        name = str(embedder.name)
        missing = self.repo.without_vectors(name, EMBED_PER_TURN)
        if missing:
            vectors = np.asarray(embedder.embed([t for _, t in missing]), dtype=np.float32)
            self.repo.set_vectors(
                name,
                [(i, vectors[n].tobytes()) for n, (i, _) in enumerate(missing)],
                dict(missing),
            )
        stamp = (name, *self._stamp())
        with self._lock:
            cached = self._vectors
            if cached is not None and cached[0] == stamp:
                return cached[1], cached[2], name
        ids, blobs = self.repo.vectors(name)
        matrix = (
            np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), -1)
            if blobs
            else np.zeros((0, 1), dtype=np.float32)
        )
        with self._lock:
            self._vectors = (stamp, ids, matrix)
        return ids, matrix, name

    def embed_missing(self) -> int:
        """Make the vectors selection will need now (after an import of many
        memories) rather than during a reply; returns how many were made."""
        if self._notes is None:
            return 0
        made = 0
        for _ in range(self.repo.count() // EMBED_PER_TURN + 2):
            name = str(self._notes().embedder.name)
            missing = len(self.repo.without_vectors(name, EMBED_PER_TURN))
            if not missing:
                break
            self._matrix()
            made += missing
        return made

    def _stamp(self) -> tuple[Any, ...]:
        from sqlalchemy import text

        with self.repo.db.reader() as s:
            row = s.execute(
                text("SELECT count(*), max(id), max(updated_at), count(vector) FROM memories")
            ).one()
        return tuple(row)

    def _vector_ranks(self, query: str, limit: int) -> list[tuple[int, float]]:
        found = self._matrix()
        if found is None:
            return []
        ids, matrix, _ = found
        if not ids:
            return []
        assert self._notes is not None
        q = np.asarray(self._notes().embed_queries([query]), dtype=np.float32)[0]
        scores = matrix @ q
        top = np.argsort(-scores)[:limit]
        return [(ids[i], float(scores[i])) for i in top]

    # ------------------------------------------------------------ selection
    def rank(self, query: str, limit: int = CANDIDATES) -> list[Ranked]:
        """Memories by closeness to ``query``, best first: keyword and vector
        scores fused as notes search fuses them."""
        from assistant.notes.retriever import fuse

        self._ensure_keywords()
        keyword = self._keyword_ranks(query, limit)
        vector: list[tuple[int, float]] = []
        if self._embedder_usable(query):
            try:
                vector = self._vector_ranks(query, limit)
            except AssistantError:  # the embedder cannot run: keywords alone, not no reply
                vector = []
        cosines = dict(vector)
        fused = fuse(keyword, vector, keyword_weight=KEYWORD_WEIGHT if vector else 1.0)
        memories = self.repo.many([cid for cid, *_ in fused])
        keyword_ids = dict(keyword)
        ranked = []
        for memory_id, score, _kw_rank, _vec_rank in fused:
            memory = memories.get(memory_id)
            if memory is None:
                continue
            share = self.keyword_share(query, memory) if memory_id in keyword_ids else 0.0
            ranked.append(Ranked(memory_id, score, cosines.get(memory_id), share))
        return ranked

    def select(
        self,
        query: str,
        budget: int,
        count: Callable[[str], int],
        previous: Sequence[str] = (),
        relevant_only: bool = False,
    ) -> MemorySelection:
        """The memories to give with ``query``: all of them while they fit
        ``budget`` tokens (and are few), else the closest that clear the
        floor, best first, within the budget. ``count`` counts tokens.

        ``previous`` (uids) were given to the last reply of the same
        conversation. Every change to the block makes the model evaluate it,
        and the whole conversation after it, again; so they are given again,
        in the same order, unless a memory clearly relevant to ``query``
        (``STRONG_COSINE``) is missing: it goes after them while that fits,
        else the selection starts afresh.

        ``relevant_only`` (a base model, which continues what it reads and
        is led astray by memories beside the point: bench.answers measured
        right answers 11/27 -> 8/27 with five of them given to every reply)
        gives only the memories clearly relevant to ``query`` (the strong
        floor: the small floor let "What do bees make?" bring "I am
        vegetarian."), even while they are few; those of the last reply
        first, in their order."""
        if not self.enabled or budget <= 0:
            return EMPTY
        total = self.repo.count()
        if total == 0:
            return EMPTY
        if relevant_only:
            return self._relevant_in_place(query, budget, count, previous, total)
        if total <= FEW:
            everything = self.repo.list_memories()
            block = render_block(everything)
            if count(block) <= budget:
                return MemorySelection(tuple(everything), block, total)
        ranked = self._relevant(self.rank(query))
        still = self.repo.by_uids(previous) if previous else {}
        kept = [still[u] for u in previous if u in still]
        if kept:
            ids = {m.id for m in kept}
            missing = [r for r in ranked if r.memory_id not in ids and clearly_relevant(r)]
            found = self.repo.many([r.memory_id for r in missing])
            merged = kept + [found[r.memory_id] for r in missing if r.memory_id in found]
            block = render_block(merged)
            if count(block) <= budget:
                scores = {r.memory_id: r.score for r in ranked}
                return MemorySelection(tuple(merged), block, total, scores)
        chosen = self._fit(ranked[:MAX_GIVEN], int(budget * FRESH_SHARE), count)
        scores = {r.memory_id: r.score for r in ranked}
        return MemorySelection(tuple(chosen), render_block(chosen), total, scores)

    def _relevant_in_place(
        self,
        query: str,
        budget: int,
        count: Callable[[str], int],
        previous: Sequence[str],
        total: int,
    ) -> MemorySelection:
        ranked = [r for r in self.rank(query) if clearly_relevant(r)][:MAX_GIVEN]
        scores = {r.memory_id: r.score for r in ranked}
        if not ranked:
            return MemorySelection((), "", total, scores)
        still = self.repo.by_uids(previous) if previous else {}
        order = {still[u].id: n for n, u in enumerate(previous) if u in still}
        # the last reply's memories keep their places (the prompt cache)
        ranked.sort(key=lambda r: (order.get(r.memory_id, len(order)),))
        chosen = self._fit(ranked, budget, count)
        return MemorySelection(tuple(chosen), render_block(chosen), total, scores)

    @staticmethod
    def _relevant(ranked: list[Ranked]) -> list[Ranked]:
        return [
            r
            for r in ranked
            if (r.cosine is not None and r.cosine >= MIN_COSINE)
            or r.keyword_share >= MIN_KEYWORD_SHARE
        ]

    def _fit(self, wanted: list[Ranked], budget: int, count: Callable[[str], int]) -> list[Memory]:
        """The memories of ``wanted``, best first, as many as the budget holds.
        Each one's tokens are counted alone and added up (one count per
        memory, not one per trial block), then the block is counted whole."""
        memories = self.repo.many([r.memory_id for r in wanted])
        empty = count("")
        used = count(prompt_text("block")) - empty
        chosen: list[Memory] = []
        for r in wanted:
            memory = memories.get(r.memory_id)
            if memory is None:
                continue
            cost = count(" " + quoted(memory.text)) - empty
            if empty + used + cost > budget:
                continue
            chosen.append(memory)
            used += cost
        while chosen and count(render_block(chosen)) > budget:
            chosen.pop()
        return chosen

    # ------------------------------------------------------------ proposals
    def propose(
        self,
        model: ChatModel,
        message: str,
        conversation_id: int,
        message_id: int,
        cancel: threading.Event | None = None,
    ) -> list[MemoryProposal]:
        """Ask ``model`` which facts about the user ``message`` states; each
        proposal says whether it repeats or changes a kept memory. Nothing is
        stored here."""
        if not self.enabled or not model.can_propose_memories:
            return []
        if not message.strip() or not speaks_of_writer(message):
            return []
        kept = self._related(message)
        listing = "\n".join(f"[{n}] {quoted(m.text)}" for n, m in enumerate(kept, start=1))
        prompt = (
            prompt_text("propose")
            .replace("{kept}", listing or "(none yet)")
            .replace("{message}", sanitize(message).replace("MESSAGE>>>", "MESSAGE›››"))
        )
        options = GenerationOptions(max_tokens=PROPOSAL_TOKENS, temperature=0.0)
        pieces: list[str] = []
        for event in model.stream([ChatTurn(Role.USER, prompt)], options, cancel):
            if isinstance(event, TextPiece):
                pieces.append(event.text)
        if cancel is not None and cancel.is_set():
            return []
        return self._proposals("".join(pieces), kept, conversation_id, message_id)

    def _related(self, message: str) -> list[Memory]:
        """The kept memories a proposal is compared with: all while few, else
        the closest to the message."""
        if self.repo.count() <= PROPOSAL_KEPT:
            return self.repo.list_memories()
        ranked = self.rank(message)[:PROPOSAL_KEPT]
        found = self.repo.many([r.memory_id for r in ranked])
        return [found[r.memory_id] for r in ranked if r.memory_id in found]

    def _proposals(
        self, answer: str, kept: list[Memory], conversation_id: int, message_id: int
    ) -> list[MemoryProposal]:
        proposals: list[MemoryProposal] = []
        seen: set[str] = set()
        for line in answer.splitlines():
            m = _LINE.match(line)
            if m is None:
                continue
            text = m.group(4).strip().strip("\"'“”「」").strip()
            if not text or len(text) > MAX_MEMORY_CHARS or text.endswith(("?", "？")):
                continue
            key = normal(text)
            if key in seen:
                continue
            seen.add(key)
            if self.same_as(text) is not None:
                continue  # already kept word for word: nothing to ask
            number = m.group(2) or m.group(3)
            related = kept[int(number) - 1] if number and 0 < int(number) <= len(kept) else None
            kind = ProposalKind.NEW
            if related is not None:
                kind = ProposalKind.REPEAT if m.group(2) else ProposalKind.CHANGE
            else:
                related = self._close_to(text)
                if related is not None:
                    kind = ProposalKind.CLOSE
            proposals.append(MemoryProposal(text, kind, conversation_id, message_id, related))
            if len(proposals) >= MAX_PROPOSALS:
                break
        return proposals

    def _close_to(self, text: str) -> Memory | None:
        """A kept memory whose meaning is very close to ``text`` (the notes
        embedder's cosine), or None."""
        if self.repo.count() == 0 or not self._embedder_usable(text):
            return None
        try:
            best = self._vector_ranks(text, 1)
        except AssistantError:
            return None
        if best and best[0][1] >= CLOSE_COSINE:
            return self.repo.many([best[0][0]]).get(best[0][0])
        return None


def read_memory_file(path: Path) -> list[dict[str, Any]]:
    """Memory records from a file: our memory export or conversations export
    (JSON with ``memories``), or plain text with one memory per line."""
    import json

    from assistant.fileio import reading_import

    with reading_import(path):
        raw = path.read_bytes()
    try:
        body = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text or JSON.") from None
    if body.lstrip().startswith(("{", "[")):
        try:
            data = json.loads(body)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path} is not valid JSON (line {exc.lineno}).") from None
        records = data.get("memories") if isinstance(data, dict) else data
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise UsageError(f"{path} holds no memories (a list of objects with “text”).")
        return list(records)
    return [{"text": line.strip()} for line in body.splitlines() if line.strip()]
