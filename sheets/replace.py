"""Replacing a local workbook without losing anybody's save (compare-and-swap at the rename).

A workbook's version is its inode, modification time, size and a hash of its bytes. The new
file is written unnamed (O_TMPFILE where the OS has it, so a killed kpibot leaves nothing
behind), given a name beside the workbook only once complete, and swapped in with
renameat2(RENAME_EXCHANGE): the file that was swapped out is then checked against the
version kpibot read, and swapped back if somebody saved in between, so their save is never
lost. Where the exchange is not available, the version is checked just before an ordinary
rename. Two kpibot processes take turns through an advisory lock on the folder.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import functools
import hashlib
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from sheets.backend import ConcurrentEditError, SheetError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory lock, the swap still checks
    fcntl = None  # type: ignore[assignment]

TEMP_PREFIX = ".~kpibot-"
TEMP_SUFFIX = ".tmp"
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def version_of(data: bytes, stat: os.stat_result) -> str:
    digest = hashlib.blake2b(data, digest_size=16).hexdigest()
    return f"{stat.st_dev}:{stat.st_ino}:{stat.st_mtime_ns}:{stat.st_size}:{digest}"


def read_versioned(path: Path) -> tuple[bytes, str]:
    """The file's bytes and its version, from one open file."""
    with path.open("rb") as source:
        stat = os.fstat(source.fileno())
        data = source.read()
    return data, version_of(data, stat)


def current_version(path: Path) -> str:
    try:
        return read_versioned(path)[1]
    except FileNotFoundError:
        return ""


@functools.cache
def _libc_renameat2() -> Callable[[bytes, bytes], int] | None:
    """renameat2 from the C library, looked up at the first swap: find_library runs
    ldconfig, which a sync with nothing to write need not wait for."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        function = libc.renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
    function.argtypes += [ctypes.c_uint]

    def exchange(first: bytes, second: bytes) -> int:
        if function(_AT_FDCWD, first, _AT_FDCWD, second, _RENAME_EXCHANGE) == 0:
            return 0
        return ctypes.get_errno()

    return exchange


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """An advisory lock on the workbook's folder: kpibot processes writing there take
    turns. A lock on the folder, not on a lock file, so nothing is left behind."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def sweep_stale_temps(folder: Path) -> None:
    """Temporary files of kpibot processes that were killed (their pid is gone)."""
    for leftover in folder.glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}"):
        pid_text = leftover.name.removeprefix(TEMP_PREFIX).split("-", 1)[0]
        if not pid_text.isdigit():
            continue
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            leftover.unlink(missing_ok=True)
        except PermissionError:
            continue


def writable_target(path: Path) -> Path:
    """The file to replace: a symlink's target (the link stays a link). A read-only file
    is refused, as a person's 「読み取り専用」 means 「do not change this」."""
    real = Path(os.path.realpath(path))
    if not real.exists():
        raise SheetError(f"ファイル {path} が見つかりません。", str(path))
    if not os.access(real, os.W_OK) or not real.stat().st_mode & 0o222:
        raise SheetError(
            f"{path.name} は読み取り専用なので書き込みません。"
            "書き込みを許可してから、もう一度実行してください。",
            str(path),
        )
    if not os.access(real.parent, os.W_OK | os.X_OK):
        raise SheetError(
            f"{path.name} のあるフォルダ（{real.parent}）に書き込めません。"
            "フォルダの書き込み権限を確認してください。",
            str(path),
        )
    return real


def _new_file(folder: Path) -> tuple[int, Path | None]:
    """A file descriptor to write the new workbook to, and its name: None while it has no
    name (O_TMPFILE), so that a kpibot killed while writing leaves nothing behind."""
    flag = getattr(os, "O_TMPFILE", 0)
    if flag:
        try:
            return os.open(folder, flag | os.O_RDWR, 0o600), None
        except OSError as error:
            if error.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT):
                raise
    return _named_temp(folder)


def _link_unnamed(fd: int, name: Path) -> None:
    """Give an O_TMPFILE file a name. os.link calls linkat(…, AT_SYMLINK_FOLLOW) only when
    given a directory fd; plain link() would link /proc's symlink itself (EXDEV)."""
    root = os.open("/", os.O_RDONLY)
    try:
        os.link(f"/proc/self/fd/{fd}", name, src_dir_fd=root, follow_symlinks=True)
    finally:
        os.close(root)


def _temp_name(folder: Path) -> Path:
    return folder / f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}{TEMP_SUFFIX}"


def _named_temp(folder: Path) -> tuple[int, Path | None]:
    name = _temp_name(folder)
    return os.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600), name


def changed_since_read(path: Path) -> ConcurrentEditError:
    """The error for a file somebody saved after kpibot read it."""
    return ConcurrentEditError(
        f"{path.name} は読み込んだ後に別の人・プログラムが保存しました。もう一度実行してください。",
        str(path),
    )


def replace_checked(
    path: Path, read_version: str, fill: Callable[[IO[bytes], bytes], object]
) -> str:
    """Write a new version of `path` with `fill(file, source)` and swap it in, only if the
    file is still `read_version` at that moment; else ConcurrentEditError and the file is
    left as it is. `source` is the bytes of `read_version`: what is copied into the new
    file comes from them, never from the path opened again, which may hold another file
    for an instant (another kpibot's refused swap puts its file there and back). The file's
    permission bits and owner carry over. A `read_version` of "" creates the file, only if
    it still does not exist. Returns the version of the new file."""
    real = writable_target(path) if read_version else Path(os.path.realpath(path))
    folder = real.parent
    sweep_stale_temps(folder)
    try:
        source, version = read_versioned(real)
    except FileNotFoundError:
        source, version = b"", ""
    if version != read_version:  # early exit before the work; checked again at the swap
        raise changed_since_read(path)
    stat = real.stat() if read_version else None
    fd, temp = _new_file(folder)
    try:
        with os.fdopen(fd, "wb", closefd=False) as out:
            fill(out, source)
            out.flush()
            os.fsync(fd)
        if stat is not None:
            with contextlib.suppress(OSError):
                os.fchmod(fd, stat.st_mode & 0o7777)
            with contextlib.suppress(OSError):
                os.fchown(fd, stat.st_uid, stat.st_gid)
        else:  # a new file: as a new file of this user would be
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)
        with folder_lock(folder):
            if temp is None:  # named only now, for the swap
                temp = _temp_name(folder)
                _link_unnamed(fd, temp)
            _swap(temp, real, path, read_version)
        return _version_of_fd(fd)
    finally:
        os.close(fd)
        if temp is not None:
            temp.unlink(missing_ok=True)


def _version_of_fd(fd: int) -> str:
    stat = os.fstat(fd)
    digest = hashlib.blake2b(digest_size=16)
    offset = 0
    while chunk := os.pread(fd, 1 << 20, offset):
        digest.update(chunk)
        offset += len(chunk)
    return f"{stat.st_dev}:{stat.st_ino}:{stat.st_mtime_ns}:{stat.st_size}:{digest.hexdigest()}"


def _same_as_read(path: Path, read_version: str) -> bool:
    """Is `path` the version kpibot read? The inode, time and size first (a save by rename
    or in place changes one of them at once), then the bytes."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return False
    if read_version.split(":")[:4] != version_of(b"", stat).split(":")[:4]:
        return False
    return current_version(path) == read_version


def _swap(temp: Path, real: Path, shown: Path, read_version: str) -> None:
    if not read_version:
        try:
            os.link(temp, real)  # fails if somebody made the file meanwhile
        except FileExistsError:
            raise changed_since_read(shown) from None
        return
    exchange = _libc_renameat2()
    if exchange is not None:
        ours = temp.stat().st_ino
        failed = exchange(bytes(temp), bytes(real))
        if failed == 0:
            # `temp` is now the file that was in place: was it the one kpibot read?
            if _same_as_read(temp, read_version):
                return
            exchange(bytes(temp), bytes(real))  # put the person's save back
            with contextlib.suppress(FileNotFoundError):
                if temp.stat().st_ino != ours:
                    # They saved again in that instant, replacing kpibot's file: what came
                    # back to `temp` is their newest save, so it goes in place.
                    os.replace(temp, real)
            raise changed_since_read(shown)
        if failed not in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise OSError(failed, os.strerror(failed), str(real))
    if not _same_as_read(real, read_version):
        raise changed_since_read(shown)
    os.replace(temp, real)
