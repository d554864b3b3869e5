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

from assistant.domain import GenerationOptions
from assistant.paths import AppPaths, app_paths

if TYPE_CHECKING:
    from assistant.chat.compose import ComposeService
    from assistant.chat.service import ChatService
    from assistant.chat.session import ChatSession, ConversationState
    from assistant.config import Settings
    from assistant.llm.base import ChatModel
    from assistant.llm.handle import ModelHandle
    from assistant.llm.spec import ModelSpec
    from assistant.notes.service import NotesService
    from assistant.store.database import Database
    from assistant.store.drafts import DraftRepository
    from assistant.store.repository import ConversationRepository
    from assistant.writing.actions import ActionRunner
    from assistant.writing.compose import Composer
    from assistant.writing.templates import PromptLibrary

BUNDLED_MODEL_NAME = "gemma-3-270m-q4_k_m.gguf"
T = TypeVar("T")


class ModelPreload:
    """A model that started loading from the settings as given, before they
    were validated: a one-shot command's model loads while the validation
    library, the database and the question's storage get ready."""

    def __init__(self, spec: ModelSpec, paths: AppPaths) -> None:
        from assistant.llm.handle import ModelHandle

        self.spec = spec
        self.paths = paths
        # through Runtime.load_model, as every other load (tests replace it)
        self.handle = ModelHandle(lambda: Runtime.load_model(self))  # type: ignore[arg-type]

    def model_spec(self) -> ModelSpec:
        return self.spec

    @classmethod
    def start(cls, **overrides: Any) -> ModelPreload | None:
        from assistant.config_sources import peek_settings
        from assistant.llm.spec import ModelSpec

        spec = ModelSpec.from_raw(peek_settings(**overrides))
        if spec is None:
            return None
        if spec.base_url is None:
            # The import needs the interpreter lock, the load itself does not:
            # importing first lets the load overlap the rest of start-up.
            import llama_cpp  # noqa: F401
        preload = cls(spec, app_paths())
        preload.handle.start_loading()
        return preload


class Runtime:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        preload: ModelPreload | None = None,
        **overrides: Any,
    ) -> None:
        from assistant.config import load_settings  # pydantic: not before the preload starts

        self.paths: AppPaths = app_paths()
        self.settings: Settings = settings or load_settings(**overrides)
        self._lock = threading.Lock()
        self._locks: dict[str, threading.RLock] = {}  # one per piece
        self._built: dict[str, Any] = {}
        if preload is not None and preload.spec == self.model_spec():
            self._built["model_handle"] = preload.handle

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

    @property
    def drafts(self) -> DraftRepository:
        from assistant.store.drafts import DraftRepository

        def build() -> DraftRepository:
            drafts = DraftRepository(self.db)
            drafts.recover_interrupted()
            return drafts

        return self._once("drafts", build)

    # ------------------------------------------------------------- model
    def generation_options(self) -> GenerationOptions:
        s = self.settings
        return GenerationOptions(
            max_tokens=s.max_tokens, temperature=s.temperature, top_p=s.top_p, seed=s.seed
        )

    def model_spec(self) -> ModelSpec:
        from assistant.llm.spec import ModelSpec

        s = self.settings
        return ModelSpec(
            model_path=s.model_path,
            n_ctx=s.n_ctx,
            n_threads=s.n_threads,
            n_gpu_layers=s.n_gpu_layers,
            seed=s.seed,
            base_url=s.base_url,
            remote_model=s.remote_model,
            api_key=s.api_key,
        )

    def load_model(self) -> ChatModel:
        """Load the model ``model_spec()`` names (may take seconds; call it off
        the UI thread). It reads nothing but ``model_spec()`` and ``paths``."""
        spec = self.model_spec()
        if spec.base_url:
            from assistant.llm.remote import OpenAICompatibleModel

            return OpenAICompatibleModel(
                spec.base_url,
                model=spec.remote_model,
                api_key=spec.api_key,
                context_size=spec.n_ctx,
            )
        from assistant.llm.catalog import resolve_model_path
        from assistant.llm.llama import LlamaCppModel

        path = resolve_model_path(spec.model_path, self.paths)
        return LlamaCppModel(
            path,
            n_ctx=spec.n_ctx,
            n_threads=spec.n_threads,
            n_gpu_layers=spec.n_gpu_layers,
            seed=spec.seed,
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

    def composer(self, model: ChatModel | None = None) -> Composer:
        """A composer with the user's options, chosen as for ``action_runner``."""
        from assistant.writing.compose import Composer

        chosen = self.settings.model_fields_set
        return Composer(
            model or self.model_handle.get(),
            self.library(),
            options=self.generation_options(),
            temperature=self.settings.temperature if "temperature" in chosen else None,
            max_tokens=self.settings.max_tokens if "max_tokens" in chosen else None,
        )

    @property
    def compose(self) -> ComposeService:
        """New pieces from a brief, stored as drafts."""
        from assistant.chat.compose import ComposeService

        return self._once(
            "compose",
            lambda: ComposeService(
                self.drafts,
                self.model_handle,
                composer=self.composer,
                library=self.library,
                notes=lambda: self.notes,
            ),
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
