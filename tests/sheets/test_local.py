"""The local backends through the sync service, on real files."""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pytest
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill

from bot import services
from rules.achievement import Rounding
from rules.rulesets import RULESETS
from sheets.backend import ConcurrentEditError, SheetError, WorkbookSnapshot
from sheets.limits import OLE2_MAGIC
from sheets.local import CsvBackend, XlsxBackend, open_local
from sheets.schema import WriteSet
from tests.conftest import kanagawa_rows, read_xlsx, write_xlsx

NAIKAKUFU = RULESETS["naikakufu"]


def sync(backend: XlsxBackend | CsvBackend) -> services.Report:
    return services.sync(backend, NAIKAKUFU, Rounding.TRUNCATE)


def shown_grid(path: Path, tab: str) -> list[list[object]]:
    """A tab as a person sees it (a 達成率 of 1.2 formatted 0.0% reads 「120.0%」)."""
    return [list(row) for row in XlsxBackend(path).read().tabs[tab]]


def published_vs_written(grid: list[list[object]], suffix: str = "") -> None:
    header = [str(c) for c in grid[0]]
    rate, rating = header.index("達成率" + suffix), header.index("評価" + suffix)
    published_rate, published_rating = header.index("公表達成率"), header.index("公表評価")
    rows = [r for r in grid[1:] if any(c not in (None, "") for c in r)]
    assert len(rows) == 36
    assert [r[rate] for r in rows] == [r[published_rate] for r in rows]
    firsts = [r for r in rows if r[published_rating]]
    assert len(firsts) == 10
    assert [r[rating] for r in firsts] == [r[published_rating] for r in firsts]


def test_sync_of_the_kanagawa_workbook_writes_every_published_rate_and_rating(
    kanagawa_xlsx: Path,
) -> None:
    report = sync(XlsxBackend(kanagawa_xlsx))
    assert report.written
    published_vs_written(shown_grid(kanagawa_xlsx, "KPI"))
    summary = read_xlsx(kanagawa_xlsx, "評価")
    assert summary[0][:3] == ["年度", "事業名", "担当課"]
    assert len(summary) == 11


def test_sync_of_the_kanagawa_csv_writes_every_published_rate_and_rating(tmp_path: Path) -> None:
    path = tmp_path / "kanagawa.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows(kanagawa_rows())
    sync(CsvBackend(path))
    with path.open(encoding="utf-8") as source:
        grid: list[list[object]] = [list(r) for r in csv.reader(source)]
    published_vs_written(grid, suffix="（kpibot）")  # the .csv mark (README)
    assert (tmp_path / "kanagawa_評価.csv").exists()


def test_a_second_sync_with_no_change_writes_nothing(kanagawa_xlsx: Path) -> None:
    sync(XlsxBackend(kanagawa_xlsx))
    before = kanagawa_xlsx.read_bytes(), kanagawa_xlsx.stat().st_mtime_ns
    report = sync(XlsxBackend(kanagawa_xlsx))
    assert not report.written and report.changes.empty
    assert (kanagawa_xlsx.read_bytes(), kanagawa_xlsx.stat().st_mtime_ns) == before


def _decorated_workbook(path: Path) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "KPI"
    sheet["A1"] = "令和5年度 効果検証"
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append([])
    sheet.append(["年度", "事業名", "KPI名", "目標値", "実績値", "報告達成率", None, "備考"])
    sheet.append(["R5", "事業A", "参加者数", "100人", "120人", "120.0%", None, "手入力のメモ"])
    sheet.append([None, None, "満足度", 0.8, 0.72, None, None, "=D5*2"])
    sheet.append(["R5", "=事業B", "件数", "10件", "男:1 女:2"])
    sheet["D5"].number_format = sheet["E5"].number_format = "0.0%"
    sheet["B4"].fill = PatternFill("solid", fgColor="FFFF00")
    sheet["C4"].comment = Comment("人数で数える", "企画課")
    memo = workbook.create_sheet("メモ")
    memo["A1"] = "触らないでください"
    memo["B2"] = "=SUM(1,2)"
    workbook.save(path)
    return path


def _cells(path: Path) -> dict[tuple[str, str], tuple[object, ...]]:
    workbook = openpyxl.load_workbook(path)
    cells: dict[tuple[str, str], tuple[object, ...]] = {}
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                cells[(sheet.title, cell.coordinate)] = (
                    cell.value,
                    cell.number_format,
                    cell.font.b,
                    cell.font.sz,
                    cell.fill.fgColor.rgb,
                    cell.comment.text if cell.comment else None,
                )
    return cells


def test_sync_touches_only_the_owned_cells(tmp_path: Path) -> None:
    path = _decorated_workbook(tmp_path / "book.xlsx")
    before = _cells(path)
    report = sync(XlsxBackend(path))
    after = _cells(path)

    owned_columns = {"I", "J", "K", "L"}  # added right of the last header (H: 備考)
    changed = {key for key in after if before.get(key) != after[key]}
    assert changed, "the sync wrote nothing"
    assert all(
        tab == "評価" or coord.rstrip("0123456789") in owned_columns for tab, coord in changed
    )
    assert after[("KPI", "H5")][0] == "=D5*2"  # a formula stays a formula
    assert after[("メモ", "B2")][0] == "=SUM(1,2)"
    workbook = openpyxl.load_workbook(path)
    assert workbook.sheetnames == ["KPI", "メモ", "評価"]
    kpi = workbook["KPI"]
    assert [kpi.cell(3, c).value for c in range(9, 13)] == ["達成率", "達成", "評価", "検証"]
    # Rates are numbers formatted 0.0%, so that a person can sum, sort and chart them.
    assert kpi["I4"].value == 1.2 and kpi["I5"].value == 0.9  # 72% / 80%
    assert kpi["I4"].number_format == kpi["I5"].number_format == "0.0%"
    assert "複数の値" in str(kpi["L6"].value)
    # A project name that looks like a formula is written as text, not run.
    summary = workbook["評価"]
    assert summary["B3"].value == "=事業B" and summary["B3"].data_type == "s"
    assert report.evaluation.projects[1].project == "=事業B"


def test_percent_cells_are_read_as_the_person_sees_them(tmp_path: Path) -> None:
    path = _decorated_workbook(tmp_path / "book.xlsx")
    snapshot = XlsxBackend(path).read()
    assert snapshot.tabs["KPI"][4][3:5] == ["80.0%", "72.0%"]  # as Excel shows 0.0%


def test_a_formula_without_a_saved_result_is_explained(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "f.xlsx",
        {"KPI": [["年度", "事業名", "目標値", "実績値"], ["R5", "A", "10", "=SUM(1,2)"]]},
    )
    report = services.check(XlsxBackend(path), NAIKAKUFU, Rounding.TRUNCATE)
    assert any("計算結果がファイルに保存されていません" in p.message for p in report.problems)


def test_stale_owned_cells_of_rows_that_are_no_longer_kpis_are_cleared(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "s.xlsx",
        {
            "KPI": [
                ["年度", "事業名", "目標値", "実績値"],
                ["R5", "A", "10", "12"],
                ["R5", "B", "10", "5"],
            ]
        },
    )
    sync(XlsxBackend(path))
    assert shown_grid(path, "KPI")[2][4:7] == ["50.0%", "×", "地方創生に効果がなかった"]
    workbook = openpyxl.load_workbook(path)
    for cell in ("A3", "B3", "C3", "D3"):  # the second row stops being a KPI
        workbook["KPI"][cell] = None
    workbook.save(path)
    sync(XlsxBackend(path))
    grid = shown_grid(path, "KPI")
    assert list(grid[1][4:7]) == ["120.0%", "○", "地方創生に非常に効果的であった"]
    assert all(cell in (None, "") for cell in (grid[2] if len(grid) > 2 else [])[4:8])


def test_a_file_saved_by_someone_else_meanwhile_is_not_overwritten(tmp_path: Path) -> None:
    path = _decorated_workbook(tmp_path / "book.xlsx")
    backend = XlsxBackend(path)
    stale = backend.read()
    report = services.rate_snapshot(stale, NAIKAKUFU, Rounding.TRUNCATE)
    workbook = openpyxl.load_workbook(path)
    workbook["KPI"]["E4"] = "150人"  # a person saves the file
    workbook.save(path)
    saved = path.read_bytes()
    with pytest.raises(ConcurrentEditError):
        backend.write(report.changes, stale)
    assert path.read_bytes() == saved


class EditedOnceXlsx(XlsxBackend):
    """A workbook that a person saves once, right after kpibot's first read."""

    edits = 0

    def read(self) -> WorkbookSnapshot:
        snapshot = super().read()
        if self.edits == 0:
            self.edits += 1
            workbook = openpyxl.load_workbook(self.path)
            workbook["KPI"]["E4"] = "150人"
            workbook.save(self.path)
        return snapshot


def test_sync_reads_again_after_a_concurrent_save_and_keeps_the_persons_edit(
    tmp_path: Path,
) -> None:
    path = _decorated_workbook(tmp_path / "book.xlsx")
    report = sync(EditedOnceXlsx(path))
    assert report.written
    kpi = openpyxl.load_workbook(path)["KPI"]
    assert kpi["E4"].value == "150人" and kpi["I4"].value == 1.5


def test_csv_in_shift_jis_stays_shift_jis(tmp_path: Path) -> None:
    path = tmp_path / "sjis.csv"
    text = "年度,事業名,目標値,実績値,備考\r\nR5,事業Ａ,１００人,８０人,メモ\r\n"
    path.write_bytes(text.encode("cp932"))
    sync(CsvBackend(path))
    written = path.read_bytes().decode("cp932")
    assert (
        written.splitlines()[1] == "R5,事業Ａ,１００人,８０人,メモ,80.0%,×,地方創生に効果があった"
    )
    assert "\r\n" in written


def test_csv_summary_keeps_formula_like_names_inert(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("年度,事業名,目標値,実績値\nR5,=HYPERLINK(1),10,10\n", encoding="utf-8")
    sync(CsvBackend(path))
    summary = (tmp_path / "f_評価.csv").read_text(encoding="utf-8")
    assert "'=HYPERLINK(1)" in summary
    assert not sync(CsvBackend(path)).written  # and reading it back sees no change


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("broken.xlsx", b"not a zip file", "中身が zip 形式でないか、途中で切れています"),
        # Excel's "password to open" turns the package into an OLE2 file, as old .xls files are
        ("locked.xlsx", OLE2_MAGIC + bytes(504), "パスワードで保護されているか、古い .xls 形式"),
        ("missing.xlsx", None, "見つかりません"),
        ("bad.csv", b"\xff\xfe\x00\x81\x00", "文字コード"),
    ],
)
def test_unreadable_files_are_clear_errors(
    tmp_path: Path, name: str, content: bytes | None, words: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SheetError) as caught:
        open_local(str(path)).read()
    assert words in caught.value.message
    assert "zip file" not in caught.value.message  # zipfile's English stays in the log


def test_a_cut_off_workbook_is_one_japanese_line(tmp_path: Path) -> None:
    path = tmp_path / "cut.xlsx"
    path.write_bytes(_decorated_workbook(tmp_path / "whole.xlsx").read_bytes()[:3000])
    with pytest.raises(SheetError) as caught:
        open_local(str(path)).read()
    assert caught.value.message.startswith("cut.xlsx を .xlsx ファイルとして開けません: ")
    assert "\n" not in caught.value.message and "zip file" not in caught.value.message


def test_unknown_file_types_are_refused() -> None:
    with pytest.raises(SheetError):
        open_local("kpi.ods")


def test_empty_write_set_touches_nothing(tmp_path: Path) -> None:
    path = _decorated_workbook(tmp_path / "book.xlsx")
    backend = XlsxBackend(path)
    snapshot = backend.read()
    before = path.stat().st_mtime_ns
    backend.write(WriteSet("KPI"), snapshot)
    assert path.stat().st_mtime_ns == before


def test_shift_jis_csv_with_dashes_and_problems_is_written_and_then_left_alone(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sjis.csv"
    text = "年度,事業名,目標値,実績値\r\nR5,事業Ａ,100,△5\r\nR5,事業Ｂ,100,たくさん\r\n"
    path.write_bytes(text.encode("cp932"))
    assert sync(CsvBackend(path)).written
    lines = path.read_bytes().decode("cp932").splitlines()
    assert lines[1].split(",")[4] == "―"
    assert "【エラー】「実績値」" in lines[2]
    assert not sync(CsvBackend(path)).written
