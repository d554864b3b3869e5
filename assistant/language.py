"""Which language a text is in: for keyword search, fusion and reply language.

The one decision to know: detection is by script first, then (for Latin and
Cyrillic text) by counting each language's most common words. It is fast
(a regular-expression pass and set look-ups: passages are classified during a
sync, thousands a second) and it says ``"und"`` (undetermined) rather than
guess: a short query such as "backup schedule" has no function words, and a
wrong guess would switch stemming or the vector side off for it. General
language-identification models were measured at 2-5 ms a passage, too slow
for a sync, and unreliable on short queries.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from typing import Any

UNDETERMINED = "und"

# Code points by script (the blocks that matter for word segmentation).
HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef"
KANA = "\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f"
HANGUL = "\uac00-\ud7af\u1100-\u11ff\u3130-\u318f"
_SCRIPTS: list[tuple[str, re.Pattern[str]]] = [
    ("han", re.compile(f"[{HAN}]")),
    ("kana", re.compile(f"[{KANA}]")),
    ("hangul", re.compile(f"[{HANGUL}]")),
    ("cyrillic", re.compile("[\u0400-\u04ff]")),
    ("greek", re.compile("[\u0370-\u03ff]")),
    ("arabic", re.compile("[\u0600-\u06ff]")),
    ("hebrew", re.compile("[\u0590-\u05ff]")),
    ("thai", re.compile("[\u0e00-\u0e7f]")),
    ("devanagari", re.compile("[\u0900-\u097f]")),
    ("latin", re.compile("[A-Za-z\u00c0-\u024f]")),
]
_WORD = re.compile(r"[^\W\d_]+")
SAMPLE_CHARS = 2000  # a passage's first characters decide: enough, and cheap

# The most frequent function words of each language (short, distinctive
# lists: a word shared by two languages counts for both).
_FUNCTION_WORDS: dict[str, frozenset[str]] = {
    lang: frozenset(words.split())
    for lang, words in {
        "en": "the and of to in is that for it with as was on are be this by not or have "
        "from at which but they been were has their an what when how who would there",
        "fr": "le la les des du un une et est que qui dans pour pas sur au aux par avec ce "
        "cette sont ne se il elle nous vous ou mais plus leur été être",
        "de": "der die das und ist nicht ein eine zu den von mit sich des auf für im dem "
        "auch es an werden aus er sie wird bei einer um am sind noch wie oder",
        "es": "el la los las de y que en un una por con para es del se no al lo como más "
        "pero sus le ya o este esta son entre cuando muy sin sobre",
        "it": "il lo la gli le di e che un una per non sono con del della si da al ma come "
        "anche nel questo questa dei delle alla più essere è",
        "pt": "o a os as de e que um uma do da em para com não no na por se dos das mais "
        "ao como mas foi ele ela são seu sua ou é",
        "nl": "de het een en van is dat niet op te zijn voor met die aan er maar om ook als "
        "bij of door naar wordt worden deze dit wat",
        "sv": "och att det som en på är av för med till den inte har de om ett var jag men "
        "så kan från eller när",
        "ru": "и в не на что с как по это он она они мы вы но из за то же от все так его "
        "было был для или уже бы",
    }.items()
}

# Names used when a prompt says which language to answer in.
LANGUAGE_NAMES: dict[str, str] = {
    "en": "English",
    "zh": "Chinese",
    "ja": "Japanese",
    "ko": "Korean",
    "fr": "French",
    "de": "German",
    "es": "Spanish",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
    "sv": "Swedish",
    "pl": "Polish",
    "tr": "Turkish",
    "ru": "Russian",
    "uk": "Ukrainian",
    "el": "Greek",
    "ar": "Arabic",
    "he": "Hebrew",
    "th": "Thai",
    "hi": "Hindi",
}
_SCRIPT_LANGUAGE = {
    "hangul": "ko",
    "greek": "el",
    "arabic": "ar",
    "hebrew": "he",
    "thai": "th",
    "devanagari": "hi",
}
CJK_LANGUAGES = frozenset({"zh", "ja"})


def script_counts(text: str) -> Counter[str]:
    """Letters per script in ``text``."""
    counts: Counter[str] = Counter()
    for name, pattern in _SCRIPTS:
        n = len(pattern.findall(text))
        if n:
            counts[name] = n
    return counts


def detect(text: str) -> str:
    """ISO 639-1 code of ``text``'s language, or ``"und"`` when unsure."""
    sample = unicodedata.normalize("NFKC", text[:SAMPLE_CHARS])
    counts = script_counts(sample)
    if not counts:
        return UNDETERMINED
    letters = sum(counts.values())
    cjk = counts["han"] + counts["kana"]
    # A Chinese or Japanese passage often quotes Latin words (names, units):
    # a fifth of the letters in CJK characters already means CJK text, since
    # one character carries about as much as a short Latin word.
    if cjk >= 2 and cjk * 5 >= letters:
        if counts["kana"] * 10 >= cjk or (counts["kana"] >= 2 and not counts["han"]):
            return "ja"
        return "zh"
    script, _ = counts.most_common(1)[0]
    if script in _SCRIPT_LANGUAGE:
        return _SCRIPT_LANGUAGE[script]
    if script not in ("latin", "cyrillic"):
        return UNDETERMINED
    words = [w.lower() for w in _WORD.findall(sample)]
    if not words:
        return UNDETERMINED
    votes = Counter(
        {lang: sum(1 for w in words if w in fw) for lang, fw in _FUNCTION_WORDS.items()}
    )
    best, hits = votes.most_common(1)[0]
    if script == "cyrillic":
        return "ru" if hits else UNDETERMINED
    # At least two function words and a clear lead: otherwise too little to go on.
    runner_up = sorted(votes.values())[-2]
    if hits >= 2 and hits >= 1.5 * runner_up and hits * 20 >= len(words):
        return best
    return UNDETERMINED


def language_name(code: str) -> str | None:
    """``"zh"`` -> ``"Chinese"``; None for an unknown or undetermined code."""
    return LANGUAGE_NAMES.get(code)


def answer_language(text: str) -> str | None:
    """The name of the language to answer ``text`` in, when it is clear."""
    return language_name(detect(text))


# ------------------------------------------------- words of Chinese text
_HAN_RUN = re.compile(f"[{HAN}]{{2,}}")
_KANA_NEAR = re.compile(f"[{KANA}]")


def _jieba() -> Any:
    import rjieba

    return rjieba


def segment_han(text: str, *, index: bool = False) -> str:
    """``text`` with its Chinese words set apart by spaces, so a full-text
    index that splits at spaces (SQLite FTS5) finds each word: FTS5 keeps a
    run of Han characters whole, so 钥匙 was never found in 备用钥匙在哪里.
    The words are rjieba's (the Rust port of jieba, as the notes use);
    Japanese text (kana near the run) is left as it is. For the ``index``,
    the shorter words inside a long one (移动硬盘: 移动, 硬盘) follow the
    text, so a search for either finds it."""
    if not _HAN_RUN.search(text):
        return text
    cutter = _jieba()
    extra: list[str] = []

    def words(match: re.Match[str]) -> str:
        run = match.group(0)
        around = text[max(0, match.start() - 2) : match.end() + 2]
        if _KANA_NEAR.search(around):
            return run
        pieces = [w for w in cutter.cut(run) if w.strip()]
        if index:
            inside = [w for w in cutter.cut_for_search(run) if w.strip()]
            extra.extend(w for w in inside if w not in pieces)
        return " ".join(pieces)

    segmented = _HAN_RUN.sub(words, text)
    if extra:
        segmented += " " + " ".join(dict.fromkeys(extra))
    return segmented


def has_han(text: str) -> bool:
    """True when ``text`` holds Chinese characters (a run of two or more)."""
    return _HAN_RUN.search(text) is not None
