"""What the reader needs to know about number formats: which built-in formats show a
percentage or a date, whether a custom format code is a date, and a date's serial number
as a date.

The same as openpyxl's (styles.numbers, utils.datetime; tests/sheets/test_numfmt.py
checks them against it), written out here because importing any part of openpyxl loads
all of it: a tenth of a second of every `kpibot sync`, whose whole budget for 50,000 rows
is two seconds. openpyxl is still what reads an unusual workbook (sheets.local).
"""

from __future__ import annotations

import datetime as dt
import re

# The built-in number formats (ECMA-376 Part 1, 18.8.30) by id, as far as the reader
# cares: those that show a percentage and those that show a date or a time.
BUILTIN_PERCENT = {9: "0%", 10: "0.00%"}
BUILTIN_DATE = frozenset({*range(14, 23), 45, 46, 47})

# A date format has a d, m, h, y or s outside quotes and [locale] brackets, not escaped.
_STRIP = re.compile(r'".*?"|\[(?!hh?\]|mm?\]|ss?\])[^\]]*\]')
_DATE_PART = re.compile(r"(?<![_\\])[dmhysDMHYS]")


def is_date_format(code: str) -> bool:
    """Does a custom format code show a date or a time (its first section decides)?"""
    return _DATE_PART.search(_STRIP.sub("", code.split(";")[0])) is not None


WINDOWS_EPOCH = dt.datetime(1899, 12, 30)
MAC_EPOCH = dt.datetime(1904, 1, 1)
_SECONDS_PER_DAY = 86400


def from_excel(value: float, epoch: dt.datetime = WINDOWS_EPOCH) -> dt.datetime | dt.time:
    """A serial number (days since the epoch, the fraction the time of day) as a moment;
    under 1, a time of day. Days 1–59 of the 1900 calendar are one day off, as Excel
    counts a 29 February 1900 that never was."""
    day, fraction = divmod(value, 1)
    diff = dt.timedelta(milliseconds=round(fraction * _SECONDS_PER_DAY * 1000))
    if 0 <= value < 1 and diff.days == 0:
        hours, rest = divmod(diff.seconds, 3600)
        minutes, seconds = divmod(rest, 60)
        return dt.time(hours, minutes, seconds, diff.microseconds)
    if 0 < value < 60 and epoch == WINDOWS_EPOCH:
        day += 1
    return epoch + dt.timedelta(days=day) + diff
