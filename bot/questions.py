"""Questions people ask ("三浦半島はどうだった？", "評価保留の事業は？", "projects of 地域政策課")
and the answers, as data.

`answer()` is the one service function behind `kpibot ask` and the Slack bot; the words
are rendered by `bot.render`. A question is read in three steps: the words around what is
asked about (politeness, filler, emoji, @kpibot) are set aside, the kind of question is
told by its words (期限, 評価保留, 前年と比べて, 一覧, …), and what remains is looked up
among the projects, divisions and KPIs of the snapshot, by letters and by reading
(`ProjectIndex`).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum

from rapidfuzz import fuzz, process

from bot.readings import reading_keys, words
from rules.deadlines import Deadline, MissingEntry, missing_entries, upcoming
from rules.models import Evaluation, KpiResult, ProjectResult, RateStatus, RowProblem
from rules.values import parse_fiscal_year


class Intent(Enum):
    RATING = "rating"  # one project (or one of its KPIs, or a division: told by the lookup)
    COMPARE = "compare"
    STATUS = "status"
    COUNT = "count"
    SUMMARY = "summary"
    MISSING = "missing"
    DEADLINES = "deadlines"
    HELP = "help"


class Lang(Enum):
    JA = "ja"
    EN = "en"


class Status(Enum):
    PENDING = "pending"  # 評価保留
    NOT_EFFECTIVE = "not_effective"  # 効果がなかった
    UNMET = "unmet"  # KPIs below their target
    COUNTING = "counting"  # 集計中
    PROBLEMS = "problems"  # rows the input check flagged


@dataclass(frozen=True)
class Question:
    text: str
    intent: Intent
    term: str  # what is asked about as typed, "" when nothing
    year: int | None
    lang: Lang
    status: Status | None = None
    kpi_no: int | None = None  # 三浦半島のKPI④
    division_words: bool = False  # 課, division: the term more likely names a division


_KANA = re.compile(r"[\u3040-\u30ff]")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
_YEAR = re.compile(
    r"(令和\s*(?:元|\d{1,2})\s*年度?|平成\s*(?:元|\d{1,2})\s*年度?|\bFY\s*\d{4}\b|"
    r"\b[RH]\s?\d{1,2}(?:\s*年度?)?(?![\d])|(?<!\d)(?:19|20)\d{2}\s*(?:年度|年)?)",
    re.IGNORECASE,
)
_MENTION = re.compile(r"<[@!#][^>]*>|@kpibot\b|@\w+", re.IGNORECASE)
_SHORTCODE = re.compile(r":[a-z0-9_+\-]+:")
_KPI_NUMBER = re.compile(r"KPI\s*(?:no\.?|#)?\s*([0-9]{1,2}|[①-⑳])", re.IGNORECASE)
_CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"

# The kinds of question, told by their words (lower case, after NFKC). Order matters where
# one phrase contains another: the more specific comes first.
_HELP_WORDS = ("help", "ヘルプ", "へるぷ", "使い方", "つかいかた", "何ができ", "なにができ",
               "how to use", "what can you do", "何を聞け", "何をきけ")  # fmt: skip
_GREETING = re.compile(
    r"\W*(?:こんにちは|こんにちわ|こんばんは|おはよう(?:ございます)?|はじめまして|お疲れ様です|"
    r"おつかれさま(?:です)?|hello|hi|hey|good (?:morning|afternoon))\W*"
)
_DEADLINE_WORDS = ("期限", "締切", "締め切り", "〆切", "しめきり", "きげん", "deadline", "due date")
_COMPARE_WORDS = ("前年度比", "前年比", "前年度", "前年", "昨年度", "昨年", "去年", "比べ",
                  "くらべ", "比較", "推移", "比べて", "比較して", "くらべて", "compared", "compare", " vs ", "versus",
                  "last year", "previous year", "year before")  # fmt: skip
_STATUS_WORDS: tuple[tuple[Status, tuple[str, ...]], ...] = (
    (Status.COUNTING, ("集計中", "しゅうけいちゅう", "being counted", "still counting")),
    (Status.PENDING, ("評価保留", "ひょうかほりゅう", "保留", "評価できていない", "on hold",
                      "pending")),
    (Status.NOT_EFFECTIVE, ("効果がなかった", "効果のなかった", "効果がない", "効果なし",
                            "not effective", "ineffective", "no effect")),
    (Status.UNMET, ("達成していない", "達成してない", "達成できなかった", "未達", "届いていない",
                    "届かなかった", "not met", "unmet", "missed their target", "below target",
                    "not achieved", "not reached")),
    (Status.PROBLEMS, ("注意", "警告", "指摘", "エラー", "問題のある", "引っかか", "warning",
                       "problem", "error", "issues")),
)  # fmt: skip
_MISSING_WORDS = ("未入力", "みにゅうりょく", "入力漏れ", "入力もれ", "まだ入力", "入力されていない",
                  "入力していない", "missing", "not entered", "still needs to enter",
                  "who still")  # fmt: skip
_COUNT_WORDS = ("いくつ", "何件", "何個", "なんこ", "なんけん", "件数", "事業数", "達成数",
                "how many", "count")  # fmt: skip
_SUMMARY_WORDS = ("一覧", "いちらん", "全体", "まとめ", "サマリ", "全事業", "全部", "summary",
                  "overview", "all projects", "list")  # fmt: skip
_DIVISION_WORDS = ("division", "department", "部署")

# Filler: politeness and question words that never name a project. Removed anywhere in the
# question, longest first, so that 教えてください goes before 教えて.
_FILLER_JA = sorted(
    (
        "お願いします", "おねがいします", "お願い", "教えてください", "教えて下さい",
        "教えてもらえますか", "教えてもらえる", "教えて", "おしえて", "について", "見せてください",
        "見せて", "みせて", "すみません", "ありがとう", "至急", "ください", "下さい",
        "知りたいです", "知りたい", "どうだった", "どうでしたか", "どうでした", "どうですか",
        "どうなってますか", "どうなっていますか", "どうなってるか", "どうなってる", "どうなった",
        "どうなって", "どんな感じ", "どう", "でしたか", "ですか", "でした", "ありますか",
        "はありますか", "の件で", "の件", "のやつ", "を全部", "表示", "何人", "いつ",
        "ってどう", "なっている", "になっている", "になってる", "なってる", "のもの", "もの",
        "はどれ", "どれ", "まだ", "は何が残ってる", "何が残ってる", "残ってる", "まだの", "担当",
        "の事業", "事業は", "プロジェクト一覧", "次の", "提出", "報告",
    ),
    key=len,
    reverse=True,
)  # fmt: skip
_FILLER_EN = frozenset(
    ("how", "did", "do", "does", "is", "are", "was", "were", "the", "a", "an", "of", "for", "about", "on", "in", "please", "what", "whats", "show", "me", "tell", "give", "status", "rating", "ratings", "rate", "rated", "project", "projects", "doing", "go", "going", "now", "i", "want", "to", "know", "can", "you", "could", "would", "thanks", "thank", "with", "any", "there", "which", "have", "has", "been", "still", "owe", "our", "my", "its", "it", "this", "that")
)  # fmt: skip
_PARTICLE_EDGES = re.compile(
    r"^(?:の|は|を|が|と|で|って|に)+|(?:の|は|を|が|と|で|って|に|ね|よ)+$"
)
_PARTICLES = re.compile(r"[のとでにを]")
_CONTENT_FILLER = ("評価", "結果", "状況", "達成率", "様子", "kpi")  # alone, they name nothing
_SEPARATORS = re.compile(r"[\s?？!！。、,.「」『』【】\"'“”()（）:：・/]+")
_ENGLISH_WORD = re.compile(r"[a-z][a-z']*")
# What the question is about, not a name: only taken off the ends of a part, so that
# インパクト評価実証プロジェクト stays whole.
_BASE_WORDS = ("評価", "結果", "状況", "達成率", "様子", "事業", "プロジェクト", "kpi")


SUGGEST_SCORE = 70  # rapidfuzz partial_ratio, 0–100


def _clean(text: str) -> str:
    """The question without mentions, emoji and control characters, NFKC-normalised."""
    text = _MENTION.sub(" ", text)
    text = unicodedata.normalize("NFKC", text)
    text = _SHORTCODE.sub(" ", text)
    return "".join(
        " " if unicodedata.category(ch)[0] in "CS" and ch not in "々〆ー" else ch for ch in text
    )


def _has(text: str, words: Iterable[str]) -> str:
    """The first of `words` in `text` (whole words for English), or ""."""
    for word in words:
        if word.isascii() and word.strip().isalpha() and " " not in word.strip():
            if re.search(rf"\b{re.escape(word.strip())}", text):
                return word
        elif word in text:
            return word
    return ""


def _strip_words(text: str, words: Iterable[str]) -> str:
    for word in sorted(words, key=len, reverse=True):  # 比べて before 比べ
        if word.isascii():
            text = re.sub(rf"\b{re.escape(word.strip())}\w*", " ", text)
        else:
            text = text.replace(word, " ")
    return text


def _term(text: str) -> str:
    """What remains of a question once its filler is gone: the name asked about, with the
    parts separated by single spaces (三浦半島 イベント参加者数)."""
    text = re.sub(r"'s\b|'", "", text)  # what's, it's: one word, not two
    for filler in _FILLER_JA:
        text = text.replace(filler, " ")
    parts = []
    for part in _SEPARATORS.split(text):
        if part.isascii():
            words = [w for w in _ENGLISH_WORD.findall(part) if w not in _FILLER_EN]
            part = " ".join(words) if words or not part.isalpha() else ""
            if not words and part.isalpha():
                part = ""
            if not words and not part:
                continue
        while True:
            stripped = _PARTICLE_EDGES.sub("", part)
            for base in _BASE_WORDS:
                if stripped.endswith(base) and len(stripped) > len(base):
                    stripped = stripped[: -len(base)]
                elif stripped == base and base in _CONTENT_FILLER:
                    stripped = ""
            stripped = _PARTICLE_EDGES.sub("", stripped)
            if stripped == part:
                break
            part = stripped
        if part:
            parts.append(part)
    named = [part for part in parts if part not in _BASE_WORDS]
    return " ".join(named or parts).strip()


def parse_question(text: str) -> Question:
    raw = _clean(text).strip()
    lowered = raw.lower()
    year = None
    fy = False  # FY2023 is how an English speaker writes a fiscal year
    if year_match := _YEAR.search(raw):
        fy = year_match.group(0).lower().startswith("fy")
        parsed = parse_fiscal_year(year_match.group(0).replace(" ", ""))
        if isinstance(parsed, int):
            year = parsed
            lowered = lowered[: year_match.start()] + " " + lowered[year_match.end() :]
    kpi_no = None
    if kpi_match := _KPI_NUMBER.search(lowered):
        number = kpi_match.group(1)
        kpi_no = _CIRCLED.index(number) + 1 if number in _CIRCLED else int(number)
        lowered = lowered[: kpi_match.start()] + " " + lowered[kpi_match.end() :]
    division_words = bool(_has(lowered, _DIVISION_WORDS)) or "課" in lowered

    def question(intent: Intent, term: str = "", status: Status | None = None) -> Question:
        # English when the words around the name are (rating for 宮ヶ瀬, projects of 観光課).
        rest = lowered.replace(term.lower(), " ") if term else lowered
        english = not _KANA.search(rest) and (fy or bool(_LATIN_WORD.search(rest)))
        lang = Lang.EN if english else Lang.JA
        return Question(text, intent, term, year, lang, status, kpi_no, division_words)

    if _has(lowered, _HELP_WORDS) or _GREETING.fullmatch(lowered):
        # `@kpibot help`, as the README says to send first, is a keyword, not English:
        # Japanese by default; "help me", "how to use" are English.
        return question(Intent.HELP, "help" if lowered.strip(" ?？!！") == "help" else "")
    if _has(lowered, _DEADLINE_WORDS):
        return question(Intent.DEADLINES)
    if _has(lowered, _MISSING_WORDS):
        rest = _strip_words(lowered, _MISSING_WORDS)
        return question(Intent.MISSING, _term(rest) if division_words else "")
    for status, phrases in _STATUS_WORDS:
        if _has(lowered, phrases):
            rest = _term(_strip_words(lowered, phrases))
            return question(Intent.STATUS, rest if division_words else "", status)
    if _has(lowered, _COMPARE_WORDS):
        rest = _term(_strip_words(lowered, _COMPARE_WORDS))
        if rest:
            return question(Intent.COMPARE, _original_case(raw, rest))
    term = _term(_strip_words(lowered, _DIVISION_WORDS))
    if division_words:  # スポーツ課の事業一覧: the division's list
        term = _term(_strip_words(lowered, (*_DIVISION_WORDS, *_COUNT_WORDS, *_SUMMARY_WORDS)))
    for intent, phrases in ((Intent.COUNT, _COUNT_WORDS), (Intent.SUMMARY, _SUMMARY_WORDS)):
        if _has(lowered, phrases) and (not term or not division_words):
            # 件数 or 達成数 may end a KPI name (空き家の件数): what remains besides them is
            # looked up, and answered as a project when it names one.
            rest = _term(_strip_words(lowered, (*_COUNT_WORDS, *_SUMMARY_WORDS)))
            return question(intent, _original_case(raw, term) if rest else "")
    if not term and re.fullmatch(r"[^\W\d_]{1,20}", lowered.strip()):
        term = lowered.strip()  # one word, even one that is filler elsewhere: a name (A)
        if term in _CONTENT_FILLER:
            term = ""
    if not term:
        return question(Intent.HELP)
    return question(Intent.RATING, _original_case(raw, term))


def _original_case(raw: str, term: str) -> str:
    """The term as the person typed it (lowering was only for telling the kind)."""
    position = raw.lower().find(term)
    return raw[position : position + len(term)] if position >= 0 else term


def name_key(text: str) -> str:
    """How names are compared: width, case, spaces, punctuation and ヶ/ケ do not matter."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.replace("ヶ", "ケ").replace("ヵ", "カ").replace("が瀬", "ケ瀬")
    return _SEPARATORS.sub("", text)


# How sure a lookup is, best first.
EXACT, CONTAINED, READING, READING_CONTAINED, ABBREVIATED, FUZZY, NONE = 7, 6, 5, 4, 3, 2, 0


class _Column:
    """One key per name, searchable without a Python loop over the names: the keys joined
    into one string for substring search in C, and an index of the letters (or romaji
    pairs) each key holds, to pick the few names worth a fuzzy comparison."""

    def __init__(self, keys: list[str], gram: int) -> None:
        self.keys = keys
        self.gram = gram
        self.blob = "\n".join(keys)
        self.starts: list[int] = []
        position = 0
        for key in keys:
            self.starts.append(position)
            position += len(key) + 1
        self.exact: dict[str, list[int]] = {}
        self.grams: defaultdict[str, list[int]] = defaultdict(list)
        for i, key in enumerate(keys):
            self.exact.setdefault(key, []).append(i)
            if gram:  # 0: whole keys and substrings only
                for piece in dict.fromkeys(self.pieces(key)):
                    self.grams[piece].append(i)

    def pieces(self, key: str) -> list[str]:
        return [key[i : i + self.gram] for i in range(max(1, len(key) - self.gram + 1))]

    def containing(self, part: str) -> list[int]:
        found: dict[int, None] = {}
        start = self.blob.find(part)
        while start >= 0:
            index = bisect_right(self.starts, start) - 1
            found[index] = None
            start = self.blob.find(part, self.starts[index] + len(self.keys[index]) + 1)
        return list(found)

    def likely(self, key: str, limit: int = 300) -> list[int]:
        """Names sharing the rarest pieces of `key` (common ones like 事業 tell nothing)."""
        lists = sorted((self.grams[p] for p in set(self.pieces(key)) if p in self.grams), key=len)
        chosen: dict[int, None] = {}
        for listed in lists[:4]:
            if len(listed) > limit:
                break
            chosen.update(dict.fromkeys(listed))
        return list(chosen)[:limit]

    def holding_all(self, key: str) -> set[int]:
        """Names holding every piece of `key`, when some piece is rare enough to say."""
        lists = sorted((self.grams.get(p, []) for p in set(self.pieces(key))), key=len)
        if not lists or len(lists[0]) > 2000:
            return set()
        held = set(lists[0])
        for listed in lists[1:]:
            held.intersection_update(listed)
        return held


class _Names:
    """A list of names with their keys: letters, kana reading, loose romaji."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = list(names)
        readings = [reading_keys(name) for name in self.names]
        self.keys = _Column([name_key(n) for n in self.names], 1)
        self.kana = _Column([kana for kana, _ in readings], 0)  # whole and substring only
        self.romaji = _Column([romaji for _, romaji in readings], 2)
        self._looked_up: dict[str, tuple[int, list[str]]] = {}

    @classmethod
    def of(cls, names: Iterable[str]) -> _Names:
        return cls(names)

    def _named(self, indices: Iterable[int]) -> list[str]:
        return [self.names[i] for i in sorted(set(indices))]

    def lookup(self, term: str) -> tuple[int, list[str]]:
        """(how sure, the names that fit best); for NONE, the closest names (maybe none).
        Remembered: one question looks the same words up as a project, a division and in
        its parts."""
        if (known := self._looked_up.get(term)) is not None:
            return known
        found = self._lookup(term)
        if len(self._looked_up) > 1000:
            self._looked_up.clear()
        self._looked_up[term] = found
        return found

    def _lookup(self, term: str) -> tuple[int, list[str]]:
        key = name_key(term)
        if not key or not self.names:
            return NONE, []
        if exact := self.keys.exact.get(key):
            return EXACT, self._named(exact)
        if contained := self.keys.containing(key):
            return CONTAINED, self._named(contained)
        kana, romaji = reading_keys(key)
        long_enough = len(romaji) >= 4 and len(kana) >= 2
        if long_enough:
            same = self.kana.exact.get(kana, []) + self.romaji.exact.get(romaji, [])
            if same:
                return READING, self._named(same)
            inside = self.kana.containing(kana) + self.romaji.containing(romaji)
            if inside:
                return READING_CONTAINED, self._named(inside)
        bare = _PARTICLES.sub("", key)
        if _CJK.search(bare) and len(bare) >= 3:
            # Abbreviations keep the characters of the name in order: プロ人材 for
            # プロフェッショナル人材…, テレワークと移住 for テレワークによる…移住・定住….
            in_order = re.compile(".*?".join(map(re.escape, bare)))
            shortened = [
                i for i in self.keys.holding_all(bare) if in_order.search(self.keys.keys[i])
            ]
            if shortened:
                return ABBREVIATED, self._named(shortened)
        return self._fuzzy(key, romaji)

    def _fuzzy(self, key: str, romaji: str) -> tuple[int, list[str]]:
        scores: dict[int, float] = {}
        # A term longer than a name is not a typo of it: partial_ratio would find the name
        # inside the term (観光課 in 三浦半島の観光客消費額).
        if _CJK.search(key) and len(key) >= 2:
            likely = self.keys.likely(key)
            for _, score, i in process.extract(
                key, [self.keys.keys[i] for i in likely], scorer=fuzz.partial_ratio,
                limit=10, score_cutoff=60,
            ):  # fmt: skip
                if len(key) <= len(self.keys.keys[likely[i]]) + 1:
                    scores[likely[i]] = max(scores.get(likely[i], 0.0), score)
        if len(romaji) >= 6:  # shorter romaji is close to too much (kense ~ keisei)
            likely = self.romaji.likely(romaji)
            for _, score, i in process.extract(
                romaji, [self.romaji.keys[i] for i in likely], scorer=fuzz.partial_ratio,
                limit=10, score_cutoff=60,
            ):  # fmt: skip
                if len(romaji) <= len(self.romaji.keys[likely[i]]) + 1:
                    scores[likely[i]] = max(scores.get(likely[i], 0.0), score)
        ranked = sorted(scores.items(), key=lambda item: -item[1])
        if not ranked:
            return NONE, []
        best_index, best = ranked[0]
        second = ranked[1][1] if len(ranked) > 1 else 0.0
        if best >= 80 and best - second >= 8:
            return FUZZY, [self.names[best_index]]
        # Offered as 「もしかして」 only when close: a name that merely shares a few letters
        # with 「今日の天気」 or "weather" helps nobody; the examples of questions do.
        return NONE, [self.names[i] for i, score in ranked[:3] if score >= SUGGEST_SCORE]


@dataclass(frozen=True)
class Match:
    projects: tuple[ProjectResult, ...] = ()  # the one project asked for, all its years
    candidates: tuple[str, ...] = ()  # several names fit: the person must choose
    suggestions: tuple[str, ...] = ()  # nothing fits: the closest names
    sureness: int = NONE


class ProjectIndex:
    """Project, division and KPI names with their readings, prepared once per snapshot, so
    a question costs a scan of short keys."""

    def __init__(self, projects: Sequence[ProjectResult], divisions: Iterable[str] = ()) -> None:
        self.by_name: dict[str, list[ProjectResult]] = {}
        by_division: dict[str, list[ProjectResult]] = {}
        for project in projects:
            self.by_name.setdefault(project.project, []).append(project)
            if project.department:
                by_division.setdefault(project.department, []).append(project)
        for division in divisions:
            by_division.setdefault(division, [])
        self.by_division = by_division
        self.projects = _Names.of(self.by_name)
        self.divisions = _Names.of(by_division)
        self._kpis: dict[str, _Names] = {}  # per project, read when first asked about
        # Every KPI name of each project's latest year, searched by letters (kpi_owners).
        kpi_names = {
            (name_key(r.kpi.name), name)
            for name, listed in self.by_name.items()
            for r in listed[-1].kpis
        }
        self._kpi_owner = [name for _, name in kpi_names]
        self._kpi_names = _Column([key for key, _ in kpi_names], 0)
        self._missing: dict[int | None, tuple[MissingEntry, ...]] = {}
        self.statuses: dict[tuple[Status | None, int | None, str], StatusLists] = {}

    def prepare(self, evaluation: Evaluation, problems: Sequence[RowProblem] = ()) -> None:
        """Read what the status questions and 未入力 ask about, once per snapshot, so that
        no question has to go through every KPI (about 20 ms at 30,000 KPIs)."""
        self.missing(evaluation, None)
        everything = (*problems, *evaluation.problems)
        for status in Status:
            self.statuses[(status, None, "")] = _status_lists(
                status, evaluation.projects, everything, ""
            )

    def missing(self, evaluation: Evaluation, year: int | None) -> tuple[MissingEntry, ...]:
        """What is still to be entered, read once per snapshot and year (30,000 KPIs take
        40 ms: too long for every 未入力 question)."""
        if year not in self._missing:
            self._missing[year] = tuple(missing_entries(evaluation, year))
        return self._missing[year]

    @property
    def names(self) -> list[str]:
        return self.projects.names

    def find(self, term: str) -> Match:
        sureness, names = self.projects.lookup(term)
        if sureness == NONE:
            return Match(suggestions=tuple(names))
        if len(names) == 1:
            return Match(projects=tuple(self.by_name[names[0]]), sureness=sureness)
        return Match(candidates=tuple(names[:10]), sureness=sureness)

    def find_division(self, term: str) -> tuple[int, list[str]]:
        return self.divisions.lookup(term)

    def kpi_owners(self, term: str) -> list[str]:
        """The projects one of whose KPI names contains `term` (letters only: a KPI is
        named by its words, and reading 40,000 KPI names would cost seconds per sync)."""
        key = name_key(term)
        if len(key) < 3:
            return []
        return sorted({self._kpi_owner[i] for i in self._kpi_names.containing(key)})

    def find_kpi(self, project: str, term: str) -> int | None:
        """The KPI number in `project` whose name fits `term` (one only), or None."""
        projects = self.by_name.get(project, [])
        if not projects:
            return None
        named = {r.kpi.name: r.kpi.kpi_no for p in projects for r in p.kpis}
        names = self._kpis.get(project)
        if names is None:
            names = self._kpis[project] = _Names.of(named)
        sureness, found = names.lookup(term)
        if sureness != NONE and len({named[n] for n in found}) == 1:
            return named[found[0]]
        return None


class AnswerKind(Enum):
    PROJECT = "project"
    KPI = "kpi"
    DIVISION = "division"
    STATUS = "status"
    COMPARE = "compare"
    COUNT = "count"
    AMBIGUOUS = "ambiguous"
    NOT_FOUND = "not_found"
    SUMMARY = "summary"
    MISSING = "missing"
    DEADLINES = "deadlines"
    HELP = "help"


@dataclass(frozen=True)
class Answer:
    question: Question
    kind: AnswerKind
    project: ProjectResult | None = None
    other_years: tuple[int, ...] = ()
    names: tuple[str, ...] = ()  # candidates or suggestions
    projects: tuple[ProjectResult, ...] = ()  # a summary, a count, a division, a status
    problems: tuple[RowProblem, ...] = field(default_factory=tuple)  # open on the rows shown
    year_not_found: bool = False  # the year asked for has no data; the latest is shown
    missing: tuple[MissingEntry, ...] = ()
    deadlines: tuple[Deadline, ...] = ()
    today: dt.date | None = None
    kpi: KpiResult | None = None  # the one KPI asked about
    kpis: tuple[tuple[ProjectResult, KpiResult], ...] = ()  # a status about KPIs
    previous: ProjectResult | None = None  # the year before, for a comparison
    division: str = ""
    examples: tuple[str, ...] = ()  # questions that work on this sheet (help)


def answer(
    text: str,
    evaluation: Evaluation,
    index: ProjectIndex | None = None,
    deadlines: Sequence[Deadline] = (),
    today: dt.date | None = None,
    problems: Sequence[RowProblem] = (),
) -> Answer:
    """Answer a question from a rated snapshot. Never raises on any text. `problems` are
    those found before rating (the sheet's own); the rating's are in `evaluation`."""
    question = parse_question(text)
    index = index or ProjectIndex(evaluation.projects)
    all_problems = tuple(problems) + evaluation.problems
    in_year = tuple(
        p for p in evaluation.projects if question.year is None or p.fiscal_year == question.year
    )
    if question.intent is Intent.HELP:
        return Answer(question, AnswerKind.HELP, examples=help_examples(index, question.lang))
    if question.intent is Intent.DEADLINES:
        shown = (
            upcoming(deadlines, today)
            if today is not None
            else sorted(deadlines, key=lambda d: d.due)
        )
        return Answer(question, AnswerKind.DEADLINES, deadlines=tuple(shown), today=today)
    division = _division(index, question) if question.term else ""
    if question.intent is Intent.MISSING:
        entries = index.missing(evaluation, question.year)
        if division:
            entries = tuple(e for e in entries if e.department == division)
        return Answer(question, AnswerKind.MISSING, missing=tuple(entries), division=division)
    if question.intent is Intent.STATUS and question.status is not None:
        scope = tuple(p for p in in_year if not division or p.department == division)
        return _status_answer(question, scope, all_problems, division, index)
    if question.intent in (Intent.SUMMARY, Intent.COUNT):
        if question.term:
            match, _ = _find_project(index, question)
            if match.projects:
                return _project_answer(question, evaluation, index, all_problems)
        kind = AnswerKind.SUMMARY if question.intent is Intent.SUMMARY else AnswerKind.COUNT
        return Answer(question, kind, projects=in_year)
    if division and question.intent is Intent.RATING:
        return _division_answer(question, evaluation, index, division, all_problems)
    return _project_answer(question, evaluation, index, all_problems)


def _division(index: ProjectIndex, question: Question) -> str:
    """The division the question names, when it names one rather than a project."""
    division_sureness, divisions = index.find_division(question.term.replace(" ", ""))
    if division_sureness == NONE and question.division_words and " " in question.term:
        named = {
            found[0]
            for sureness, found in map(index.find_division, question.term.split())
            if sureness != NONE and len(found) == 1
        }
        if len(named) == 1:
            division_sureness, divisions = CONTAINED, list(named)
    if division_sureness == NONE or len(divisions) != 1:
        return ""
    if question.intent is not Intent.RATING or question.division_words:
        return divisions[0]
    project = index.find(question.term)
    return divisions[0] if division_sureness > project.sureness else ""


def _division_answer(
    question: Question,
    evaluation: Evaluation,
    index: ProjectIndex,
    division: str,
    problems: Sequence[RowProblem],
) -> Answer:
    projects = tuple(
        p
        for p in index.by_division.get(division, [])
        if question.year is None or p.fiscal_year == question.year
    )
    rows = {row for p in projects for row in p.rows}
    entries = [e for e in index.missing(evaluation, question.year) if e.department == division]
    return Answer(
        question,
        AnswerKind.DIVISION,
        projects=projects,
        missing=tuple(entries),
        problems=tuple(p for p in problems if p.row in rows),
        division=division,
    )


StatusLists = tuple[
    tuple[ProjectResult, ...], tuple[tuple[ProjectResult, KpiResult], ...], tuple[RowProblem, ...]
]


def _status_answer(
    question: Question,
    projects: Sequence[ProjectResult],
    problems: Sequence[RowProblem],
    division: str,
    index: ProjectIndex,
) -> Answer:
    # Read once per snapshot: 30,000 KPIs take longer than a question may.
    key = (question.status, question.year, division)
    if (lists := index.statuses.get(key)) is None:
        lists = index.statuses[key] = _status_lists(question.status, projects, problems, division)
    chosen, kpis, shown = lists
    return Answer(
        question,
        AnswerKind.STATUS,
        projects=chosen,
        kpis=kpis,
        problems=shown,
        division=division,
    )


def _status_lists(
    status: Status | None,
    projects: Sequence[ProjectResult],
    problems: Sequence[RowProblem],
    division: str,
) -> StatusLists:
    chosen: tuple[ProjectResult, ...] = ()
    kpis: tuple[tuple[ProjectResult, KpiResult], ...] = ()
    shown: tuple[RowProblem, ...] = ()
    if status is Status.PENDING:
        chosen = tuple(p for p in projects if p.rating.pending)
    elif status is Status.NOT_EFFECTIVE:
        chosen = tuple(
            p for p in projects if p.rating.level is not None and p.rating.level.value == 4
        )
    elif status is Status.UNMET:
        kpis = tuple((p, r) for p in projects for r in p.kpis if r.achieved is False)
    elif status is Status.COUNTING:
        kpis = tuple(
            (p, r) for p in projects for r in p.kpis if r.achievement.status is RateStatus.PENDING
        )
    elif division:
        rows = {row for p in projects for row in p.rows}
        shown = tuple(p for p in problems if p.row in rows)
    else:
        shown = tuple(problems)
    return chosen, kpis, shown


def _project_answer(
    question: Question, evaluation: Evaluation, index: ProjectIndex, problems: Sequence[RowProblem]
) -> Answer:
    match, kpi_no = _find_project(index, question)
    if match.candidates:
        return Answer(question, AnswerKind.AMBIGUOUS, names=match.candidates)
    if not match.projects:
        examples = () if match.suggestions else help_examples(index, question.lang)
        return Answer(question, AnswerKind.NOT_FOUND, names=match.suggestions, examples=examples)
    years = sorted({p.fiscal_year for p in match.projects})
    wanted = question.year if question.year in years else years[-1]
    project = next(p for p in match.projects if p.fiscal_year == wanted)
    rows = set(project.rows)
    kind = AnswerKind.PROJECT
    kpi = None
    previous = None
    if question.intent is Intent.COMPARE:
        kind = AnswerKind.COMPARE
        previous = next((p for p in match.projects if p.fiscal_year == wanted - 1), None)
    elif kpi_no is not None:
        kpi = next((r for r in project.kpis if r.kpi.kpi_no == kpi_no), None)
        if kpi is not None:
            kind = AnswerKind.KPI
            rows = {kpi.kpi.row}
    return Answer(
        question,
        kind,
        project=project,
        other_years=tuple(y for y in years if y != wanted),
        problems=tuple(p for p in problems if p.row in rows),
        year_not_found=question.year is not None and question.year != wanted,
        kpi=kpi,
        previous=previous,
    )


def _find_project(index: ProjectIndex, question: Question) -> tuple[Match, int | None]:
    """The project a term names, and the KPI number when it also names one of its KPIs
    (三浦半島のイベント参加者数, 三浦半島のKPI④)."""
    term = question.term
    whole = index.find(term.replace(" ", ""))
    if whole.sureness >= READING_CONTAINED and (whole.projects or whole.candidates):
        return whole, question.kpi_no
    # A project and one of its KPIs: split where の or a space separates them.
    for left, right in _splits(term):
        match = index.find(left)
        if len(match.projects) == 1 or (match.projects and match.sureness >= READING_CONTAINED):
            number = index.find_kpi(match.projects[0].project, right)
            if number is not None:
                return match, number
    if whole.projects or whole.candidates:
        return whole, question.kpi_no
    # Several words, one of which names a project (how did miura peninsula do).
    found: dict[str, Match] = {}
    for part in term.split():
        match = index.find(part)
        if match.projects:
            found[match.projects[0].project] = match
    if len(found) == 1:
        return next(iter(found.values())), question.kpi_no
    # No project by that name: a KPI of one project (サイクルツーリズム).
    owners = index.kpi_owners(term.replace(" ", ""))
    if len(owners) == 1:
        return Match(projects=tuple(index.by_name[owners[0]]), sureness=CONTAINED), None
    return whole, question.kpi_no


def _splits(term: str) -> list[tuple[str, str]]:
    pairs = []
    for i, ch in enumerate(term):
        if ch in "の " and 0 < i < len(term) - 1:
            pairs.append((term[:i].strip(), term[i + 1 :].strip()))
    parts = term.split()
    if len(parts) == 2:
        pairs.append((parts[1], parts[0]))  # イベント参加者数 三浦半島
    return pairs


def help_examples(index: ProjectIndex, lang: Lang) -> tuple[str, ...]:
    """Questions taken from the sheet's own names, each checked to find what it shows."""
    examples: list[str] = []
    for name in index.names:
        short = _short_name(index, name)
        if short:
            examples.append(f"{short}の評価は？" if lang is Lang.JA else f"rating for {short}")
            projects = index.by_name[name]
            year = projects[-1].fiscal_year
            examples.append(f"{short} {year}" if lang is Lang.JA else f"{short} FY{year}")
            break
    divisions = [d for d in index.by_division if index.by_division[d]]
    if divisions:
        examples.append(
            f"{divisions[0]}の事業" if lang is Lang.JA else f"projects of {divisions[0]}"
        )
    return tuple(examples)


def _short_name(index: ProjectIndex, name: str) -> str:
    """The shortest beginning of `name` that finds that project alone (三浦半島 for
    三浦半島魅力深化プロジェクト推進事業), or the whole name."""
    short = ""
    for word in words(name):
        short += word
        if len(short.strip("「」『』\"' ")) < 3:
            continue
        match = index.find(short)
        if match.projects and match.projects[0].project == name:
            return short
    return name if len(name) <= 40 else ""
