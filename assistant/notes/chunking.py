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
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from assistant.notes.loaders import Document

TokenCounter = Callable[[Sequence[str]], list[int]]

_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=\S)")
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
    words = piece.text.split()
    per_word = max(1, count([piece.text])[0] // max(1, len(words)))
    step = max(1, max_tokens // (per_word + 1))
    out = []
    for i in range(0, len(words), step):
        text = " ".join(words[i : i + step])
        out.append(_Piece(piece.start_line, piece.end_line, text, 0))
    for p, n in zip(out, count([p.text for p in out]), strict=True):
        p.tokens = n
    return out


class Chunker:
    """Packs blocks into chunks of at most ``max_tokens`` word pieces."""

    def __init__(self, count: TokenCounter, max_tokens: int = 250, overlap_tokens: int = 32):
        self.count = count
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens

    def chunk(self, doc: Document) -> list[Chunk]:
        blocks = document_blocks(doc)
        if not blocks:
            return []
        headings = [HEADING_SEPARATOR.join(b.heading) for b in blocks]
        heading_cost = dict(zip(set(headings), self.count(list(set(headings))), strict=True))
        sizes = self.count([b.text for b in blocks])
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

        for block, heading, size in zip(blocks, headings, sizes, strict=True):
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

    def _cut(self, block: Block, limit: int) -> list[_Piece]:
        """Sentences packed up to ``limit``, each piece starting with the last
        sentences of the previous one (up to ``overlap_tokens``)."""
        units = _split_units(block)
        for unit, n in zip(units, self.count([u.text for u in units]), strict=True):
            unit.tokens = n
        flat: list[_Piece] = []
        for unit in units:
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

        for unit in flat:
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
