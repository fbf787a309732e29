"""The report: one self-contained HTML file (criteria, 総括表, one 事業評価シート per
project), and the same file printed to PDF by headless Chromium."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path

import jinja2

from bot.publish.charts import project_chart
from bot.publish.document import ProjectPage, Publication, PublishError, criteria
from rules.achievement import Rounding
from rules.values import format_fiscal_year

PDF_TIMEOUT = 600  # seconds: a 1,000-project report prints in well under a minute
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Headless, no network, no profile left behind: the page is a local file with nothing to fetch.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-pdf-header-footer",  # page numbers come from the page's own @page rules
    # The parts are joined by pypdf, which keeps pages, not a document's structure tree:
    # the tags Chromium would write (half of its print time) could not survive the join.
    # The HTML report is the accessible edition; the PDF is for print.
    "--disable-pdf-tagging",
)
MARKS = {"○": "達成", "×": "未達成", "—": "達成率なし"}


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("bot.publish", ""),
        autoescape=True,  # every cell is text a person typed
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )


def anchor(name: str) -> str:
    """A stable id for a project: the same name gives the same link in every edition."""
    return "p-" + hashlib.sha1(name.encode("utf-8")).hexdigest()[:10]


def render_html(
    publication: Publication,
    rounding: Rounding,
    sheet: str,
    made: dt.datetime,
    sections: Sequence[ProjectPage] | None = None,
    front: bool = True,
    first_page: int = 0,
    total_pages: int = 0,
    blank_pages: int = 0,
) -> str:
    """The report, or one part of it for printing: the front (cover, criteria, 総括表)
    and/or some project sections, numbered from `first_page` of `total_pages` (0: as
    many as it prints), then `blank_pages` empty pages that only count."""
    sections = publication.pages if sections is None else sections
    ids = {page.name: anchor(page.name) for page in publication.pages}
    charts = {
        page.name: project_chart(page, ids[page.name], f"{ids[page.name]}-chart")
        for page in sections
    }
    css = resources.files("bot.publish").joinpath("report.css").read_text(encoding="utf-8")
    template = _environment().get_template("report.html.j2")
    return template.render(
        pub=publication,
        css=css,
        criteria=criteria(publication.ruleset),
        rounding="切り捨て" if rounding is Rounding.TRUNCATE else "四捨五入",
        kpi_count=sum(len(page.kpis) for page in publication.pages),
        ids=ids,
        charts=charts,
        marks=MARKS,
        made=f"{made:%Y年%m月%d日}",
        sheet=sheet,
        year_label=format_fiscal_year,
        sections=sections,
        front=front,
        first_page=first_page,
        total_pages=total_pages,
        blank_pages=blank_pages,
        # A part printed for the PDF has no links to the projects: their pages are in other
        # parts, so Chromium wrote no link for them anyway, after a second of looking for
        # the 1,000 targets of a large 総括表.
        printing=first_page > 0,
    )


def find_chromium(configured: str = "") -> str | None:
    if configured:
        return configured if Path(configured).exists() else shutil.which(configured)
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


PDF_FONT = "BIZ UDPGothic"


def pdf_font_warning() -> str | None:
    """A line to show when the report's font is not installed where Chromium prints. Chromium
    then falls back to Noto Sans CJK, whose shared glyphs put Kangxi radicals (⽇ U+2F47 for
    日) into the PDF's text: searching and copying the published PDF would fail. None when
    the font is there, or when fontconfig cannot be asked (not Linux: Chromium uses the
    system's fonts, and Windows ships this one)."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    try:
        found = subprocess.run(
            [fc_list, f":family={PDF_FONT}", "family"],
            capture_output=True, text=True, timeout=10, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    if found.stdout.strip():
        return None
    return (
        f"注意: フォント {PDF_FONT}（BIZ UDPゴシック）がありません。PDF の一部の漢字が検索や"
        "コピーで別の文字（部首）になります。Debian では `apt-get install "
        "fonts-morisawa-bizud-gothic` で入ります。"
    )


def print_pdf(html: Path, pdf: Path, chromium: str | None) -> None:
    """Print the HTML file to A4 PDF with headless Chromium (page breaks and numbers from
    the report's print styles)."""
    if chromium is None:
        raise PublishError(
            "PDF を作るための Chromium が見つかりません。`apt-get install chromium` で入れるか、"
            "KPIBOT_CHROMIUM にパスを設定してください（HTML・CSV・Excel は作成済みです）。"
        )
    with tempfile.TemporaryDirectory(prefix="kpibot-chromium-") as profile:
        partial = pdf.with_name(pdf.name + ".part")
        command = [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--print-to-pdf={partial}",
            html.resolve().as_uri(),
        ]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=PDF_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired:
            partial.unlink(missing_ok=True)
            raise PublishError(
                f"Chromium が{PDF_TIMEOUT}秒たっても PDF を書き終えませんでした。"
            ) from None
        if done.returncode != 0 or not partial.exists() or partial.stat().st_size == 0:
            partial.unlink(missing_ok=True)
            last = (done.stderr.strip().splitlines() or ["（出力なし）"])[-1]
            raise PublishError(
                f"Chromium で PDF を作れませんでした（終了コード {done.returncode}: {last}）。"
            )
        partial.replace(pdf)  # a reader never sees half a PDF


# Projects per printed part. Chromium's print time grows faster than the pages (one
# 1,000-project document: about twice the time of five 200-project parts), and each
# process costs under a second to start: 100 gives two workers ten parts to share.
PART_SIZE = 100
Render = Callable[[Sequence[ProjectPage], bool, int, int, int], str]


def print_pdf_in_parts(
    publication: Publication,
    render: Render,
    pdf: Path,
    chromium: str | None,
    part_size: int | None = None,
    workers: int = 2,
) -> None:
    """Print the report as the front and parts of `part_size` projects, and join them.

    Page numbers run on across the parts ("12 / 1113"), and only a print tells how many
    pages the front (cover, criteria, 総括表) takes. So the front is printed first with
    one blank page after it for each project page: its own numbers and the total come out
    right in that one print, and its length is what it printed less the blank pages
    (which are left out of the join). Then the parts are printed side by side, numbered
    on from it. A project is one page; when a part turns out longer, the front and the
    parts are printed again with the right numbers."""
    from pypdf import PdfReader, PdfWriter  # only when printing
    from pypdf.generic import NameObject, TextStringObject

    pages, size = publication.pages, part_size or PART_SIZE
    parts = [pages[i : i + size] for i in range(0, len(pages), size)]
    with tempfile.TemporaryDirectory(prefix="kpibot-pdf-") as work:
        folder = Path(work)

        def printed(name: str, html: str) -> Path:
            source, target = folder / f"{name}.html", folder / f"{name}.pdf"
            source.write_text(html, encoding="utf-8")
            print_pdf(source, target, chromium)
            return target

        def count(path: Path) -> int:
            return len(PdfReader(path).pages)

        lengths = [len(part) for part in parts]  # one page per project, until shown otherwise
        front, front_pages = folder / "front.pdf", 0
        done: list[Path] = []
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for _ in range(3):
                front = printed("front", render((), True, 1, 0, sum(lengths)))
                front_pages = count(front) - sum(lengths)
                total = front_pages + sum(lengths)
                starts = [front_pages + 1 + sum(lengths[:i]) for i in range(len(parts))]
                jobs = [
                    pool.submit(printed, f"part{i:04d}", render(part, False, start, total, 0))
                    for i, (part, start) in enumerate(zip(parts, starts, strict=True))
                ]
                done = [job.result() for job in jobs]
                real = [count(path) for path in done]
                if real == lengths:
                    break
                lengths = real
        writer = PdfWriter()
        writer.append(str(front), pages=(0, front_pages))  # without the blank pages
        for path in done:
            writer.append(str(path))
        writer.add_metadata({"/Title": publication.title, "/Creator": "kpibot"})
        writer.root_object[NameObject("/Lang")] = TextStringObject("ja")  # read as Japanese
        partial = pdf.with_name(pdf.name + ".part")
        with partial.open("wb") as out:
            writer.write(out)
        partial.replace(pdf)
