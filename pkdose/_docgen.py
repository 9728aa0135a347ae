"""Shared by the scripts that generate docs/ pages from the registries (not public API)."""

from __future__ import annotations

import sys
from pathlib import Path


def sync_doc(path: Path, text: str, check: bool, script: str) -> int:
    """Write ``text`` to ``path`` if it changed, or with ``check`` report a stale page.

    Returns the process exit status: 1 when checking finds the page stale, else 0.
    """
    old = path.read_text(encoding="utf-8") if path.is_file() else None
    if check:
        if old != text:
            print(f"{path} is stale; run python {script}", file=sys.stderr)
            return 1
        return 0
    if old != text:
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0


def splice(text: str, begin: str, end: str, body: str, doc: Path) -> str:
    """``text`` with the lines between the ``begin`` and ``end`` markers replaced by ``body``.

    For pages whose prose is written by hand around one generated block.
    """
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise SystemExit(f"{doc}: markers {begin!r} ... {end!r} not found")
    return text[:start] + begin + "\n" + body + "\n" + text[stop:]


def markdown_table(head: list[str], rows: list[list[str]]) -> str:
    """A Markdown table, ``|`` in cells escaped (no trailing newline)."""
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def regenerate_block(doc: Path, begin: str, end: str, body: str, argv: list[str],
                     script: str) -> int:
    """Splice ``body`` between the markers of ``doc`` and write it, or with ``--check`` in
    ``argv`` report a stale page; the exit status of :func:`sync_doc`."""
    new = splice(doc.read_text(encoding="utf-8"), begin, end, body, doc)
    return sync_doc(doc, new, "--check" in argv, script)
