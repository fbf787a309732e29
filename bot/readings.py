"""Names as people say them: the reading of a project, division or KPI name in kana and in
romaji, so that みやがせ, ミヤガセ and miyagase find 宮ヶ瀬湖周辺地域交通サービス推進事業.

Readings of kanji come from SudachiPy with its core dictionary: it reads place names as
people do (三浦半島 ミウラハントウ, 宮ヶ瀬 ミヤガセ, where pykakasi gives みうらはんしま and
みやゖせ) and tokenises a name in about 30 µs, seven times faster than pykakasi. Kana and
romaji are converted by jaconv. Both are read once per snapshot (see `ProjectIndex`).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache

import jaconv
from sudachipy import Dictionary, SplitMode, Tokenizer

_KANJI = re.compile(r"[\u3400-\u9fff\u3005\u30f6\u30f5]")  # 々 and the small ヶ/ヵ read as kanji
_NOT_KANA_OR_LATIN = re.compile(r"[^a-z0-9\u3041-\u3096\u30a1-\u30fa\u30fc]+")
_PUNCTUATION = re.compile(r"[^\w々〆ヶヵー]+")
_DOUBLED = re.compile(r"([bcdfghjkmprstvwxz])\1+")
# Spellings that differ between Hepburn, Kunrei and English loanwords but sound the same to a
# Japanese ear: both sides of a comparison are brought to the same spelling.
_SAME_SOUND = (
    ("tion", "shon"),
    ("shi", "si"),
    ("chi", "ti"),
    ("tsu", "tu"),
    ("sh", "sy"),
    ("ch", "ty"),
    ("fu", "hu"),
    ("ji", "zi"),
    ("v", "b"),
    ("l", "r"),
    ("ou", "o"),
    ("oo", "o"),
    ("uu", "u"),
    ("aa", "a"),
    ("ee", "e"),
    ("ii", "i"),
    ("ei", "e"),
)


class _Sudachi:
    """One tokenizer per thread: a Sudachi tokenizer is not safe to share between threads,
    and the dictionary behind it is loaded (memory-mapped) once."""

    def __init__(self) -> None:
        self._dictionary: Dictionary | None = None
        self._local = threading.local()
        self._lock = threading.Lock()

    def tokenizer(self) -> Tokenizer:
        tokenizer: Tokenizer | None = getattr(self._local, "tokenizer", None)
        if tokenizer is None:
            with self._lock:
                if self._dictionary is None:
                    self._dictionary = Dictionary(dict="core")
                tokenizer = self._dictionary.create(SplitMode.C)
            self._local.tokenizer = tokenizer
        return tokenizer


_SUDACHI = _Sudachi()


def katakana(text: str) -> str:
    """The reading of `text` in katakana; kana and latin letters are kept as they are."""
    text = unicodedata.normalize("NFKC", text)
    if not _KANJI.search(text):
        return jaconv.hira2kata(text)
    tokenizer = _SUDACHI.tokenizer()
    # Punctuation apart: Sudachi reads 「（」 as キゴウ ("symbol").
    return "".join(
        m.reading_form()
        for part in _PUNCTUATION.split(text)
        if part
        for m in tokenizer.tokenize(part)
    )


def words(text: str) -> list[str]:
    """The words of a name as Sudachi cuts them (三浦 半島 魅力 深化 …)."""
    text = unicodedata.normalize("NFKC", text)
    return [m.surface() for m in _SUDACHI.tokenizer().tokenize(text)]


def loose_romaji(reading: str) -> str:
    """A romaji spelling in which typing habits no longer differ: ミヤガセ, miyagase and
    Miyagasse, or イノベーション and inovation, come out the same or close."""
    kana = _NOT_KANA_OR_LATIN.sub("", jaconv.kata2hira(reading.lower()))
    text = jaconv.kana2alphabet(kana).replace("ー", "")
    for spelt, said in _SAME_SOUND:
        text = text.replace(spelt, said)
    return _DOUBLED.sub(r"\1", text)


def kana_key(reading: str) -> str:
    """Hiragana without long-vowel marks and punctuation: みやがせ = ミヤガセ."""
    return _NOT_KANA_OR_LATIN.sub("", jaconv.kata2hira(reading.lower())).replace("ー", "")


@lru_cache(maxsize=4096)
def reading_keys(text: str) -> tuple[str, str]:
    """(kana key, loose romaji) of a name or a question term. Cached: division and KPI
    names repeat across projects and snapshots."""
    reading = katakana(text)
    return kana_key(reading), loose_romaji(reading)


def warm_up() -> None:
    """Load the dictionary now (0.1 s), not on the first question."""
    katakana("神奈川県")
