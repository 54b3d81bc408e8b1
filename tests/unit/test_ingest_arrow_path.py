"""The Arrow ingest path against the pandas one: the same accepted rows, parts and per-row reasons.

CSV landing files are read by Arrow's reader and clean chunks are coerced in Arrow
(:func:`~pipeline.data.ingestion.coerce_text_chunk`); a chunk with a bad row, and everything after
a row Arrow might read differently, goes through pandas as before. Each case here runs one file
through both — the ingest path (:func:`iter_parsed_chunks`) and the pandas reference (pandas'
chunked reader, then :func:`coerce_chunk` on every chunk, which is what ingest did before) — and
asserts identical chunks: accepted frames, part ids, rejected rows with their reasons, or the same
whole-file error. Each case also says how many chunks must have taken the Arrow path, so a case
cannot pass by quietly falling back to pandas everywhere.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from pipeline.app.stages import ingest_landing
from pipeline.app.workspace import Workspace
from pipeline.core.config import PipelineConfig, parse_config
from pipeline.core.errors import IngestError
from pipeline.core.settings import Settings
from pipeline.data import csv_reader, ingestion
from pipeline.data.csv_reader import IrregularCsv
from pipeline.data.ingestion import (
    ROW_REASON_COLUMN,
    CoercedChunk,
    LandingFile,
    coerce_chunk,
    iter_parsed_chunks,
    iter_raw_chunks,
    sha256_file,
)
from pipeline.data.snapshots import _part_hash, part_table

HEADER = "id,n1,n2,c1,c2,when,y"


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Arrow blocks of 1 KiB, so that a small file spans many blocks as a large one does."""
    monkeypatch.setattr(csv_reader, "BLOCK_BYTES", 1024)


def _config(task: str = "binary", chunk_rows: int = 4, delimiter: str = ",", decimal: str = ".") -> PipelineConfig:
    label: dict[str, Any] = {"classes": ["no", "yes"], "positive_class": "yes"} if task == "binary" else {}
    estimator = "logistic_regression" if task == "binary" else "linear_regression"
    return parse_config(
        {
            "dataset": {
                "name": "arrow_path",
                "label": "y",
                **({"task": task} if task != "binary" else {}),
                **label,
                "id_columns": ["id"],
                "features": {
                    "numeric": [{"name": "n1"}, {"name": "n2", "nullable": False}],
                    "categorical": [
                        {"name": "c1", "levels": ["a", "b", "c"]},
                        {"name": "c2", "levels": ["a", "b"], "nullable": False},
                    ],
                    "datetime": [{"name": "when"}],
                },
            },
            "ingest": {
                "stable_seconds": 0,
                "max_bad_row_fraction": 1.0,
                "chunk_rows": chunk_rows,
                "csv_delimiter": delimiter,
                "csv_decimal": decimal,
            },
            "model": {"name": "m", "specs": {"default": {"estimator": estimator}}},
        }
    )


def _row(i: int, y: str = "yes", **values: str) -> str:
    row = {"id": f"R{i}", "n1": f"{i}.5", "n2": str(2 * i), "c1": "abc"[i % 3], "c2": "ab"[i % 2]}
    row |= {"when": f"2024-01-{i % 28 + 1:02d}", "y": y if i % 2 else "no"}
    row |= values
    return ",".join(row[c] for c in HEADER.split(","))


def _rows(n: int, **changed: dict[str, str]) -> list[str]:
    """``n`` clean rows; ``changed={"7": {"n2": "x"}}`` rewrites fields of row 7."""
    return [_row(i, **changed.get(str(i), {})) for i in range(n)]


def _file(tmp_path: Path, lines: list[str], *, header: str = HEADER, end: str = "\n", prefix: bytes = b"") -> Path:
    path = tmp_path / "in.csv"
    path.write_bytes(prefix + (end.join([header, *lines]) + end).encode())
    return path


def _landing(path: Path) -> LandingFile:
    return LandingFile(path=path, size=path.stat().st_size, sha256=sha256_file(path))


def _outcome(run: Any) -> list[CoercedChunk] | tuple[str, str]:
    try:
        return list(run())
    except IngestError as err:
        return (err.code, str(err))


def _pandas_reference(source: LandingFile, config: PipelineConfig) -> list[CoercedChunk]:
    """What ingest did before the Arrow path: pandas' chunks, each through coerce_chunk."""
    out = []
    for raw in iter_raw_chunks(source, config.ingest):
        if not out and raw.empty:
            raise IngestError(f"{source.name}: the file has a header but no rows.", code="empty_file")
        out.append(coerce_chunk(raw, config.dataset, source.name, config.ingest.csv_decimal))
    return out


def _part_id(chunk: CoercedChunk, config: PipelineConfig) -> str | None:
    """The id :func:`write_part` gives the chunk's accepted rows (None when there are none)."""
    if not chunk.accepted_rows:
        return None
    table = part_table(chunk.accepted, config.dataset)
    assert table.schema.metadata == part_table(chunk.frame, config.dataset).schema.metadata
    return _part_hash(table)


def compare(path: Path, config: PipelineConfig, arrow_chunks: int | None = None) -> list[CoercedChunk]:
    """Assert that both paths give the same outcome; ``arrow_chunks`` is how many chunks took the Arrow path."""
    source = _landing(path)
    fast = _outcome(lambda: iter_parsed_chunks(source, config.dataset, config.ingest))
    slow = _outcome(lambda: _pandas_reference(source, config))
    if isinstance(slow, tuple) or isinstance(fast, tuple):
        assert fast == slow
        return []
    assert len(fast) == len(slow)
    for f, s in zip(fast, slow, strict=True):
        assert (f.rows, f.accepted_rows, f.dropped_columns) == (s.rows, s.accepted_rows, s.dropped_columns)
        pd.testing.assert_frame_equal(f.frame, s.frame, check_exact=True)
        pd.testing.assert_frame_equal(f.rejected, s.rejected, check_exact=True)
        assert _part_id(f, config) == _part_id(s, config)
    if arrow_chunks is not None:
        assert sum(isinstance(c.accepted, pa.Table) for c in fast) == arrow_chunks
    return fast


def reasons(chunks: list[CoercedChunk]) -> list[str]:
    return [r for c in chunks for r in c.rejected[ROW_REASON_COLUMN]]


# -- clean files and where bad rows sit -----------------------------------------------------------------
def test_a_clean_file_takes_the_arrow_path_for_every_chunk(tmp_path: Path) -> None:
    chunks = compare(_file(tmp_path, _rows(10)), _config(), arrow_chunks=3)
    assert [c.rows for c in chunks] == [4, 4, 2]


def test_a_bad_last_row_of_a_chunk_sends_only_that_chunk_to_pandas(tmp_path: Path) -> None:
    chunks = compare(_file(tmp_path, _rows(12, **{"3": {"n2": "abc"}})), _config(), arrow_chunks=2)
    assert reasons(chunks) == ["n2: not a number"]
    assert list(chunks[0].rejected["_ct_source_row"]) == [5]  # CSV line 5: the header is line 1


def test_a_bad_row_in_the_middle_of_a_large_file(tmp_path: Path) -> None:
    chunks = compare(_file(tmp_path, _rows(2000, **{"1234": {"c2": ""}})), _config(chunk_rows=250), arrow_chunks=7)
    assert reasons(chunks) == ["c2: missing value (declared not nullable)"]
    assert list(chunks[4].rejected["_ct_source_row"]) == [1236]


def test_types_that_go_wrong_only_after_the_first_chunk(tmp_path: Path) -> None:
    rows = [_row(i, n1=str(i)) for i in range(8)] + [_row(i, n1=f"x{i}") for i in range(8, 10)] + _rows(3)
    chunks = compare(_file(tmp_path, rows), _config(), arrow_chunks=3)
    assert reasons(chunks) == ["n1: not a number", "n1: not a number"]


def test_every_kind_of_bad_row_gets_the_reason_pandas_gives_it(tmp_path: Path) -> None:
    bad = {
        "0": {"id": ""},
        "1": {"id": "  "},
        "2": {"n1": "nan"},
        "3": {"n1": "inf"},
        "4": {"n2": ""},
        "5": {"n2": '"1,5"'},
        "6": {"c2": "  "},
        "7": {"when": "yesterday"},
        "9": {"y": "maybe"},
        "11": {"y": ""},
        "12": {"n1": "abc", "y": "maybe"},  # the first reason wins
    }
    chunks = compare(_file(tmp_path, _rows(20, **bad)), _config(), arrow_chunks=1)
    assert reasons(chunks) == [
        "id: missing identifier",
        "id: missing identifier",
        "n1: not a number",
        "n1: not a finite number",
        "n2: missing value (declared not nullable)",
        "n2: not a number",
        "c2: missing value (declared not nullable)",
        "when: not a date or timestamp in ISO 8601 (e.g. 2024-05-31 or 2024-05-31T13:45:00Z)",
        "y: not one of the classes ['no', 'yes']",
        "y: missing label",
        "n1: not a number",
    ]


# -- values Arrow and pandas could read differently ------------------------------------------------------
def test_empty_strings_quoted_empties_and_na_words(tmp_path: Path) -> None:
    rows = [
        _row(0, n1="", c1=""),
        _row(1, n1='""', c1='""'),
        _row(2, c1="NA"),
        _row(3, c1="null"),
        _row(4, c1=" "),
        _row(5, c1="N/A"),
        _row(6, when=""),
        _row(7, when='""'),
    ]
    chunks = compare(_file(tmp_path, rows), _config(), arrow_chunks=2)
    frame = pd.concat([c.frame for c in chunks], ignore_index=True)
    assert frame["n1"].isna().tolist() == [True, True] + [False] * 6
    assert frame["c1"].tolist()[:6] == [pd.NA, pd.NA, "NA", "null", pd.NA, "N/A"]


def test_a_categorical_level_not_in_the_config_is_taken_as_before(tmp_path: Path) -> None:
    chunks = compare(_file(tmp_path, _rows(4, **{"1": {"c1": "zzz"}})), _config(), arrow_chunks=1)
    assert chunks[0].frame["c1"].tolist()[1] == "zzz" and reasons(chunks) == []


def test_padded_values_are_stripped_or_parsed_alike(tmp_path: Path) -> None:
    rows = [
        _row(0, id="  R0 ", c1=" a", y=" no "),
        _row(1, c1="\u00a0b\u2003", c2="\tb"),
        _row(2, n1=" 2.5 "),  # pandas reads a padded number; Arrow's cast does not: that chunk uses pandas
        _row(3),
        *_rows(4),
    ]
    chunks = compare(_file(tmp_path, rows), _config(), arrow_chunks=1)
    assert chunks[0].frame["c1"].tolist()[:2] == ["a", "b"] and reasons(chunks) == []


@pytest.mark.parametrize(
    "column", [["-0", "1", "2", "3"], ["-0", "1.5", "2", "3"], ["-0.0", "1", "2", "3"], ["0", "-0.000", "1e3", "+4"]]
)
def test_negative_zero_reads_as_pandas_reads_it(tmp_path: Path, column: list[str]) -> None:
    rows = [_row(i, n1=v) for i, v in enumerate(column)]
    chunks = compare(_file(tmp_path, rows), _config(), arrow_chunks=1)
    assert chunks[0].frame["n1"].tolist()[1:] == [float(v) for v in column[1:]]
    negative = np.signbit(chunks[0].frame["n1"].to_numpy())
    assert negative.tolist() == np.signbit(pd.to_numeric(pd.Series(column, dtype="str"))).tolist()


def test_many_digits_large_and_tiny_numbers(tmp_path: Path) -> None:
    column = ["0.1000000000000000055511151231257827", "9007199254740993", "1e-400", "4.9e-324"]
    column += ["123456789012345678901234567890", "18446744073709551615", "-1.7976931348623157e308", ".5"]
    rows = [_row(i, n1=v) for i, v in enumerate(column)]
    compare(_file(tmp_path, rows), _config(), arrow_chunks=2)


def test_random_numbers_of_every_shape_read_bit_for_bit_alike(tmp_path: Path) -> None:
    rng = np.random.default_rng(19)
    shapes = [
        lambda: str(rng.integers(-(10**18), 10**18)),
        lambda: repr(float(rng.normal() * 10.0 ** rng.integers(-300, 300))),
        lambda: f"{rng.random() * 10 ** rng.integers(0, 20):.{rng.integers(0, 25)}f}",
        lambda: "".join(rng.choice(list("0123456789"), rng.integers(1, 40))) + "." + "1" * rng.integers(0, 30),
        lambda: f"{rng.normal():.{rng.integers(0, 20)}e}",
        lambda: str(rng.integers(0, 2**64, dtype=np.uint64)),
        lambda: "".join(rng.choice(list("0123456789"), rng.integers(15, 30))),
    ]
    values = [shapes[int(rng.integers(0, len(shapes)))]() for _ in range(3000)]
    values += [v.lstrip("-") for v in values[:500]] + ["-" + v.lstrip("-") for v in values[500:1000]]
    rows = [_row(i, n1=v) for i, v in enumerate(values)]
    compare(_file(tmp_path, rows), _config(chunk_rows=500), arrow_chunks=8)


# -- the file's shape ----------------------------------------------------------------------------------
def test_quoted_line_breaks_delimiters_and_quotes(tmp_path: Path) -> None:
    rows = [_row(0, id='"R0\nsecond line"'), _row(1, c1='"a"'), _row(2, id='"R,2"'), _row(3, id='"R""3"')]
    rows += [_row(4, id='"R4\r\nx"'), *_rows(3)]
    chunks = compare(_file(tmp_path, rows), _config(), arrow_chunks=2)
    assert chunks[0].frame["id"].tolist() == ["R0\nsecond line", "R1", "R,2", 'R"3']


@pytest.mark.parametrize(
    ("prefix", "end"), [(b"\xef\xbb\xbf", "\n"), (b"", "\r\n"), (b"\xef\xbb\xbf", "\r\n"), (b"", "\r")]
)
def test_byte_order_mark_and_line_ends(tmp_path: Path, prefix: bytes, end: str) -> None:
    path = _file(tmp_path, _rows(6, **{"4": {"n2": "x"}}), end=end, prefix=prefix)
    chunks = compare(path, _config(), arrow_chunks=0 if end == "\r" else 1)  # lone CRs: pandas reads the file
    assert reasons(chunks) == ["n2: not a number"]


def test_a_file_cut_inside_a_quoted_value_is_refused_as_pandas_refuses_it(tmp_path: Path) -> None:
    rows = [*_rows(5), _row(5, c1='"a'), *_rows(3)]  # the quote opened in row 5 never closes: Arrow would take it
    compare(_file(tmp_path, rows), _config())
    with pytest.raises(IngestError, match="EOF inside string"):
        list(iter_parsed_chunks(_landing(tmp_path / "in.csv"), _config().dataset, _config().ingest))


def test_carriage_returns_mixed_into_line_feeds(tmp_path: Path) -> None:
    rows = _rows(6)
    rows[2] = "\r" + rows[2]  # pandas and Arrow split "\n\r," differently: pandas reads the file
    rows[4] = rows[4] + "\r"
    compare(_file(tmp_path, rows), _config(), arrow_chunks=0)


def test_blank_lines_are_skipped_alike(tmp_path: Path) -> None:
    rows = _rows(6)
    compare(_file(tmp_path, ["", *rows[:3], "", "", *rows[3:]]), _config(), arrow_chunks=2)


def test_header_quirks_undeclared_empty_and_padded_names(tmp_path: Path) -> None:
    header = ' id ,"n1",n2,c1,c2,when,y,extra,'
    rows = [f"{r},x{i}," for i, r in enumerate(_rows(6))]
    chunks = compare(_file(tmp_path, rows, header=header), _config(), arrow_chunks=2)
    assert chunks[0].dropped_columns == ("extra", "Unnamed: 8")


def test_a_declared_column_missing_is_the_same_error(tmp_path: Path) -> None:
    header = HEADER.replace(",when", ",whenever")
    compare(_file(tmp_path, _rows(3), header=header), _config())
    source = _landing(tmp_path / "in.csv")
    with pytest.raises(IngestError) as info:
        list(iter_parsed_chunks(source, _config().dataset, _config().ingest))
    assert info.value.code == "wrong_columns"


# Arrow reports a row with the wrong number of fields for a whole block (read ahead on several threads), so
# how many chunks Arrow gave before pandas took over varies from run to run: the outcome may not.
def test_a_short_row_mid_file_hands_the_rest_to_pandas(tmp_path: Path, small_blocks: None) -> None:
    rows = _rows(300)
    rows[250] = "R250,1.5,2"  # pandas pads the missing fields with empty values
    chunks = compare(_file(tmp_path, rows), _config(chunk_rows=20))
    assert reasons(chunks) == ["c2: missing value (declared not nullable)"]
    assert list(chunks[12].rejected["_ct_source_row"]) == [252]


def test_pandas_takes_over_at_the_first_chunk_arrow_did_not_give(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = ingestion.read_text_chunks

    def two_then_irregular(*args: Any, **kwargs: Any) -> Any:
        chunks = real(*args, **kwargs)
        yield next(chunks)
        yield next(chunks)
        raise IrregularCsv("a row Arrow reads differently", chunks=2)

    monkeypatch.setattr(ingestion, "read_text_chunks", two_then_irregular)
    chunks = compare(_file(tmp_path, _rows(18, **{"5": {"n1": "x"}, "13": {"n1": "y"}})), _config(), arrow_chunks=1)
    assert [c.rows for c in chunks] == [4, 4, 4, 4, 2]
    assert [list(c.rejected["_ct_source_row"]) for c in chunks] == [[], [7], [], [15], []]


def test_a_whitespace_only_line_mid_file(tmp_path: Path, small_blocks: None) -> None:
    rows = _rows(300)
    compare(_file(tmp_path, [*rows[:200], "   ", *rows[200:]]), _config(chunk_rows=20))


def test_a_long_row_mid_file_is_the_same_parse_error(tmp_path: Path) -> None:
    rows = _rows(12)
    rows[9] += ",surplus"
    source = _landing(_file(tmp_path, rows))
    fast = _outcome(lambda: iter_parsed_chunks(source, _config().dataset, _config().ingest))
    assert isinstance(fast, tuple) and fast[0] == "unparseable" and "Expected 7 fields in line 11" in fast[1]
    compare(tmp_path / "in.csv", _config())


def test_a_row_longer_than_an_arrow_block(tmp_path: Path, small_blocks: None) -> None:
    rows = _rows(200)
    rows[120] = _row(120, id='"' + "R120 " * 1000 + '"')  # 5 KB: five of the test's 1 KiB blocks
    chunks = compare(_file(tmp_path, rows), _config(chunk_rows=20))
    assert chunks[6].frame["id"].str.len().max() == 4999


def test_a_long_first_row_is_read_as_pandas_reads_it(tmp_path: Path) -> None:
    rows = _rows(6)
    rows[0] += ",surplus"  # pandas takes the first column as an index
    compare(_file(tmp_path, rows), _config(), arrow_chunks=0)


def test_a_header_without_rows_is_the_same_error(tmp_path: Path) -> None:
    compare(_file(tmp_path, []), _config())
    compare(_file(tmp_path, ["", ""]), _config())
    with pytest.raises(IngestError, match="header but no rows"):
        list(iter_parsed_chunks(_landing(tmp_path / "in.csv"), _config().dataset, _config().ingest))


def test_decimal_comma_with_semicolons(tmp_path: Path) -> None:
    rows = [r.replace(",", ";").replace(".5", ",5") for r in _rows(7)]
    rows[5] = rows[5].replace(";10;", ";1.0;")  # a point where a comma is expected: read as pandas reads it
    rows[1] = rows[1].replace(";1,5;", ";-0,0;")  # and a negative zero in the other column
    header = HEADER.replace(",", ";")
    compare(_file(tmp_path, rows, header=header), _config(delimiter=";", decimal=","), arrow_chunks=2)


def test_a_multi_character_delimiter_stays_with_pandas(tmp_path: Path) -> None:
    rows = [r.replace(",", "||") for r in _rows(5)]
    compare(_file(tmp_path, rows, header=HEADER.replace(",", "||")), _config(delimiter="||"), arrow_chunks=0)


def test_a_regression_label(tmp_path: Path) -> None:
    labels = ["1.5", " 2 ", "-0", "3", "abc", "inf", "", "4", "5", "6", "7", "8"]
    rows = [_row(i, y=v) if i % 2 else _row(i).rsplit(",", 1)[0] + "," + v for i, v in enumerate(labels)]
    chunks = compare(_file(tmp_path, rows), _config(task="regression"), arrow_chunks=2)
    assert reasons(chunks) == [
        "y: 'abc' is not a number; a regression label must be a number",
        "y: 'inf' is not a finite number; a regression label must be a number",
        "y: missing label",
    ]


def test_a_regression_label_of_negative_zero_among_whole_numbers(tmp_path: Path) -> None:
    rows = [_row(i).rsplit(",", 1)[0] + "," + v for i, v in enumerate(["-0", "1", "2", "3", "-0", "1.5"])]
    compare(_file(tmp_path, rows), _config(task="regression"), arrow_chunks=2)


def test_dates_with_a_format(tmp_path: Path) -> None:
    config = _config()
    data = config.model_dump()
    data["dataset"]["features"]["datetime"] = [{"name": "when", "format": "%d/%m/%Y", "nullable": False}]
    config = parse_config(data)
    rows = [_row(i, when=f"{i + 1:02d}/02/2024") for i in range(6)]
    rows[5] = _row(5, when="2024-02-06")
    chunks = compare(_file(tmp_path, rows), config, arrow_chunks=1)
    assert reasons(chunks) == ["when: not a date or timestamp in the format '%d/%m/%Y'"]


# -- random hostile files ---------------------------------------------------------------------------------
TOKENS = ["1", "2.5", "-0", "x", "", " ", '"', '""', '"a,b"', '"q\nr"', "a", "yes", "no", "nan", "inf", ","]
TOKENS += ["\r", "\t", "2024-01-02", "R1", " a ", "'", "\x00", "é", "\u00a0", "1e5", "0x1", "NA"]


@pytest.mark.parametrize("seed", range(120))
def test_random_hostile_files_read_alike(tmp_path: Path, seed: int) -> None:
    """Clean rows with fields replaced by awkward tokens, lines of raw tokens, any line end, BOM or not."""
    rng = random.Random(seed)
    lines = []
    for i in range(rng.randint(0, 12)):
        if rng.random() < 0.8:
            fields = _row(i).split(",")
            for _ in range(rng.randint(0, 3)):
                fields[rng.randrange(len(fields))] = "".join(rng.choice(TOKENS) for _ in range(rng.randint(0, 2)))
            lines.append(",".join(fields))
        else:
            lines.append("".join(rng.choice(TOKENS) for _ in range(rng.randint(0, 8))))
    end, prefix = rng.choice(["\n", "\r\n", "\n", "\r"]), rng.choice([b"", b"", b"\xef\xbb\xbf"])
    compare(_file(tmp_path, lines, end=end, prefix=prefix), _config(chunk_rows=rng.choice([1, 2, 3, 5, 50])))


# -- end to end: the ingest stage gives the same snapshot and rejected-rows file either way ---------------
def _workspace(home: Path, config: PipelineConfig) -> Workspace:
    from pipeline.core.settings import BUNDLED_CONFIG

    settings = Settings(
        home=home, config_path=BUNDLED_CONFIG, database_url=f"sqlite:///{home / 'ct.db'}", data_url=home.as_uri()
    )
    return Workspace(settings=settings, config=config)


def _ingest(home: Path, path: Path, config: PipelineConfig) -> tuple[str | None, str, list[str]]:
    ws = _workspace(home, config)
    ws.settings.landing.mkdir(parents=True, exist_ok=True)
    (ws.settings.landing / path.name).write_bytes(path.read_bytes())
    out = ingest_landing(ws)
    [rows_file] = sorted(ws.settings.quarantine.glob("rejected_*/*.rejected_rows.csv"))
    parts = sorted(p.name for p in (home / "snapshots" / "parts").rglob("*.parquet"))
    return out.snapshot_id, rows_file.read_text(), parts


def test_the_stage_writes_the_same_snapshot_and_rejected_rows_as_the_pandas_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _rows(40, **{"3": {"n1": "oops"}, "17": {"y": "maybe"}, "18": {"id": '"R 18\nwith a break"'}})
    rows[30] = "R30,1.5"  # a short row: pandas reads from here on in the Arrow run too
    path = _file(tmp_path, rows)
    config = _config(chunk_rows=8)
    arrow = _ingest(tmp_path / "arrow", path, config)

    def no_arrow(*args: object, **kwargs: object) -> None:
        raise IrregularCsv("the pandas path, for comparison", chunks=0)

    monkeypatch.setattr(ingestion, "read_text_chunks", no_arrow)
    pandas = _ingest(tmp_path / "pandas", path, config)
    assert arrow == pandas
    assert "n1: not a number" in arrow[1] and "y: not one of the classes" in arrow[1]
    assert "n2: missing value (declared not nullable)" in arrow[1]
