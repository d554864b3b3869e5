"""Calibrate "the notes do not cover this": SciFact claims with their abstracts
in the folder and removed from it.

Takes the index ``bench.notes_quality --keep DIR`` left (so nothing is
embedded twice), copies it, deletes from the copy's folder every abstract that
any claim is judged against and syncs the copy (only a purge). For each claim
it then computes what ``ask --notes`` decides on (``notes.grounding.closeness``:
the best cosine where the embedding model knows the claim's language, else the
share of the claim's words in the best keyword passage), once with its
abstracts present and once removed, and prints for several thresholds how
often a claim is answered when its abstracts are there (answered-present) and
refused when they are not (refused-removed). ``--dataset cmrc2018-zh --keep
DIR2`` checks the keyword rule on the Chinese set the same way.

    python -m bench.notes_abstain --keep DIR [--dataset scifact-train]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
from pathlib import Path

from bench._scifact import load_queries, machine_line

COSINES = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7)
SHARES = (0.25, 0.34, 0.5, 0.6, 0.67, 0.75)


def closeness_all(home: Path, queries: list[str]) -> list[tuple[str, float]]:
    os.environ["ASSISTANT_HOME"] = str(home)
    from assistant.notes.grounding import closeness
    from assistant.notes.service import NotesService
    from assistant.paths import app_paths
    from assistant.store.database import Database

    paths = app_paths()
    notes = NotesService(Database(paths.database), paths)
    report = notes.sync()
    if report.files_deleted:
        print(f"  (the copy's sync purged {report.files_deleted} files, embedded nothing: "
              f"{report.chunks_embedded})")  # fmt: skip
    languages = notes.embedding_languages()
    results = notes.search_many(queries, k=6)
    return [closeness(q, hits, languages) for q, hits in zip(queries, results, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", metavar="DIR", required=True, help="bench.notes_quality's DIR")
    parser.add_argument("--dataset", default="scifact-train")
    args = parser.parse_args()
    keep = Path(args.keep)
    print(machine_line())
    queries, qrels = load_queries(args.dataset)
    texts = [q for _, q in queries]
    present = closeness_all(keep / "home", texts)

    removed_dir = keep.parent / (keep.name + "-removed")
    if not removed_dir.exists():
        shutil.copytree(keep, removed_dir, symlinks=True)
        folder = removed_dir / args.dataset
        relevant = {d for docs in qrels.values() for d in docs}
        for doc_id in relevant:
            (folder / f"{doc_id}.txt").unlink(missing_ok=True)
        con = sqlite3.connect(removed_dir / "home" / "data" / "assistant.db")
        con.execute("UPDATE notes_collections SET root = ?", (str(folder),))
        con.commit()
        con.close()
        print(f"removed {len(relevant)} judged documents from a copy of the folder")
    removed = closeness_all(removed_dir / "home", texts)

    kinds = sorted({k for k, _ in present + removed})
    print(f"{len(texts)} queries; decided by: {', '.join(kinds)}")
    for kind, grid in (("vector", COSINES), ("keyword", SHARES)):
        pairs = [(p[1], r[1]) for p, r in zip(present, removed, strict=True) if p[0] == kind]
        if not pairs:
            continue
        print(f"{kind} rule on {len(pairs)} queries (threshold: answered-present, "
              "refused-removed):")  # fmt: skip
        for t in grid:
            answered = sum(p >= t for p, _ in pairs) / len(pairs)
            refused = sum(r < t for _, r in pairs) / len(pairs)
            print(f"  {t:.2f}: answered {answered:.3f}, refused {refused:.3f}")
    from assistant.notes.grounding import MIN_COSINE, MIN_KEYWORD_SHARE, close_enough

    answered = sum(close_enough(k, v) for k, v in present) / len(present)
    refused = sum(not close_enough(k, v) for k, v in removed) / len(removed)
    print(
        f"shipped thresholds (cosine {MIN_COSINE}, keyword share {MIN_KEYWORD_SHARE}): "
        f"answered with abstracts present {answered:.3f}, "
        f"said 'not in your notes' with them removed {refused:.3f}"
    )
    print(machine_line())


if __name__ == "__main__":
    main()
