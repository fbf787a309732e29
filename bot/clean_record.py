"""Records of workbooks already in sync, kept between `kpibot sync` runs.

Reading and rating 50,000 rows takes over a second in any process that has not done it
yet, and each `kpibot sync` is a new process. A record says: this exact workbook content,
synced by this exact kpibot with these exact settings on this day, needs nothing written,
and this is what the sync printed. The next sync of the same bytes prints it again
without reading and rating them. A record is made only from a real read and rating that
found nothing to write; after a sync that wrote, a background process (low priority)
does that read and rating of the file kpibot wrote, so that the next sync can use it.

A record is looked up by everything the output depends on: the workbook's bytes (a hash
of them), its location as given and its real path, kpibot's version and the size and
time of each of its source files, the Python version, every setting (rule set,
thresholds, rounding, time zone, …) and today's date in Japan (期限 that have passed).
Anything different is simply another record. A record that cannot be read is deleted
and costs one ordinary sync; the folder (README "Performance") can be deleted at any time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from platformdirs import user_cache_path

from bot.bootstrap import Services
from bot.services import today_in_japan
from sheets.local import XlsxBackend
from sheets.replace import read_versioned

FORMAT = "1"
KEEP = 8  # records kept: the workbooks synced most recently
# A workbook smaller than this is read and rated in a fraction of a second: no record.
RECORD_FROM_ROWS = 2_000


def records_folder() -> Path:
    """~/.cache/kpibot/clean (XDG_CACHE_HOME), or the platform's cache folder."""
    return user_cache_path("kpibot", appauthor=False) / "clean"


@cache
def code_fingerprint() -> str:
    """kpibot's version and every source file's path, size and time: a changed rule,
    message or reader is another kpibot, whose records are not these."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        parts = [version("kpibot")]
    except PackageNotFoundError:  # pragma: no cover - run from a source tree
        parts = ["?"]
    root = Path(__file__).resolve().parent.parent
    for package in ("bot", "sheets", "rules"):
        for path in sorted((root / package).rglob("*.py")):
            stat = path.stat()
            parts.append(f"{path.relative_to(root)}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.blake2b("\n".join(parts).encode(), digest_size=16).hexdigest()


@dataclass(frozen=True)
class SyncRecord:
    """The record of one workbook as one configuration of kpibot syncs it."""

    folder: Path
    path: Path
    key: str  # JSON of everything but the workbook's bytes

    def lookup(self) -> str | None:
        """What the last sync of the workbook as it is now printed, if it wrote nothing."""
        try:
            digest = _digest(read_versioned(self.path)[1])
        except OSError:
            return None  # the sync says what is wrong with the file
        file = self._file(digest)
        try:
            data = json.loads(zlib.decompress(file.read_bytes()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, zlib.error):
            with contextlib.suppress(OSError):
                file.unlink()  # damaged: it costs this one ordinary sync
            return None
        if not isinstance(data, dict) or data.get("key") != self.key:
            return None
        if data.get("digest") != digest or not isinstance(data.get("output"), str):
            return None
        with contextlib.suppress(OSError):
            os.utime(file)  # recently used: kept longest
        output: str = data["output"]
        return output

    def store(self, version: str, output: str) -> None:
        """Record that the workbook at `version` (sheets.replace) needs nothing written
        and that its sync prints `output`. A record that cannot be written is no record."""
        digest = _digest(version)
        record = {"key": self.key, "digest": digest, "output": output}
        data = zlib.compress(json.dumps(record, ensure_ascii=False).encode(), 1)
        file = self._file(digest)
        temp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            temp.write_bytes(data)
            os.replace(temp, file)  # whole or not at all
            _prune(self.folder)
        except OSError:
            with contextlib.suppress(OSError):
                temp.unlink()

    def _file(self, digest: str) -> Path:
        name = hashlib.blake2b(f"{self.key}\n{digest}".encode(), digest_size=16).hexdigest()
        return self.folder / f"{name}.json.z"


def _digest(version: str) -> str:
    """The hash of the bytes in a sheets.replace version (device:inode:mtime:size:hash):
    the same bytes copied or touched are the same workbook."""
    return version.rsplit(":", 1)[-1]


def _prune(folder: Path) -> None:
    files = sorted(folder.glob("*.json.z"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in files[KEEP:]:
        with contextlib.suppress(OSError):
            old.unlink()


def for_sync(app: Services, today: dt.date, folder: Path | None = None) -> SyncRecord | None:
    """The record for syncing the app's workbook today; None for a workbook that has
    none (a Google spreadsheet; a CSV, whose summary is a second file)."""
    backend = app.backend
    if not isinstance(backend, XlsxBackend):
        return None
    key = {
        "format": FORMAT,
        "kpibot": code_fingerprint(),
        "python": sys.version,
        "location": backend.location,
        "path": os.path.realpath(backend.path),
        "settings": app.settings.model_dump_json(),
        "ruleset": repr(app.ruleset),
        "rounding": app.rounding.name,
        "today": today.isoformat(),
    }
    return SyncRecord(folder or records_folder(), backend.path, json.dumps(key, sort_keys=True))


def prepare_in_background(argv: list[str]) -> None:
    """Start `python -m bot.clean_record <the sync's arguments>`: it reads and rates the
    file just written, at low priority, after this sync has returned."""
    with contextlib.suppress(OSError):
        subprocess.Popen(  # our own interpreter and module, the sync's own arguments
            [sys.executable, "-m", "bot.clean_record", *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # not stopped with the terminal's Ctrl-C of the next command
        )


def main(argv: list[str]) -> int:
    """Read and rate the workbook as `kpibot sync <argv>` would, write nothing, and keep
    the record if it needs nothing written."""
    from bot import services
    from bot.bootstrap import build
    from bot.cli import sync_arguments, sync_output
    from bot.settings import load_settings

    with contextlib.suppress(OSError, AttributeError):
        os.nice(10)
    sheet, overrides = sync_arguments(argv)
    try:
        app = build(load_settings(**overrides), sheet)
        today = today_in_japan()
        record = for_sync(app, today)
        if record is None:
            return 0
        report = services.rate_snapshot(app.backend.read(), app.ruleset, app.rounding, today)
    except Exception:  # a record is only a saving; the next sync says what failed
        return 0
    if report.changes.empty and len(report.table.rows) >= RECORD_FROM_ROWS:
        record.store(report.snapshot.version, sync_output(report))
    return 0


if __name__ == "__main__":  # pragma: no cover - run by prepare_in_background
    sys.exit(main(sys.argv[1:]))
