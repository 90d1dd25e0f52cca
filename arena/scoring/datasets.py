"""Benchmark items from the files their authors publish, or from a user's own file.

Formats (chosen by the file, and by whether the config gives a column mapping):

- MMLU's CSVs (no `columns`): no header, one row per question, `question,A,B,C,D,answer` with the
  answer a letter. Any number of options works (the options are the fields between the first and
  the last). A folder (MMLU's `test/` or `dev/`) is every `*.csv` in it, one subject per file,
  the subject being the file name without `_test`/`_dev`/`_val`.
- A CSV with a header row (`columns` given): `columns.question`, one column per option in
  `columns.choices`, `columns.answer`, optional `columns.id` and `columns.subject`.
- JSONL: one object per line with the same keys (default `question`, `choices` as a list,
  `answer`, and `id` where rows have one); `columns` renames them.

The gold option may be a letter, a 0-based index or the option's text. Exact-match answers are
a string, a number or a list of acceptable strings.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arena.config import BenchmarkColumns, BenchmarkConfig
from arena.errors import ConfigError, DataError
from arena.registry import registry_dir

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_SPLIT_SUFFIX = re.compile(r"_(test|dev|val|validation|train)$")
_SUFFIXES = (".csv", ".jsonl")


@dataclass
class Item:
    """One benchmark question. Multiple choice: `choices` and `gold` (the right option's index).
    Exact match: `references` (acceptable answers)."""

    item_id: str
    question: str
    subject: str = ""
    choices: list[str] = field(default_factory=list)
    gold: int | None = None
    references: list[str] = field(default_factory=list)

    @property
    def gold_text(self) -> str:
        """The gold answer as scores files record it: a letter, or the first reference."""
        if self.gold is not None:
            return LETTERS[self.gold]
        return self.references[0] if self.references else ""


def available_benchmarks() -> list[str]:
    folder = registry_dir() / "benchmarks"
    if not folder.is_dir():
        return []
    names = {p.name[: -len(p.suffix)] if p.suffix in _SUFFIXES else p.name for p in folder.iterdir()}
    return sorted(n for n in names if not n.startswith(".") and n != "README.md" and not _SPLIT_SUFFIX.search(n))


def resolve_source(source: str, base_dir: Path | None, where: str, key: str) -> Path:
    """A registry name (registry/benchmarks/<name>.csv|.jsonl or a folder), or a path to a file or
    folder (relative paths from the config's folder first, then the working folder)."""
    if "/" not in source and "." not in source:
        folder = registry_dir() / "benchmarks"
        for candidate in (folder / f"{source}.csv", folder / f"{source}.jsonl", folder / source):
            if candidate.exists():
                return candidate
    candidates = []
    if base_dir is not None and not Path(source).is_absolute():
        candidates.append(base_dir / source)
    candidates.append(Path(source))
    for path in candidates:
        if path.is_file() or path.is_dir():
            return path
    names = ", ".join(available_benchmarks()) or "none"
    raise ConfigError(f"{where}: {key}: {source!r} is neither a registry benchmark ({names}) nor an existing file or folder")


def load_items(bench: BenchmarkConfig, path: Path, *, apply_filters: bool = True, where: str = "config",
               key: str = "benchmarks") -> list[Item]:
    """Every item of a benchmark file or folder, checked; with `apply_filters`, only the
    configured subjects and at most `limit` items (the first ones, in file order). Config faults
    name `where` (the config file) and `key` (the benchmark's key path)."""
    files = _data_files(path)
    items: list[Item] = []
    for file in files:
        subject = _subject_of(file)
        if file.suffix == ".jsonl":
            items += _read_jsonl(file, bench, subject)
        elif bench.columns is not None:
            items += _read_header_csv(file, bench, subject)
        else:
            items += _read_mmlu_csv(file, bench, subject)
    if not items:
        raise DataError(f"{path}: no items in {'the folder' if path.is_dir() else 'the file'}")
    seen: set[str] = set()
    for item in items:
        if item.item_id in seen:
            raise DataError(f"{path}: duplicate item id {item.item_id!r}; give each row its own id (columns.id)")
        seen.add(item.item_id)
    if apply_filters and bench.subjects is not None:
        known = {i.subject for i in items}
        unknown = [s for s in bench.subjects if s not in known]
        if unknown:
            shown = ", ".join(sorted(known)[:60])
            raise ConfigError(f"{where}: {key}.subjects: {', '.join(unknown)} not in {path}; subjects there: {shown}")
        items = [i for i in items if i.subject in bench.subjects]
    if apply_filters and bench.limit is not None:
        items = items[: bench.limit]
    return items


def few_shot_pool(dev_items: list[Item], subject: str, k: int) -> list[Item]:
    """The few-shot examples for an item of `subject`: the first k dev items of the same subject,
    or the first k of the whole dev split where it has no such subject (a single-file dev set)."""
    same = [i for i in dev_items if i.subject == subject]
    return (same or dev_items)[:k]


def _data_files(path: Path) -> list[Path]:
    if path.is_file():
        if path.suffix not in _SUFFIXES:
            raise DataError(f"{path}: expected a .csv or .jsonl file")
        return [path]
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in _SUFFIXES)
    if not files:
        raise DataError(f"{path}: no .csv or .jsonl files in the folder")
    return files


def _subject_of(file: Path) -> str:
    return _SPLIT_SUFFIX.sub("", file.stem)


def _read_mmlu_csv(file: Path, bench: BenchmarkConfig, subject: str) -> list[Item]:
    """MMLU's layout, no header: `question,A,B,...,answer` (multiple choice), or
    `question,answer[,another acceptable answer...]` (exact match)."""
    items = []
    for number, row in _csv_rows(file):
        where = f"{file}:{number}"
        item = Item(item_id=f"{subject}/{len(items)}", question=row[0], subject=subject)
        if bench.kind == "exact_match":
            if len(row) < 2:
                raise DataError(f"{where}: expected question,answer (no header), got {len(row)} field")
            item.references = [cell for cell in row[1:] if cell.strip()]
        else:
            if len(row) < 4:
                raise DataError(
                    f"{where}: expected MMLU's layout question,A,B,C,D,answer (no header), got {len(row)} fields; "
                    "for a file with a header row, give the benchmark a 'columns' mapping"
                )
            _fill_choices(item, row[1:-1], row[-1].strip(), where)
        items.append(item)
    return items


def _read_header_csv(file: Path, bench: BenchmarkConfig, subject: str) -> list[Item]:
    columns = bench.columns or BenchmarkColumns()
    rows = _csv_rows(file)
    if not rows:
        return []
    header = rows[0][1]
    wanted = [columns.question, columns.answer, *(columns.choices if bench.kind == "multiple_choice" else [])]
    wanted += [c for c in (columns.id, columns.subject) if c is not None]
    missing = [c for c in wanted if c not in header]
    if missing:
        raise DataError(f"{file}:1: columns {', '.join(missing)} not in the header ({', '.join(header)}); fix the benchmark's 'columns'")
    items = []
    for number, row in rows[1:]:
        record = dict(zip(header, row))
        items.append(_item_from_record(record, bench, columns, subject, len(items), f"{file}:{number}"))
    return items


def _read_jsonl(file: Path, bench: BenchmarkConfig, subject: str) -> list[Item]:
    columns = bench.columns or BenchmarkColumns()
    items = []
    with open(file, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{file}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise DataError(f"{where}: not valid JSON") from None
            if not isinstance(record, dict):
                raise DataError(f"{where}: expected a JSON object per line")
            items.append(_item_from_record(record, bench, columns, subject, len(items), where))
    return items


def _item_from_record(record: dict[str, Any], bench: BenchmarkConfig, columns: BenchmarkColumns,
                      subject: str, index: int, where: str) -> Item:
    question = _field(record, columns.question, where)
    if not isinstance(question, str) or not question.strip():
        raise DataError(f"{where}: {columns.question}: expected the question text")
    row_subject = str(_field(record, columns.subject, where)) if columns.subject else subject
    if columns.id:
        item_id = str(_field(record, columns.id, where))
    else:
        item_id = str(record["id"]) if record.get("id") not in (None, "") else f"{row_subject}/{index}"
    item = Item(item_id=item_id, question=question, subject=row_subject)
    answer = _field(record, columns.answer, where)
    if bench.kind == "exact_match":
        values = answer if isinstance(answer, list) else [answer]
        if not values or any(isinstance(v, (dict, list)) or v is None for v in values):
            raise DataError(f"{where}: {columns.answer}: expected a reference answer (text, number or list of texts)")
        item.references = [_plain(v) for v in values]
        return item
    if len(columns.choices) == 1:
        choices = _field(record, columns.choices[0], where)
        if not isinstance(choices, list):
            raise DataError(f"{where}: {columns.choices[0]}: expected a list of options")
    else:
        choices = [_field(record, c, where) for c in columns.choices]
    _fill_choices(item, [_plain(c) for c in choices], answer, where)
    return item


def _fill_choices(item: Item, choices: list[str], answer: Any, where: str) -> None:
    if len(choices) < 2 or len(choices) > len(LETTERS):
        raise DataError(f"{where}: expected between 2 and {len(LETTERS)} options, got {len(choices)}")
    item.choices = choices
    item.gold = gold_index(answer, choices, where)


def gold_index(answer: Any, choices: list[str], where: str) -> int:
    """The right option's index from a letter ('B'), a 0-based index (1 or '1') or its text."""
    n = len(choices)
    if isinstance(answer, bool):
        raise DataError(f"{where}: answer: expected a letter, an index or an option's text, got {answer!r}")
    text = answer.strip() if isinstance(answer, str) else None
    if isinstance(answer, int):
        index = answer
    elif text is not None and len(text) == 1 and text.upper() in LETTERS[:n]:
        index = LETTERS.index(text.upper())
    elif isinstance(answer, str) and answer in choices:
        index = choices.index(answer)
    elif text is not None and text.isdigit():
        index = int(text)
    elif text is not None and len(text) == 1 and text.upper() in LETTERS:
        index = LETTERS.index(text.upper())  # a letter past the options: reported as out of range
    else:
        raise DataError(f"{where}: answer: {answer!r} is not a letter, a 0-based index or one of the options")
    if not 0 <= index < n:
        raise DataError(f"{where}: answer: {answer!r} is out of range for {n} options ({LETTERS[0]}-{LETTERS[n - 1]})")
    return index


def _field(record: dict[str, Any], name: str, where: str) -> Any:
    if name not in record:
        raise DataError(f"{where}: missing field {name!r} (keys: {', '.join(map(str, record))}); fix the benchmark's 'columns'")
    return record[name]


def _plain(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _csv_rows(file: Path) -> list[tuple[int, list[str]]]:
    """(line number, fields) for each non-empty row; a decoding error names the file."""
    try:
        with open(file, encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            rows = []
            for row in reader:
                if any(cell.strip() for cell in row):
                    rows.append((reader.line_num, row))
    except UnicodeDecodeError:
        raise DataError(f"{file}: not a UTF-8 text file") from None
    except csv.Error as exc:
        raise DataError(f"{file}: not a valid CSV file ({exc})") from None
    return rows
