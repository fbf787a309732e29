"""Questions people ask ("三浦半島の評価は？", "rating for SDGs") and the answers, as data.

`answer()` is the one service function behind `kpibot ask` and the Slack bot; the words
are rendered by `bot.render`.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

from rapidfuzz import fuzz, process

from rules.deadlines import Deadline, MissingEntry, missing_entries, upcoming
from rules.models import Evaluation, ProjectResult, RowProblem
from rules.values import parse_fiscal_year


class Intent(Enum):
    RATING = "rating"
    SUMMARY = "summary"
    MISSING = "missing"
    DEADLINES = "deadlines"
    HELP = "help"


class Lang(Enum):
    JA = "ja"
    EN = "en"


@dataclass(frozen=True)
class Question:
    text: str
    intent: Intent
    term: str  # the project as asked for, "" when none
    year: int | None
    lang: Lang


_KANA = re.compile(r"[\u3040-\u30ff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
_YEAR = re.compile(
    r"(令和\s*(?:元|\d{1,2})\s*年度?|平成\s*(?:元|\d{1,2})\s*年度?|\bFY\s*\d{4}\b|"
    r"\b[RH]\s?\d{1,2}\b|\b(?:19|20)\d{2}\s*(?:年度|年)?)",
    re.IGNORECASE,
)
_SUMMARY_WORDS = ("一覧", "全体", "まとめ", "サマリ", "summary", "overview", "all projects", "list")
_HELP_WORDS = ("help", "ヘルプ", "使い方", "つかいかた", "何ができ", "how to use")
_MISSING_WORDS = ("未入力", "入力漏れ", "まだ入力", "missing", "not entered", "who still")
_DEADLINE_WORDS = ("期限", "締切", "締め切り", "〆切", "deadline", "due date")
# Words around the project name that are not part of it. Only stripped at the ends, so
# a name that itself contains 評価 or は is left whole.
_JA_TAIL = re.compile(
    r"(?:の|は|を|って)?(?:評価|達成率|状況|結果|様子|KPI)?(?:は|を|が)?"
    r"(?:どう(?:なって(?:い)?る|です|でした)?か?|どうなった|教えて(?:ください|下さい)?|"
    r"について|知りたい|見せて|ですか|でした)?$",
    re.IGNORECASE,
)
_EN_HEAD = re.compile(
    r"^(?:what(?:'s| is| are| was)?|how(?:'s| is| are| was)?|show(?: me)?|tell me(?: about)?|"
    r"give me|the|ratings?|rates?|status|results?|of|for|about|on|project|kpis?|please)\b\s*",
    re.IGNORECASE,
)
_EN_TAIL = re.compile(
    r"\s*\b(?:doing|rated|rating|status|please|now|going|project)$", re.IGNORECASE
)
_QUOTED = re.compile(r"「([^」]+)」")
_PUNCTUATION = re.compile(r"[\s?？!！。、,.「」『』\"'“”()（）:：・/]+")
_EDGES = "?？!！。、,. 　「」『』\"'“”()（）:：・/"


def _project_term(text: str) -> str:
    """The project name in a question: quoted 「…」 as typed, else the text without the
    question words around it."""
    quoted = _QUOTED.search(text)
    if quoted:
        return quoted.group(1).strip()
    term = text.strip(_EDGES)
    while True:
        before = term
        term = _EN_HEAD.sub("", term).strip(_EDGES)
        term = _EN_TAIL.sub("", term).strip(_EDGES)
        tail = _JA_TAIL.search(term)
        if tail and tail.group(0):
            term = term[: tail.start()].strip(_EDGES)
        if term == before:
            return term


def parse_question(text: str) -> Question:
    raw = unicodedata.normalize("NFKC", text).strip()
    lowered = raw.lower()
    year = None
    year_match = _YEAR.search(raw)
    if year_match:
        parsed = parse_fiscal_year(year_match.group(0).replace(" ", ""))
        if isinstance(parsed, int):
            year = parsed
            raw = raw[: year_match.start()] + " " + raw[year_match.end() :]
    if any(word in lowered for word in _HELP_WORDS) or not lowered.strip("?？ "):
        intent = Intent.HELP
        term = ""
    elif any(word in lowered for word in _MISSING_WORDS):
        intent, term = Intent.MISSING, ""
    elif any(word in lowered for word in _DEADLINE_WORDS):
        intent, term = Intent.DEADLINES, ""
    elif any(word in lowered for word in _SUMMARY_WORDS):
        intent, term = Intent.SUMMARY, ""
    else:
        intent = Intent.RATING
        term = _project_term(raw)
        if not term:  # 「評価」 alone names no project: say what can be asked
            intent = Intent.HELP
    rest = raw.replace(term, " ") if term else raw
    english = not _KANA.search(raw) and bool(_LATIN_WORD.search(rest))
    return Question(text, intent, term, year, Lang.EN if english else Lang.JA)


def name_key(text: str) -> str:
    """How names are compared: width, case, spaces, punctuation and ヶ/ケ do not matter."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.replace("ヶ", "ケ").replace("ヵ", "カ").replace("が瀬", "ケ瀬")
    return _PUNCTUATION.sub("", text)


@dataclass(frozen=True)
class Match:
    projects: tuple[ProjectResult, ...] = ()  # the one project asked for, all its years
    candidates: tuple[str, ...] = ()  # several names fit: the person must choose
    suggestions: tuple[str, ...] = ()  # nothing fits: the closest names


class ProjectIndex:
    """Project names prepared once per snapshot, so a question costs a scan of short keys."""

    def __init__(self, projects: Sequence[ProjectResult]) -> None:
        self.by_name: dict[str, list[ProjectResult]] = {}
        for project in projects:
            self.by_name.setdefault(project.project, []).append(project)
        self.names = list(self.by_name)
        self.keys = [name_key(name) for name in self.names]

    def find(self, term: str) -> Match:
        key = name_key(term)
        if not key:
            return Match()
        exact = [name for name, k in zip(self.names, self.keys, strict=True) if k == key]
        contained = exact or [
            name for name, k in zip(self.names, self.keys, strict=True) if key in k
        ]
        if len(contained) == 1:
            return Match(projects=tuple(self.by_name[contained[0]]))
        if contained:
            return Match(candidates=tuple(contained[:10]))
        scored = process.extract(key, self.keys, scorer=fuzz.partial_ratio, limit=5)
        close = [(self.names[index], score) for _, score, index in scored if score >= 60]
        if close and close[0][1] >= 85 and (len(close) == 1 or close[0][1] - close[1][1] >= 10):
            return Match(projects=tuple(self.by_name[close[0][0]]))
        return Match(suggestions=tuple(name for name, _ in close[:3]))


class AnswerKind(Enum):
    PROJECT = "project"
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
    projects: tuple[ProjectResult, ...] = ()  # for a summary
    problems: tuple[RowProblem, ...] = field(default_factory=tuple)  # open on the project's rows
    year_not_found: bool = False  # the year asked for has no data; the latest is shown
    missing: tuple[MissingEntry, ...] = ()
    deadlines: tuple[Deadline, ...] = ()
    today: dt.date | None = None


def answer(
    text: str,
    evaluation: Evaluation,
    index: ProjectIndex | None = None,
    deadlines: Sequence[Deadline] = (),
    today: dt.date | None = None,
) -> Answer:
    """Answer a question from a rated snapshot. Never raises on any text."""
    question = parse_question(text)
    if question.intent is Intent.HELP:
        return Answer(question, AnswerKind.HELP)
    if question.intent is Intent.MISSING:
        entries = missing_entries(evaluation, question.year)
        return Answer(question, AnswerKind.MISSING, missing=tuple(entries))
    if question.intent is Intent.DEADLINES:
        shown = (
            upcoming(deadlines, today)
            if today is not None
            else sorted(deadlines, key=lambda d: d.due)
        )
        return Answer(question, AnswerKind.DEADLINES, deadlines=tuple(shown), today=today)
    if question.intent is Intent.SUMMARY:
        projects = tuple(
            p
            for p in evaluation.projects
            if question.year is None or p.fiscal_year == question.year
        )
        return Answer(question, AnswerKind.SUMMARY, projects=projects)
    match = (index or ProjectIndex(evaluation.projects)).find(question.term)
    if match.candidates:
        return Answer(question, AnswerKind.AMBIGUOUS, names=match.candidates)
    if not match.projects:
        return Answer(question, AnswerKind.NOT_FOUND, names=match.suggestions)
    years = sorted({p.fiscal_year for p in match.projects})
    wanted = question.year if question.year in years else years[-1]
    project = next(p for p in match.projects if p.fiscal_year == wanted)
    rows = set(project.rows)
    problems = tuple(p for p in evaluation.problems if p.row in rows)
    return Answer(
        question,
        AnswerKind.PROJECT,
        project=project,
        other_years=tuple(y for y in years if y != wanted),
        problems=problems,
        year_not_found=question.year is not None and question.year != wanted,
    )
