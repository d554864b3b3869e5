"""The notes fixtures (the real bundled embedder) for the tools tests too."""

from tests.notes.conftest import notes  # noqa: F401 (the embedder is in tests/conftest.py)
