"""Errors a user can cause in the notes feature, each one sentence.

``USER_ERRORS`` is read by ``assistant.cli.main``: these are printed as one
line with exit code 2, never as a traceback. Keep this module import-free.
"""

from __future__ import annotations


class NotesError(Exception):
    """A notes command could not do what was asked; the message says why."""


class CollectionNotFound(NotesError):
    """No collection has the given name."""


USER_ERRORS: tuple[type[BaseException], ...] = (NotesError,)
