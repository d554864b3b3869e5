"""The one error type a user sees, and its subclasses per area.

An ``AssistantError`` carries one sentence for the user: both shells print it
as it is (the CLI on stderr with exit code 2, the UI in a notice). Any other
exception is a bug: the shells write its traceback to a crash log and show one
sentence that names the log file, never the traceback itself.

This module imports nothing, so every layer (and ``assistant --help``) can
load it for free.
"""

from __future__ import annotations


class AssistantError(Exception):
    """Something the user can act on; ``str(error)`` is the sentence to show."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message or self.__class__.__doc__ or self.__class__.__name__


class UsageError(AssistantError):
    """The command line or the input asks for something that cannot be done."""


class ConfigError(AssistantError):
    """A setting could not be read."""


class ModelError(AssistantError):
    """A model could not be found, loaded or run."""


class ContextOverflow(ModelError):
    """The prompt does not fit the context window even after trimming."""


class StoreError(AssistantError):
    """The database could not be opened, read or written."""


class DatabaseDamaged(StoreError):
    """The database file is damaged (a failed integrity check, or SQLite found a bad page)."""

    detail = ""  # what SQLite said, for the longer sentence that says what to do


class DatabaseFilesLost(StoreError):
    """The database's WAL and shared-memory files were deleted (or replaced)
    under an open connection: what it wrote since the last checkpoint lives
    only in a file that no longer has a name."""


class NotFound(StoreError, LookupError):
    """A conversation or message with that id does not exist."""


class NotesError(AssistantError):
    """A notes command could not do what was asked."""


class CollectionNotFound(NotesError, LookupError):
    """No collection has the given name."""


class WritingError(AssistantError):
    """A writing action cannot run as asked (bad file, unknown action, bad option)."""


class TemplateError(WritingError):
    """A template or persona file is invalid; the message names the file."""


class Cancelled(Exception):  # noqa: N818 - a signal, not an error
    """Raised inside long jobs (embedding, downloads) when the user stopped them.

    Deliberately not an ``AssistantError`` nor an ``OSError``: callers catch it
    by name to stop cleanly and report what was kept.
    """
