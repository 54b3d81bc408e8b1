"""The inbox loop shared by scoring/ and labels/: each file is taken once, and a bad one only quarantines itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.core.errors import IngestError
from pipeline.data.inbox import DUPLICATE_FILE, Inbox, InboxHandler, process_inbox
from pipeline.data.ingestion import LandingFile


class _Counting(InboxHandler[str, int, str]):
    """Reads a file's text; ``bad`` files are refused; ``done`` holds what earlier runs committed (by sha)."""

    what = "test file"

    def __init__(self, done: dict[str, str]) -> None:
        self.done, self.taken_now, self.finished_now = done, [], []

    def committed(self, source: LandingFile) -> str | None:
        return self.done.get(source.sha256)

    def duplicate_message(self, source: LandingFile, record: str) -> str:
        return f"{source.name}: already counted ({record})"

    def read(self, source: LandingFile) -> str:
        text = source.path.read_text()
        if text.startswith("bad"):
            raise IngestError(f"{source.name}: bad content", code="wrong_types", details={"why": "bad"})
        return text

    def consume(self, source: LandingFile, read: str) -> int:
        self.done[source.sha256] = source.name
        return len(read)

    def taken(self, source: LandingFile, result: int) -> None:
        self.taken_now.append(source.name)

    def finished(self, source: LandingFile, record: str) -> None:
        self.finished_now.append(source.name)


@pytest.fixture
def inbox(tmp_path: Path) -> Inbox:
    (tmp_path / "in").mkdir()
    return Inbox(tmp_path / "in", tmp_path / "archive", tmp_path / "quarantine", stable_seconds=0)


def test_a_bad_file_quarantines_itself_with_its_reason_and_the_others_go_on(inbox: Inbox) -> None:
    (inbox.folder / "a.csv").write_text("one")
    (inbox.folder / "b.csv").write_text("bad rows")
    (inbox.folder / "c.csv").write_text("three")
    handler = _Counting({})
    run = process_inbox(inbox, inbox.ready_files(), handler)
    assert sorted(s.name for s, _ in run.taken) == ["a.csv", "c.csv"] == sorted(handler.taken_now)
    [refused] = run.refused
    assert (refused.file, refused.code, refused.message) == ("b.csv", "wrong_types", "b.csv: bad content")
    assert refused.path is not None and refused.path.read_text() == "bad rows"
    reason = json.loads(next(inbox.quarantine.glob("*/b.csv.reason.json")).read_text())
    assert (reason["code"], reason["details"]) == ("wrong_types", {"why": "bad"})
    assert list(inbox.folder.iterdir()) == []
    assert all(inbox.is_archived(s) for s, _ in run.taken)


def test_committed_content_is_finished_when_unarchived_and_refused_as_a_duplicate_when_archived(
    inbox: Inbox,
) -> None:
    (inbox.folder / "a.csv").write_text("one")
    handler = _Counting({})
    process_inbox(inbox, inbox.ready_files(), handler)
    (inbox.folder / "again.csv").write_text("one")  # the same content dropped again
    (inbox.folder / "sub").mkdir()
    (inbox.folder / "sub" / "b.csv").write_text("two")
    (inbox.folder / "sub" / "_SUCCESS").touch()
    [b] = [f for f in inbox.ready_files() if f.name == "b.csv"]
    handler.done[b.sha256] = "an interrupted run"  # committed, never archived
    run = process_inbox(inbox, inbox.ready_files(), handler)
    assert run.taken == [] and [s.name for s, _ in run.finished] == ["b.csv"] == handler.finished_now
    assert [(r.file, r.code, r.message) for r in run.refused] == [
        ("again.csv", DUPLICATE_FILE, "again.csv: already counted (a.csv)")
    ]
    assert list(inbox.folder.iterdir()) == []  # the spent _SUCCESS marker and its folder are tidied


def test_arrivals_quarantine_links_unread(inbox: Inbox, tmp_path: Path) -> None:
    (tmp_path / "secret.csv").write_text("a\n1\n")
    (inbox.folder / "link.csv").symlink_to(tmp_path / "secret.csv")
    (inbox.folder / "real.csv").write_text("a\n1\n")
    ready, links = inbox.arrivals()
    assert [f.name for f in ready] == ["real.csv"]
    assert [(r.file, r.code) for r in links] == [("link.csv", "symlink")]
    assert links[0].to_dict()["path"] == str(links[0].path)
