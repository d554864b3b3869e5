"""Split long text into pieces that fit a token budget, so they can be stitched back.

Pieces break at paragraph boundaries; a paragraph is split (at sentences, then
at words) only when it alone is over budget. Each chunk remembers the exact
whitespace that followed it, so ``lead + "".join(c.text + c.separator)`` gives
back the original text byte for byte, and edited chunks stitch back in order
with the original spacing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

PARAGRAPH_BREAK = re.compile(r"(\n[ \t]*\n\s*)")
SENTENCE_BREAK = re.compile(r"(?<=[.!?…])(\s+)")
WORD_BREAK = re.compile(r"(\s+)")

TokenCounter = Callable[[str], int]


@dataclass(frozen=True)
class Chunk:
    text: str
    separator: str  # the whitespace that followed this chunk in the original
    tokens: int


def _split_keep(text: str, pattern: re.Pattern[str]) -> list[tuple[str, str]]:
    """``text`` cut at ``pattern`` as (piece, whitespace after it) pairs."""
    parts = pattern.split(text)
    pairs: list[tuple[str, str]] = []
    for i in range(0, len(parts), 2):
        piece = parts[i]
        sep = parts[i + 1] if i + 1 < len(parts) else ""
        if piece:
            pairs.append((piece, sep))
        elif pairs:  # pattern at the very start or two in a row: keep the spacing
            last_piece, last_sep = pairs[-1]
            pairs[-1] = (last_piece, last_sep + sep)
    return pairs


def _hard_split(piece: str, budget: int, count: TokenCounter) -> list[str]:
    """A single 'word' over budget (a URL, a base64 blob): cut by characters."""
    out: list[str] = []
    rest = piece
    while rest:
        size = max(1, len(rest) * budget // max(count(rest), 1))
        while size > 1 and count(rest[:size]) > budget:
            size = size * 3 // 4
        out.append(rest[:size])
        rest = rest[size:]
    return out


def _units(piece: str, sep: str, budget: int, count: TokenCounter, level: int) -> list[Chunk]:
    tokens = count(piece)
    if tokens <= budget:
        return [Chunk(piece, sep, tokens)]
    if level == 0:
        pairs = _split_keep(piece, SENTENCE_BREAK)
    elif level == 1:
        pairs = _split_keep(piece, WORD_BREAK)
    else:
        parts = _hard_split(piece, budget, count)
        return [Chunk(p, sep if i == len(parts) - 1 else "", count(p)) for i, p in enumerate(parts)]
    if len(pairs) <= 1:
        return _units(piece, sep, budget, count, level + 1)
    units: list[Chunk] = []
    for i, (sub, sub_sep) in enumerate(pairs):
        units.extend(
            _units(sub, sub_sep if i < len(pairs) - 1 else sub_sep + sep, budget, count, level + 1)
        )
    return units


def split_into_chunks(text: str, budget: int, count: TokenCounter) -> tuple[str, list[Chunk]]:
    """Return (leading whitespace, chunks) with each chunk at most ``budget``
    tokens as ``count`` measures them."""
    if budget < 1:
        raise ValueError("budget must be positive")
    body = text.lstrip()
    lead = text[: len(text) - len(body)]
    if not body:
        return lead, []
    units: list[Chunk] = []
    for para, sep in _split_keep(body, PARAGRAPH_BREAK):
        units.extend(_units(para, sep, budget, count, 0))
    chunks: list[Chunk] = []
    current: list[Chunk] = []
    current_tokens = 0
    for unit in units:
        if current and current_tokens + unit.tokens > budget:
            chunks.append(_join(current, count))
            current, current_tokens = [], 0
        current.append(unit)
        current_tokens += unit.tokens
    if current:
        chunks.append(_join(current, count))
    return lead, chunks


def _join(units: list[Chunk], count: TokenCounter) -> Chunk:
    if len(units) == 1:
        return units[0]
    text = "".join(u.text + u.separator for u in units[:-1]) + units[-1].text
    return Chunk(text, units[-1].separator, sum(u.tokens for u in units))


def stitch(lead: str, parts: list[tuple[str, str]]) -> str:
    """Join (text, separator) pairs back into one text."""
    return lead + "".join(text + sep for text, sep in parts)
