"""The chat service: one place that turns a user message into a stored reply.

Order matters for never losing text: the user's message is committed before
the model is asked for a token; the reply row exists as ``streaming`` from the
start; text is written to it before it is handed to the caller (batched every
``flush_interval`` seconds); every exit path (finish, cancel, error, Ctrl-C)
leaves the row with a final status.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from assistant.chat.context import ContextPlan, plan_context
from assistant.chat.titles import title_from_text
from assistant.domain import ChatTurn, Conversation, GenerationOptions, Message, MessageStatus, Role
from assistant.llm.base import ChatModel, Finished, ModelError, TextPiece
from assistant.store.repository import ConversationRepository

FLUSH_INTERVAL = 0.1


@dataclass(frozen=True)
class Grounding:
    """Passages to answer from, already wrapped as quoted material."""

    prompt: str  # the text the model sees in place of the bare question
    citations: list[dict]


# (question, token budget for the passages and their delimiters, token counter)
GroundingProvider = Callable[[str, int, Callable[[str], int]], Grounding]


@dataclass(frozen=True)
class ReplyStarted:
    conversation_id: int
    user_message_id: int | None
    reply_message_id: int
    plan: ContextPlan
    citations: tuple[dict, ...] = ()


@dataclass(frozen=True)
class ReplyDone:
    message: Message
    finished: Finished
    plan: ContextPlan


ChatEvent = ReplyStarted | TextPiece | ReplyDone


class ModelHandle:
    """Loads the model once, on first use, from whichever thread asks first."""

    def __init__(self, factory: Callable[[], ChatModel]) -> None:
        self._factory = factory
        self._model: ChatModel | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> ChatModel | None:
        return self._model

    def get(self) -> ChatModel:
        with self._lock:
            if self._model is None:
                self._model = self._factory()
            return self._model


class ChatService:
    def __init__(
        self,
        repo: ConversationRepository,
        model: ModelHandle | ChatModel,
        options: GenerationOptions | None = None,
        system_prompt: str | None = None,
        flush_interval: float = FLUSH_INTERVAL,
    ) -> None:
        self.repo = repo
        self.handle = model if isinstance(model, ModelHandle) else ModelHandle(lambda: model)
        self.options = options or GenerationOptions()
        self.system_prompt = system_prompt
        self.flush_interval = flush_interval
        self.last_plan: ContextPlan | None = None

    @property
    def model(self) -> ChatModel:
        return self.handle.get()

    # ------------------------------------------------------------------
    def new_conversation(
        self, first_text: str = "", system_prompt: str | None = None
    ) -> Conversation:
        model = self.handle.loaded
        return self.repo.create_conversation(
            title=title_from_text(first_text) if first_text else "New conversation",
            model=model.name if model else None,
            system_prompt=system_prompt if system_prompt is not None else self.system_prompt,
        )

    def history_turns(self, conversation_id: int) -> list[ChatTurn]:
        turns = []
        for m in self.repo.messages(conversation_id):
            if m.role == Role.SYSTEM or not m.content.strip():
                continue
            if m.status == MessageStatus.STREAMING:
                continue
            turns.append(ChatTurn(m.role, m.content))
        return turns

    def send(
        self,
        conversation_id: int | None,
        text: str,
        cancel: threading.Event | None = None,
        options: GenerationOptions | None = None,
        grounding: GroundingProvider | None = None,
    ) -> Iterator[ChatEvent]:
        """Store ``text`` as a user message, then stream and store the reply.

        With ``grounding``, the question the model sees is replaced by the
        provider's prompt (passages from the user's notes plus the question);
        the stored user message stays exactly what the user wrote.
        """
        if not text.strip():
            raise ValueError("The message is empty.")
        if conversation_id is None:
            conversation_id = self.new_conversation(text).id
        else:
            conv = self.repo.get_conversation(conversation_id, messages=False)
            if conv.message_count == 0 and conv.title == "New conversation":
                self.repo.rename(conversation_id, title_from_text(text))
        user = self.repo.add_message(conversation_id, Role.USER, text)
        yield from self._reply(conversation_id, user.id, cancel, options, grounding)

    def regenerate(
        self,
        conversation_id: int,
        cancel: threading.Event | None = None,
        options: GenerationOptions | None = None,
        grounding: GroundingProvider | None = None,
    ) -> Iterator[ChatEvent]:
        """Drop the replies after the last user message and answer it again."""
        messages = self.repo.messages(conversation_id)
        last_user = max((i for i, m in enumerate(messages) if m.role == Role.USER), default=None)
        if last_user is None:
            raise ValueError("There is no message to answer again.")
        self.repo.delete_messages(m.id for m in messages[last_user + 1 :])
        yield from self._reply(conversation_id, messages[last_user].id, cancel, options, grounding)

    def _ground(
        self,
        model: ChatModel,
        system: ChatTurn | None,
        history: list[ChatTurn],
        options: GenerationOptions,
        grounding: GroundingProvider,
    ) -> tuple[list[ChatTurn], list[dict]]:
        """Swap the latest question for a grounded prompt that fits the window:
        passages get what is left after the system prompt and the answer's
        room, and never more than half the window so some history survives."""
        n_ctx = model.context_size
        base = model.count_tokens(([system] if system else []) + [history[-1]])
        reserve = min(options.max_tokens, max(64, n_ctx // 4))
        budget = max(0, min(n_ctx // 2, n_ctx - reserve - base))

        def count(text: str) -> int:
            return model.count_tokens([ChatTurn(Role.USER, text)])

        result = grounding(history[-1].content, budget, count)
        return history[:-1] + [ChatTurn(Role.USER, result.prompt)], result.citations

    # ------------------------------------------------------------------
    def _reply(
        self,
        conversation_id: int,
        user_message_id: int | None,
        cancel: threading.Event | None,
        options: GenerationOptions | None,
        grounding: GroundingProvider | None = None,
    ) -> Iterator[ChatEvent]:
        options = options or self.options
        model = self.model
        conv = self.repo.get_conversation(conversation_id, messages=False)
        system_text = conv.system_prompt if conv.system_prompt is not None else self.system_prompt
        system = ChatTurn(Role.SYSTEM, system_text) if system_text else None
        history = self.history_turns(conversation_id)
        citations: list[dict] = []
        if grounding is not None and history:
            history, citations = self._ground(model, system, history, options, grounding)
        plan = plan_context(model, system, history, options.max_tokens)
        self.last_plan = plan
        if conv.model != model.name:
            self.repo.update_conversation(conversation_id, model=model.name)
        reply = self.repo.add_message(
            conversation_id, Role.ASSISTANT, "", MessageStatus.STREAMING, model=model.name
        )
        if citations:
            self.repo.update_message(reply.id, citations=citations)
        yield ReplyStarted(conversation_id, user_message_id, reply.id, plan, tuple(citations))

        parts: list[str] = []
        last_flush = time.monotonic()
        finished: Finished | None = None
        status = MessageStatus.CANCELLED
        error: str | None = None
        try:
            stream = model.stream(plan.turns, replace(options, max_tokens=plan.max_tokens), cancel)
            pending: list[str] = []
            for event in stream:
                if isinstance(event, Finished):
                    finished = event
                    continue
                parts.append(event.text)
                pending.append(event.text)
                now = time.monotonic()
                # Write before showing: text reaches the caller only once it is
                # on disk, so a kill -9 never loses what the user has seen. The
                # first piece goes at once (time to first token is untouched),
                # later ones in batches of flush_interval.
                if len(parts) == 1 or now - last_flush >= self.flush_interval:
                    self.repo.update_message(reply.id, content="".join(parts))
                    last_flush = now
                    yield TextPiece("".join(pending))
                    pending.clear()
            if pending:
                self.repo.update_message(reply.id, content="".join(parts))
                yield TextPiece("".join(pending))
            if finished is not None:
                status = (
                    MessageStatus.CANCELLED
                    if finished.finish_reason == "cancelled"
                    else MessageStatus.COMPLETE
                )
        except ModelError as exc:
            status, error = MessageStatus.ERROR, str(exc)
            raise
        except Exception as exc:
            status, error = MessageStatus.ERROR, f"The model failed: {exc}"
            raise ModelError(error) from exc
        finally:
            # Runs on success, cancel, error, and when the consumer stops
            # iterating (GeneratorExit, KeyboardInterrupt): the text is kept.
            text = "".join(parts)
            if status == MessageStatus.COMPLETE:
                text = text.rstrip()
            fields: dict = {"content": text, "status": status, "error": error}
            if finished is not None:
                fields.update(
                    prompt_tokens=finished.prompt_tokens,
                    completion_tokens=finished.completion_tokens,
                    tokens_per_second=finished.tokens_per_second,
                    time_to_first_token_ms=finished.time_to_first_token_ms,
                    generation_ms=finished.generation_ms,
                    finish_reason=finished.finish_reason,
                )
            self.repo.update_message(reply.id, **fields)
            self.repo.touch(conversation_id)
        message = self.repo.get_message(reply.id)
        yield ReplyDone(message, finished, plan)  # type: ignore[arg-type]
