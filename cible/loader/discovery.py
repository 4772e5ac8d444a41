"""Finding a source's files in the landing folder, and the format each is read as."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from cible.contract import SourceSpec
from cible.loader.common import LoadError, relative
from cible.warehouse import display

# Landing file suffixes, longest first, and the format each is read as (``.json`` is taken as
# JSON lines, one object per line, like ``.jsonl``).
SUFFIXES: tuple[tuple[str, str], ...] = (
    (".jsonl.gz", "jsonl"),
    (".ndjson.gz", "jsonl"),
    (".json.gz", "jsonl"),
    (".csv.gz", "csv"),
    (".parquet", "parquet"),
    (".ndjson", "jsonl"),
    (".jsonl", "jsonl"),
    (".json", "jsonl"),
    (".csv", "csv"),
)


def format_of(path: Path) -> str | None:
    """``csv``, ``jsonl`` or ``parquet`` by the file's suffix; None for any other file."""
    name = path.name.lower()
    return next((fmt for suffix, fmt in SUFFIXES if name.endswith(suffix)), None)


def select_sources(
    contract: Mapping[str, SourceSpec], sources: Iterable[str] | None
) -> list[SourceSpec]:
    """The contract's sources named in ``sources`` (all when None), in the order given."""
    if sources is None:
        return list(contract.values())
    names = [sources] if isinstance(sources, str) else list(dict.fromkeys(sources))
    unknown = [name for name in names if name not in contract]
    if unknown:
        raise LoadError(f"unknown source(s) {unknown}; the contract has {sorted(contract)}")
    return [contract[name] for name in names]


def discover(landing: Path, spec: SourceSpec) -> tuple[list[Path], list[str]]:
    """The files of a source, sorted, and warnings; raises LoadError if a required one lacks."""
    name = spec.landing
    base = display(landing / name)
    entries = sorted(landing.iterdir()) if landing.is_dir() else []
    candidates = [
        entry
        for entry in entries
        if (entry.is_dir() and entry.name.lower() == name)
        or (
            entry.is_file()
            and format_of(entry) is not None
            and entry.name.lower() in {name + suffix for suffix, _ in SUFFIXES}
        )
    ]
    if len(candidates) > 1:
        listed = ", ".join(entry.name + ("/" if entry.is_dir() else "") for entry in candidates)
        raise LoadError(
            f"source '{name}' is ambiguous: {display(landing)} holds {listed}; keep one file, "
            f"or put all the parts in the folder {base}/"
        )
    if not candidates:
        if spec.required:
            note = (
                ""
                if landing.is_dir()
                else f" (the landing folder {display(landing)} does not exist)"
            )
            raise LoadError(
                f"required source '{name}' not found: expected {base}.csv, .parquet or .jsonl, "
                f"or a folder {base}/{note}"
            )
        return [], [f"not found ({base}.csv, .parquet, .jsonl or {base}/): loaded as empty"]
    candidate = candidates[0]
    if candidate.is_file():
        return [candidate], []
    paths, warnings = [], []
    for path in sorted(candidate.rglob("*"), key=lambda p: p.relative_to(candidate).as_posix()):
        parts = path.relative_to(candidate).parts
        # Hidden files and markers such as Spark's `_SUCCESS` are not data.
        if not path.is_file() or any(part[:1] in "._" for part in parts):
            continue
        if format_of(path) is None:
            warnings.append(f"ignored {relative(landing, path)}: not .csv, .parquet or .jsonl")
            continue
        paths.append(path)
    if not paths:
        if spec.required:
            raise LoadError(
                f"required source '{name}': the folder {base}/ holds no .csv, .parquet or "
                ".jsonl file"
            )
        warnings.append(
            f"the folder {base}/ holds no .csv, .parquet or .jsonl file: loaded as empty"
        )
    return paths, warnings
