"""Chat benchmarks (issue 2), each a ratio measured side by side in one run on
the bundled model with 2 threads:

1. throughput: tokens/s of a 256-token reply through ChatService (with
   persistence) / tokens/s of a raw ``llama_cpp.Llama`` call on the same prompt
   and settings (target >= 0.95);
2. second-turn latency: time to first token of turn 2 of a conversation with
   ~1,500 tokens of history / the same with the KV cache cleared (target <= 0.2);
3. stop latency: time from cancel to the end of the stream while tokens flow
   (target < 200 ms);
4. slash actions: a writing action run in a conversation (``ChatService.run_action``,
   what ``/continue`` in the app does) records the same figures as a chat
   reply (tokens, tokens/s, time to first token, generation time), printed side
   by side with a chat reply of the same length on the same model.

Run: ``python -m bench.chat`` (uses a temporary ASSISTANT_HOME).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time

ROUNDS = 3
THREADS = 2
N_CTX = 4096


def _setup():
    os.environ["ASSISTANT_HOME"] = tempfile.mkdtemp(prefix="assistant-bench-")
    from assistant.chat.service import ChatService
    from assistant.llm.catalog import bundled_model_path
    from assistant.llm.llama import LlamaCppModel
    from assistant.paths import app_paths
    from assistant.store.database import Database
    from assistant.store.repository import ConversationRepository

    path = bundled_model_path(app_paths())
    model = LlamaCppModel(path, n_ctx=N_CTX, n_threads=THREADS, seed=1)
    repo = ConversationRepository(Database(app_paths().database))
    return path, model, repo, ChatService


def find_long_seed(model, repo, ChatService, question: str, tokens: int = 256) -> int:
    """The 270M base model often ends a reply early at a stop string; pick the
    first seed whose reply runs the full length, so both sides time 256 tokens."""
    from assistant.domain import GenerationOptions

    for seed in range(1, 60):
        opts = GenerationOptions(max_tokens=tokens, temperature=0.8, seed=seed, ignore_eos=True)
        svc = ChatService(repo, model, options=opts, system_prompt="You are a helpful assistant.")
        done = [ev for ev in svc.send(None, question) if hasattr(ev, "finished")][-1]
        if done.finished.completion_tokens >= tokens:
            return seed
    raise RuntimeError("no seed gave a full-length reply")


def bench_throughput(path, model, repo, ChatService) -> float:
    import llama_cpp

    from assistant.domain import ChatTurn, GenerationOptions, Role
    from assistant.llm.base import Finished, TextPiece

    question = "Write a long essay about the history of bread, in many paragraphs."
    seed = find_long_seed(model, repo, ChatService, question)
    opts = GenerationOptions(
        max_tokens=256,
        temperature=0.8,
        top_p=0.95,
        top_k=40,
        repeat_penalty=1.1,
        seed=seed,
        ignore_eos=True,
    )
    svc = ChatService(repo, model, options=opts, system_prompt="You are a helpful assistant.")
    raw = llama_cpp.Llama(
        model_path=str(path),
        n_ctx=N_CTX,
        n_threads=THREADS,
        n_threads_batch=THREADS,
        n_gpu_layers=0,
        swa_full=True,
        seed=42,
        verbose=False,
    )
    prompt = model.render(
        [ChatTurn(Role.SYSTEM, "You are a helpful assistant."), ChatTurn(Role.USER, question)]
    ).text
    eog = [t for t in range(raw.n_vocab()) if llama_cpp.llama_vocab_is_eog(raw._model.vocab, t)]
    svc_rates, raw_rates = [], []
    for _ in range(ROUNDS):
        model.reset_cache()
        n = 0
        fin = None
        for ev in svc.send(None, question):
            if isinstance(ev, TextPiece):
                n += 1
            elif hasattr(ev, "finished"):
                fin = ev.finished
        assert isinstance(fin, Finished)
        tokens = fin.completion_tokens
        svc_rates.append(fin.tokens_per_second)

        raw.reset()
        raw._ctx.kv_cache_clear()
        stamps = []
        for _chunk in raw.create_completion(
            prompt,
            max_tokens=tokens,
            temperature=0.8,
            top_p=0.95,
            top_k=40,
            repeat_penalty=1.1,
            seed=seed,
            stream=True,
            logit_bias={t: -1e9 for t in eog},
        ):
            stamps.append(time.perf_counter())
        raw_rates.append((len(stamps) - 1) / (stamps[-1] - stamps[0]))
        print(
            f"  round: service {tokens} tok {svc_rates[-1]:.1f} tok/s | "
            f"raw {len(stamps)} tok {raw_rates[-1]:.1f} tok/s"
        )
    s, r = statistics.median(svc_rates), statistics.median(raw_rates)
    ratio = s / r
    print(
        f"throughput: service {s:.1f} tok/s, raw llama_cpp {r:.1f} tok/s, "
        f"ratio {ratio:.3f} (target >= 0.95)"
    )
    return ratio


def _history(repo, model, target_tokens: int = 1500) -> int:
    from assistant.domain import ChatTurn, Role

    conv = repo.create_conversation("long history", system_prompt="You are a helpful assistant.")
    turns: list[ChatTurn] = []
    i = 0
    while model.count_tokens(turns) < target_tokens:
        q = f"Question {i}: tell me about topic number {i} and why it matters for bakers."
        a = (
            f"Topic {i} matters because flour, water, salt and time interact; "
            "the dough ferments, gluten develops and flavour deepens. " * 3
        )
        repo.add_message(conv.id, Role.USER, q)
        repo.add_message(conv.id, Role.ASSISTANT, a)
        turns += [ChatTurn(Role.USER, q), ChatTurn(Role.ASSISTANT, a)]
        i += 1
    return conv.id


def _ttft(svc, cid: int) -> float:
    from assistant.llm.base import TextPiece

    start = time.perf_counter()
    first = None
    for ev in svc.send(cid, "And what about sourdough?"):
        if first is None and isinstance(ev, TextPiece):
            first = time.perf_counter()
    return (first or time.perf_counter()) - start


def bench_second_turn(path, model, repo, ChatService) -> float:
    from assistant.domain import GenerationOptions

    opts = GenerationOptions(max_tokens=16, temperature=0.0, top_k=1, seed=1)
    svc = ChatService(repo, model, options=opts)
    warm, cold = [], []
    for _ in range(ROUNDS):
        cid = _history(repo, model)
        model.reset_cache()
        _ttft(svc, cid)  # turn 1 fills the cache
        warm.append(_ttft(svc, cid))  # turn 2: only new tokens are evaluated
        model.reset_cache()
        cold.append(_ttft(svc, cid))  # the same turn with the cache cleared
    tokens = svc.last_plan.prompt_tokens if svc.last_plan else 0
    w, c = statistics.median(warm), statistics.median(cold)
    print(
        f"second turn ({tokens} prompt tokens): time to first token cached {w * 1000:.0f} ms, "
        f"cache cleared {c * 1000:.0f} ms, ratio {w / c:.3f} (target <= 0.2)"
    )
    return w / c


def bench_stop(path, model, repo, ChatService) -> float:
    from assistant.chat.service import ReplyDone
    from assistant.domain import GenerationOptions
    from assistant.llm.base import TextPiece

    question = "Write a long essay about the history of bread, in many paragraphs."
    seed = find_long_seed(model, repo, ChatService, question, tokens=40)
    opts = GenerationOptions(max_tokens=512, temperature=0.8, seed=seed, ignore_eos=True)
    svc = ChatService(repo, model, options=opts, system_prompt="You are a helpful assistant.")
    latencies = []
    for _ in range(5):
        cancel = threading.Event()
        seen = 0
        t_cancel = None
        for ev in svc.send(None, question, cancel):
            if isinstance(ev, TextPiece):
                seen += 1
                if seen == 10 and t_cancel is None:
                    t_cancel = time.perf_counter()
                    cancel.set()
            elif isinstance(ev, ReplyDone):
                end = time.perf_counter()
                assert ev.message.status == "stopped", ev.message.status
        latencies.append((end - t_cancel) * 1000)
    med, worst = statistics.median(latencies), max(latencies)
    print(
        f"stop latency: median {med:.1f} ms, worst {worst:.1f} ms over {len(latencies)} stops "
        f"(target < 200 ms)"
    )
    return worst


def bench_slash(path, model, repo, ChatService) -> float:
    from assistant.domain import GenerationOptions
    from assistant.writing.actions import ActionRunner
    from assistant.writing.templates import load_library

    library = load_library()
    text = "The history of bread begins with wild grains ground between stones. " * 4
    question = f"Continue this text:\n\n{text}"
    figures: dict[str, list] = {"chat reply": [], "slash action": []}
    for seed in range(1, 6):
        opts = GenerationOptions(max_tokens=128, temperature=0.8, seed=seed, ignore_eos=True)
        svc = ChatService(
            repo,
            model,
            options=opts,
            library=lambda: library,
            runner_factory=lambda m, o=opts: ActionRunner(m, library, options=o, max_tokens=128),
        )
        model.reset_cache()
        chat = [ev for ev in svc.send(None, question) if hasattr(ev, "finished")][-1].message
        model.reset_cache()
        action = [
            ev
            for ev in svc.run_action(None, "/continue", "continue", text)
            if hasattr(ev, "finished")
        ][-1].message
        figures["chat reply"].append(chat)
        figures["slash action"].append(action)
    rates = {}
    for kind, messages in figures.items():
        recorded = all(
            m.completion_tokens
            and m.tokens_per_second
            and m.time_to_first_token_ms is not None
            and m.generation_ms
            for m in messages
        )
        rates[kind] = statistics.median(m.tokens_per_second or 0 for m in messages)
        tokens = statistics.median(m.completion_tokens or 0 for m in messages)
        ttft = statistics.median(m.time_to_first_token_ms or 0 for m in messages)
        generation = statistics.median(m.generation_ms or 0 for m in messages)
        print(
            f"{kind:>12}: tokens {tokens:.0f}  {rates[kind]:.1f} tok/s  "
            f"time to first token {ttft:.0f} ms  generation {generation:.0f} ms  "
            f"(all four figures recorded: {'yes' if recorded else 'NO'})"
        )
    ratio = rates["slash action"] / rates["chat reply"]
    print(f"slash actions: tok/s ratio slash/chat {ratio:.3f} over 5 seeds")
    return ratio


def main() -> None:
    from bench import cpu_flags

    print(f"chat bench: cpu flags: {cpu_flags()}; load {os.getloadavg()[0]:.2f}")
    ctx = _setup()
    bench_throughput(*ctx)
    bench_second_turn(*ctx)
    bench_stop(*ctx)
    bench_slash(*ctx)


if __name__ == "__main__":
    main()
