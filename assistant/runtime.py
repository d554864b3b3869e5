"""The typed composition root: settings, database, model, chat, notes, prompts.

Everything is built lazily, so ``assistant --help`` or ``history list`` never
loads llama.cpp, and the UI can draw its first screen before the model loads.
The heavy modules are imported inside the properties that need them; the
names below are for the type checker only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from assistant.domain import GenerationOptions
from assistant.paths import AppPaths, app_paths

if TYPE_CHECKING:
    from assistant.chat.compose import ComposeService
    from assistant.chat.memory import MemoryService
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
    from assistant.tools.registry import ToolRegistry
    from assistant.writing.actions import ActionRunner
    from assistant.writing.compose import Composer
    from assistant.writing.templates import PromptLibrary

BUNDLED_MODEL_NAME = "gemma-3-270m-q4_k_m.gguf"
T = TypeVar("T")


def load_spec(
    spec: ModelSpec, paths: AppPaths, progress: Callable[[float], None] | None = None
) -> ChatModel:
    """Load the model ``spec`` names (seconds for a GGUF; call it off the UI
    thread): an engine's server, or a GGUF with the app's caches;
    ``progress`` gets the fraction loaded of a GGUF."""
    if spec.base_url:
        from assistant.llm.remote import OpenAICompatibleModel, list_models

        model = spec.remote_model
        context = spec.n_ctx or spec.remote_context
        if spec.engine and (model is None or context is None):
            try:  # the engine's first model, and its window when the server says
                offered = list_models(spec.base_url, spec.api_key, timeout=10)
            except Exception:  # unreachable now: the first reply will say so
                offered = []
            chosen = next((m for m in offered if m.id == model), offered[0] if offered else None)
            if chosen is not None:
                model = model or chosen.id
                context = context or chosen.context_length
        return OpenAICompatibleModel(
            spec.base_url,
            model=model,
            api_key=spec.api_key,
            context_size=context or 4096,
            timeout=spec.server_timeout,
            engine=spec.engine,
        )
    from assistant.llm.catalog import resolve_model_path
    from assistant.llm.llama import LlamaCppModel

    path = resolve_model_path(spec.model_path, paths)
    return LlamaCppModel(
        path,
        n_ctx=spec.n_ctx,
        n_threads=spec.n_threads,
        n_gpu_layers=spec.n_gpu_layers,
        seed=spec.seed,
        info_cache=paths.cache / "model-info.json",
        state_cache=_state_cache_for(paths, spec.state_cache_mb),
        name=BUNDLED_MODEL_NAME if spec.model_path is None else None,
        progress=progress,
    )


def _state_cache_for(paths: AppPaths, cap_mb: int) -> Callable[[Any], Any] | None:
    """Builds the saved-state cache of a loaded GGUF model (None: turned off)."""
    if cap_mb <= 0:
        return None

    def build(model: Any) -> Any:
        from assistant.llm.state_cache import StateCache, model_sha256

        hashes = paths.cache / "model-hashes.json"
        return StateCache(
            paths.cache / "states",
            cap_mb * 2**20,
            lambda compute: model_sha256(model.path, hashes, compute=compute),
            model.load_settings,
        )

    return build


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

    def current_spec(self) -> ModelSpec:
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
        on_warning: Callable[[str], None] | None = None,
        **overrides: Any,
    ) -> None:
        from assistant.config import load_settings  # pydantic: not before the preload starts

        # Problems that do not stop the command (a damaged database still
        # read): kept in ``warnings``, and handed to ``on_warning`` as they come.
        self.warnings: list[str] = []
        self.on_warning = on_warning
        self.paths: AppPaths = app_paths()
        self.settings: Settings = settings or load_settings(**overrides)
        self._lock = threading.Lock()
        self._locks: dict[str, threading.RLock] = {}  # one per piece
        self._built: dict[str, Any] = {}
        self.defer_database_check = False
        self._recover_later = False
        """Set by a UI before the database opens: the integrity check runs
        when ``check_database`` is called (after the history is on screen)."""
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

    def warn(self, text: str) -> None:
        self.warnings.append(text)
        if self.on_warning is not None:
            self.on_warning(text)

    # ------------------------------------------------------------- store
    @property
    def db(self) -> Database:
        from assistant.store.database import Database

        def build() -> Database:
            db = Database(self.paths.database, defer_check=self.defer_database_check)
            if db.damage is not None:
                self.warn(db.damage)
            return db

        return self._once("db", build)

    def check_database(self) -> str | None:
        """The integrity check ``defer_database_check`` put off: the sentence
        of what it found (also a warning), or None."""
        found = self.db.check_deferred()
        if found is not None and found not in self.warnings:
            self.warn(found)
        if self._recover_later and self.db.writable:
            self._recover_later = False
            self.repo.recover_interrupted()
        return found

    @property
    def repo(self) -> ConversationRepository:
        from assistant.store.repository import ConversationRepository

        def build() -> ConversationRepository:
            repo = ConversationRepository(self.db)
            if self.db.check_pending:  # after the check (check_database), not before
                self._recover_later = True
            elif self.db.writable:  # a read-only or damaged database is only read
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
        fields = ("max_tokens", "temperature", "top_p", "seed")
        return GenerationOptions(
            max_tokens=s.max_tokens,
            temperature=s.temperature,
            top_p=s.top_p,
            seed=s.seed,
            chosen=frozenset(f for f in fields if f in s.model_fields_set),
        )

    def model_spec(self, engine: str | None = None, model: str | None = None) -> ModelSpec:
        """The spec of the model in the settings; with ``engine``, of that
        named engine (``model`` its model), with ``model`` alone, of that GGUF."""
        from pathlib import Path

        from assistant.llm.spec import ModelSpec

        s = self.settings
        spec = ModelSpec(
            model_path=Path(model) if model and not engine else s.model_path,
            n_ctx=s.n_ctx,
            n_threads=s.n_threads,
            n_gpu_layers=s.n_gpu_layers,
            seed=s.seed,
            base_url=None if (model and not engine) else s.base_url,
            remote_model=s.remote_model,
            api_key=s.api_key,
            state_cache_mb=s.state_cache_mb,
            server_timeout=s.server_timeout,
        )
        engine = engine or (None if model else s.engine)
        if engine:
            table = s.engine_settings(engine)
            from dataclasses import replace

            spec = replace(
                spec,
                base_url=table.base_url,
                remote_model=model or table.model,
                api_key=table.api_key(),
                engine=engine,
                remote_context=table.context_size,
                server_timeout=table.timeout or s.server_timeout,
            )
        return spec

    def switch_model(
        self, spec: ModelSpec, progress: Callable[[float], None] | None = None
    ) -> ChatModel:
        """Load ``spec`` and use it from now on (the model it replaces is freed;
        a local one before the new one loads). Call it off the UI thread, not
        while a reply streams; if it fails, the next use loads the model in
        use before."""
        model = self.model_handle.switch(
            lambda: load_spec(spec, self.paths, progress), free_first=spec.base_url is None
        )
        self._built["spec"] = spec
        return model

    def current_spec(self) -> ModelSpec:
        """The spec of the model in use (after a switch, the switched-to one)."""
        spec: ModelSpec = self._built.get("spec") or self.model_spec()
        return spec

    def load_model(self) -> ChatModel:
        """Load the model in use (``current_spec()``: the settings' one, or the
        last switched to); may take seconds, call it off the UI thread. It
        reads nothing but ``current_spec()`` and ``paths``."""
        return load_spec(self.current_spec(), self.paths)

    @property
    def model_handle(self) -> ModelHandle:
        from assistant.llm.handle import ModelHandle

        # a lambda, so a test that replaces Runtime.load_model is honoured
        return self._once("model_handle", lambda: ModelHandle(lambda: self.load_model()))

    def model_label(self) -> str:
        spec = self.current_spec()
        if spec.base_url:
            name = spec.remote_model or spec.base_url
            return f"{spec.engine}/{name}" if spec.engine else name
        if spec.model_path:
            return spec.model_path.name
        return BUNDLED_MODEL_NAME

    def drafts_folder(self) -> Path:
        """Where a stopped piece streamed to the terminal is kept (owner-only)."""
        from assistant.paths import private_dir

        folder = self.paths.data / "drafts"
        private_dir(folder)
        return folder

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
                memory=lambda: self.memory,
            ),
        )

    @property
    def memory(self) -> MemoryService:
        """The memories, ranked with the notes' embedder."""
        from assistant.chat.memory import MemoryService
        from assistant.store.memories import MemoryRepository

        return self._once(
            "memory",
            lambda: MemoryService(
                MemoryRepository(self.db),
                lambda: self.notes,
                enabled=self.settings.memory,
                budget_tokens=self.settings.memory_tokens,
            ),
        )

    def set_memory(self, on: bool) -> Path:
        """Memory on or off everywhere, from now on and in config.toml (the
        memories stay stored either way); the file written."""
        from assistant.config import update_config

        update_config(self.paths.config_file, {"memory": on})
        self.settings = self.settings.model_copy(update={"memory": on})
        if "memory" in self._built:
            self.memory.enabled = on
        return self.paths.config_file

    def session(self, state: ConversationState | None = None) -> ChatSession:
        from assistant.chat.session import ChatSession

        return ChatSession(
            lambda: self.chat,
            lambda: self.notes,
            state,
            tools=lambda: self.tools,
            tool_settings=lambda: self.settings,
        )

    # ------------------------------------------------------------- tools
    @property
    def tools(self) -> ToolRegistry:
        """The built-in tools, and each configured MCP server's (started
        the first time their list is needed). Another package adds its own
        with ``runtime.tools.register(Tool(...))``."""
        from assistant.tools.builtin import builtin_tools
        from assistant.tools.registry import ToolRegistry

        def build() -> ToolRegistry:
            s = self.settings
            registry = ToolRegistry(
                builtin_tools(
                    lambda: self.notes,
                    s.tool_paths,
                    s.tool_timeout,
                    remember=self._remember,
                )
            )
            from assistant.tools.mcp_client import add_mcp_servers

            self._built["mcp"] = add_mcp_servers(
                registry, s.mcp, self.paths.config, self.paths.data / "logs"
            )
            return registry

        return self._once("tools", build)

    def _remember(self, text: str, conversation_id: int | None, message_id: int | None) -> str:
        """The ``remember`` tool's work, once the user said yes."""
        from assistant.domain import MemorySource

        memory, created = self.memory.add(
            text, MemorySource.PROPOSED, conversation_id=conversation_id, message_id=message_id
        )
        if created:
            return f"Remembered (memory {memory.id}): {memory.text}"
        return f"Already remembered (memory {memory.id}); nothing was added."

    def close_tools(self) -> None:
        """Stop the MCP servers started so far."""
        servers = self._built.get("mcp")
        if servers is not None:
            servers.close()

    # ------------------------------------------------------------- notes
    @property
    def notes(self) -> NotesService:
        from assistant.notes.service import NotesService

        return self._once(
            "notes",
            lambda: NotesService(
                self.db,
                self.paths,
                embedder=self.remote_embedder(),
                embedding_model=self.settings.embedding_model,
            ),
        )

    def remote_embedder(self) -> Any:
        """The ``embedding_engine``'s /v1/embeddings as the notes embedder (None:
        the bundled model). Nothing is asked of the server until it is used."""
        name = self.settings.embedding_engine
        if not name:
            return None
        from assistant.notes.remote_embedder import RemoteEmbedder

        engine = self.settings.engine_settings(name)
        return RemoteEmbedder(
            name,
            engine.base_url,
            engine.embedding_model or engine.model,
            api_key=engine.api_key(),
            timeout=engine.timeout or self.settings.server_timeout,
        )
