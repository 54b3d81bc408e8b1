"""The serving bench's arithmetic and its HTTP client: what its table reports must be what happened.

``bench/bench_serving.py`` compares ``ct serve`` with MLflow's scoring server; its numbers mean
something only if its percentiles are right, its open-loop schedule is the rate it claims, its
client reads every answer whole on a kept-alive connection (length-delimited or chunked), and a
failed request is counted as a failure, never as a fast success. The client is run against a
small real HTTP server on 127.0.0.1 (port 0); nothing here is timed.
"""

from __future__ import annotations

import asyncio
import math
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from bench.bench_serving import (
    PINNED_FOR_MLFLOW,
    PhaseResult,
    Target,
    closed_loop,
    format_table,
    open_loop,
    percentile,
    request_once,
    requirement_pins,
    schedule,
    summarize,
    throughput_ratios,
)


def test_percentile_interpolates_between_ranks_as_numpy_does() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 50) == 3.0
    assert percentile(values, 100) == 5.0
    assert percentile(values, 99) == pytest.approx(4.96)  # numpy.percentile([1..5], 99)
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError, match="within"):
        percentile(values, 101)


def test_schedule_spaces_requests_at_the_rate_and_stops_at_the_time_limit() -> None:
    offsets = schedule(200, 10_000, 2.0)
    assert len(offsets) == 400  # 2 s at 200/s, not the 10,000 asked for
    assert offsets[1] - offsets[0] == pytest.approx(0.005)
    assert len(schedule(200, 50, 2.0)) == 50  # the count bounds it first
    with pytest.raises(ValueError, match="rate"):
        schedule(0, 10, 1.0)


def test_summary_counts_only_successes_in_latency_and_throughput() -> None:
    r = summarize("ct serve", "1 row", "closed c=2", [0.001, 0.002, 0.003, 0.004], Counter({"HTTP 500": 2}), 6, 2.0)
    assert (r.sent, r.ok, r.failed) == (6, 4, 2)
    assert r.p50_ms == pytest.approx(2.5)
    assert r.throughput == pytest.approx(2.0)  # 4 successes in 2 s; failures are no throughput
    assert "HTTP 500: 2" in format_table([r])


def test_ratio_is_ct_over_mlflow_closed_loop_throughput_in_the_same_round_median_over_rounds() -> None:
    def result(server: str, payload: str, load: str, per_second: float, n: int = 1) -> PhaseResult:
        r = summarize(server, payload, load, [0.01] * int(per_second), Counter(), int(per_second), 1.0)
        return replace(r, round=n)

    results = [
        result("ct serve", "1 row", "open 200/s", 200),
        result("mlflow", "1 row", "open 200/s", 130),
        result("ct serve", "1 row", "closed c=8", 900),
        result("mlflow", "1 row", "closed c=8", 300),
        result("ct serve", "100 rows", "closed c=8", 120),
        result("mlflow", "100 rows", "closed c=8", 60),
        result("ct serve", "1 row", "closed c=8", 400, n=2),  # a busier round: both slower
        result("mlflow", "1 row", "closed c=8", 100, n=2),
        result("ct serve", "1 row", "closed c=8", 500, n=3),
        result("mlflow", "1 row", "closed c=8", 250, n=3),
    ]
    assert throughput_ratios(results) == {"1 row": pytest.approx(3.0), "100 rows": pytest.approx(2.0)}
    assert "| 2     | mlflow" in format_table(results)


def test_mlflow_venv_gets_the_projects_pins_of_the_model_libraries(tmp_path: Path) -> None:
    project = requirement_pins(PINNED_FOR_MLFLOW)
    assert [p.split("==")[0] for p in project] == list(PINNED_FOR_MLFLOW)
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("numpy==2.4.6 \\\n    # via pandas\nscikit-learn==1.9.1\n")
    assert requirement_pins(["scikit-learn", "numpy"], reqs) == ["scikit-learn==1.9.1", "numpy==2.4.6"]
    with pytest.raises(SystemExit, match="pandas"):
        requirement_pins(["pandas"], reqs)


# -- the client against a real server -------------------------------------------------------------


class _Server:
    """HTTP/1.1 on 127.0.0.1: ``/ok`` answers 200 with a length, ``/chunked`` 200 chunked,
    ``/fail`` 500, each on a kept-alive connection; counts the connections it accepted."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")), 0
                )
                body = await reader.readexactly(length)
                path = head.split(b" ")[1]
                if path == b"/chunked":
                    writer.write(
                        b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"a":\r\n2\r\n1}\r\n0\r\n\r\n'
                    )
                elif path == b"/fail":
                    writer.write(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n\r\n{}")
                else:
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    def __enter__(self) -> _Server:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture(scope="module")
def server() -> Iterator[_Server]:
    with _Server() as s:
        yield s


def test_client_reads_length_delimited_and_chunked_answers_whole(server: _Server) -> None:
    assert request_once(Target.post_json("127.0.0.1", server.port, "/ok", {"x": [1, 2]})) == (200, {"x": [1, 2]})
    assert request_once(Target.post_json("127.0.0.1", server.port, "/chunked", {})) == (200, {"a": 1})


def test_closed_loop_keeps_connections_alive_and_stops_at_its_count(server: _Server) -> None:
    before = server.connections
    r = closed_loop("s", "1 row", Target.post_json("127.0.0.1", server.port, "/ok", {"row": 1}), 3, 90, 60)
    assert (r.sent, r.ok, r.errors) == (90, 90, {})
    assert server.connections - before == 3  # one per concurrent client, reused for every request
    assert r.p50_ms <= r.p99_ms


def test_failed_requests_are_counted_as_errors_not_latencies(server: _Server) -> None:
    r = closed_loop("s", "1 row", Target.post_json("127.0.0.1", server.port, "/fail", {}), 2, 10, 60)
    assert (r.sent, r.ok, r.errors) == (10, 0, {"HTTP 500": 10})
    assert math.isnan(r.p99_ms) and r.throughput == 0


def test_open_loop_sends_its_whole_schedule_and_a_silent_port_stops_it(server: _Server) -> None:
    r = open_loop("s", "1 row", Target.post_json("127.0.0.1", server.port, "/chunked", {}), 500, 20, 60, connections=2)
    assert (r.sent, r.ok, r.errors) == (20, 20, {})
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    with pytest.raises(OSError):  # no server: the phase cannot open its connections, and says so
        open_loop("s", "1 row", Target.post_json("127.0.0.1", closed_port, "/ok", {}), 100, 5, 5, connections=1)
