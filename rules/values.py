"""Cell values as people type them, turned into typed values or a plain-Japanese problem.

Nothing here raises on bad input: every parser returns either a value or a `Problem`.
Inputs are the cell contents as a person sees them (strings, or numbers a spreadsheet
already parsed).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation
from enum import Enum
from functools import lru_cache

import msgspec

Cell = str | int | float | Decimal | None


@dataclass(frozen=True, slots=True)
class Problem:
    """What is wrong with one cell, in words a person at the city hall can act on."""

    message: str
    severity: str = "error"  # "error": the value cannot be used; "warning": used, but check it


class Kind(Enum):
    NUMBER = "number"
    PENDING = "pending"  # 集計中: not available yet
    NOT_APPLICABLE = "not_applicable"  # —, -, （事業開始前）
    EMPTY = "empty"
    INVALID = "invalid"  # could not be read: kept only to show what was typed


class Value(msgspec.Struct, frozen=True, gc=False):
    """A cell read as a KPI value.

    Like the per-row records of rules.models, a msgspec Struct rather than a frozen
    dataclass or NamedTuple: as immutable and as typed, but built in C, four times as fast
    as a NamedTuple and smaller, which is what lets 50,000 rows be rated in under a second.
    gc=False: it holds plain values, never a cycle, so the cyclic GC need not track it."""

    kind: Kind
    number: Decimal | None = None
    unit: str = ""
    note: str = ""  # the parenthetical note, e.g. 令和元年 or 速報値
    preliminary: bool = False  # 速報値
    text: str = ""  # the cell as typed, for messages
    scaled: bool = False  # a bare number given the unit of the 単位 column
    comparator: str = ""  # 以上 / 以下 / 程度 / 目指す / 維持, as typed with a target

    @property
    def is_number(self) -> bool:
        return self.kind is Kind.NUMBER


EMPTY = Value(Kind.EMPTY)
_KIND_NUMBER = Kind.NUMBER  # bound once, for parse_text (why: rules.models, at _OK)

# The bounded domain of a KPI value. No KPI plausibly has more than 15 significant digits
# (what a double and every spreadsheet keep) or reaches 10^18 (a quintillion yen) once its
# units are applied; such a cell is a typo or an attack, and Decimal arithmetic on it
# raises (InvalidOperation, Overflow) or int() refuses it (over 4,300 digits).
MAX_DIGITS = 15
MAX_MAGNITUDE = 18  # |number| < 10**18
MIN_EXPONENT = -15  # no digit below 10**-15
MAX_TEXT = 200  # characters in a value cell; anything longer is not a number
# A context that cannot raise: the rules' arithmetic on bounded values stays far inside it,
# and should anything slip through, the result is NaN or Infinity, which callers check,
# never an exception that stops the whole run.
SAFE = Context(prec=28, Emax=999_999, Emin=-999_999, traps=[])


def out_of_bounds(number: Decimal, raw: str) -> Problem | None:
    """Why `number` (typed as `raw`) is outside the bounded domain, or None."""
    if not number.is_finite():
        return Problem("数値として読めない値です（NaN/無限大）。")
    if not number:
        return None
    shown = raw if len(raw) <= 30 else raw[:30] + "…"
    if number.adjusted() >= MAX_MAGNITUDE:
        return Problem(
            f"「{shown}」は大きすぎます（絶対値10の18乗未満まで）。単位と桁を確認してください。"
        )
    _, digits, exponent = number.normalize(SAFE).as_tuple()
    assert isinstance(exponent, int)  # finite
    if len(digits) > MAX_DIGITS or exponent < MIN_EXPONENT:
        return Problem(
            f"「{shown}」は桁数が多すぎます（有効数字{MAX_DIGITS}桁、小数点以下15桁まで）。"
        )
    return None


def _bounded(value: Value) -> Value | Problem:
    assert value.number is not None
    return out_of_bounds(value.number, value.text) or value


_PENDING = re.compile("集計中|未集計|調査中|確定前|未確定|算定中")
# After NFKC, the full-width minus (－) has become "-" already.
_NOT_APPLICABLE = frozenset(
    {"-", "—", "―", "‐", "–", "ー", "−", "該当なし", "なし", "n/a", "N/A", "NA", "*", "＊"}
)
_MINUS_SIGNS = "△▲-−"
_MULTIPLIERS = {"十": 10, "百": 100, "千": 1_000, "万": 10_000, "億": 10**8, "兆": 10**12}
_MULTIPLIER_EXPONENTS = {char: len(str(factor)) - 1 for char, factor in _MULTIPLIERS.items()}
_MULTIPLIER_UNIT = re.compile(r"([十百千万億兆]+)(.*)", re.DOTALL)
_ONE = Decimal(1)
# A number: digits with optional thousands separators (a stray space after the comma is
# what text copied from a PDF looks like), an optional decimal part.
_NUMBER = re.compile(r"(\d{1,3}(?:,\s?\d{3})+|\d+)(\.\d+)?|\.\d+")
# Sign, number, multiplier, unit and nothing else: most cells. Anything more goes the slow
# way.
_SIMPLE = re.compile(
    r"(?:([△▲\-−])|\+)?\s*(\d{1,3}(?:,\s?\d{3})+|\d+)(\.\d+)?\s*([十百千万億兆]*)([^\d\s()（）.,:/=]*)"
)
_PAREN_NOTE = re.compile(r"[(（]([^()（）]*)[)）]\s*$")
_MULTIPLE_VALUES = (
    "「{raw}」には複数の値が入っているようです。1つのセルには1つの値だけを入力してください。"
)
_DIGIT = re.compile(r"\d")
# 1.23457E+11: how Excel saves a long number in the 標準 format to a CSV (digits are lost)
_EXPONENT = re.compile(r"[eE][+-]?\d+$")
_SPACES = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """Full-width letters and digits to half-width, the way people mean them."""
    return unicodedata.normalize("NFKC", text).strip()


def parse_value(cell: Cell) -> Value | Problem:
    """Parse a target, actual or baseline cell. Never raises."""
    if type(cell) is str:
        return parse_text(cell)
    if cell is None:
        return EMPTY
    if isinstance(cell, bool):  # bool is an int subclass; a checkbox is not a KPI value
        return Problem(f"「{cell}」は数値ではありません。")
    if isinstance(cell, int | Decimal):
        if isinstance(cell, Decimal) and not cell.is_finite():
            return Problem("数値として読めない値です（NaN/無限大）。")
        # str() of a huge int refuses over 4,300 digits: bound it before it is shown
        if isinstance(cell, int) and not -(10**MAX_MAGNITUDE) < cell < 10**MAX_MAGNITUDE:
            return Problem(
                "数値が大きすぎます（絶対値10の18乗未満まで）。単位と桁を確認してください。"
            )
        return _bounded(Value(Kind.NUMBER, Decimal(cell), text=str(cell)))
    if isinstance(cell, float):
        if cell != cell or cell in (float("inf"), float("-inf")):
            return Problem("数値として読めない値です（NaN/無限大）。")
        # 15 significant digits, as a spreadsheet shows it: 73.3, not 73.299999…, and 0.3
        # for a formula's 0.30000000000000004
        return _bounded(Value(Kind.NUMBER, Decimal(f"{cell:.15g}"), text=repr(cell)))
    if not isinstance(cell, str):
        return Problem(f"「{cell}」は数値として読めません。")
    return parse_text(cell)


def parse_text(raw: str) -> Value | Problem:
    """parse_value for a text cell (the usual case). Not cached: KPI values are mostly
    distinct, so a cache costs more in misses and memory than its hits give back."""
    if len(raw) > MAX_TEXT:  # a pasted paragraph or a 4,300-digit number: not a KPI value
        return Problem(f"「{raw[:20]}…」は長すぎて数値として読めません（{MAX_TEXT}文字まで）。")
    text = normalise_text(raw)
    if not text:
        return EMPTY
    simple = _SIMPLE.fullmatch(text)  # the common shape, 1,234人, without the slow path
    if simple is None:
        return read_text(text, raw)
    minus, digits, fraction, multiplier, unit = simple.groups("")
    # (a unit of three letters or more may be 集計中: that is for the slow path)
    if len(unit) < 3 or not _PENDING.search(unit):
        if "," in digits:
            digits = digits.replace(",", "").replace(" ", "")
        number = Decimal(digits + fraction)
        if minus:
            number = -number
        if multiplier:  # 14万人 = 140,000人; 30,001百万円 = 30,001,000,000円
            number = SAFE.multiply(number, unit_scale(multiplier)[0])
        # 100人以上: the unit is 人. Its last character first: most units end in none.
        if unit[-1:] in _COMPARATOR_LAST and unit.endswith(_COMPARATOR_ENDINGS):
            unit, comparator = split_comparator(unit)
            return _bounded(Value(_KIND_NUMBER, number, unit, "", False, raw, False, comparator))
        value = Value(_KIND_NUMBER, number, unit, "", False, raw)
        if len(digits) + len(fraction) <= MAX_DIGITS and (
            not multiplier or number.adjusted() < MAX_MAGNITUDE
        ):
            # At most 15 digits (the fraction counts its point): within every bound
            # out_of_bounds checks but the magnitude, which only a multiplier can push out
            # (a power of ten adds no digit and no decimal), so it is not asked (most cells).
            return value
        return _bounded(value)
    return read_text(text, raw)


def read_text(text: str, raw: str) -> Value | Problem:
    """Every shape a value can be typed in (`text` is `raw` normalised and stripped). It reads
    the common shapes the same as `parse_text`'s fast path does, only slower."""
    if text.startswith("="):  # a formula whose result the file does not carry
        return Problem(
            f"数式「{raw}」の計算結果がファイルに保存されていません。"
            "表計算ソフトで開いて保存し直してください。"
        )
    if _PENDING.search(text):
        return Value(Kind.PENDING, text=raw)
    if text in _NOT_APPLICABLE:
        return Value(Kind.NOT_APPLICABLE, text=raw)
    if text in _KEEP:  # 維持: the target is the baseline (rules.validate puts it in)
        return Value(Kind.NOT_APPLICABLE, text=raw, comparator=KEEP)
    if _DATE_VALUE.fullmatch(text):
        return Problem(
            f"「{raw}」は日付です。この列には数値と単位（例: 1,234人）を入力してください"
            "（日付は備考などほかの列に）。"
        )

    note = ""
    match = _PAREN_NOTE.search(text)
    if match:
        note = match.group(1).strip()
        text = text[: match.start()].strip()
        if not text:  # （事業開始前）: a note and no number means there is no value
            return Value(Kind.NOT_APPLICABLE, note=note, text=raw)

    about = ""
    if text.startswith(_ABOUT_PREFIXES):  # 約100人 = 100人程度
        about = ABOUT
        text = text.removeprefix("約").removeprefix("概ね").removeprefix("おおむね").lstrip()
        if not text:
            return Problem(f"「{raw}」に数値がありません。")
    sign = 1
    if text[0] in _MINUS_SIGNS:
        sign = -1
        text = text[1:].lstrip()
    elif text[0] == "+":
        text = text[1:].lstrip()
    if not text:
        return Problem(f"「{raw}」に数値がありません。")

    number_match = _NUMBER.match(text)
    if number_match is None:
        if len(_NUMBER.findall(text)) > 1:
            return Problem(_MULTIPLE_VALUES.format(raw=raw))
        if _DIGIT.search(text):
            return Problem(
                f"「{raw}」は数値で始まっていません。数値と単位だけを入力してください"
                "（例: 1,234人）。"
            )
        return Problem(
            f"「{raw}」は数値として読めません。数値、「集計中」、または「—」を入力してください。"
        )
    digits = number_match.group(0).replace(",", "").replace(" ", "")
    rest = text[number_match.end() :].strip()
    if _DIGIT.search(rest):
        if _EXPONENT.match(rest):
            return Problem(
                f"「{raw}」は指数表記で、桁が丸められているかもしれません。元の数値を入力して"
                "ください（Excel が長い数値を CSV に保存するとこうなります）。"
            )
        return Problem(_MULTIPLE_VALUES.format(raw=raw))
    try:
        number = Decimal(digits)
    except InvalidOperation:  # pragma: no cover - the regex admits only valid literals
        return Problem(f"「{raw}」は数値として読めません。")

    return _number_value(sign * number, _SPACES.sub("", rest), note, raw, about)


@lru_cache(maxsize=1024)
def unit_scale(unit: str) -> tuple[Decimal, str]:
    """The multiplier a unit starts with: 千円 → (1000, 円), 万人 → (10000, 人), 件 → (1, 件).
    Used for units typed with a value and for the 単位 column alike."""
    match = _MULTIPLIER_UNIT.fullmatch(unit)
    if not match:
        return _ONE, unit
    # Powers of ten add up: 百万 = 10^(2+6). As an exponent, not a product of ints, so that
    # tens of thousands of 兆 cost nothing (the bounds then refuse the value).
    exponent = sum(_MULTIPLIER_EXPONENTS[char] for char in match.group(1))
    return Decimal((0, (1,), exponent)), match.group(2)


def _number_value(
    number: Decimal, unit: str, note: str, raw: str, comparator: str = ""
) -> Value | Problem:
    if unit.endswith(_COMPARATOR_ENDINGS):
        unit, comparator = split_comparator(unit)
    if unit and unit[0] in _MULTIPLIERS:  # 14万人 = 140,000人; 30,001百万円 = 30,001,000,000円
        factor, unit = unit_scale(unit)
        number = SAFE.multiply(number, factor)
    preliminary = "速報" in note
    return _bounded(Value(Kind.NUMBER, number, unit, note, preliminary, raw, False, comparator))


# Targets as people write them: 100人以上, 100人以下, 100人程度, 100人を目指す, 維持.
AT_LEAST, AT_MOST, ABOUT, AIM, KEEP = "以上", "以下", "程度", "目指す", "維持"
_COMPARATORS = (  # word after the unit → what it means; longest first
    ("を目指す", AIM), ("をめざす", AIM), ("目指す", AIM), ("めざす", AIM), ("を目標", AIM),
    ("以上", AT_LEAST), ("超", AT_LEAST), ("以下", AT_MOST), ("未満", AT_MOST),
    ("程度", ABOUT), ("前後", ABOUT), ("くらい", ABOUT), ("ぐらい", ABOUT), ("ほど", ABOUT),
)  # fmt: skip
_COMPARATOR_ENDINGS = tuple(word for word, _ in _COMPARATORS)
_COMPARATOR_LAST = frozenset(word[-1] for word in _COMPARATOR_ENDINGS)
_ABOUT_PREFIXES = ("約", "概ね", "おおむね")
_KEEP = frozenset({"維持", "現状維持", "基準値を維持", "現状値を維持", "基準値維持", "keep"})
_DATE_VALUE = re.compile(
    r"\d{4}/\d{1,2}(?:/\d{1,2})?"
    r"|\d{4}-\d{1,2}-\d{1,2}(?:[tT ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
    r"|\d{4}\.\d{1,2}\.\d{1,2}"
    r"|(?:\d{4}|(?:令和|平成|[RrHh])\s*(?:元|\d{1,2}))\s*年\s*\d{1,2}\s*月(?:\s*\d{1,2}\s*日)?"
    r"|(?:令和|平成|[RrHh])\s*(?:元|\d{1,2})[./]\d{1,2}(?:[./]\d{1,2})?"
    r"|\d{1,2}\s*月\s*\d{1,2}\s*日"
)


def split_comparator(unit: str) -> tuple[str, str]:
    """`人以上` → (`人`, 以上); `人以上を目指す` → (`人`, 以上): the strongest word counts."""
    found = ""
    while unit.endswith(_COMPARATOR_ENDINGS):
        for word, meaning in _COMPARATORS:
            if unit.endswith(word):
                unit = unit[: -len(word)]
                if not found or found == AIM:
                    found = meaning
                break
    return unit, found


def _whole(number: int | float | Decimal) -> int | None:
    """The number as an int when it is a finite whole number (2023.0 → 2023)."""
    if isinstance(number, float) and not math.isfinite(number):
        return None
    if isinstance(number, Decimal) and (not number.is_finite() or number.adjusted() > 18):
        return None  # int() of 1E+999999 takes minutes
    return int(number) if number == int(number) else None


_ERA_YEAR = re.compile(r"^(令和|R|平成|H)\s*(元|\d{1,2})\s*(?:年度?)?$", re.IGNORECASE)
_WESTERN_YEAR = re.compile(r"^(\d{4})\s*(?:年度?|FY)?$", re.IGNORECASE)
_FY_YEAR = re.compile(r"^FY\s*(\d{4})$", re.IGNORECASE)
_ERA_START = {"令和": 2018, "r": 2018, "平成": 1988, "h": 1988}


def parse_fiscal_year(cell: Cell) -> int | Problem | None:
    """`令和5年度`, `R5`, `2023`, `2023年度`, `FY2023` → 2023. Empty → None."""
    if type(cell) is str:  # the usual cell, straight to the cache
        return _parse_year_text(cell)
    if cell is None:
        return None
    if isinstance(cell, bool):
        return Problem(f"年度「{cell}」を読めません。")
    if isinstance(cell, int | float | Decimal):
        whole = _whole(cell)
        if whole is not None and 1989 <= whole <= 2100:
            return whole
        return Problem(f"年度「{cell}」を読めません。例: 令和5年度、R5、2023")
    return _parse_year_text(str(cell))


@lru_cache(maxsize=1024)
def _parse_year_text(cell: str) -> int | Problem | None:
    text = normalise_text(cell)
    if not text:
        return None
    era = _ERA_YEAR.match(text)
    if era:
        offset = 1 if era.group(2) == "元" else int(era.group(2))
        if offset >= 1:
            return _ERA_START[era.group(1).lower()] + offset
    western = _WESTERN_YEAR.match(text) or _FY_YEAR.match(text)
    if western and 1989 <= int(western.group(1)) <= 2100:
        return int(western.group(1))
    return Problem(f"年度「{cell}」を読めません。例: 令和5年度、R5、2023")


_KPI_NUMBER = re.compile(r"^(?:KPI)?\s*[-_#.]?\s*(\d{1,2})$", re.IGNORECASE)


def parse_kpi_number(cell: Cell) -> int | Problem | None:
    """`KPI①`, `①`, `1`, `KPI1` → 1. Empty → None (numbered in order)."""
    if type(cell) is str:  # the usual cell, straight to the cache
        return _parse_kpi_number_text(cell)
    if cell is None:
        return None
    if isinstance(cell, int | float | Decimal) and not isinstance(cell, bool):
        whole = _whole(cell)
        if whole is not None and 1 <= whole <= 99:
            return whole
        return Problem(f"KPI番号「{cell}」を読めません。例: KPI①、①、1")
    return _parse_kpi_number_text(str(cell))


@lru_cache(maxsize=1024)
def _parse_kpi_number_text(cell: str) -> int | Problem | None:
    text = normalise_text(cell)  # NFKC turns ① into 1
    if not text:
        return None
    match = _KPI_NUMBER.match(text)
    if match and int(match.group(1)) >= 1:
        return int(match.group(1))
    return Problem(f"KPI番号「{cell}」を読めません。例: KPI①、①、1")


def format_fiscal_year(year: int) -> str:
    """2023 → 令和5年度, 2019 → 令和元年度, 2018 → 平成30年度."""
    if year >= 2019:
        return f"令和{'元' if year == 2019 else year - 2018}年度"
    return f"平成{'元' if year == 1989 else year - 1988}年度"


def format_number(number: Decimal) -> str:
    """12345.6 → 12,345.6 (for messages and answers)."""
    if not number.is_finite():
        return str(number)
    if number == number.to_integral_value(context=SAFE):
        # not int(): str() of an int refuses over 4,300 digits
        return f"{number.to_integral_value(context=SAFE):,f}"
    return f"{number:,}"


def cell_text(cell: Cell) -> str:
    """The cell as a person reads it, for messages."""
    if type(cell) is str:
        return cell.strip()
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer() and abs(cell) < 1e18:
        # not NaN and inf (int() raises), nor 1e308 (309 digits in a table)
        return str(int(cell))
    return str(cell).strip()
