"""The typed composition root: settings, database, model, chat, notes, prompts.

Everything is built lazily, so ``assistant --help`` or ``history list`` never
loads llama.cpp, and the UI can draw its first screen before the model loads.
The heavy modules are imported inside the properties that need them; the
names below are for the type checker only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from assistant.config import Settings, load_settings
from assistant.domain import GenerationOptions
from assistant.paths import AppPaths, app_paths

if TYPE_CHECKING:
    from assistant.chat.service import ChatService
    from assistant.chat.session import ChatSession, ConversationState
    from assistant.llm.base import ChatModel
    from assistant.llm.handle import ModelHandle
    from assistant.notes.service import NotesService
    from assistant.store.database import Database
    from assistant.store.repository import ConversationRepository
    from assistant.writing.actions import ActionRunner
    from assistant.writing.templates import PromptLibrary

BUNDLED_MODEL_NAME = "gemma-3-270m-q4_k_m.gguf"
T = TypeVar("T")


class Runtime:
    def __init__(self, settings: Settings | None = None, **overrides: Any) -> None:
        self.paths: AppPaths = app_paths()
        self.settings: Settings = settings or load_settings(**overrides)
        self._lock = threading.Lock()
        self._locks: dict[str, threading.RLock] = {}  # one per piece
        self._built: dict[str, Any] = {}

    def _once(self, key: str, build: Callable[[], T]) -> T:
        """Build a piece on first use, once, whichever thread asks first; a
        slow piece (the database) never holds up another (the model)."""
        with self._lock:
            lock = self._locks.setdefault(key, threading.RLock())
        with lock:
            if key not in self._built:
                self._built[key] = build()
            piece: T = self._built[key]
            return piece

    def built(self, key: str) -> bool:
        """True once the piece called ``key`` (``db``, ``repo``...) exists."""
        return key in self._built

    # ------------------------------------------------------------- store
    @property
    def db(self) -> Database:
        from assistant.store.database import Database

        return self._once("db", lambda: Database(self.paths.database))

    @property
    def repo(self) -> ConversationRepository:
        from assistant.store.repository import ConversationRepository

        def build() -> ConversationRepository:
            repo = ConversationRepository(self.db)
            repo.recover_interrupted()
            return repo

        return self._once("repo", build)

    # ------------------------------------------------------------- model
    def generation_options(self) -> GenerationOptions:
        s = self.settings
        return GenerationOptions(
            max_tokens=s.max_tokens, temperature=s.temperature, top_p=s.top_p, seed=s.seed
        )

    def load_model(self) -> ChatModel:
        """Load the configured model (may take seconds; call off the UI thread)."""
        s = self.settings
        if s.base_url:
            from assistant.llm.remote import OpenAICompatibleModel

            return OpenAICompatibleModel(
                s.base_url, model=s.remote_model, api_key=s.api_key, context_size=s.n_ctx
            )
        from assistant.llm.catalog import resolve_model_path
        from assistant.llm.llama import LlamaCppModel

        path = resolve_model_path(s.model_path, self.paths)
        return LlamaCppModel(
            path,
            n_ctx=s.n_ctx,
            n_threads=s.n_threads,
            n_gpu_layers=s.n_gpu_layers,
            seed=s.seed,
        )

    @property
    def model_handle(self) -> ModelHandle:
        from assistant.llm.handle import ModelHandle

        # a lambda, so a test that replaces Runtime.load_model is honoured
        return self._once("model_handle", lambda: ModelHandle(lambda: self.load_model()))

    def model_label(self) -> str:
        s = self.settings
        if s.base_url:
            return s.remote_model or s.base_url
        if s.model_path:
            return s.model_path.name
        return BUNDLED_MODEL_NAME

    # ----------------------------------------------------------- writing
    def library(self) -> PromptLibrary:
        """Templates and personas, read once (a later call after a failure reads again)."""
        from assistant.writing.templates import load_library

        return self._once("library", lambda: load_library(self.paths.user_prompts))

    def action_runner(self, model: ChatModel | None = None) -> ActionRunner:
        """A writing-action runner with the user's options: ``top_p`` and
        ``seed`` always; ``temperature`` and ``max_tokens`` when the user set
        them (command line, environment or config file), else the template's."""
        from assistant.writing.actions import ActionRunner

        chosen = self.settings.model_fields_set
        return ActionRunner(
            model or self.model_handle.get(),
            self.library(),
            options=self.generation_options(),
            temperature=self.settings.temperature if "temperature" in chosen else None,
            max_tokens=self.settings.max_tokens if "max_tokens" in chosen else None,
        )

    # -------------------------------------------------------------- chat
    @property
    def chat(self) -> ChatService:
        from assistant.chat.service import ChatService

        return self._once(
            "chat",
            lambda: ChatService(
                self.repo,
                self.model_handle,
                options=self.generation_options(),
                system_prompt=self.settings.system_prompt,
                library=self.library,
                runner_factory=self.action_runner,
            ),
        )

    def session(self, state: ConversationState | None = None) -> ChatSession:
        from assistant.chat.session import ChatSession

        return ChatSession(lambda: self.chat, lambda: self.notes, state)

    # ------------------------------------------------------------- notes
    @property
    def notes(self) -> NotesService:
        from assistant.notes.service import NotesService

        return self._once(
            "notes",
            lambda: NotesService(
                self.db, self.paths, embedding_model=self.settings.embedding_model
            ),
        )
