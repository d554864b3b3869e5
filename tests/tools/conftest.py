"""The notes fixtures (the real bundled embedder) for the tools tests too."""

from tests.notes.conftest import embedder, notes  # noqa: F401
