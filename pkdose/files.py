"""Reading the files a user names: one safe reader for TOML and CSV input.

Every user-given file (regimen and reference TOML, model TOML, event tables, population
covariate tables, measured levels) is read here, so that each failure is one
:class:`~pkdose.errors.PkdoseError` line naming the file: only regular files are read
(a FIFO, device, socket or directory is refused before it is opened, and a FIFO swapped in
afterwards cannot block the open); symbolic links are followed by the operating system,
which refuses loops; the size is checked before reading and the read stops one byte past
the limit; text must be UTF-8 (a byte-order mark is allowed); TOML parse errors and
nesting depth, and CSV parse errors and row and column counts, are refused with the limit
from :mod:`pkdose.limits`.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import tomllib
from os import PathLike
from typing import Any

import pandas as pd

from pkdose.errors import PkdoseError
from pkdose.limits import LIMITS, MAX_CSV_COLUMNS, MAX_CSV_ROWS, MAX_TOML_DEPTH, exceeded

__all__ = ["read_bytes", "read_text", "parse_toml", "read_toml", "read_csv", "toml_depth"]


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
