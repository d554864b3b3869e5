"""Chinese text in the TUI takes two cells a character: a change in the
writing screen's diff wraps inside the screen (it was cut at the edge) with
its sign on the same row, and the proofread request asks for Chinese."""

from __future__ import annotations

from pathlib import Path

from textual.app import App

from assistant.chat.service import ChatService
from assistant.ui.writing_screen import ChangeItem, WritingScreen
from assistant.writing.templates import load_library
from tests.writing.helpers import EchoModel

ORIGINAL = (
    "我们的备份计划是每周日凌晨三点把照片同步到移动硬盘。"
    "如果移动硬盘没有连接，备份会在下次连接时自动开始。\n"
)
EDITED = (
    "我们的备份计划是每个星期日凌晨三点把照片同步到移动硬盘。"
    "如果移动硬盘没有连上，备份会在下次连上时自动开始。\n"
)


class WritingTestApp(App[None]):
    def __init__(self, screen: WritingScreen) -> None:
        super().__init__()
        self.writing = screen

    def on_mount(self) -> None:
        self.push_screen(self.writing)


async def settle(pilot) -> None:
    for _ in range(3):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()


async def test_a_chinese_change_wraps_inside_the_screen(tmp_path: Path, repo):
    doc = tmp_path / "备份.txt"
    doc.write_text(ORIGINAL)
    model = EchoModel(transform=lambda _text: EDITED)
    library = load_library(tmp_path / "none")
    chat = ChatService(repo, model, library=lambda: library, flush_interval=0.0)
    screen = WritingScreen(lambda: chat, path=doc)
    async with WritingTestApp(screen).run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"proofread")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot)
        assert model.history[-1][-1].content.endswith("Reply in Chinese.")
        (item,) = list(screen.query(ChangeItem))
        label = item.body
        assert label.size.width <= 80
        rows = [label.render_line(y).text.rstrip() for y in range(label.size.height)]
        text = "".join(r for r in rows)
        assert "-我们的备份计划" in rows[1]  # the sign stays with its line
        assert ORIGINAL.strip() in text.replace(" ", "")
        assert EDITED.strip() in text.replace(" ", "")
        assert len(rows) >= 5  # each 54-character line wrapped onto two rows or more
