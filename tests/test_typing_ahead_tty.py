"""Issue 17, item 1, on a real terminal: an Enter typed while the UI starts
stays an Enter. Before the UI's raw mode, the terminal turned it into a new
line (Ctrl+J to the message box), so "hi" and Enter typed ahead stayed in the
box. A pseudo-terminal stands in for the user's."""

from __future__ import annotations

import os
import pty
import select
import termios

from assistant.cli.console import enter_stays_enter


def raw_as_textual(fd: int) -> None:
    """What Textual's Linux driver does once it is up: raw input, at once
    (TCSANOW: what was typed ahead stays to be read)."""
    attrs = termios.tcgetattr(fd)
    attrs[0] &= ~(termios.IXON | termios.IXOFF | termios.ICRNL | termios.INLCR | termios.IGNCR)
    attrs[3] &= ~(termios.ECHO | termios.ICANON | termios.IEXTEN | termios.ISIG)
    attrs[6][termios.VMIN], attrs[6][termios.VTIME] = 1, 0
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


def read_now(fd: int) -> bytes:
    ready, _, _ = select.select([fd], [], [], 10)
    return os.read(fd, 16) if ready else b""


def typed_ahead(keep_enter: bool) -> bytes:
    """What the UI reads once in raw mode, of "hi" and Enter typed before."""
    master, slave = pty.openpty()
    try:
        with os.fdopen(os.dup(slave), "r") as stream:
            before = termios.tcgetattr(slave)
            if keep_enter:
                with enter_stays_enter(stream):
                    os.write(master, b"hi\r")  # the user, while the UI loads
                    raw_as_textual(slave)
                    read = read_now(slave)
            else:
                os.write(master, b"hi\r")
                # the terminal has taken the line in (turned \r into a line
                # end) once it is readable: only then can raw mode come too late
                select.select([slave], [], [], 10)
                raw_as_textual(slave)
                read = read_now(slave)
            termios.tcsetattr(slave, termios.TCSANOW, before)
            return read
    finally:
        os.close(master)
        os.close(slave)


def test_enter_typed_while_the_ui_starts_reaches_it_as_enter():
    assert typed_ahead(keep_enter=False) == b"hi\n"  # the fault: a new line, not Enter
    assert typed_ahead(keep_enter=True) == b"hi\r"


def test_the_terminal_settings_come_back():
    master, slave = pty.openpty()
    try:
        with os.fdopen(os.dup(slave), "r") as stream:
            before = termios.tcgetattr(slave)
            with enter_stays_enter(stream):
                assert not termios.tcgetattr(slave)[0] & termios.ICRNL
            assert termios.tcgetattr(slave) == before
    finally:
        os.close(master)
        os.close(slave)
