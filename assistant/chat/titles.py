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


def action_title(action: str, text: str) -> str:
    """The title of a conversation a writing action starts: the action and
    what it works on ("Summarise: The council met on…"), never the command."""
    name = action[:1].upper() + action[1:]
    room = MAX_TITLE - len(name) - 2
    body = title_from_text(text)
    if len(body) > room:
        cut = body[:room].rsplit(" ", 1)[0] or body[:room]
        body = cut.rstrip(",.;:…") + "…"
    return f"{name}: {body}"
