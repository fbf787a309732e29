"""Replacing a local workbook (sheets/replace.py): a person's save is never lost, kpibot
processes take turns, links and permissions stay, nothing is left behind."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import stat
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest

from bot import services
from rules.achievement import Rounding
from rules.rulesets import RULESETS
from sheets import replace
from sheets.backend import SheetError
from sheets.local import CsvBackend, XlsxBackend
from sheets.replace import TEMP_PREFIX, folder_lock

NAIKAKUFU = RULESETS["naikakufu"]


def sync(backend: XlsxBackend | CsvBackend) -> services.Report:
    return services.sync(backend, NAIKAKUFU, Rounding.TRUNCATE)


def small_book(path: Path, actual: int = 12, marker: str = "save-0") -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "KPI"
    sheet.append(["年度", "事業名", "目標値", "実績値", "備考"])
    sheet.append(["R5", "A", 10, actual, marker])
    workbook.save(path)
    return path


def persons_version(template: bytes, actual: int, marker: str) -> bytes:
    """The workbook as a person saves it: kpibot's file with their 実績値 and 備考 typed in."""
    source = zipfile.ZipFile(io.BytesIO(template))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                text = data.decode()
                start = text.index('<c r="D2"')
                end = text.index("</c>", start) + 4
                text = text[:start] + f'<c r="D2"><v>{actual}</v></c>' + text[end:]
                start = text.index('<c r="E2"')
                end = text.index("</c>", start) + 4
                text = (
                    text[:start]
                    + f'<c r="E2" t="inlineStr"><is><t>{marker}</t></is></c>'
                    + text[end:]
                )
                data = text.encode()
            target.writestr(info, data)
    return out.getvalue()


def marker_of(path: Path) -> str:
    grid = XlsxBackend(path).read().tabs["KPI"]
    return str(grid[1][4])


def test_a_save_during_the_write_window_is_never_lost(tmp_path: Path) -> None:
    """A person saves (by rename, as Excel does) again and again while two kpibot
    syncs run in a loop: after every save, the file says what the person saved."""
    path = small_book(tmp_path / "busy.xlsx")
    sync(XlsxBackend(path))  # kpibot's columns exist: the person's saves keep them
    template = path.read_bytes()
    stop = threading.Event()
    lost: list[str] = []
    syncs = [0, 0]
    conflicts = [0]

    def kpibot(index: int) -> None:
        backend = XlsxBackend(path)
        while not stop.is_set():
            try:
                report = sync(backend)
                syncs[index] += report.written
            except SheetError:
                conflicts[0] += 1  # edited during every try: reported, nothing written

    def person() -> None:
        for number in range(1, 151):
            marker = f"save-{number}"
            data = persons_version(template, 10 + number % 7, marker)
            scratch = tmp_path / f"person-{number}.tmp"
            scratch.write_bytes(data)
            os.replace(scratch, path)
            time.sleep(0.002 + (number % 5) * 0.003)
            # kpibot may be between its swap and its swap-back, which it does holding the
            # folder's lock: once the lock is free, the person's save must be in place. (A
            # grace time instead of the lock failed on a loaded machine: a thread can be
            # descheduled for longer than any fixed wait.)
            with folder_lock(path.parent):
                seen = marker_of(path)
            if seen != marker:
                lost.append(f"{marker} → {seen}")

    threads = [threading.Thread(target=kpibot, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    try:
        person()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not lost, lost
    assert sum(syncs) > 10, (syncs, conflicts)  # the write window was really hit
    assert marker_of(path) == "save-150"
    assert not list(tmp_path.glob(f"{TEMP_PREFIX}*"))


def test_a_file_in_place_for_an_instant_is_never_copied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another kpibot whose swap is refused puts its file in place and takes it back at
    once. A sync writing in that instant copies the workbook it read, not that file: the
    stress test above lost a person's save this way (『save-109 → save-108』), since the
    workbook it read was back in place when the swap was checked."""
    path = small_book(tmp_path / "book.xlsx", actual=12, marker="the person's")
    other = small_book(tmp_path / "other.xlsx", actual=5, marker="another kpibot's")
    aside = tmp_path / "aside.xlsx"
    new_file, lock = replace._new_file, replace.folder_lock

    def new_file_while_another_swaps(folder: Path) -> tuple[int, Path | None]:
        os.replace(path, aside)
        os.replace(other, path)
        return new_file(folder)

    @contextlib.contextmanager
    def lock_once_it_swapped_back(folder: Path) -> Iterator[None]:
        os.replace(path, other)
        os.replace(aside, path)
        with lock(folder):
            yield

    monkeypatch.setattr(replace, "_new_file", new_file_while_another_swaps)
    monkeypatch.setattr(replace, "folder_lock", lock_once_it_swapped_back)
    assert sync(XlsxBackend(path)).written
    grid = XlsxBackend(path).read().tabs["KPI"]
    assert grid[1][3:5] == [12, "the person's"]
    assert grid[0][5] == "達成率" and grid[1][5] == "120.0%"


def test_a_symlinked_workbook_stays_a_link_and_keeps_its_permissions(tmp_path: Path) -> None:
    real = small_book(tmp_path / "real.xlsx")
    os.chmod(real, 0o640)
    link = tmp_path / "link.xlsx"
    link.symlink_to(real)
    assert sync(XlsxBackend(link)).written
    assert link.is_symlink() and link.resolve() == real
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert openpyxl.load_workbook(real)["KPI"]["F1"].value == "達成率"


def test_a_read_only_workbook_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    """Also for root, whom os.access lets write anything: kpibot goes by the mode bits."""
    path = small_book(tmp_path / "ro.xlsx")
    os.chmod(path, 0o444)
    before = path.read_bytes()
    with pytest.raises(SheetError) as caught:
        sync(XlsxBackend(path))
    assert "読み取り専用" in caught.value.message
    assert path.read_bytes() == before


_KILLED = """
import sys, time
from pathlib import Path
from sheets import replace

def slow_fill(out, source):
    out.write(b"half a workbook")
    out.flush()
    print("writing", flush=True)
    time.sleep(60)

path = Path(sys.argv[1])
data, version = replace.read_versioned(path)
replace.replace_checked(path, version, slow_fill)
"""


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_a_kpibot_killed_while_writing_leaves_the_file_and_no_temporary_file(
    tmp_path: Path, how: signal.Signals
) -> None:
    path = small_book(tmp_path / "k.xlsx")
    before = path.read_bytes()
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED, str(path)],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert child.stdout is not None
    assert child.stdout.readline() == b"writing\n"
    child.send_signal(how)
    child.wait(timeout=10)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.xlsx"]


def test_an_unchanged_workbook_is_recognised_without_reading_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = small_book(tmp_path / "same.xlsx")
    backend = XlsxBackend(path)
    first = sync(backend)
    assert first.written
    reads = [0]
    real_read = XlsxBackend.read

    def counted(self: XlsxBackend) -> object:
        reads[0] += 1
        return real_read(self)

    monkeypatch.setattr(XlsxBackend, "read", counted)
    again = sync(backend)
    assert not again.written and again.changes.empty and reads[0] == 0
    assert again.evaluation == first.evaluation
    # A person's save (same size, one digit changed) is noticed: read, rated, written.
    path.write_bytes(persons_version(path.read_bytes(), 13, "save-0"))
    assert sync(backend).written and reads[0] == 1
