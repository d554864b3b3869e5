"""``ModelHandle``: the model, loaded once, on first use, by whichever thread
asks first.

Loading can start early in a background thread (``start_loading``) so a
one-shot command opens its database while llama.cpp maps the weights; the
first ``get()`` then waits for that load instead of starting another.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from assistant.llm.base import ChatModel


class ModelHandle:
    def __init__(self, factory: Callable[[], ChatModel]) -> None:
        self._factory = factory
        self._model: ChatModel | None = None
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._loader: threading.Thread | None = None

    @property
    def loaded(self) -> ChatModel | None:
        return self._model

    def _load(self) -> None:
        with self._lock:
            if self._model is None:
                try:
                    self._model = self._factory()
                except BaseException as exc:  # kept for the caller of get()
                    self._error = exc

    def start_loading(self) -> None:
        """Load in a background thread; ``get()`` waits for it."""
        if self._model is None and self._loader is None:
            self._loader = threading.Thread(target=self._load, name="model-loader", daemon=True)
            self._loader.start()

    def get(self) -> ChatModel:
        loader = self._loader
        if loader is not None:
            loader.join()
        with self._lock:
            if self._error is not None:
                error, self._error = self._error, None
                self._loader = None
                raise error
            if self._model is None:
                self._model = self._factory()
            return self._model

    def replace(self, model: ChatModel) -> None:
        """Use ``model`` from now on (a model switched while the app runs)."""
        with self._lock:
            self._model = model
            self._error = None

    def switch(self, load: Callable[[], ChatModel], *, free_first: bool) -> ChatModel:
        """Load another model and use it from now on; ``get()`` meanwhile waits
        for it. With ``free_first`` the current model is closed before the
        new one loads (two local models never share the memory); otherwise
        after, so a failed load keeps the current one."""
        loader = self._loader
        if loader is not None:
            loader.join()
        with self._lock:
            old = self._model
            if free_first and old is not None:
                self._model = None
                _close(old)
            model = load()
            self._model, self._error = model, None
        if not free_first and old is not None and old is not model:
            _close(old)
        return model


def _close(model: ChatModel) -> None:
    close = getattr(model, "close", None)
    if callable(close):
        close()
