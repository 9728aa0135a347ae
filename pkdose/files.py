"""Reading the files a user names (one safe reader for TOML and CSV input), and writing a
folder of outputs safely (:class:`OutputFolder`).

Every user-given file (regimen and reference TOML, model TOML, event tables, population
covariate tables, measured levels) is read here, so that each failure is one
:class:`~pkdose.errors.PkdoseError` line naming the file: only regular files are read
(a FIFO, device, socket or directory is refused before it is opened, and a FIFO swapped in
afterwards cannot block the open); symbolic links are followed by the operating system,
which refuses loops; the size is checked before reading and the read stops one byte past
the limit; text must be UTF-8 (a byte-order mark is allowed); TOML parse errors and
nesting depth, and CSV parse errors and row and column counts, are refused with the limit
from :mod:`pkdose.limits`. Outputs are staged and moved into place whole, never through a
symbolic link and never over a file the writer did not write (see :class:`OutputFolder`).
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import shutil
import signal
import stat
import tempfile
import threading
import tomllib
from collections.abc import Iterator, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd

from pkdose.errors import PkdoseError
from pkdose.limits import LIMITS, MAX_CSV_COLUMNS, MAX_CSV_ROWS, MAX_TOML_DEPTH, exceeded

__all__ = ["read_bytes", "read_text", "parse_toml", "read_toml", "read_csv", "toml_depth",
           "printable", "OutputFolder"]


def _kind(mode: int) -> str:
    """What a non-regular file is, for messages."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _os_error(err: OSError, what: str, path: str) -> PkdoseError:
    if isinstance(err, FileNotFoundError):
        return PkdoseError(f"{what} {path} not found")
    if err.errno == errno.ELOOP:
        return PkdoseError(f"{what} {path} is a loop of symbolic links; point it at a file")
    if isinstance(err, IsADirectoryError):
        return PkdoseError(f"{what} {path} is a directory, not a file")
    if isinstance(err, NotADirectoryError):
        return PkdoseError(f"{what} {path} not found (a part of the path is not a folder)")
    if isinstance(err, PermissionError):
        return PkdoseError(f"cannot read {what} {path}: permission denied")
    return PkdoseError(f"cannot read {what} {path}: {err.strerror or err}")


def _as_path(path: object, what: str) -> str:
    # os.stat(3) would read file descriptor 3: only names are accepted.
    if not isinstance(path, (str, PathLike)):
        raise PkdoseError(f"{what} must be a file name, got {type(path).__name__}")
    name = os.fspath(path)
    if not isinstance(name, str) or not name.strip():
        raise PkdoseError(f"{what} must be a file name, got {name!r}")
    if "\x00" in name:
        raise PkdoseError(f"{what} name {name!r} contains a NUL character")
    return name


def read_bytes(path: str | PathLike[str], what: str, size_limit: str) -> bytes:
    """The contents of a regular file no larger than the limit ``size_limit``.

    Parameters
    ----------
    path : str or path-like
    what : str
        What the file is, for messages, e.g. ``"regimen file"``.
    size_limit : {"toml_bytes", "csv_bytes"}
        Name of the size limit (:data:`pkdose.limits.LIMITS`); larger files are refused
        before they are read.

    Raises
    ------
    PkdoseError
        Missing file, symbolic-link loop, directory, FIFO, device, socket, no permission,
        or a file larger than the limit.
    """
    name = _as_path(path, what)
    try:
        st = os.stat(name)
    except OSError as err:
        raise _os_error(err, what, name) from None
    if not stat.S_ISREG(st.st_mode):
        raise PkdoseError(f"{what} {name} is {_kind(st.st_mode)}, not a file")
    max_bytes = int(LIMITS[size_limit].value)
    if st.st_size > max_bytes:
        raise exceeded(size_limit, f"{what} {name} ({st.st_size:,} bytes)")
    # Non-blocking, so that a FIFO put in the file's place after the check cannot hang
    # the open; the type is checked again on the open descriptor.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(name, flags)
    except OSError as err:
        raise _os_error(err, what, name) from None
    with os.fdopen(fd, "rb") as fh:
        mode = os.fstat(fh.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise PkdoseError(f"{what} {name} is {_kind(mode)}, not a file")
        try:
            data = fh.read(max_bytes + 1)
        except OSError as err:
            raise _os_error(err, what, name) from None
    if len(data) > max_bytes:
        raise exceeded(size_limit, f"{what} {name} (more than {max_bytes:,} bytes)")
    return data


def read_text(path: str | PathLike[str], what: str, size_limit: str = "toml_bytes") -> str:
    """A UTF-8 text file (see :func:`read_bytes`); a byte-order mark is dropped.

    Raises
    ------
    PkdoseError
        As :func:`read_bytes`, or for bytes that are not UTF-8 or a NUL byte (a binary
        file).
    """
    data = read_bytes(path, what, size_limit)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        byte = data[err.start]
        raise PkdoseError(f"{what} {os.fspath(path)} is not UTF-8 text (byte 0x{byte:02x} at "
                          f"offset {err.start}); save it as UTF-8") from None
    if "\x00" in text:
        raise PkdoseError(f"{what} {os.fspath(path)} is a binary file (it holds NUL bytes), "
                          "not text")
    return text


def toml_depth(value: object) -> int:
    """Nesting depth of parsed TOML: 0 for a scalar, 1 for a flat table or array.

    Iterative, so that it cannot itself run out of recursion.
    """
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            deepest = max(deepest, depth)
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def parse_toml(text: str, source: str) -> dict[str, Any]:
    """Parse TOML text, refusing parse errors and nesting beyond the limit.

    Parameters
    ----------
    text : str
    source : str
        Name for messages, usually the file path.

    Raises
    ------
    PkdoseError
        ``"{source}: invalid TOML: ..."``, or the nesting-depth limit.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise PkdoseError(f"{source}: invalid TOML: {err}") from None
    except RecursionError:
        raise exceeded("toml_depth",
                       f"{source}: tables and arrays nested too deeply to parse") from None
    except ValueError as err:  # e.g. an integer of more than 4300 digits
        raise PkdoseError(f"{source}: invalid TOML: {err}") from None
    depth = toml_depth(data)
    if depth > MAX_TOML_DEPTH:
        raise exceeded("toml_depth", f"{source}: nesting {depth} levels deep")
    return data


def read_toml(path: str | PathLike[str], what: str) -> dict[str, Any]:
    """Read and parse a TOML file (see :func:`read_text` and :func:`parse_toml`)."""
    return parse_toml(read_text(path, what, "toml_bytes"), os.fspath(path))


def read_csv(path: str | PathLike[str], what: str, empty_hint: str = "",
             **options: Any) -> pd.DataFrame:
    """Read a CSV file with pandas, within the size, row and column limits.

    Parameters
    ----------
    path : str or path-like
    what : str
        What the file is, for messages, e.g. ``"event table"``.
    empty_hint : str
        Appended to the message for an empty file, e.g. the expected columns.
    **options
        Passed to :func:`pandas.read_csv`.

    Raises
    ------
    PkdoseError
        As :func:`read_text`; an empty file; more rows or columns than the limits; or a
        parse error (the first line of pandas' message).
    """
    text = read_text(path, what, "csv_bytes")
    name = os.fspath(path)
    # Lines bound rows from above (quoted cells may span lines), so this refuses before
    # pandas allocates; the count after parsing is exact.
    n_lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    if n_lines - 1 > MAX_CSV_ROWS:
        raise exceeded("csv_rows", f"{what} {name} ({n_lines - 1:,} lines after the header)")
    header = text.split("\n", 1)[0]
    if header.count(",") + 1 > MAX_CSV_COLUMNS:
        raise exceeded("csv_columns", f"{what} {name} ({header.count(',') + 1:,} columns)")
    try:
        df = pd.read_csv(io.StringIO(text), **options)
    except pd.errors.EmptyDataError:
        raise PkdoseError(f"{what} {name} is empty{'; ' + empty_hint if empty_hint else ''}"
                          ) from None
    except (pd.errors.ParserError, ValueError, OverflowError, TypeError) as err:
        detail = " ".join(str(err).split("\n", 1)[0].split())
        raise PkdoseError(f"cannot read {what} {name}: {detail}") from None
    if len(df) > MAX_CSV_ROWS:
        raise exceeded("csv_rows", f"{what} {name} ({len(df):,} rows)")
    return df


def printable(text: str) -> str:
    """A file name or text as it may be shown on one line: control and format characters
    (newline, escape, right-to-left override ...) as ``\\n``, ``\\x1b``, ``\\u202e``, and
    bytes that are not UTF-8 (held by Python as surrogates) as ``\\xff``.

    Text without such characters comes back unchanged.
    """
    out = []
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte (surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    return "".join(out)


# --------------------------------------------------------------------------- writing


def _plain_name(name: str) -> bool:
    return name not in ("", ".", "..") and not any(c in name for c in "/\\\x00")


def _valid_rel(rel: str) -> bool:
    """A file name, or one folder then a file name (``figures/overlay.png``)."""
    parts = rel.split("/")
    return len(parts) <= 2 and all(_plain_name(p) for p in parts)


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold Ctrl-C until the block is done, then raise it: moving finished files into
    place takes milliseconds and is not worth leaving half done. Only the main thread
    can handle signals; elsewhere the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []
    old = signal.signal(signal.SIGINT, lambda signum, frame: got.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
    if got:
        raise KeyboardInterrupt


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class OutputFolder:
    """A folder of outputs replaced as a whole, never through a symbolic link.

    Files are written into a private staging folder next to ``target`` (same file system)
    and moved into place by :meth:`commit`; leaving the ``with`` block without a commit
    (an error, a full disk, Ctrl-C) removes the staging folder and leaves ``target`` as
    it was.

    - A missing ``target`` is created by renaming the staging folder: all or nothing.
    - An existing ``target`` keeps every file this writer did not write. The files it
      wrote are listed in a manifest file in ``target``; a run deletes the files the
      previous run listed and no longer writes (stale figures), refuses to replace a
      file it did not write, and moves the new files in one by one with ``last`` (the
      pages a reader opens) deleted first and moved in last, so an interrupted move leaves
      no page rather than an old one beside new data. Ctrl-C is held while files move.
    - ``target`` itself, a subfolder of it, or the manifest being a symbolic link is
      refused; files inside are replaced as directory entries (a link is replaced,
      never its target). Every step after the first check works on folder descriptors
      opened without following links, so a link planted during the run is not followed
      either.

    Parameters
    ----------
    target : str or path-like
    manifest : str
        File name of the manifest inside ``target``, e.g. ``.pkdose-report.json``.
    owner : str
        Who writes the folder, for messages and the manifest, e.g. ``pkdose report``.
    last : sequence of str
        Files (relative names) deleted first and moved in last.
    """

    def __init__(self, target: str | PathLike[str], manifest: str, owner: str,
                 last: Sequence[str] = ()) -> None:
        self.target = Path(os.path.abspath(_as_path(target, "output folder")))
        self.manifest, self.owner, self.last = manifest, owner, tuple(last)
        self.staging: Path | None = None
        self.written: list[str] = []

    # ---------------------------------------------------------------- checks

    def _open_target(self) -> int | None:
        """A descriptor of ``target`` (None if missing), opened without following a link."""
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
        try:
            return os.open(self.target, flags)
        except FileNotFoundError:
            return None
        except OSError as err:
            raise self._refusal(err, self.target) from None

    def _refusal(self, err: OSError, path: Path) -> PkdoseError:
        if os.path.islink(path):
            return PkdoseError(f"{path} is a symbolic link, and {self.owner} never writes "
                               "through one: give a real folder (the one the link points to, "
                               "or a new one), or remove the link")
        if isinstance(err, NotADirectoryError) and os.path.lexists(path):
            return PkdoseError(f"{path} is a file, not a folder; choose a folder for the output")
        if isinstance(err, NotADirectoryError):
            return PkdoseError(f"cannot create {path}: a part of its path is a file, not a "
                               "folder")
        return PkdoseError(f"cannot open {path}: {err.strerror or err}")

    def _subfolder(self, dfd: int, name: str, create: bool) -> int | None:
        if create:
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o777, dir_fd=dfd)
        try:
            return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dfd)
        except FileNotFoundError:
            return None
        except OSError as err:
            raise self._refusal(err, self.target / name) from None

    def _read_manifest(self, dfd: int) -> set[str]:
        """The files the previous run listed (empty when there is no manifest)."""
        path = self.target / self.manifest
        flags = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(self.manifest, flags, dir_fd=dfd)
        except FileNotFoundError:
            return set()
        except OSError as err:
            raise self._refusal(err, path) from None
        with os.fdopen(fd, "rb") as fh:
            ok = stat.S_ISREG(os.fstat(fh.fileno()).st_mode)
            data = fh.read(int(LIMITS["toml_bytes"].value) + 1) if ok else b""
        try:
            files = json.loads(data)["files"]
        except (ValueError, KeyError, TypeError):
            files = None
        if not (isinstance(files, list) and all(isinstance(f, str) and _valid_rel(f)
                                                  for f in files)):
            raise PkdoseError(f"{path} is not a list of files {self.owner} wrote; remove it "
                              "(and the outputs it listed) or choose another folder")
        return set(files)

    def check(self, rels: Sequence[str] = ()) -> None:
        """Refuse early, before any work, what :meth:`commit` would refuse for ``rels``:
        a linked or unusable ``target``, subfolder or manifest, or a file there that the
        previous run did not write. Nothing is changed."""
        dfd = self._open_target()
        if dfd is None:
            return
        try:
            self._conflicts(dfd, self._read_manifest(dfd), rels)
        finally:
            os.close(dfd)

    def _conflicts(self, dfd: int, old: set[str], rels: Sequence[str]) -> None:
        clash = []
        for rel in rels:
            folder, _, name = rel.rpartition("/")
            sub = self._subfolder(dfd, folder, create=False) if folder else dfd
            if sub is None:
                continue
            try:
                os.stat(name, dir_fd=sub, follow_symlinks=False)
                if rel not in old:
                    clash.append(rel)
            except FileNotFoundError:
                pass
            finally:
                if sub != dfd:
                    os.close(sub)
        if clash:
            more = f" (and {len(clash) - 1} more)" if len(clash) > 1 else ""
            raise PkdoseError(f"{self.target} already holds {clash[0]}{more}, which "
                              f"{self.owner} did not write there (it is not in "
                              f"{self.manifest}); move it away or choose another folder")

    # ---------------------------------------------------------------- writing

    def __enter__(self) -> OutputFolder:
        dfd = self._open_target()
        # Staged inside an existing target (so a read-only parent, as for --out . in a
        # home folder, is no obstacle), else next to it; either way on its file system.
        where = self.target if dfd is not None else self.target.parent
        prefix = ".pkdose-staging-" if dfd is not None else f".{self.target.name}."
        if dfd is not None:
            os.close(dfd)
        try:
            where.mkdir(parents=True, exist_ok=True)
            self.staging = Path(tempfile.mkdtemp(prefix=prefix, suffix=".partial",
                                                 dir=where))
        except OSError as err:
            raise PkdoseError(f"cannot create {err.filename or where}: "
                              f"{err.strerror or err}") from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None

    def path(self, rel: str) -> Path:
        """Where to write the output ``rel`` (``report.html``, ``figures/x.png``) now."""
        if self.staging is None:
            raise RuntimeError("OutputFolder.path outside its with block")
        if not _valid_rel(rel) or rel == self.manifest:
            raise ValueError(f"not an output name: {rel!r}")
        if rel not in self.written:
            self.written.append(rel)
        out = self.staging / rel
        out.parent.mkdir(exist_ok=True)
        return out

    def discard(self, rel: str) -> None:
        """Forget the output ``rel`` (and remove what was written of it)."""
        if rel in self.written and self.staging is not None:
            self.written.remove(rel)
            with contextlib.suppress(FileNotFoundError):
                (self.staging / rel).unlink()

    def write_text(self, rel: str, text: str) -> Path:
        """Write a UTF-8 text output (``\\n`` line ends); returns its final path."""
        try:
            with open(self.path(rel), "w", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
        except OSError as err:
            raise self.write_error(rel, err) from None
        return self.target / rel

    def write_error(self, rel: str, err: OSError) -> PkdoseError:
        """The one-line error for an output that could not be written (e.g. a full disk)."""
        return PkdoseError(f"cannot write {self.target / rel}: {err.strerror or err}; "
                           f"{self.target} is left as it was")

    def commit(self) -> list[Path]:
        """Move every written output into ``target``; returns their final paths."""
        if self.staging is None:
            raise RuntimeError("OutputFolder.commit outside its with block")
        for rel in self.written:  # on disk before anything is replaced
            try:
                with open(self.staging / rel, "rb") as fh:
                    os.fsync(fh.fileno())
            except OSError as err:
                raise self.write_error(rel, err) from None
        with _sigint_deferred():
            self._move_in()
        return [self.target / rel for rel in self.written]

    def _write_manifest(self, sfd: int, files: set[str]) -> None:
        data = json.dumps({"written_by": self.owner, "files": sorted(files)}, indent=1)
        fd = os.open(self.manifest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666, dir_fd=sfd)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(data + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def _move_in(self) -> None:
        assert self.staging is not None
        new = set(self.written)
        sfd = os.open(self.staging, os.O_RDONLY | os.O_DIRECTORY)
        try:
            self._write_manifest(sfd, new)
            os.chmod(sfd, 0o777 & ~_umask())  # mkdtemp made it private
            if self.staging.parent == self.target:
                self._merge_into_target(sfd, new)
                return
            try:
                os.rename(self.staging, self.target)  # target missing: all at once
                self.staging = None
                return
            except OSError as err:
                if err.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR,
                                     errno.EISDIR):
                    raise PkdoseError(f"cannot create {self.target}: "
                                      f"{err.strerror or err}") from None
            self._merge_into_target(sfd, new)
        finally:
            os.close(sfd)

    def _merge_into_target(self, sfd: int, new: set[str]) -> None:
        dfd = self._open_target()
        if dfd is None:
            raise PkdoseError(f"{self.target} disappeared while the outputs were written")
        try:
            self._merge(dfd, sfd, new)
        finally:
            os.close(dfd)

    def _merge(self, dfd: int, sfd: int, new: set[str]) -> None:
        old = self._read_manifest(dfd)
        self._conflicts(dfd, old, sorted(new))
        folders = {rel.rpartition("/")[0] for rel in old | new}
        fds: dict[str, tuple[int | None, int | None]] = {"": (dfd, sfd)}
        try:
            for folder in sorted(folders - {""}):
                ours = folder in {rel.rpartition("/")[0] for rel in new}
                fds[folder] = (self._subfolder(dfd, folder, create=ours),
                               self._subfolder(sfd, folder, create=False))

            def split(rel: str) -> tuple[int | None, int | None, str]:
                folder, _, name = rel.rpartition("/")
                return (*fds[folder], name)

            def unlink(rel: str) -> None:
                tfd, _, name = split(rel)
                if tfd is not None:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(name, dir_fd=tfd)

            def move(rel: str) -> None:
                tfd, from_fd, name = split(rel)
                os.rename(name, name, src_dir_fd=from_fd, dst_dir_fd=tfd)

            # While files move, the manifest lists old and new, so a run stopped half way
            # (power cut) is tidied up by the next one.
            self._write_manifest(sfd, old | new)
            os.rename(self.manifest, self.manifest, src_dir_fd=sfd, dst_dir_fd=dfd)
            for rel in self.last:
                unlink(rel)
            for rel in sorted(old - new):
                unlink(rel)
            for rel in self.written:
                if rel not in self.last:
                    move(rel)
            self._write_manifest(sfd, new)
            os.rename(self.manifest, self.manifest, src_dir_fd=sfd, dst_dir_fd=dfd)
            for rel in self.last:
                if rel in new:
                    move(rel)
            os.fsync(dfd)
        except OSError as err:
            raise PkdoseError(f"cannot move the new outputs into {self.target}: "
                              f"{err.strerror or err}") from None
        finally:
            for folder, (tfd, from_fd) in fds.items():
                if folder:
                    for fd in (tfd, from_fd):
                        if fd is not None:
                            os.close(fd)
