"""Pilot helpers: the real app on a scripted FakeModel, in an isolated home.

``Runtime.load_model`` is replaced for the whole test, so the app loads the
fake exactly the way it would load a GGUF (in its model worker).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from assistant.runtime import Runtime
from assistant.ui.app import AssistantApp
from tests.fakes import FakeModel
from tests.models.conftest import hub, model_files  # noqa: F401 - the hub stand-in, for the picker


@pytest.fixture
def ui_model(monkeypatch: pytest.MonkeyPatch) -> FakeModel:
    model = FakeModel()
    monkeypatch.setattr(Runtime, "load_model", lambda self: model)
    return model


@pytest.fixture
def make_app(ui_model: FakeModel) -> Callable[..., AssistantApp]:
    def make(conversation_id: int | None = None) -> AssistantApp:
        return AssistantApp(Runtime(), conversation_id=conversation_id, sync_notes=False)

    return make
