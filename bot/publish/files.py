"""Publishing as one step, for the CLI, Slack and the add-on: read and rate the sheet
(services.check: nothing is written to it), then write the HTML report, the open-data CSV,
the .xlsx and the PDF into a folder."""

from __future__ import annotations

import datetime as dt
import re
import secrets
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bot import services
from bot.bootstrap import Services
from bot.publish import opendata
from bot.publish.document import ProjectPage, Publication, build_publication, read_year
from bot.publish.report import (
    find_chromium,
    pdf_font_warning,
    print_pdf_in_parts,
    render_html,
)

Progress = Callable[[str], None]
# One folder per edition under KPIBOT_PUBLISH_DIR, named by its time and a random part:
# the add-on's links and Slack's buttons name an edition, and nothing else can be named.
_EDITION = re.compile(r"^\d{8}T\d{6}-[0-9a-f]{16}$")
KINDS = {"pdf": "PDF", "html": "HTML", "csv": "CSV", "xlsx": "Excel"}


@dataclass(frozen=True)
class Published:
    publication: Publication
    html: Path
    csv: Path
    xlsx: Path
    pdf: Path
    seconds: float

    @property
    def files(self) -> tuple[Path, ...]:
        return (self.pdf, self.html, self.csv, self.xlsx)


def file_stem(publication: Publication) -> str:
    return f"{publication.year_label}_効果検証結果" + ("_案" if publication.draft else "")


def _sheet_name(location: str) -> str:
    return Path(location).name if "/" in location or "\\" in location else location


def _write(path: Path, write: Callable[[Path], None]) -> None:
    """Write beside, then rename: an earlier edition is never left half overwritten."""
    partial = path.with_name(path.name + ".part")
    write(partial)
    partial.replace(path)


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def publish(
    app: Services,
    out: Path,
    year: str | None = None,
    draft: bool = False,
    chromium: str = "",
    progress: Progress = lambda _: None,
    now: dt.datetime | None = None,
) -> Published:
    """Raises document.NotReady (with the list) while a project has an 【エラー】 or is
    評価保留, unless `draft`; PublishError when the year is not in the sheet or the PDF
    cannot be printed (the other files are written by then)."""
    started = time.perf_counter()
    progress("シートを読んで評価しています…")
    report = services.check(app.backend, app.ruleset, app.rounding)
    publication = build_publication(report, app.ruleset, read_year(year) if year else None, draft)
    out.mkdir(parents=True, exist_ok=True)
    stem = file_stem(publication)
    html = out / f"{stem}.html"
    data = f"{publication.year_label}_事業実施結果報告" + ("_案" if draft else "")
    paths = {
        "html": html,
        "csv": out / f"{data}.csv",
        "xlsx": out / f"{data}.xlsx",
        "pdf": out / f"{stem}.pdf",
    }
    sheet = _sheet_name(app.backend.location)
    made = now or dt.datetime.now()

    def render(
        sections: Sequence[ProjectPage], front: bool, first: int, total: int, blank: int
    ) -> str:
        return render_html(
            publication, app.rounding, sheet, made, sections, front, first, total, blank
        )

    # The PDF is printed by Chromium processes while this thread writes the other files:
    # its printing is most of the time and waits on nothing but the publication.
    with ThreadPoolExecutor(max_workers=1) as background:
        progress("PDF を印刷しています…")
        if warning := pdf_font_warning():
            progress(warning)
        pdf = background.submit(
            print_pdf_in_parts, publication, render, paths["pdf"], find_chromium(chromium)
        )
        progress(f"{len(publication.pages)}事業の報告書（HTML）を作っています…")
        text = render_html(publication, app.rounding, sheet, made)
        _write(paths["html"], lambda p: _write_text(p, text))
        progress("オープンデータ（CSV・Excel）を書いています…")
        _write(paths["csv"], lambda p: opendata.write_csv(publication, p))
        _write(paths["xlsx"], lambda p: opendata.write_xlsx(publication, p))
        pdf.result()  # PublishError when it could not be printed: the others are written
    return Published(
        publication,
        paths["html"],
        paths["csv"],
        paths["xlsx"],
        paths["pdf"],
        time.perf_counter() - started,
    )


def new_edition(root: Path, now: dt.datetime | None = None) -> Path:
    """A fresh folder for one run of `publish` from Slack or the add-on."""
    moment = now or dt.datetime.now()
    return root / f"{moment:%Y%m%dT%H%M%S}-{secrets.token_hex(8)}"


def edition_file(root: Path, edition: str, name: str) -> Path | None:
    """The file `name` of an edition, or None: a name from a link or a button is only
    matched against what the folder holds, never joined into a path as it is."""
    if not _EDITION.match(edition):
        return None
    folder = root / edition
    if not folder.is_dir():
        return None
    return next((path for path in folder.iterdir() if path.name == name and path.is_file()), None)


def edition_kind(root: Path, edition: str, kind: str) -> Path | None:
    """The edition's file of one kind (pdf, html, csv, xlsx)."""
    if kind not in KINDS or not _EDITION.match(edition) or not (root / edition).is_dir():
        return None
    return next((p for p in sorted((root / edition).iterdir()) if p.suffix == f".{kind}"), None)
