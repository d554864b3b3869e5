"""Short conversation titles from the first message."""

from __future__ import annotations

import re

MAX_TITLE = 48


def title_from_text(text: str) -> str:
    for line in text.splitlines():
        line = re.sub(r"^[#>*\-\s`]+", "", line).strip()
        line = " ".join(line.split())
        if line:
            break
    else:
        return "New conversation"
    if len(line) <= MAX_TITLE:
        return line
    cut = line[:MAX_TITLE].rsplit(" ", 1)[0] or line[:MAX_TITLE]
    return cut.rstrip(",.;:") + "…"
