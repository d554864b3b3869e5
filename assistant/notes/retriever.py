"""Hybrid retrieval: FTS5 BM25 and FAISS vectors, fused by normalised score.

The vector side only counts where the embedding model knows the language:
a query in a language the model does not declare (a Chinese question with
the English-only bundled model) is answered by keyword search alone (by the
vectors only if keywords find nothing), and vector candidates from passages in
such a language are left out. On the Chinese set the equal-weight fusion of
a model that cannot read the text pulled nDCG@10 below keyword alone
(bench/README.md); a model without declared languages counts everywhere.

Decision: each list (the top ``max(k, CANDIDATES)`` of BM25 and of cosine) is
min-max scaled to [0, 1] per query and the two are added with equal weights;
a passage missing from a list gets 0 from it. On SciFact this beat reciprocal
rank fusion (k = 60) by about 0.01 nDCG@10 with no tuned weight, because it
keeps how far apart the scores are, not just their order (bench/README.md).
Each hit keeps both ranks, both raw scores and the fused score, so a retrieval
view can show why it was picked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

import numpy as np

from assistant.language import UNDETERMINED, detect
from assistant.notes.keywords import highlight_terms, is_cjk
from assistant.notes.repository import ChunkInfo, NotesRepository
from assistant.notes.vectors import VectorIndex

CANDIDATES = 100
KEYWORD_WEIGHT = 0.5
SNIPPET_CHARS = 240
MODES = ("hybrid", "keyword", "vector")


@dataclass(frozen=True)
class Hit:
    chunk_id: int
    collection: str
    path: str  # relative to the collection root
    abs_path: str
    start_line: int
    end_line: int
    page: int | None
    heading: str
    snippet: str
    highlights: list[tuple[int, int]] = field(default_factory=list)  # spans in snippet
    text: str = ""
    keyword_rank: int | None = None  # 1-based; None = not in that list
    vector_rank: int | None = None
    keyword_score: float | None = None
    vector_score: float | None = None
    score: float = 0.0
    kind: str | None = None  # the file's kind: pdf, pptx, xlsx... (names the page unit)
    lang: str | None = None

    @property
    def place(self) -> str:
        """Where in the file beyond lines: "page 3", "slide 2", "row 40"; or ""."""
        return place_label(self.kind, self.page)

    @property
    def location(self) -> str:
        lines = (
            f"{self.start_line}"
            if self.start_line == self.end_line
            else f"{self.start_line}-{self.end_line}"
        )
        return f"{self.path}:{lines}"

    def to_dict(self, with_text: bool = False) -> dict:
        d = asdict(self)
        d["lines"] = [self.start_line, self.end_line]
        d["location"] = self.location
        d["highlights"] = [list(h) for h in self.highlights]
        if not with_text:
            d.pop("text")
        return d


PAGE_UNITS = {"pptx": "slide", "xlsx": "row", "odp": "slide"}


def place_label(kind: str | None, page: int | None) -> str:
    """ "page 3" for a PDF, "slide 3" for a presentation, "row 3" for a sheet."""
    if not page:
        return ""
    return f"{PAGE_UNITS.get(kind or '', 'page')} {page}"


def covered(lang: str | None, languages: frozenset[str] | None) -> bool:
    """Does a model declaring ``languages`` (None: unknown) know ``lang``?"""
    return languages is None or lang in (None, UNDETERMINED) or lang in languages


def _scaled(results: Sequence[tuple[int, float]]) -> dict[int, float]:
    if not results:
        return {}
    scores = [s for _, s in results]
    low, high = min(scores), max(scores)
    if high <= low:
        return {cid: 1.0 for cid, _ in results}
    return {cid: (s - low) / (high - low) for cid, s in results}


def fuse(
    keyword: Sequence[tuple[int, float]],
    vector: Sequence[tuple[int, float]],
    keyword_weight: float = KEYWORD_WEIGHT,
) -> list[tuple[int, float, int | None, int | None]]:
    """(chunk id, fused score, keyword rank, vector rank), best first.

    Both lists are (chunk id, score) with higher scores better, best first."""
    kw, vec = _scaled(keyword), _scaled(vector)
    kw_rank = {cid: r for r, (cid, _) in enumerate(keyword, start=1)}
    vec_rank = {cid: r for r, (cid, _) in enumerate(vector, start=1)}
    fused = [
        (
            cid,
            keyword_weight * kw.get(cid, 0.0) + (1 - keyword_weight) * vec.get(cid, 0.0),
            kw_rank.get(cid),
            vec_rank.get(cid),
        )
        for cid in dict.fromkeys(list(kw_rank) + list(vec_rank))
    ]
    fused.sort(key=lambda t: (-t[1], t[0]))
    return fused


def make_snippet(
    text: str, query: str, width: int = SNIPPET_CHARS
) -> tuple[str, list[tuple[int, int]]]:
    """The window of ``text`` with most query words, and the spans to highlight.

    Latin words match on a shared prefix (first five letters), close to what
    stemming lets the keyword search match; Chinese and Japanese words match
    as written (they have no word boundaries to anchor on)."""
    terms = highlight_terms(query)
    flat = " ".join(text.split())
    if not terms:
        return (flat[:width] + ("…" if len(flat) > width else "")), []
    latin = sorted({t[:5] for t in terms if not is_cjk(t)}, key=len, reverse=True)
    cjk = sorted({t for t in terms if is_cjk(t)}, key=len, reverse=True)
    alternatives = [re.escape(t) for t in cjk]
    if latin:
        alternatives.append(r"\b(?:" + "|".join(re.escape(t) for t in latin) + r")\w*")
    pattern = re.compile("|".join(alternatives), re.IGNORECASE)
    matches = list(pattern.finditer(flat))
    start = 0
    if matches and len(flat) > width:
        best, best_count = 0, -1
        for m in matches:
            s = max(0, m.start() - width // 4)
            count = sum(1 for x in matches if s <= x.start() and x.end() <= s + width)
            if count > best_count:
                best, best_count = s, count
        start = best
        if start > 0:
            space = flat.find(" ", start)
            start = space + 1 if 0 <= space < start + 20 else start
    window = flat[start : start + width]
    prefix = "…" if start > 0 else ""
    suffix = "…" if start + width < len(flat) else ""
    spans = [
        (m.start() - start + len(prefix), m.end() - start + len(prefix))
        for m in matches
        if m.start() >= start and m.end() <= start + width
    ]
    return prefix + window + suffix, spans


def highlight(
    snippet: str, spans: Sequence[tuple[int, int]], left: str = "[", right: str = "]"
) -> str:
    out, last = [], 0
    for a, b in spans:
        out += [snippet[last:a], left, snippet[a:b], right]
        last = b
    out.append(snippet[last:])
    return "".join(out)


class HybridRetriever:
    """Runs both searches and fuses them; ``mode`` picks one side for evaluation."""

    def __init__(
        self,
        repo: NotesRepository,
        index: Callable[[], VectorIndex],
        embed_queries: Callable[[Sequence[str]], np.ndarray],
        languages: Callable[[], frozenset[str] | None] | None = None,
    ) -> None:
        self.repo = repo
        self.index = index
        self.embed_queries = embed_queries
        self.languages = languages or (lambda: None)
        self.language_gate = True  # False only to measure fusion without it (bench)

    def search(
        self,
        query: str,
        k: int = 10,
        collection: str | None = None,
        path_glob: str | None = None,
        mode: str = "hybrid",
    ) -> list[Hit]:
        return self.search_many([query], k, collection, path_glob, mode)[0]

    def search_many(
        self,
        queries: Sequence[str],
        k: int = 10,
        collection: str | None = None,
        path_glob: str | None = None,
        mode: str = "hybrid",
    ) -> list[list[Hit]]:
        """Ranked hits per query, in input order; the queries are embedded in one batch."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        depth = max(k, CANDIDATES)
        allowed = None
        if collection is not None or path_glob:
            allowed = np.asarray(self.repo.filtered_chunk_ids(collection, path_glob), np.int64)

        def keyword_lists() -> list[list[tuple[int, float]]]:
            if mode == "vector":
                return [[] for _ in queries]
            return [self.repo.keyword_search(q, depth, collection, path_glob) for q in queries]

        languages = self.languages() if self.language_gate and mode != "vector" else None
        use_vectors = [covered(detect(q), languages) for q in queries]
        pool = None
        if mode == "hybrid" and queries:
            # FTS5 runs in a second thread while the queries are embedded and
            # FAISS searches: sqlite3, ONNX Runtime and FAISS release the GIL.
            pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="notes-keyword")
            pending = pool.submit(keyword_lists)
        try:
            vector_lists: list[list[tuple[int, float]]] = [[] for _ in queries]
            if mode != "keyword" and queries:
                wanted = [n for n, ok in enumerate(use_vectors) if ok or mode == "vector"]
                keyword_results = None
                if mode == "hybrid" and len(wanted) < len(queries):
                    # gated queries fall back to vectors only when keywords find nothing
                    keyword_results = pending.result()
                    wanted = sorted(set(wanted) | {n for n, kw in enumerate(keyword_results)
                                                   if not kw})  # fmt: skip
                if wanted:
                    vectors = self.embed_queries([queries[n] for n in wanted])
                    index = self.index()
                    for n, v in zip(wanted, vectors, strict=True):
                        vector_lists[n] = index.search(v, depth, allowed)
                    if languages is not None:
                        # a fallback (gated) query keeps what the vectors found
                        vector_lists = [
                            found if not use_vectors[n] else kept
                            for n, (found, kept) in enumerate(
                                zip(vector_lists, self._known_languages(vector_lists, languages),
                                    strict=True)
                            )
                        ]  # fmt: skip
            keyword_results = pending.result() if pool is not None else keyword_lists()
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        results: list[list[Hit]] = []
        for query, keyword, vector in zip(queries, keyword_results, vector_lists, strict=True):
            fused = fuse(keyword, vector)[:k]
            infos = self.repo.chunk_infos([cid for cid, *_ in fused])
            kw_scores, vec_scores = dict(keyword), dict(vector)
            hits = []
            for cid, score, kr, vr in fused:
                info = infos.get(cid)
                if info is None:  # purged between the searches and the lookup
                    continue
                hits.append(self._hit(info, query, score, kr, vr, kw_scores, vec_scores))
            results.append(hits)
        return results

    def _known_languages(
        self, lists: list[list[tuple[int, float]]], languages: frozenset[str]
    ) -> list[list[tuple[int, float]]]:
        """Leave out vector candidates from passages in languages the model
        does not know (their similarity says nothing)."""
        ids = sorted({cid for found in lists for cid, _ in found})
        langs = self.repo.chunk_langs(ids) if ids else {}
        return [[(c, s) for c, s in found if covered(langs.get(c), languages)] for found in lists]

    @staticmethod
    def _hit(
        info: ChunkInfo,
        query: str,
        score: float,
        keyword_rank: int | None,
        vector_rank: int | None,
        kw_scores: dict[int, float],
        vec_scores: dict[int, float],
    ) -> Hit:
        from pathlib import Path

        snippet, spans = make_snippet(info.text, query)
        return Hit(
            chunk_id=info.id,
            collection=info.collection,
            path=info.path,
            abs_path=str(Path(info.root) / info.path),
            start_line=info.start_line,
            end_line=info.end_line,
            page=info.page,
            heading=info.heading,
            snippet=snippet,
            highlights=spans,
            text=info.text,
            keyword_rank=keyword_rank,
            vector_rank=vector_rank,
            keyword_score=kw_scores.get(info.id),
            vector_score=vec_scores.get(info.id),
            score=score,
            kind=info.kind,
            lang=info.lang,
        )
