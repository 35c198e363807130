"""The archiver in process: durable, deduplicated writes; a full or missing disk; recovery.

A full disk is real here: a caption file that is a link to /dev/full fails every
write with ENOSPC. An unwritable archive is real too: the event directory replaced by
a regular file (we run as root, so permissions would not stop a write).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from companion.bus.memory import MemoryBus
from companion.transcripts.archive import TranscriptArchive
from companion.transcripts.files import ArchiveFiles
from tests.support.archive_config import archive_config, final
from tests.support.waiting import until
from workers.archiver import archiver as archiver_module
from workers.archiver.archiver import HEALTH_KEY, Archiver
from workers.archiver.bus_source import BusSource
from workers.archiver.store import ArchiveLockedError, CaptionStore, Pending

TIMEOUT = 20.0  # for the archiver, which writes on its own task


def pending(seq: int, channel: str = "en", session: str = "morning") -> Pending:
    return Pending(replace(final(channel, f"caption {seq}"), seq=seq), "ep", session, 1.0)


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


@pytest.fixture
def files(tmp_path: Path) -> ArchiveFiles:
    return ArchiveFiles(tmp_path / "archive", "event")


def test_each_caption_is_stored_once_even_across_reopening(files: ArchiveFiles) -> None:
    store = CaptionStore(files)
    assert store.write([pending(1), pending(2), pending(2)]) == (2, 1)
    assert store.write([pending(1), pending(3, session="afternoon")]) == (1, 1)
    store.close()
    again = CaptionStore(files)
    again.open()
    assert ("en", "ep", 2) in again and len(again) == 3
    assert again.highest("en", "ep") == 3 and again.highest("ko", "ep") == 0
    assert again.write([pending(1), pending(2), pending(3)]) == (0, 3)
    assert len(lines(files.caption_path("morning", "en"))) == 2
    assert [c.seq for c in files.read_captions("en")] == [1, 2, 3]


def test_a_torn_last_line_is_cut_and_the_caption_comes_again(files: ArchiveFiles) -> None:
    store = CaptionStore(files)
    store.write([pending(1)])
    store.close()
    path = files.caption_path("morning", "en")
    with path.open("ab") as f:
        f.write(b'{"v":1,"epoch":"ep","seq":2,"te')  # killed mid-write
    assert [c.seq for c in files.read_captions()] == [1]  # readers skip it
    store = CaptionStore(files)
    store.open()
    assert path.read_bytes().endswith(b"}\n") and len(lines(path)) == 1
    assert store.write([pending(2)]) == (1, 0)
    assert [c.seq for c in files.read_captions()] == [1, 2]


def test_a_second_archiver_waits_for_the_first(files: ArchiveFiles) -> None:
    first = CaptionStore(files)
    first.open()
    second = CaptionStore(files)
    with pytest.raises(ArchiveLockedError):
        second.open()
    first.close()
    second.open()


def test_a_directory_replaced_by_a_file_fails_then_recovers(files: ArchiveFiles) -> None:
    store = CaptionStore(files)
    store.write([pending(1)])
    aside = files.event_dir.with_name("aside")
    files.event_dir.rename(aside)
    files.event_dir.write_text("not a directory")
    with pytest.raises(OSError):
        store.write([pending(2)])
    files.event_dir.unlink()
    aside.rename(files.event_dir)
    assert store.write([pending(1), pending(2)]) == (1, 1)
    assert [c.seq for c in files.read_captions()] == [1, 2]


def test_a_full_disk_fails_with_enospc_then_recovers(files: ArchiveFiles) -> None:
    store = CaptionStore(files)
    store.write([pending(1, channel="ko")])
    path = files.caption_path("morning", "en")
    path.symlink_to("/dev/full")
    with pytest.raises(OSError) as info:
        store.write([pending(1, channel="ko"), pending(2)])
    assert info.value.errno == errno.ENOSPC
    path.unlink()
    assert store.write([pending(2)]) == (1, 0)
    assert [(c.channel, c.seq) for c in files.read_captions()] == [("ko", 1), ("en", 2)]


def test_lines_whose_fsync_failed_are_written_again_not_taken_as_stored(
    files: ArchiveFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After an fsync error the page cache still shows the line; the disk may never
    have it (and a later fsync may not say so). Reopening must not index it, and
    acknowledge it, as stored: it is cut off and written again, once."""
    from workers.archiver import store as store_module

    store = CaptionStore(files)
    store.write([pending(1)])
    real_fsync = os.fsync
    failures = [1]

    def flaky_fsync(fd: int) -> None:  # the disk refuses once: EIO, as a failing device does
        if failures[0]:
            failures[0] -= 1
            raise OSError(errno.EIO, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(store_module.os, "fsync", flaky_fsync)
    with pytest.raises(OSError):
        store.write([pending(2)])
    path = files.caption_path("morning", "en")
    assert len(lines(path)) == 2  # the page cache shows it
    assert store.write([pending(2)]) == (1, 0)  # written again, not skipped as stored
    assert [c.seq for c in files.read_captions()] == [1, 2] and len(lines(path)) == 2


async def test_the_embedded_archiver_holds_on_while_the_disk_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(archiver_module, "RETRY_MAX", 0.2)
    monkeypatch.setattr(archiver_module, "HEARTBEAT_SECONDS", 0.1)
    config = archive_config(tmp_path / "archive")
    archive = TranscriptArchive(config, tmp_path / "archive")
    bus = MemoryBus()
    archiver = Archiver(archive, BusSource(bus, ["ko", "en"]), bus.set_state)
    task = asyncio.create_task(archiver.run())

    async def status() -> str:
        return str((await bus.get_state()).get(HEALTH_KEY, {}).get("status"))

    def stored() -> list[tuple[str, int]]:
        return [(c.channel, c.seq) for c in archive.files.read_captions()]

    try:
        for i in range(5):
            await bus.publish(final("en", f"first {i}"))
            await bus.publish(final("ko", f"partial {i}", final=False))
        await bus.publish(final("ko", "unknown time", at=0.0))
        await until(lambda: len(stored()) == 6, "the first captions", timeout=TIMEOUT)
        assert await status() == "writing"

        event_dir = archive.files.event_dir
        event_dir.rename(tmp_path / "aside")
        event_dir.write_text("the disk is gone")
        with caplog.at_level(logging.ERROR):
            for i in range(5, 10):
                await bus.publish(final("en", f"while gone {i}"))

            async def failing() -> bool:
                return await status() == "failing"

            await until(failing, "the health document to say failing", timeout=TIMEOUT)
        assert "ARCHIVE CANNOT WRITE" in caplog.text
        doc = (await bus.get_state())[HEALTH_KEY]
        assert doc["ok"] is False and doc["error"] and doc["waiting"] == 5

        event_dir.unlink()
        (tmp_path / "aside").rename(event_dir)
        await until(lambda: len(stored()) == 11, "the held captions", timeout=TIMEOUT)

        async def writing() -> bool:
            return await status() == "writing"

        await until(writing, "the health document to say writing", timeout=TIMEOUT)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert sorted(stored()) == sorted({*stored()})  # none twice
    assert [seq for ch, seq in stored() if ch == "en"] == list(range(1, 11))
    # filed under the session running when spoken; an unknown time counts as received
    assert {p.parent.name for p in archive.files.caption_files()} == {"morning"}
    assert os.path.getsize(archive.files.caption_path("morning", "ko")) > 0
    assert [c.text for c in archive.captions("ko")] == ["unknown time"]  # no partials


async def test_captions_outside_every_session_are_kept_apart(tmp_path: Path) -> None:
    config = archive_config(tmp_path / "archive")
    archive = TranscriptArchive(config, tmp_path / "archive")
    bus = MemoryBus()
    task = asyncio.create_task(Archiver(archive, BusSource(bus, ["en"])).run())
    try:
        await bus.publish(final("en", "long before", at=1_000_000_000.0))
        await bus.publish(
            final("en", "this afternoon", at=config.sessions[1].start.timestamp() + 60)
        )
        await until(
            lambda: len(archive.files.read_captions()) == 2, "both captions", timeout=TIMEOUT
        )
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    names = {p.parent.name for p in archive.files.caption_files()}
    assert names == {"unscheduled", "afternoon"}
    assert [c.text for c in archive.transcript("unscheduled", "en").captions] == ["long before"]
    shutil.rmtree(tmp_path / "archive")
