"""The person's judgement of a project (事業効果, 判断理由, 今後の方針, 方針の理由,
外部有識者の意見), read in the wordings and numberings the published reports use, and
checked against kpibot's own rating, which is then only a suggestion.

The law leaves the rating to people (山口県: a suggested level, then the division's
judgement; 群馬県: 自己評価, then the external experts, then 今後の方針). kpibot reads what
they decided, says where it differs from its suggestion without a reason, and never
overwrites it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from rules.models import (
    Field,
    Judgement,
    KpiRow,
    Level,
    NextStep,
    ProjectResult,
    RowProblem,
    Severity,
)
from rules.values import Problem, format_fiscal_year, normalise_text

# The national numbering of 事業効果: ①非常に効果的 … ④効果がなかった. NFKC has turned ①
# into 1 already; 本事業は and 地方創生に(対して) are the published sentence around it.
_LEVEL_NUMBERS = {"1": Level.VERY_EFFECTIVE, "2": Level.CONSIDERABLY_EFFECTIVE,
                  "3": Level.EFFECTIVE, "4": Level.NOT_EFFECTIVE}  # fmt: skip
_LEADING_NUMBER = re.compile(r"^[(（]?([1-9])[)）.．、:：\s]*")
_NOISE = re.compile(r"[\s　・。．.、,]")
_ENGLISH_LEVELS = (
    ("notveryeffective", None),
    ("noteffective", Level.NOT_EFFECTIVE),
    ("ineffective", Level.NOT_EFFECTIVE),
    ("veryeffective", Level.VERY_EFFECTIVE),
    ("considerablyeffective", Level.CONSIDERABLY_EFFECTIVE),
    ("fairlyeffective", Level.CONSIDERABLY_EFFECTIVE),
    ("effective", Level.EFFECTIVE),
)


def _level_of_words(text: str) -> Level | None:
    if "非常に効果" in text:
        return Level.VERY_EFFECTIVE
    if "相当程度" in text:
        return Level.CONSIDERABLY_EFFECTIVE
    if re.search("効果(が|は)?(なかった|無かった|なし|無し|ない|無い)", text):
        return Level.NOT_EFFECTIVE
    if re.search("効果(が)?(あった|有|あり)|効果的(であった|だった)", text):
        return Level.EFFECTIVE
    lower = text.lower()
    for words, level in _ENGLISH_LEVELS:
        if words in lower:
            return level
    return None


def parse_level(cell: str) -> Level | Problem | None:
    """事業効果 as typed → the level. `③地方創生に効果があった`, `非常に効果的だった`,
    `本事業は地方創生に相当程度効果があった`, `3`, `very effective`. Blank → None.
    A number that contradicts the words (`①地方創生に効果があった`) is a problem: which
    one the person meant cannot be guessed."""
    text = _NOISE.sub("", normalise_text(cell))
    if not text:
        return None
    number = _LEADING_NUMBER.match(text)
    numbered = _LEVEL_NUMBERS.get(number.group(1)) if number else None
    words = text[number.end() :] if number else text
    level = _level_of_words(words)
    if level is None and numbered is not None and not words:
        return numbered
    if level is None:
        return Problem(
            f"事業効果「{cell}」は4段階評価のどれか読み取れません。"
            "「非常に効果的であった」「相当程度効果があった」「効果があった」「効果がなかった」"
            "のいずれか（番号①〜④でも可）を入力してください。",
            "warning",
        )
    if numbered is not None and numbered is not level:
        return Problem(
            f"事業効果「{cell}」の番号と文言が一致しません"
            f"（番号なら「{numbered.short}」、文言なら「{level.short}」）。どちらかに直してください。",
            "warning",
        )
    return level


# Order matters: 「改善し事業継続」 is a revision, 「事業中止・廃止」 a stop, 「当初予定通り事業を
# 終了する」 an end, 「計画通りに事業を継続する」 a continuation.
_NEXT_STEP_WORDS = (
    (NextStep.STOP, ("中止", "廃止", "休止", "stop", "abolish", "discontinu", "cancel")),
    (NextStep.END, ("終了", "完了", "end", "complet", "finish")),
    (NextStep.REVISE, ("見直", "改善", "縮小", "再構築", "revis", "improv", "review")),
    (NextStep.DEVELOP, ("発展", "拡大", "拡充", "強化", "develop", "expand")),
    (NextStep.CONTINUE, ("継続", "現状維持", "現状通り", "continu", "keep")),
)


def parse_next_step(cell: str) -> NextStep | Problem | None:
    """今後の方針 as typed → the step. `①発展`, `追加等更に発展させる`, `②見直し`,
    `事業内容の見直し（改善）`, `③継続`, `事業の継続`, `④中止`, `事業中止・廃止`, `⑤終了`,
    `事業・期間の終了`, `当初予定通り事業を終了する(した)`, `計画通りに事業を継続する`.
    The words decide, never the number: publishers number the steps differently
    (群馬県 prints ②継続 and ⑤終了; the national form ③継続)."""
    text = _NOISE.sub("", normalise_text(cell)).lower()
    if not text:
        return None
    for step, words in _NEXT_STEP_WORDS:
        if any(word in text for word in words):
            return step
    return Problem(
        f"今後の方針「{cell}」を読み取れません。"
        "「発展」「見直し」「継続」「中止」「終了」のいずれかを含めて入力してください。",
        "warning",
    )


_TEXT_FIELDS = (
    (Field.GOAL, "goal"),
    (Field.JUDGED_RATING, "judged_rating"),
    (Field.JUDGEMENT_REASON, "judgement_reason"),
    (Field.NEXT_STEP, "next_step"),
    (Field.NEXT_STEP_REASON, "next_step_reason"),
    (Field.EXPERT_OPINION, "expert_opinion"),
)


def _same(a: str, b: str) -> bool:
    return _NOISE.sub("", normalise_text(a)) == _NOISE.sub("", normalise_text(b))


def project_judgement(
    kpis: Sequence[KpiRow], problems: list[RowProblem]
) -> tuple[str, Judgement | None]:
    """The project's 基本目標 and judgement, from the first row that has each column filled
    (the source tables merge these cells over the project's KPI rows). A later row with a
    different text in the same column is flagged once: which one counts is unclear."""
    for kpi in kpis:  # a loop, not any() of a generator: run for every project
        if (
            kpi.goal or kpi.judged_rating or kpi.judgement_reason or kpi.next_step
            or kpi.next_step_reason or kpi.expert_opinion
        ):  # fmt: skip
            break
    else:
        return "", None  # most sheets: none of these columns, or all blank
    first: dict[str, tuple[int, str]] = {}
    for kpi in kpis:
        for column, attribute in _TEXT_FIELDS:
            text: str = getattr(kpi, attribute)
            if not text:
                continue
            if attribute not in first:
                first[attribute] = (kpi.row, text)
            elif not _same(first[attribute][1], text) and first[attribute][0] > 0:
                problems.append(
                    RowProblem(
                        kpi.row,
                        column.label,
                        f"同じ事業の{first[attribute][0]}行目と{column.label}が違います"
                        f"（「{first[attribute][1]}」と「{text}」）。"
                        f"{first[attribute][0]}行目の値を使います。事業ごとに1つにしてください。",
                        Severity.WARNING,
                    )
                )
                first[attribute] = (-first[attribute][0], first[attribute][1])  # flag once

    def text_of(attribute: str) -> str:
        return first[attribute][1] if attribute in first else ""

    def row_of(attribute: str) -> int:
        return abs(first[attribute][0]) if attribute in first else 0

    goal = text_of("goal")
    if not any(attribute in first for _, attribute in _TEXT_FIELDS[1:]):
        return goal, None
    level: Level | None = None
    rating_text = text_of("judged_rating")
    if rating_text:
        parsed = parse_level(rating_text)
        if isinstance(parsed, Problem):
            problems.append(
                RowProblem(
                    row_of("judged_rating"),
                    Field.JUDGED_RATING.label,
                    parsed.message,
                    Severity.WARNING,
                )
            )
        else:
            level = parsed
    step: NextStep | None = None
    step_text = text_of("next_step")
    if step_text:
        parsed_step = parse_next_step(step_text)
        if isinstance(parsed_step, Problem):
            problems.append(
                RowProblem(
                    row_of("next_step"),
                    Field.NEXT_STEP.label,
                    parsed_step.message,
                    Severity.WARNING,
                )
            )
        else:
            step = parsed_step
    row = row_of("judged_rating") or min(
        row_of(attribute) for _, attribute in _TEXT_FIELDS[1:] if attribute in first
    )
    return goal, Judgement(
        rating_text=rating_text,
        level=level,
        reason=text_of("judgement_reason"),
        next_step_text=step_text,
        next_step=step,
        next_step_reason=text_of("next_step_reason"),
        expert_opinion=text_of("expert_opinion"),
        row=row,
        next_step_row=row_of("next_step"),
    )


def check_judgements(
    projects: Sequence[ProjectResult],
    deadlines: Sequence[tuple[str, int | None, dt.date]] = (),
    today: dt.date | None = None,
) -> list[RowProblem]:
    """Where the person's judgement needs a second look, each said once per project:

    - 事業効果 differs from kpibot's suggestion and 判断理由 is empty (a pending rating or a
      rule set without levels suggests nothing);
    - 今後の方針 中止/終了 on a project still within its period: the sheet has rows of the
      project for a later fiscal year (the 地域再生計画 gives a target per year, so those
      rows are its period);
    - a 事業効果 without a 今後の方針 after the project's deadline: the latest 期限 about
      実績値 of its fiscal year (or of every year), once `today` is past it. Only where the
      sheet uses 今後の方針 (some project has one): a sheet without the column asks nothing.
    `deadlines` are (name, fiscal year or None for every year, due date) of the 期限 tab.
    """
    problems: list[RowProblem] = []
    last_year: dict[str, int] = {}
    for project in projects:
        last_year[project.project] = max(project.fiscal_year, last_year.get(project.project, 0))
    uses_next_step = any(p.judgement is not None and p.judgement.next_step_text for p in projects)
    for project in projects:
        judgement = project.judgement
        if judgement is None:
            continue
        suggestion = project.rating
        if (
            judgement.level is not None
            and suggestion.level is not None
            and not suggestion.pending
            and judgement.level is not suggestion.level
            and not judgement.reason.strip()
        ):
            problems.append(
                RowProblem(
                    judgement.row,
                    Field.JUDGED_RATING.label,
                    f"事業効果「{judgement.rating_text}」は kpibot の目安「{suggestion.level.short}」"
                    f"（{suggestion.explanation}）と違います。判断理由を入力してください。",
                    Severity.WARNING,
                )
            )
        later = last_year[project.project]
        if judgement.next_step in (NextStep.STOP, NextStep.END) and later > project.fiscal_year:
            step = judgement.next_step.value
            problems.append(
                RowProblem(
                    judgement.next_step_row,
                    Field.NEXT_STEP.label,
                    f"今後の方針は「{judgement.next_step_text}」（{step}）ですが、この事業には"
                    f"{format_fiscal_year(later)}までの行があり、計画期間中です。期間中に{step}"
                    "するなら方針の理由を書き、以降の年度の行を見直してください。",
                    Severity.WARNING,
                )
            )
        if not uses_next_step or today is None or judgement.next_step_text:
            continue
        if judgement.level is None:
            continue
        due = [
            (date, name) for name, year, date in deadlines if year in (None, project.fiscal_year)
        ]
        if due and today > max(due)[0]:
            date, name = max(due)
            problems.append(
                RowProblem(
                    judgement.row,
                    Field.NEXT_STEP.label,
                    f"期限「{name}」（{date:%Y/%m/%d}）を過ぎましたが、事業効果があって今後の方針が"
                    "未入力です。発展・見直し・継続・中止・終了のいずれかを入力してください。",
                    Severity.WARNING,
                )
            )
    return problems
