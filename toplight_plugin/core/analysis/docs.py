"""Keeping generated tables in the docs up to date."""

from __future__ import annotations

import json
from pathlib import Path


def replace_section(path: Path, name: str, body: str) -> None:
    """Replace the text between ``<!-- name:begin -->`` and ``<!-- name:end -->`` in ``path``."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = path.read_text()
    if begin not in text or end not in text:
        raise ValueError(f"{path}: no section markers {begin} ... {end}")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{begin}\n{body.strip()}\n{end}{tail}")


def publish(table: str, figures, json_path: Path | None, doc: Path | None, section: str, indent: int = 2) -> None:
    """What a measuring tool gives its user: the Markdown ``table`` printed, ``figures`` as JSON at ``json_path`` and
    the table into ``doc``'s ``section``, each when asked for."""
    print(table)
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(figures, indent=indent))
    if doc:
        replace_section(doc, section, table)
