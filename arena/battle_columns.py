"""Our battles.jsonl read by column, and the columnar copy a run folder keeps beside it.

Reading 2M battles one checked `Battle` record at a time spent 80% of `arena rate` in Python.
Here pyarrow's JSON reader (multi-threaded C++, the engine pandas itself offers for JSON lines)
parses the file straight into typed columns against an explicit schema, and the checks the record
reader makes run once per column: winners in WINNERS, outcome in [0, 1], weight positive and
finite, turn an integer, models differ, required fields present. pyarrow is used through its
public API only, and it is already installed with the dashboard's Streamlit.

Anything the fast path does not accept as plainly valid (a wrong type, a missing field, a bad
value, a torn last line, question ids of mixed types) sends the file to the record reader, which
then raises its one-line error naming the file, line and field. So errors are exactly the record
reader's, and only files that would read cleanly take the fast path.

A run folder also keeps `battles.arrow` (Arrow IPC) beside `battles.jsonl`, written by the
reviews stage and the imports right after the JSONL, through a temporary file and a rename. It
records the JSONL's size and modification time; a columnar file that does not match them (a
crash between the two writes, an edited JSONL) is ignored, the JSONL is read, and the columnar
file is rebuilt.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.json as pa_json

from arena.records import WINNERS

COLUMNAR_NAME = "battles.arrow"
_SOURCE_KEY = b"arena.source"  # "<size> <mtime_ns>" of the JSONL the columnar file was made from
_STYLE = pa.struct([(f, pa.int64()) for f in ("tokens", "chars", "headers", "lists", "bold")])

# Every Battle field but question_id, typed as the record reader checks it; question_id (a number
# or a string, per question set) is inferred and must be one type throughout.
SCHEMA = pa.schema([
    ("category", pa.string()), ("model_a", pa.string()), ("model_b", pa.string()), ("winner", pa.string()),
    ("judge", pa.string()), ("turn", pa.int64()), ("outcome", pa.float64()), ("weight", pa.float64()),
    ("mode", pa.string()), ("games", pa.list_(pa.string())), ("consistent", pa.bool_()),
    ("score_a", pa.float64()), ("score_b", pa.float64()), ("style_a", _STYLE), ("style_b", _STYLE),
])
_REQUIRED = ("question_id", "category", "model_a", "model_b", "winner", "judge", "turn", "outcome")


def read_fast(path: Path, columns: tuple[str, ...]) -> pd.DataFrame | None:
    """The battle table of a battles.jsonl that reads cleanly, by column; None for anything
    else (the caller then reads it record by record, which names the fault)."""
    try:
        table = pa_json.read_json(
            path,
            read_options=pa_json.ReadOptions(block_size=16 << 20),
            parse_options=pa_json.ParseOptions(explicit_schema=SCHEMA, unexpected_field_behavior="infer"),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OSError):
        return None
    if table.num_rows == 0 or "question_id" not in table.column_names:
        return None
    qid = table.column("question_id")
    if not (pa.types.is_integer(qid.type) or pa.types.is_string(qid.type)):
        return None
    if any(table.column(c).null_count for c in _REQUIRED):
        return None
    frame = _frame(table, columns)
    del table
    # Arrow's allocator keeps the parse's freed memory (the whole log as JSON columns, games and
    # all) for reuse that never comes; handing it back keeps it out of the rating's peak (2M
    # battles: 1.7 GiB rather than up to 2.0).
    pa.default_memory_pool().release_unused()
    return frame


def _frame(table: pa.Table, columns: tuple[str, ...]) -> pd.DataFrame | None:
    """The checked battle table (the record reader's columns and dtypes), or None when a value
    is out of bounds."""
    n = table.num_rows
    winner = text_objects(table.column("winner"))
    outcome = table.column("outcome").to_numpy()
    weight_col = table.column("weight")
    weight = weight_col.fill_null(1.0).to_numpy() if weight_col.null_count else weight_col.to_numpy()
    model_a = text_objects(table.column("model_a"))
    model_b = text_objects(table.column("model_b"))
    if not np.isin(winner, WINNERS).all():
        return None
    if not ((outcome >= 0.0) & (outcome <= 1.0)).all():  # NaN fails both
        return None
    if not ((weight > 0) & np.isfinite(weight)).all():
        return None
    if (model_a == model_b).any():
        return None
    qid = table.column("question_id")
    if pa.types.is_integer(qid.type):
        qid = qid.cast(pa.string())
    data: dict[str, object] = {
        "model_a": model_a, "model_b": model_b, "winner": winner, "outcome": outcome, "weight": weight,
        "judge": text_objects(table.column("judge")),
        "turn": table.column("turn").to_numpy(),
        "category": text_objects(table.column("category")),
        "question_id": text_objects(qid),
        "tstamp": np.full(n, np.nan),
    }
    for side in "ab":
        style = table.column(f"style_{side}")
        for f in ("tokens", "chars", "headers", "lists", "bold"):
            values = pc.struct_field(style, f) if style.null_count < n else None
            if values is None:
                data[f"style_{side}_{f}"] = np.full(n, np.nan)
            else:
                data[f"style_{side}_{f}"] = values.cast(pa.float64()).fill_null(np.nan).to_numpy()
    # Explicitly object: pandas would otherwise infer its string dtype for text arrays. No copy:
    # gathering the 15 number columns into one 2D block took 0.7 s on 2M battles.
    return pd.DataFrame({c: pd.Series(data[c], dtype=object) if c in _TEXT else data[c] for c in columns}, copy=False)


_TEXT = ("model_a", "model_b", "winner", "judge", "category", "question_id")


def text_objects(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A text column as Python objects (the dtype the record reader gives), one str object per
    distinct value: 2M battles name a hundred models, and making 2M str objects per column was
    most of the read's time and memory."""
    encoded = column if pa.types.is_dictionary(column.type) else column.dictionary_encode()
    chunks = encoded.chunks if isinstance(encoded, pa.ChunkedArray) else [encoded]
    if not chunks:
        return np.empty(0, dtype=object)
    dictionary = chunks[0].dictionary
    # Chunks may hold different dictionaries; unify them on one.
    if any(not c.dictionary.equals(dictionary) for c in chunks[1:]):
        encoded = pa.chunked_array(chunks).unify_dictionaries()
        chunks = encoded.chunks
        dictionary = chunks[0].dictionary
    values = np.empty(len(dictionary) + 1, dtype=object)
    values[:-1] = dictionary.to_pylist()
    values[-1] = None
    indices = pa.chunked_array([c.indices for c in chunks]).fill_null(len(dictionary))
    return values[indices.to_numpy()]




def columnar_path(jsonl: Path) -> Path:
    return jsonl.with_name(COLUMNAR_NAME) if jsonl.name == "battles.jsonl" else jsonl.with_suffix(".arrow")


def _fingerprint(jsonl: Path) -> bytes:
    stat = jsonl.stat()
    return f"{stat.st_size} {stat.st_mtime_ns}".encode()


def write_columnar(jsonl: Path, frame: pd.DataFrame) -> Path | None:
    """Write the columnar copy of `jsonl` (its battle table), atomically; None where the folder
    cannot be written (the JSONL still serves)."""
    target = columnar_path(jsonl)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    # Text columns as dictionaries (a hundred model names, not 2M strings): smaller, and read
    # back without hashing every row again.
    for name in _TEXT:
        if name in table.column_names and pa.types.is_string(table.column(name).type):
            table = table.set_column(table.column_names.index(name), name, table.column(name).dictionary_encode())
    table = table.unify_dictionaries()
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), _SOURCE_KEY: _fingerprint(jsonl)})
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as handle, ipc.new_file(handle, table.schema) as writer:
                writer.write_table(table)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        return None
    return target


def read_columnar(jsonl: Path) -> pd.DataFrame | None:
    """The columnar copy's battle table, if it was made from the JSONL as it is now."""
    target = columnar_path(jsonl)
    try:
        with pa.memory_map(str(target)) as source:
            reader = ipc.open_file(source)
            if (reader.schema.metadata or {}).get(_SOURCE_KEY) != _fingerprint(jsonl):
                return None
            table = reader.read_all()
    except (OSError, pa.ArrowInvalid):
        return None
    text = {c: text_objects(table.column(c)) for c in _TEXT if c in table.column_names}
    # split_blocks: one block per column, as the file holds them, not one 2D copy of them all.
    frame = table.drop_columns(list(text)).to_pandas(split_blocks=True)
    for c, values in text.items():
        frame[c] = pd.Series(values, dtype=object)
    return frame[table.column_names]


def in_run_folder(jsonl: Path) -> bool:
    """Whether `jsonl` is a run folder's battles.jsonl (where a columnar copy is kept)."""
    return jsonl.name == "battles.jsonl" and (jsonl.with_name("run.json").exists() or jsonl.with_name("summary.json").exists())
