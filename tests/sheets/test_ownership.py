"""Nothing a person made is overwritten (issue 11): kpibot writes only the columns and tabs
it created and marked, on every backend."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import openpyxl
import pytest
from openpyxl.comments import Comment
from openpyxl.worksheet.datavalidation import DataValidation

from bot import services
from rules.achievement import Rounding
from rules.rulesets import RULESETS
from sheets import xlsx
from sheets.backend import SheetError
from sheets.local import CsvBackend, XlsxBackend
from sheets.schema import CELL_TEXT_LIMIT, Owned

NAIKAKUFU = RULESETS["naikakufu"]
# Members a sync may change (README "書き込みかた"); every other member stays byte for byte.
MAY_CHANGE = {
    "xl/worksheets/sheet1.xml",  # the KPI tab
    "xl/workbook.xml",
    "xl/_rels/workbook.xml.rels",
    "[Content_Types].xml",
    "xl/styles.xml",
    "xl/sharedStrings.xml",
    "docProps/app.xml",
    "docProps/core.xml",
}
_CELL = re.compile(r'<c r="([A-Z]+)(\d+)"[^>]*?(?:/>|>.*?</c>)', re.S)


def sync(backend: XlsxBackend | CsvBackend) -> services.Report:
    return services.sync(backend, NAIKAKUFU, Rounding.TRUNCATE)


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def sheet_cells(path: Path, member: str = "xl/worksheets/sheet1.xml") -> dict[str, str]:
    """Each cell's XML, by reference: formulas, saved results, styles, all of it."""
    text = members(path)[member].decode()
    return {m.group(1) + m.group(2): m.group(0) for m in _CELL.finditer(text)}


def assert_only_owned_changed(before: Path, after: Path, owned_columns: set[str]) -> None:
    old, new = members(before), members(after)
    for name, data in old.items():
        if name not in MAY_CHANGE:
            assert new[name] == data, f"{name} changed"
    old_cells, new_cells = sheet_cells(before), sheet_cells(after)
    for ref, xml in old_cells.items():
        if ref.rstrip("0123456789") not in owned_columns:
            assert new_cells.get(ref) == xml, ref
    added = {ref for ref in new_cells if ref not in old_cells}
    assert all(ref.rstrip("0123456789") in owned_columns for ref in added), added


def office_layout(path: Path) -> Path:
    """A sheet as offices lay it out: their own 達成率 (a formula) and 評価 columns, a 評価
    tab, look-alike headers, a note in a column with no header, merged rating cells."""
    workbook = openpyxl.Workbook()
    kpi = workbook.active
    assert kpi is not None
    kpi.title = "KPI"
    kpi.append(["年度", "事業名", "KPI名", "目標値", "実績値", "達成率", "評価", "評価（担当課記入）",
                "達成率（％）", "検証(財政課)", "※評価", "Rate", "check"])  # fmt: skip
    kpi.append(["R5", "事業A", "参加者数", 100, 120, "=E2/D2", "担当課の自己評価: 概ね順調", "A",
                "120", "済", "◎", "1.2", "ok"])  # fmt: skip
    kpi.append([None, None, "満足度", 80, 72, "=E3/D3", None, "B", "90", None, None, None, None])
    kpi.append(["R5", "事業B", "件数", 10, 5, "=E4/D4", "順調", "C", "50", None, None, None, None])
    kpi["F2"].number_format = kpi["F3"].number_format = "0.0%"
    kpi["O2"] = "←要確認（田中）"  # a note with no header, right of the table
    kpi.merge_cells("G2:G3")  # one self-rating per project
    kpi["C2"].comment = Comment("人数で数える", "企画課")
    rule = DataValidation(type="list", formula1="=メモ!$A$1:$A$3")
    kpi.add_data_validation(rule)
    rule.add("H2:H4")
    own = workbook.create_sheet("評価")
    own.append(["担当課が書いた評価のタブ"])
    memo = workbook.create_sheet("メモ")
    for value in ("A", "B", "C"):
        memo.append([value])
    workbook.save(path)
    return path


def test_an_office_layout_keeps_every_persons_cell_and_tab(tmp_path: Path) -> None:
    path = office_layout(tmp_path / "office.xlsx")
    before = tmp_path / "before.xlsx"
    before.write_bytes(path.read_bytes())

    report = sync(XlsxBackend(path))
    assert report.written
    # New columns start right of the unheaded note in O: P, Q, R, S.
    assert_only_owned_changed(before, path, {"P", "Q", "R", "S"})
    workbook = openpyxl.load_workbook(path)
    kpi = workbook["KPI"]
    assert [kpi.cell(1, c).value for c in range(16, 20)] == [
        "達成率（kpibot）", "達成", "評価（kpibot）", "検証"
    ]  # fmt: skip
    assert kpi["F2"].value == "=E2/D2" and kpi["G2"].value == "担当課の自己評価: 概ね順調"
    assert workbook["評価"]["A1"].value == "担当課が書いた評価のタブ"
    assert workbook.sheetnames == ["KPI", "評価", "メモ", "評価（kpibot）"]
    messages = " ".join(p.message for p in report.problems)
    assert "「評価（kpibot）」タブに書きます" in messages
    assert "「達成率（kpibot）」列に書きます" in messages
    # about the tab, so `check` names no row (it said 「1行目:」, a row nobody meant)
    [tab_notice] = [p.describe() for p in report.problems if "タブに書きます" in p.message]
    assert tab_notice.startswith("「評価」タブは人が作ったタブ"), tab_notice

    after_first = path.read_bytes()
    again = sync(XlsxBackend(path))
    assert not again.written and again.changes.empty
    assert path.read_bytes() == after_first


def test_marks_follow_what_the_defined_names_say_now(tmp_path: Path) -> None:
    path = tmp_path / "marks.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "KPI"
    sheet.append(["年度", "事業名", "目標値", "実績値"])
    sheet.append(["R5", "A", 10, 12])
    workbook.save(path)
    sync(XlsxBackend(path))
    names = members(path)["xl/workbook.xml"].decode()
    assert "_kpibot_rate" in names and "'KPI'!$E:$E" in names and "_kpibot_summary" in names
    marks = XlsxBackend(path).read().marks
    assert marks.columns == {Owned.RATE: 5, Owned.ACHIEVED: 6, Owned.RATING: 7, Owned.CHECK: 8}
    assert marks.summary_tab == "評価"
    # What Excel leaves when a person inserts a column before kpibot's and deletes its 検証.
    workbook = openpyxl.load_workbook(path)
    workbook["KPI"].insert_cols(3)
    for name, ref in (("rate", "$F:$F"), ("achieved", "$G:$G"), ("rating", "$H:$H")):
        workbook.defined_names[f"_kpibot_{name}"].attr_text = f"'KPI'!{ref}"
    workbook.defined_names["_kpibot_check"].attr_text = "#REF!"
    workbook.save(path)
    marks = XlsxBackend(path).read().marks
    assert marks.columns == {Owned.RATE: 6, Owned.ACHIEVED: 7, Owned.RATING: 8}
    sync(XlsxBackend(path))  # a new 検証 column is made and marked; nothing else moves
    assert XlsxBackend(path).read().marks.columns[Owned.CHECK] == 10
    assert sync(XlsxBackend(path)).changes.empty


def test_a_merged_rating_cell_is_written_once_at_its_top_left(tmp_path: Path) -> None:
    path = tmp_path / "merged.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "KPI"
    sheet.append(["年度", "事業名", "目標値", "実績値"])
    sheet.append(["R5", "A", 10, 12])
    sheet.append([None, None, 10, 11])
    workbook.save(path)
    sync(XlsxBackend(path))
    workbook = openpyxl.load_workbook(path)
    workbook["KPI"].merge_cells("G2:G3")  # a person merges kpibot's 評価 over the project
    workbook["KPI"]["D2"] = 5  # and the rating changes
    workbook.save(path)
    report = sync(XlsxBackend(path))  # no crash
    assert report.written
    assert {(u.row, u.col) for u in report.changes.cells if u.col == 7} == {(2, 7)}
    assert "G3" not in sheet_cells(path) or "<v>" not in sheet_cells(path)["G3"]
    assert sync(XlsxBackend(path)).changes.empty
    kpi = openpyxl.load_workbook(path)["KPI"]
    assert kpi["G2"].value == report.evaluation.projects[0].rating.label
    assert [str(r) for r in kpi.merged_cells.ranges] == ["G2:G3"]


def test_a_macro_workbook_keeps_its_macros_and_its_content_type(tmp_path: Path) -> None:
    plain = tmp_path / "plain.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "KPI"
    sheet.append(["年度", "事業名", "目標値", "実績値"])
    sheet.append(["R5", "A", 10, 12])
    workbook.save(plain)
    path = tmp_path / "macro.xlsm"
    macro = b"\xd0\xcf\x11\xe0 a VBA project, opaque to kpibot"
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(path, "w") as out:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "[Content_Types].xml":
                data = data.replace(
                    b"spreadsheetml.sheet.main+xml", b"../vnd.ms-excel.sheet.macroEnabled.main+xml"
                ).replace(
                    b"</Types>",
                    b'<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/></Types>',
                )
            if info.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(
                    b"</Relationships>",
                    b'<Relationship Id="rIdVba" Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject" Target="vbaProject.bin"/></Relationships>',
                )
            out.writestr(info, data)
        out.writestr("xl/vbaProject.bin", macro)
    assert sync(XlsxBackend(path)).written
    after = members(path)
    assert after["xl/vbaProject.bin"] == macro
    assert b"macroEnabled.main+xml" in after["[Content_Types].xml"]
    assert b"vbaProject" in after["xl/_rels/workbook.xml.rels"]


def test_a_csv_note_beside_the_table_and_a_persons_columns_stay(tmp_path: Path) -> None:
    path = tmp_path / "kpi.csv"
    path.write_text(
        "年度,事業名,目標値,実績値,達成率,評価\nR5,A,10,12,=D2/C2,自己評価,,←要確認（田中）\n",
        encoding="utf-8",
    )
    (tmp_path / "kpi_評価.csv").write_text("人の評価ファイル\n", encoding="utf-8")
    report = sync(CsvBackend(path))
    assert report.written
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].split(",")[4:] == ["達成率", "評価", "", "", "達成率（kpibot）", "達成（kpibot）",
                                       "評価（kpibot）", "検証（kpibot）"]  # fmt: skip
    assert lines[1].split(",")[:8] == [
        "R5",
        "A",
        "10",
        "12",
        "=D2/C2",
        "自己評価",
        "",
        "←要確認（田中）",
    ]
    assert lines[1].split(",")[8] == "120.0%"
    assert (tmp_path / "kpi_評価.csv").read_text(encoding="utf-8") == "人の評価ファイル\n"
    assert (tmp_path / "kpi_評価（kpibot）.csv").exists()
    assert not sync(CsvBackend(path)).written


def test_a_utf8_csv_with_one_bad_byte_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    data = "年度,事業名,目標値,実績値\nR5,事業Ａの説明,10,12\n".encode() + b"R5,\xff,1,1\n"
    path.write_bytes(data)
    with pytest.raises(SheetError) as caught:
        sync(CsvBackend(path))
    assert "UTF-8" in caught.value.message and "バイト目" in caught.value.message
    assert path.read_bytes() == data


def test_a_check_text_longer_than_a_cell_holds_is_cut_once_and_then_left_alone(
    tmp_path: Path,
) -> None:
    path = tmp_path / "long.csv"
    long_name = "長" * 40_000  # quoted back in the 検証 message
    path.write_text(f"年度,事業名,目標値,実績値\nR5,A,10,{long_name}\n", encoding="utf-8")
    assert sync(CsvBackend(path)).written
    assert not sync(CsvBackend(path)).written
    xlsx = tmp_path / "long.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["年度", "事業名", "目標値", "実績値"])
    sheet.append(["R5", "A", 10, long_name])
    workbook.save(xlsx)
    assert sync(XlsxBackend(xlsx)).written
    check = openpyxl.load_workbook(xlsx).active["H2"].value  # type: ignore[index]
    assert len(check) <= CELL_TEXT_LIMIT
    assert not sync(XlsxBackend(xlsx)).written


def test_a_formula_typed_into_kpibots_column_leaves_no_stale_calc_chain(tmp_path: Path) -> None:
    path = tmp_path / "chain.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "KPI"
    sheet.append(["年度", "事業名", "目標値", "実績値"])
    sheet.append(["R5", "A", 10, 12])
    workbook.save(path)
    sync(XlsxBackend(path))
    # A person types =1+1 over kpibot's 達成 (F2); Excel lists the formula in calcChain.xml.
    edited = tmp_path / "edited.xlsx"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(edited, "w") as out:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                text = data.decode()
                start = text.index('<c r="F2"')
                end = text.index("</c>", start) + 4
                data = (text[:start] + '<c r="F2"><f>1+1</f><v>2</v></c>' + text[end:]).encode()
            if info.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(
                    b"</Relationships>",
                    b'<Relationship Id="rIdChain" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/calcChain" Target="calcChain.xml"/></Relationships>',
                )
            if info.filename == "[Content_Types].xml":
                data = data.replace(
                    b"</Types>",
                    b'<Override PartName="/xl/calcChain.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.calcChain+xml"/></Types>',
                )
            out.writestr(info, data)
        out.writestr("xl/calcChain.xml", '<calcChain><c r="F2" i="1"/></calcChain>')
    edited.replace(path)
    assert sync(XlsxBackend(path)).written  # kpibot's ○ goes back over the formula
    after = members(path)
    assert "xl/calcChain.xml" not in after
    assert b"calcChain" not in after["xl/_rels/workbook.xml.rels"]
    assert b"calcChain" not in after["[Content_Types].xml"]
    assert openpyxl.load_workbook(path)["KPI"]["F2"].value == "○"


def test_reading_in_small_pieces_sees_the_same_cells(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = office_layout(tmp_path / "office.xlsx")
    sync(XlsxBackend(path))  # inline strings too
    whole = XlsxBackend(path).read().tabs
    monkeypatch.setattr(xlsx, "_CHUNK", 40)  # a piece ends after nearly every row
    assert XlsxBackend(path).read().tabs == whole


def test_new_columns_in_a_range_the_person_hid_are_shown_and_the_rest_stays_hidden(
    tmp_path: Path,
) -> None:
    """Offices hide every unused column right of the table; kpibot's results went into
    hidden columns, where nobody saw them."""
    workbook = openpyxl.Workbook()
    kpi = workbook.active
    assert kpi is not None
    kpi.title = "KPI"
    kpi.append(["年度", "事業名", "目標値", "実績値", "備考"])
    kpi.append(["令和5年度", "事業A", "100人", "120人", "メモ"])
    kpi.column_dimensions.group("F", "XFD", hidden=True)
    path = tmp_path / "hidden.xlsx"
    workbook.save(path)
    before = tmp_path / "before.xlsx"
    before.write_bytes(path.read_bytes())

    assert sync(XlsxBackend(path)).written
    assert_only_owned_changed(before, path, {"F", "G", "H", "I"})
    sheet = zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml").decode()
    cols = re.findall(r"<col [^>]*/>", sheet)
    spans = [(int(a), int(b), 'hidden="1"' in c) for c in cols for a, b in
             [re.search(r'min="(\d+)" max="(\d+)"', c).groups()]]  # type: ignore[union-attr]  # fmt: skip
    assert spans == [(6, 6, False), (7, 7, False), (8, 8, False), (9, 9, False),
                     (10, 16384, True)], cols  # fmt: skip
    reread = openpyxl.load_workbook(path)["KPI"]
    assert [reread.cell(1, c).value for c in range(6, 10)] == [
        "達成率", "達成", "評価", "検証"
    ]  # fmt: skip
    again = path.read_bytes()
    assert not sync(XlsxBackend(path)).written and path.read_bytes() == again
