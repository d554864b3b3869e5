"""Snapshots of the main screen (pytest-textual-snapshot).

Deterministic by construction: the fake model, stored messages with fixed
statistics, no clock on screen, the cursor not blinking, workers finished
before the picture is taken. Update with ``pytest --snapshot-update`` after a
deliberate change, and look at the new SVGs before committing them.
"""

from __future__ import annotations

from textual.pilot import Pilot

from assistant.ui.widgets import PromptInput
from tests.ui.helpers import seed_conversation, settle

SIZE = (110, 32)

CODE_REPLY = """Use a list comprehension:

```python
squares = [n * n for n in range(10)]
print(squares)
```

It reads **left to right**."""


async def steady(pilot: Pilot) -> None:
    await settle(pilot)
    prompt = pilot.app.query_one(PromptInput)
    prompt.cursor_blink = False
    await pilot.pause()


def test_empty_main_screen(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=steady)


def test_main_screen_with_a_conversation(snap_compare, make_app):
    seed_conversation("Holiday plans", [("Where should I go in May?", "Somewhere warm.")])
    conversation = seed_conversation(
        "Squares in Python",
        [("How do I square numbers?", CODE_REPLY), ("And cubes?", "Use `n ** 3`.")],
        status="cancelled",
    )
    assert snap_compare(make_app(conversation), terminal_size=SIZE, run_before=steady)
