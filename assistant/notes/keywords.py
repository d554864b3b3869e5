"""The words a passage is found by: segmentation and stemming per language.

FTS5's own tokenizer keeps a run of Chinese characters as one token and its
porter stemmer only knows English, so the text FTS5 indexes is prepared here,
in Python, and FTS5 (``unicode61 remove_diacritics 2``) only splits it at the
spaces we put in and folds case and accents. Queries go through the same
functions, so a query is cut exactly as the passages were.

- Chinese (runs of Han characters): segmented with rjieba (the Rust port of
  jieba): passages in search mode (a long word and the words inside it:
  移动硬盘 -> 移动, 硬盘, 移动硬盘), queries in precise mode. bench/notes_segment.py
  measured it 15x faster than jieba with the same words.
- Japanese (text with kana): overlapping character pairs, which need no
  dictionary; no Japanese morphological analyser was added, as there is no
  Japanese set here to show it would be worth its weight.
- Space-separated languages: words stemmed with the Snowball stemmer of the
  passage's language (English for undetermined Latin text, as porter did
  before); languages without a stemmer keep their words as they are.

The version string ``TOKENIZER_VERSION`` is stored with the index; when it
changes, the keyword index is rebuilt from the passages (vectors are kept).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from functools import cache, lru_cache
from typing import Any

from assistant.language import CJK_LANGUAGES, HAN, HANGUL, KANA, UNDETERMINED, detect

# Bump when the way text is prepared changes (segmenter or stemmer versions
# are added to it at run time).
FORMAT = 2
STEMMER_FOR = {
    "en": "english",
    "fr": "french",
    "de": "german",
    "es": "spanish",
    "it": "italian",
    "pt": "portuguese",
    "nl": "dutch",
    "sv": "swedish",
    "ru": "russian",
    "el": "greek",
    "ar": "arabic",
    "hi": "hindi",
}
_RUN = re.compile(f"([{HAN}{KANA}]+)|([{HANGUL}]+)|([^\\W_{HAN}{KANA}{HANGUL}]+)")
_HAS_KANA = re.compile(f"[{KANA}]")

# Function words dropped from keyword queries (all words are kept when a
# query has nothing else): BM25 is then spent on the words that carry meaning.
ENGLISH_STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself
    yourselves""".split()
)
CHINESE_STOP_WORDS = frozenset(
    """的 了 是 在 有 和 与 及 或 吗 呢 吧 啊 么 之 其 也 都 就 还 又 被 把 给 对 从 到 于 以 而
    这 那 这个 那个 这些 那些 一个 什么 哪 哪里 哪儿 哪个 哪些 谁 多少 几 怎么 怎样 怎么样 如何
    为什么 为何 何时 何地 什么时候 时候 请问 请 我 我们 你 你们 他 她 它 他们
    是否 能否 可以""".split()
)
STOP_WORDS = ENGLISH_STOP_WORDS | CHINESE_STOP_WORDS

_segmenter_lock = threading.Lock()


@lru_cache(maxsize=1)
def _rjieba() -> Any:
    import rjieba

    return rjieba


@cache
def _stemmer(language: str) -> Any:
    import Stemmer

    return Stemmer.Stemmer(language, 100_000)


@lru_cache(maxsize=1)
def tokenizer_version() -> str:
    """Names the segmenter and stemmer with their versions."""
    from importlib.metadata import PackageNotFoundError, version

    def v(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "?"

    return f"keywords-{FORMAT}; rjieba {v('rjieba')}; PyStemmer {v('PyStemmer')}"


def stem_language(lang: str) -> str | None:
    """The Snowball stemmer for a passage of language ``lang`` (English for
    undetermined and CJK text, whose Latin words are mostly English)."""
    if lang in STEMMER_FOR:
        return STEMMER_FOR[lang]
    if lang == UNDETERMINED or lang in CJK_LANGUAGES or lang == "ko":
        return "english"
    return None


def _normal(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def _bigrams(run: str) -> list[str]:
    if len(run) < 2:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def _stem_all(words: list[str], language: str | None) -> list[str]:
    if not words or language is None:
        return words
    stemmer = _stemmer(language)
    with _segmenter_lock:  # a PyStemmer object is not thread-safe
        return list(stemmer.stemWords(words))


def index_terms(text: str, lang: str) -> str:
    """The text FTS5 indexes for a passage in language ``lang``: its words,
    segmented and stemmed, separated by spaces."""
    out: list[str] = []
    words: list[str] = []
    places: list[int] = []
    for m in _RUN.finditer(_normal(text)):
        cjk, hangul, word = m.groups()
        if cjk:
            if lang == "ja" or _HAS_KANA.search(cjk):
                out += _bigrams(cjk)
            else:
                out += [w for w in _rjieba().cut_for_search(cjk) if w.strip()]
        elif hangul:
            out.append(hangul)
        else:
            places.append(len(out))
            out.append(word)
            words.append(word)
    stemmed = _stem_all(words, stem_language(lang))
    for place, stem in zip(places, stemmed, strict=True):
        out[place] = stem
    return " ".join(out)


def query_groups(query: str, languages: Iterable[str] = ()) -> list[tuple[str, ...]]:
    """The words of a query, each with its stemmed forms: one tuple per word
    (a passage matching any form of it matches the word). Stop words go, unless
    nothing else is left. ``languages`` adds stemmers of languages known to be
    in the index."""
    lang = detect(query)
    stemmers = {stem_language(lang)} | {stem_language(x) for x in languages}
    stemmers.discard(None)
    groups: list[tuple[str, ...]] = []
    stops: list[bool] = []
    for m in _RUN.finditer(_normal(query)):
        cjk, hangul, word = m.groups()
        if cjk:
            if lang == "ja" or _HAS_KANA.search(cjk):
                pieces = _bigrams(cjk)
            else:
                pieces = [w for w in _rjieba().cut(cjk) if w.strip()]
            for piece in pieces:
                groups.append((piece,))
                stops.append(piece in CHINESE_STOP_WORDS)
        elif hangul:
            groups.append((hangul,))
            stops.append(False)
        else:
            forms = [word] + [_stem_all([word], s)[0] for s in sorted(s for s in stemmers if s)]
            groups.append(tuple(dict.fromkeys(forms)))
            stops.append(word in ENGLISH_STOP_WORDS)
    kept = [g for g, stop in zip(groups, stops, strict=True) if not stop]
    unique: dict[tuple[str, ...], None] = dict.fromkeys(kept or groups)
    return list(unique)


def highlight_terms(query: str) -> list[str]:
    """Query words to highlight in a snippet, as the user wrote them (lower
    case): Latin words are matched by their first letters, CJK words as written."""
    return [g[0] for g in query_groups(query) if len(g[0]) > 1 or _is_cjk(g[0])]


def _is_cjk(word: str) -> bool:
    return bool(re.match(f"[{HAN}{KANA}{HANGUL}]", word))


def is_cjk(word: str) -> bool:
    return _is_cjk(word)


def prepare_pairs(
    pairs: Sequence[tuple[str, str]], tick: Callable[[float], None] | None = None
) -> list[tuple[str, str, str]]:
    """(language, heading terms, body terms) for (heading, text) pairs of one
    document: each passage's own language, or the document's when a passage
    is too short to tell. ``tick`` gets the share done every 256 passages (it
    may raise ``Cancelled`` to stop)."""
    sample = " ".join(text[:400] for _, text in pairs[:8])
    doc_lang = detect(sample) if sample else UNDETERMINED
    out: list[tuple[str, str, str]] = []
    for n, (heading, text) in enumerate(pairs):
        if tick is not None and n % 256 == 0:
            tick(n / len(pairs))
        lang = detect(text)
        if lang == UNDETERMINED:
            lang = doc_lang
        out.append((lang, index_terms(heading, lang), index_terms(text, lang)))
    return out


def prepare_keywords(
    chunks: Sequence[Any], tick: Callable[[float], None] | None = None
) -> list[tuple[str, str, str]]:
    """``prepare_pairs`` for chunks (objects with ``heading`` and ``text``)."""
    return prepare_pairs([(c.heading, c.text) for c in chunks], tick)
