"""Wire the pieces together once per process: settings, database, model, chat.

Everything is built lazily, so ``assistant --help`` or ``history list`` never
loads llama.cpp, and the UI can draw its first screen before the model loads.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from assistant.config import Settings, load_settings
from assistant.domain import GenerationOptions
from assistant.paths import AppPaths, app_paths


class Runtime:
    def __init__(self, settings: Settings | None = None, **overrides: Any) -> None:
        self.paths: AppPaths = app_paths()
        self.settings = settings or load_settings(**overrides)

    @cached_property
    def db(self):  # type: ignore[no-untyped-def]
        from assistant.store.database import Database

        return Database(self.paths.database)

    @cached_property
    def repo(self):  # type: ignore[no-untyped-def]
        from assistant.store.repository import ConversationRepository

        repo = ConversationRepository(self.db)
        repo.recover_interrupted()
        return repo

    def generation_options(self) -> GenerationOptions:
        s = self.settings
        return GenerationOptions(
            max_tokens=s.max_tokens, temperature=s.temperature, top_p=s.top_p, seed=s.seed
        )

    def load_model(self):  # type: ignore[no-untyped-def]
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

    @cached_property
    def model_handle(self):  # type: ignore[no-untyped-def]
        from assistant.chat.service import ModelHandle

        return ModelHandle(self.load_model)

    @cached_property
    def chat(self):  # type: ignore[no-untyped-def]
        from assistant.chat.service import ChatService

        return ChatService(
            self.repo,
            self.model_handle,
            options=self.generation_options(),
            system_prompt=self.settings.system_prompt,
        )

    def model_label(self) -> str:
        s = self.settings
        if s.base_url:
            return s.remote_model or s.base_url
        if s.model_path:
            return s.model_path.name
        return "gemma-3-270m-q4_k_m.gguf"
