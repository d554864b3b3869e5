"""Benchmark: proofread a 20,000-word file chunk by chunk on the bundled model.

Prints the total time, the time the same tokens take in raw model calls made
in the same run (the overhead ratio of chunking, templates, token counting and
stitching), and the peak memory. The raw baseline is one ``Llama.generate``
call with no template, no stop scanning and no cache reuse, sized to the
average part (its prompt and generated tokens), counted once per part.

Generated tokens per part are capped (``--max-new``) so the run finishes in
minutes on a CPU; the ratio compares like with like either way.

    .venv/bin/python -m bench.writing_proofread [--words 20000] [--max-new 8]
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

WORDS = (
    "the committee report meeting budget project team customer library garden river "
    "morning decided agreed wrote recieved seperate definately occured teh their there "
    "because although however quickly carefully week month plan result question answer "
    "city council school student teacher weather journey station hospital evening"
).split()


def make_text(words: int, seed: int = 1) -> str:
    rng = random.Random(seed)
    paragraphs: list[str] = []
    left = words
    while left > 0:
        n = min(left, rng.randint(60, 140))
        sentences: list[str] = []
        body = [rng.choice(WORDS) for _ in range(n)]
        i = 0
        while i < n:
            k = rng.randint(8, 18)
            chunk = body[i : i + k]
            sentences.append(" ".join(chunk).capitalize() + ".")
            i += k
        paragraphs.append(" ".join(sentences))
        left -= n
    return "\n\n".join(paragraphs) + "\n"


def raw_call_seconds(model, prompt_tokens: int, new_tokens: int, text: str) -> float:  # type: ignore[no-untyped-def]
    """One raw llama.cpp call: evaluate ``prompt_tokens`` tokens, sample ``new_tokens``."""
    tokens = model.llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)
    while len(tokens) < prompt_tokens:
        tokens = tokens + tokens[1:]
    tokens = tokens[:prompt_tokens]
    model.reset_cache()
    start = time.perf_counter()
    produced = 0
    gen = model.llm.generate(tokens, top_k=40, top_p=0.95, temp=0.0, repeat_penalty=1.1, reset=True)
    try:
        for _ in gen:
            produced += 1
            if produced >= new_tokens:
                break
    finally:
        gen.close()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=20_000)
    parser.add_argument("--max-new", type=int, default=8, help="generated tokens per part (cap)")
    parser.add_argument("--n-ctx", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)

    from assistant.llm.base import TextPiece
    from assistant.llm.catalog import bundled_model_path
    from assistant.llm.llama import LlamaCppModel
    from assistant.paths import app_paths
    from assistant.writing.actions import ActionDone, ActionRunner
    from assistant.writing.templates import load_library

    model = LlamaCppModel(
        bundled_model_path(app_paths()), n_ctx=args.n_ctx, n_threads=args.threads, seed=1
    )
    library = load_library(Path(tempfile.gettempdir()) / "bench-no-user-prompts")
    text = make_text(args.words)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "essay.txt"
        path.write_text(text)
        source = path.read_text()
    runner = ActionRunner(model, library, max_tokens=args.max_new, temperature=0.0)
    start = time.perf_counter()
    done: ActionDone | None = None
    pieces = 0
    for event in runner.run(library.template("proofread"), source):
        if isinstance(event, TextPiece):
            pieces += 1
        elif isinstance(event, ActionDone):
            done = event
    total = time.perf_counter() - start
    assert done is not None and done.finish_reason != "cancelled"
    per_prompt = round(done.prompt_tokens / done.parts)
    per_new = max(1, round(done.completion_tokens / done.parts))
    raw = raw_call_seconds(model, per_prompt, per_new, source) * done.parts
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"writing_proofread: {len(source.split())} words in {done.parts} parts, "
        f"{done.prompt_tokens} prompt + {done.completion_tokens} generated tokens"
    )
    print(f"writing_proofread: chunked total {total:.1f} s; raw calls, same tokens {raw:.1f} s")
    print(f"writing_proofread: overhead ratio {total / raw:.3f} (aim < 1.15)")
    print(f"writing_proofread: peak memory {peak_mb:.0f} MB (process RSS, model included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
