"""Read a landing CSV file with Arrow's multithreaded reader, as text, in chunks of exactly ``chunk_rows`` rows.

pandas' chunked reader spends most of an ingest tokenising; Arrow's reader parses blocks on every
core and hands over columns without a Python object per value. Every field is read as text (the
declared types are applied by ingest's coercion, which knows the per-row reasons), an empty field
(quoted or not) is null as with pandas' ``na_values=[""]``, and a chunk's rows are numbered from
the CSV's first data line as pandas' chunks are, so both readers cut the file at the same rows.

Where Arrow's reading could differ from pandas' at all — a row whose number of fields is not the
header's (pandas pads a short row and reads a long first row as an index), a row too long for a
block, any parse error — this reader raises :class:`IrregularCsv`, so the caller reads the rest
with pandas instead. Encoding and size limits are checked before this runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from pipeline.core.errors import CTError

BLOCK_BYTES = 1 << 20
"""Bytes Arrow parses per block (and per thread task); rows longer than this fall back to pandas."""


class IrregularCsv(CTError):
    """Arrow's reading of this file may differ from pandas' from here on; read the rest with pandas.

    A signal between this reader and ingest, never shown to anyone: ingest switches readers on it.
    ``chunks`` is how many chunks this reader had produced; pandas goes on from the next one.
    """

    def __init__(self, why: str, *, chunks: int) -> None:
        super().__init__(why)
        self.chunks = chunks


@dataclass(frozen=True)
class TextChunk:
    """Up to ``chunk_rows`` rows of a CSV file, every column as nullable text, named as pandas names them.

    ``first_row`` is the 0-based position of the chunk's first data row in the file (pandas'
    chunk index), so its CSV line number is ``first_row + 2`` when no value holds a line break.
    """

    table: pa.Table = field(repr=False)
    first_row: int


def read_text_chunks(path: Path, names: list[str], delimiter: str, chunk_rows: int) -> Iterator[TextChunk]:
    """The data rows of ``path`` as text chunks of ``chunk_rows`` rows (the last one shorter).

    ``names`` are the header's column names as pandas reads them (``Unnamed: 2`` for an empty
    one); they name the columns by position. Raises :class:`IrregularCsv` before yielding any row
    that Arrow might read differently from pandas.
    """
    auto = [f"f{i}" for i in range(len(names))]
    try:
        reader = pacsv.open_csv(
            path,
            # The header is read as a data row: pyarrow then skips blank lines before it as pandas does.
            read_options=pacsv.ReadOptions(autogenerate_column_names=True, block_size=BLOCK_BYTES),
            # No Python callback for rows with the wrong number of fields: Arrow's own error is the
            # signal, and a Python object held by Arrow's threads could outlive the interpreter.
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter,
                quote_char='"',
                double_quote=True,
                escape_char=False,
                newlines_in_values=True,
                ignore_empty_lines=True,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(auto, pa.string()),
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
                null_values=[""],
                check_utf8=False,  # the whole file was checked as UTF-8 before
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
        raise IrregularCsv(str(err), chunks=0) from None
    with reader:  # closed here, on this thread, however the reading ends (Arrow reads ahead on its own threads)
        expected = pa.schema([(name, pa.string()) for name in auto])
        if not reader.schema.equals(expected):
            raise IrregularCsv(f"Arrow reads the header as {reader.schema.names}, pandas as {names}", chunks=0)
        yield from _chunks(reader, pa.schema([(name, pa.string()) for name in names]), chunk_rows)


def _chunks(reader: pacsv.CSVStreamingReader, schema: pa.Schema, chunk_rows: int) -> Iterator[TextChunk]:
    """Arrow's record batches (the first row being the header) regrouped into chunks of ``chunk_rows`` rows."""
    pending: list[pa.RecordBatch] = []
    held = done = 0
    first_row = 0
    header = True
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            batch = None
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:  # e.g. a row with the wrong number of fields
            raise IrregularCsv(str(err), chunks=done) from None
        if batch is not None:
            if header:  # the header row itself
                batch, header = batch.slice(1), False
            if batch.num_rows:
                pending.append(pa.RecordBatch.from_arrays(batch.columns, schema=schema))
                held += batch.num_rows
        while held >= chunk_rows or (batch is None and held):
            table = pa.Table.from_batches(pending, schema=schema)
            take = min(chunk_rows, held)
            head, rest = table.slice(0, take), table.slice(take)
            pending = rest.to_batches() if rest.num_rows else []
            held = rest.num_rows
            del table, rest
            # handed over unbound: while the caller works on it, this frame keeps no reference
            yield TextChunk(head, first_row)
            del head
            first_row += take
            done += 1
        if batch is None:
            if not done:
                raise IrregularCsv("no data rows", chunks=0)  # pandas says what is missing
            return
