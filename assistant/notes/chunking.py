"""Split a document into passages that fit the embedding model's window.

Structure first, size second: a document becomes blocks (Markdown via
markdown-it-py, headings of reStructuredText and Org by their markup,
paragraphs elsewhere), each carrying its line range and heading path. Blocks of
one section are packed greedily up to ``max_tokens`` word pieces; a block that
is too long alone is cut at line, then sentence, then word boundaries, and
consecutive pieces of one cut share a small overlap. Chunks never cross a
heading, so every chunk has one heading path to show.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from assistant.errors import Cancelled
from assistant.notes.loaders import Document

TokenCounter = Callable[[Sequence[str]], list[int]]
# (share of the document done, 0..1): for a progress line on big files
ChunkProgress = Callable[[float], None]
# A block this many times longer (in characters) than the window is over it
# without counting: a word piece is a few characters, and counting one huge
# block costs seconds (tokenizing 4 MB at once took 4 s).
CHARS_PER_TOKEN_BOUND = 64
CHECK_EVERY = 500  # units between looks at the cancel flag

# A sentence ends at . ! ? ; before a space, or at a CJK full stop, question or
# exclamation mark or semicolon (no space follows them in CJK text).
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=\S)|(?<=[。！？；])(?=\S)")
SAMPLE_CHARS = 4000  # enough of a long piece to estimate word pieces per word
_ORG_HEADING = re.compile(r"^(\*+)\s+(.*\S)\s*$")
_RST_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+:._])\1{2,}\s*$")
HEADING_SEPARATOR = " > "


@dataclass(frozen=True)
class Block:
    start_line: int  # 1-based, inclusive
    end_line: int
    text: str
    heading: tuple[str, ...]


@dataclass(frozen=True)
class Chunk:
    start_line: int
    end_line: int
    heading: str  # heading path, e.g. "Setup > Linux"
    text: str
    token_count: int
    page: int | None = None

    def embedding_text(self) -> str:
        """What the embedder sees: the heading path gives the passage its topic."""
        return f"{self.heading}\n{self.text}" if self.heading else self.text


# ----------------------------------------------------------------- blocks
def _paragraph_blocks(
    lines: Sequence[str], first: int, last: int, heading: tuple[str, ...]
) -> list[Block]:
    """Paragraphs (runs of non-blank lines) within lines[first:last]."""
    blocks: list[Block] = []
    start: int | None = None
    for i in range(first, last + 1):
        blank = i == last or not lines[i].strip()
        if blank and start is not None:
            text = "\n".join(lines[start:i]).strip()
            if text:
                blocks.append(Block(start + 1, i, text, heading))
            start = None
        elif not blank and start is None:
            start = i
    return blocks


def markdown_blocks(lines: Sequence[str]) -> list[Block]:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark").enable("table")
    tokens = md.parse("\n".join(lines))
    blocks: list[Block] = []
    path: list[tuple[int, str]] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.type == "heading_open" and tok.level == 0:
            depth = int(tok.tag[1:])
            title = " ".join(tokens[i + 1].content.split()) if i + 1 < len(tokens) else ""
            while path and path[-1][0] >= depth:
                path.pop()
            path.append((depth, title))
            i += 3
            continue
        if tok.level == 0 and tok.map is not None and tok.nesting in (0, 1):
            start, end = tok.map
            text = "\n".join(lines[start:end]).strip()
            if text:
                blocks.append(Block(start + 1, end, text, tuple(t for _, t in path)))
            if tok.nesting == 1:  # skip to the matching close token
                depth_count = 1
                i += 1
                while i < len(tokens) and depth_count:
                    depth_count += tokens[i].nesting if tokens[i].level == 0 else 0
                    i += 1
                continue
        i += 1
    return blocks


def _heading_sections(
    lines: Sequence[str], headings: list[tuple[int, int, str, int]]
) -> list[Block]:
    """Paragraph blocks under headings given as (line index, depth, title, lines used)."""
    blocks: list[Block] = []
    path: list[tuple[int, str]] = []
    cursor = 0
    for index, depth, title, used in headings + [(len(lines), 0, "", 0)]:
        blocks += _paragraph_blocks(lines, cursor, index, tuple(t for _, t in path))
        if used == 0:
            break
        while path and path[-1][0] >= depth:
            path.pop()
        path.append((depth, title))
        cursor = index + used
    return blocks


def org_blocks(lines: Sequence[str]) -> list[Block]:
    found = []
    for i, line in enumerate(lines):
        m = _ORG_HEADING.match(line)
        if m:
            found.append((i, len(m.group(1)), m.group(2), 1))
    return _heading_sections(lines, found)


def rst_blocks(lines: Sequence[str]) -> list[Block]:
    found = []
    levels: list[str] = []
    i = 0
    while i + 1 < len(lines):
        title, under = lines[i].rstrip(), lines[i + 1].rstrip()
        m = _RST_UNDERLINE.match(under)
        if title.strip() and m and len(under) >= len(title.strip()) and not title.startswith(" "):
            char = m.group(1)
            if char not in levels:
                levels.append(char)
            found.append((i, levels.index(char) + 1, title.strip(), 2))
            i += 2
            continue
        i += 1
    return _heading_sections(lines, found)


def text_blocks(lines: Sequence[str]) -> list[Block]:
    """Paragraphs; a short first line followed by more text is the title."""
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return []
    title = lines[first].strip()
    rest = any(line.strip() for line in lines[first + 1 :])
    if rest and len(title) <= 150 and not title.endswith((".", ",", ";", ":")):
        return _paragraph_blocks(lines, first + 1, len(lines), (title,)) or [
            Block(first + 1, first + 1, title, ())
        ]
    return _paragraph_blocks(lines, 0, len(lines), ())


def document_blocks(doc: Document) -> list[Block]:
    if doc.kind == "markdown":
        return markdown_blocks(doc.lines)
    if doc.kind == "org":
        return org_blocks(doc.lines)
    if doc.kind == "rst":
        return rst_blocks(doc.lines)
    if doc.kind in ("text", "pdf"):
        return text_blocks(doc.lines)
    return _paragraph_blocks(doc.lines, 0, len(doc.lines), ())


# ----------------------------------------------------------------- packing
@dataclass
class _Piece:
    start_line: int
    end_line: int
    text: str
    tokens: int


def _split_units(block: Block) -> list[_Piece]:
    """Cut a block into lines, and lines into sentences, with line numbers."""
    units: list[_Piece] = []
    for offset, line in enumerate(block.text.split("\n")):
        number = block.start_line + offset
        if not line.strip():
            continue
        for sentence in _SENTENCE_END.split(line):
            if sentence.strip():
                units.append(_Piece(number, number, sentence, 0))
    return units


def _split_words(piece: _Piece, max_tokens: int, count: TokenCounter) -> list[_Piece]:
    """Cut a piece with no sentence ends at word boundaries; text written
    without spaces (Chinese, Japanese) is cut between characters."""
    words = piece.text.split()
    sample = piece.text[:SAMPLE_CHARS]
    if len(words) * 8 < len(piece.text):  # long runs without spaces
        per_char = max(1.0, count([sample])[0] / max(1, len(sample)))
        step = max(1, int(max_tokens / per_char) - 1)
        texts = [piece.text[i : i + step] for i in range(0, len(piece.text), step)]
    else:
        sample_words = sample.split()
        per_word = max(1, count([sample])[0] // max(1, len(sample_words)))
        step = max(1, max_tokens // (per_word + 1))
        texts = [" ".join(words[i : i + step]) for i in range(0, len(words), step)]
    out = [_Piece(piece.start_line, piece.end_line, text, 0) for text in texts if text.strip()]
    for p, n in zip(out, count([p.text for p in out]), strict=True):
        p.tokens = n
    return out


class Chunker:
    """Packs blocks into chunks of at most ``max_tokens`` word pieces."""

    def __init__(self, count: TokenCounter, max_tokens: int = 250, overlap_tokens: int = 32):
        self.count = count
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens
        self._cancel: threading.Event | None = None

    def chunk(
        self,
        doc: Document,
        cancel: threading.Event | None = None,
        progress: ChunkProgress | None = None,
    ) -> list[Chunk]:
        """Chunks of ``doc``; raises ``Cancelled`` soon after ``cancel`` is set
        (a big file is checked every few hundred pieces)."""
        self._cancel = cancel
        blocks = document_blocks(doc)
        if not blocks:
            return []
        headings = [HEADING_SEPARATOR.join(b.heading) for b in blocks]
        heading_cost = dict(zip(set(headings), self.count(list(set(headings))), strict=True))
        sizes = self._sizes([b.text for b in blocks])
        total_lines = max(1, blocks[-1].end_line)
        last_told = 0.0
        chunks: list[Chunk] = []
        current: list[_Piece] = []
        current_heading = headings[0]

        def budget(heading: str) -> int:
            return max(32, self.max_tokens - (heading_cost[heading] + 1 if heading else 0))

        def flush() -> None:
            if current:
                text = "\n\n".join(p.text for p in current)
                tokens = sum(p.tokens for p in current)
                chunks.append(
                    Chunk(
                        current[0].start_line, current[-1].end_line, current_heading, text, tokens
                    )
                )
                current.clear()

        for n, (block, heading, size) in enumerate(zip(blocks, headings, sizes, strict=True)):
            if n % CHECK_EVERY == 0:
                self._check()
            if progress is not None and block.end_line / total_lines - last_told >= 0.02:
                last_told = block.end_line / total_lines
                progress(last_told)
            limit = budget(heading)
            if heading != current_heading:
                flush()
                current_heading = heading
            if size > limit:
                flush()
                for piece in self._cut(block, limit):
                    chunks.append(
                        Chunk(piece.start_line, piece.end_line, heading, piece.text, piece.tokens)
                    )
                continue
            if current and sum(p.tokens for p in current) + size > limit:
                flush()
            current.append(_Piece(block.start_line, block.end_line, block.text, size))
        flush()
        if doc.pages is not None:
            pages = doc.pages
            chunks = [
                Chunk(c.start_line, c.end_line, c.heading, c.text, c.token_count,
                      pages[min(c.start_line, len(pages)) - 1])
                for c in chunks
            ]  # fmt: skip
        return chunks

    def _check(self) -> None:
        if self._cancel is not None and self._cancel.is_set():
            raise Cancelled("chunking cancelled")

    def _sizes(self, texts: list[str]) -> list[int]:
        """Word pieces per text; a text far over the window is not counted."""
        bound = self.max_tokens * CHARS_PER_TOKEN_BOUND
        small = [t for t in texts if len(t) <= bound]
        counted = iter(self.count(small))
        return [next(counted) if len(t) <= bound else self.max_tokens + 1 for t in texts]

    def _cut(self, block: Block, limit: int) -> list[_Piece]:
        """Sentences packed up to ``limit``, each piece starting with the last
        sentences of the previous one (up to ``overlap_tokens``)."""
        units = _split_units(block)
        for unit, n in zip(units, self._sizes([u.text for u in units]), strict=True):
            unit.tokens = n
        flat: list[_Piece] = []
        for i, unit in enumerate(units):
            if i % CHECK_EVERY == 0:
                self._check()
            flat += _split_words(unit, limit, self.count) if unit.tokens > limit else [unit]
        pieces: list[_Piece] = []
        window: list[_Piece] = []
        fresh = False  # does the window hold a sentence not yet emitted?

        def emit() -> None:
            sep = " "
            text = sep.join(u.text.strip() for u in window)
            pieces.append(
                _Piece(
                    window[0].start_line, window[-1].end_line, text, sum(u.tokens for u in window)
                )
            )

        for i, unit in enumerate(flat):
            if i % CHECK_EVERY == 0:
                self._check()
            if window and sum(u.tokens for u in window) + unit.tokens > limit:
                emit()
                carry: list[_Piece] = []
                for prev in reversed(window):
                    if sum(u.tokens for u in carry) + prev.tokens > self.overlap_tokens:
                        break
                    carry.insert(0, prev)
                if sum(u.tokens for u in carry) + unit.tokens > limit:
                    carry = []
                window = carry
            window.append(unit)
            fresh = True
        if window and fresh:
            emit()
        return pieces
