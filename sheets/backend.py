"""What a sheet backend is: read a snapshot of the workbook, write kpibot's owned cells."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from sheets.schema import Grid, Marks, WriteSet


class SheetError(Exception):
    """A workbook could not be read or written. `message` is for the person using kpibot."""

    def __init__(self, message: str, sheet: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.sheet = sheet


class ConcurrentEditError(SheetError):
    """The sheet changed between kpibot's read and its write; nothing was written."""


@dataclass(frozen=True)
class WorkbookSnapshot:
    """The workbook as a person sees it: every tab as rows of displayed cell values."""

    title: str
    location: str  # a path or a URL, for links in answers
    tabs: dict[str, Grid] = field(default_factory=dict)
    version: str = ""  # changes whenever the workbook changes (mtime, revision)
    # The KPI tab's cell notes ((row, col) → text), for backends that show notes; else None.
    notes: dict[tuple[int, int], str] | None = None
    # What kpibot recorded as its own (columns of the KPI tab, its summary tab).
    marks: Marks = field(default_factory=Marks)
    # The KPI tab's merged ranges (first row, first col, last row, last col), 1-based.
    merged: tuple[tuple[int, int, int, int], ...] = ()


class SheetBackend(Protocol):
    @property
    def location(self) -> str: ...

    def read(self) -> WorkbookSnapshot: ...

    def write(self, changes: WriteSet, read_as: WorkbookSnapshot) -> None:
        """Write the owned cells. Raises ConcurrentEditError, writing nothing, when the
        workbook is no longer what `read_as` saw where it matters."""
        ...


@runtime_checkable
class VersionedBackend(Protocol):
    """A backend that can tell cheaply whether the workbook is still as kpibot's last
    write left it (the local .xlsx: its inode, time, size and content hash)."""

    written_version: str

    def version_now(self) -> str: ...


def apply_writes(tabs: dict[str, Grid], changes: WriteSet) -> None:
    """Apply a write set to grids in place (the CSV backend)."""
    grid = tabs.setdefault(changes.kpi_tab, [])
    for update in changes.cells:
        while len(grid) < update.row:
            grid.append([])
        line = grid[update.row - 1]
        while len(line) < update.col:
            line.append(None)
        line[update.col - 1] = update.value
    for name, content in changes.tabs.items():
        tabs[name] = [list(row) for row in content]
