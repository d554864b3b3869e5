"""Compose benchmark (issue 12): a 2,000-word article on the bundled model.

Runs ``assistant compose article --length 2000`` as the CLI does, through
``ComposeService`` (draft stored as it is written) on the bundled GGUF with 2
threads, and prints:

1. length: words produced / words asked (the aim is within 0.8-1.2);
2. overhead: the pipeline's wall time (plan, every section call, storage) /
   the wall time of one raw ``llama_cpp`` call that generates the same number
   of tokens from the article's one-reply prompt, end-of-text banned (aim
   < 1.15). The raw call runs once before the pipeline (for 1.5 tokens per
   word asked) and once after it (for exactly the tokens the pipeline
   generated); the before-run is scaled to that number of tokens by its own
   time per token, and the two are averaged, so a change of load during the
   run weighs on both sides.

Run: ``python -m bench.compose [--words 2000] [--seed 11]`` (temporary ASSISTANT_HOME).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

THREADS = 2
N_CTX = 4096


def _raw_call(path, prompt: str, tokens: int, seed: int) -> float:
    """Seconds for one raw create_completion of exactly ``tokens`` tokens
    (prompt evaluation included, KV cache empty)."""
    import llama_cpp

    raw = llama_cpp.Llama(
        model_path=str(path),
        n_ctx=N_CTX,
        n_threads=THREADS,
        n_threads_batch=THREADS,
        n_gpu_layers=0,
        swa_full=True,
        seed=seed,
        verbose=False,
    )
    eog = [t for t in range(raw.n_vocab()) if llama_cpp.llama_vocab_is_eog(raw._model.vocab, t)]
    started = time.perf_counter()
    produced = 0
    for _chunk in raw.create_completion(
        prompt,
        max_tokens=tokens,
        temperature=0.7,
        top_p=0.95,
        top_k=40,
        repeat_penalty=1.1,
        seed=seed,
        stream=True,
        logit_bias={t: -1e9 for t in eog},
    ):
        produced += 1
    elapsed = time.perf_counter() - started
    del raw
    if produced < tokens * 0.98:
        print(f"  (the raw call stopped at {produced} of {tokens} tokens)")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--words", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    os.environ["ASSISTANT_HOME"] = tempfile.mkdtemp(prefix="assistant-bench-")

    from assistant.chat.compose import ComposeService, DraftDone, SectionDone
    from assistant.domain import GenerationOptions
    from assistant.llm.catalog import bundled_model_path
    from assistant.llm.llama import LlamaCppModel
    from assistant.paths import app_paths
    from assistant.store.database import Database
    from assistant.store.drafts import DraftRepository
    from assistant.writing.compose import Composer
    from assistant.writing.templates import load_library
    from bench import cpu_flags

    print(f"CPU: {cpu_flags()}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    path = bundled_model_path(app_paths())
    model = LlamaCppModel(path, n_ctx=N_CTX, n_threads=THREADS, seed=args.seed)
    library = load_library(app_paths().user_prompts)
    options = GenerationOptions(seed=args.seed)
    service = ComposeService(
        DraftRepository(Database(app_paths().database)),
        model,
        composer=lambda m: Composer(m, library, options=options),
        library=lambda: library,
    )
    variables = {"topic": "the benefits of walking to work", "length": str(args.words)}

    job = service.prepare("article", variables)
    prompt = model.render(job.template.render("", job.values)).text
    # warm-up: the pages of the model are mapped and the threads started
    _raw_call(path, prompt, 16, args.seed)
    guess = args.words * 3 // 2
    raw_guess = _raw_call(path, prompt, guess, args.seed + 1)

    started = time.perf_counter()
    draft, plan = service.plan(job)
    print(f"outline ({plan.planned_by}, {len(plan.outline)} sections):")
    for i, section in enumerate(plan.outline, 1):
        print(f"  {i}. {section.title} ({section.words} words)")
    done: DraftDone | None = None
    for event in service.write(draft.id, job, plan.outline):
        if isinstance(event, SectionDone):
            elapsed = time.perf_counter() - started
            print(
                f"  section {event.index}/{event.count} done: {event.words_so_far} words, "
                f"{elapsed:.0f} s"
            )
        elif isinstance(event, DraftDone):
            done = event
    total = time.perf_counter() - started
    assert done is not None
    stored = done.draft
    tokens = stored.completion_tokens or 0
    ratio_words = done.done.words / args.words

    raw_after = _raw_call(path, prompt, tokens, args.seed)
    raw_before = raw_guess * tokens / guess
    raw = (raw_before + raw_after) / 2
    evaluated = done.done.prompt_tokens - done.done.cached_tokens
    print(
        f"pipeline: {done.done.sections} sections, {done.done.calls} calls, "
        f"{tokens} generated tokens, {stored.prompt_tokens} prompt tokens "
        f"({evaluated} evaluated, the rest found in the cache), {total:.1f} s"
    )
    print(
        f"raw llama_cpp, one call: {guess} tokens in {raw_guess:.1f} s before the pipeline "
        f"(= {raw_before:.1f} s for {tokens}), {tokens} tokens in {raw_after:.1f} s after"
    )
    print(
        f"length: {done.done.words} words produced / {args.words} asked = {ratio_words:.3f} "
        "(aim 0.8-1.2)"
    )
    print(f"overhead: pipeline {total:.1f} s / raw {raw:.1f} s = {total / raw:.3f} (aim < 1.15)")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
