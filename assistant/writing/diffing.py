"""Differences between an original text and an edited one, change by change.

A change is one run of lines that differs (difflib opcodes, at line level,
which for prose means paragraph level). Each change is accepted or rejected on
its own; ``apply`` rebuilds the text from the original, taking the edited lines
only for accepted changes, so rejecting everything gives back the original
exactly.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Change:
    index: int
    old_start: int  # first line in the original (0-based)
    old_lines: tuple[str, ...]
    new_lines: tuple[str, ...]

    @property
    def kind(self) -> str:
        if not self.old_lines:
            return "insert"
        if not self.new_lines:
            return "delete"
        return "replace"


@dataclass(frozen=True)
class TextDiff:
    original: str
    edited: str
    changes: tuple[Change, ...]
    _opcodes: tuple[tuple[str, int, int, int, int], ...]
    _old: tuple[str, ...]
    _new: tuple[str, ...]

    def apply(self, accepted: Mapping[int, bool] | set[int]) -> str:
        """The original with the accepted changes applied (others left as they were)."""
        if not isinstance(accepted, set):
            accepted = {i for i, ok in accepted.items() if ok}
        out: list[str] = []
        index = 0
        for tag, i1, i2, j1, j2 in self._opcodes:
            if tag == "equal":
                out.extend(self._old[i1:i2])
                continue
            out.extend(self._new[j1:j2] if index in accepted else self._old[i1:i2])
            index += 1
        return "".join(out)

    def unified(self, from_name: str = "original", to_name: str = "edited") -> str:
        return "".join(
            difflib.unified_diff(
                _ensure_newline(list(self._old)),
                _ensure_newline(list(self._new)),
                fromfile=from_name,
                tofile=to_name,
            )
        )


def _ensure_newline(lines: list[str]) -> list[str]:
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n\\ No newline at end of file\n"
    return lines


def diff_texts(original: str, edited: str) -> TextDiff:
    old = tuple(original.splitlines(keepends=True))
    new = tuple(edited.splitlines(keepends=True))
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    opcodes = tuple(matcher.get_opcodes())
    changes: list[Change] = []
    for tag, i1, i2, j1, j2 in opcodes:
        if tag != "equal":
            changes.append(Change(len(changes), i1, old[i1:i2], new[j1:j2]))
    return TextDiff(original, edited, tuple(changes), opcodes, old, new)


def keep_trailing_newline(original: str, edited: str) -> str:
    """Give ``edited`` the same final-newline convention as ``original``."""
    body = edited.rstrip("\n")
    tail = original[len(original.rstrip("\n")) :]
    return body + tail


_SENTENCE = re.compile(r"[^.!?\n]*\w[^.!?\n]*(?:[.!?]+|$)")


def sentence_count(text: str) -> int:
    """Sentences of two words or more (headings and stray words do not count)."""
    return sum(1 for s in _SENTENCE.findall(text) if len(s.split()) >= 2)


def drops_sentence(change: Change) -> bool:
    """True when the change leaves out a sentence of the original: such a
    change should be looked at before it is accepted."""
    old = "".join(change.old_lines)
    if not old.strip():
        return False
    new = "".join(change.new_lines)
    if not new.strip():
        return sentence_count(old) > 0
    return sentence_count(new) < sentence_count(old)
