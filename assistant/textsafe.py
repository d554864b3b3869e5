"""Make untrusted text (model output, stored messages, documents) safe to show.

A terminal obeys escape sequences: ESC/CSI can move the cursor or recolour the
screen, OSC 52 writes the clipboard, OSC 8 forges links and a bare carriage
return overwrites what was printed. We never let those bytes through; each is
shown as a visible caret form (``^[``) so the text is still there to read.
"""

from __future__ import annotations

import re

# C0 controls except tab and newline, DEL, and the C1 range.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")


def _caret(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return "^" + chr(code + 0x40)
    if code == 0x7F:
        return "^?"
    return f"<U+{code:04X}>"


def sanitize(text: str) -> str:
    """Return ``text`` with every terminal control character made visible."""
    if not text:
        return text
    text = text.replace("\r\n", "\n")
    return _CONTROL.sub(_caret, text)


def has_control(text: str) -> bool:
    return _CONTROL.search(text.replace("\r\n", "\n")) is not None


_LINE_BREAKS = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def one_line(text: str) -> str:
    """``sanitize``, and new lines and tabs shown as ``\\n`` and ``\\t``: for
    a name (a file name may hold a new line) printed on one line of output."""
    for raw, shown in _LINE_BREAKS.items():
        text = text.replace(raw, shown)
    return sanitize(text)
