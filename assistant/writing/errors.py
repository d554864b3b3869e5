"""Errors a user can cause while writing: a bad template, a bad file, a bad option.

Each carries one sentence for the user; ``assistant.cli.main`` prints any
exception listed in ``USER_ERRORS`` without a traceback and exits with code 2.
"""

from __future__ import annotations


class WritingError(Exception):
    """A writing action cannot run as asked (bad file, unknown action, bad option)."""


class TemplateError(WritingError):
    """A template or persona file is invalid; the message names the file and the problem."""


USER_ERRORS: tuple[type[BaseException], ...] = (WritingError,)
