"""A YouTube channel's feed: parsing (pure), when discovery reads it or the playlist
(pure), and the client that fetches it (over HTTP, from the fake)."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestServer

from companion.errors import YouTubeError
from service.youtube.feed import FEED_ENTRIES, FeedError, feed_url, parse_feed
from service.youtube.feed_client import MAX_BYTES, FeedClient
from service.youtube.schedule import FEED_GAP, PLAYLIST_CHECK, Uploads
from tests.support.youtube_fake import FakeYouTube, feed_document, upcoming

NOW = 1778718600.0
CHANNEL = "UC" + "c" * 22

# A feed as YouTube writes it, trimmed to one entry.
YOUTUBE_FEED = b"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns:yt="http://www.youtube.com/xml/schemas/2015"
      xmlns:media="http://search.yahoo.com/mrss/" xmlns="http://www.w3.org/2005/Atom">
 <link rel="self" href="http://www.youtube.com/feeds/videos.xml?channel_id=UCcccccccccccccccccccccc"/>
 <id>yt:channel:UCcccccccccccccccccccccc</id>
 <yt:channelId>UCcccccccccccccccccccccc</yt:channelId>
 <title>KoSEA</title>
 <published>2019-03-04T05:06:07+00:00</published>
 <entry>
  <id>yt:video:dQw4w9WgXcQ</id>
  <yt:videoId>dQw4w9WgXcQ</yt:videoId>
  <yt:channelId>UCcccccccccccccccccccccc</yt:channelId>
  <title>Plenary &amp; opening (live)</title>
  <link rel="alternate" href="https://www.youtube.com/watch?v=dQw4w9WgXcQ"/>
  <published>2026-05-01T09:00:00+00:00</published>
  <updated>2026-05-02T10:00:00+00:00</updated>
  <media:group>
   <media:title>Plenary &amp; opening (live)</media:title>
   <media:thumbnail url="https://i1.ytimg.com/vi/dQw4w9WgXcQ/hqdefault.jpg"
    width="480" height="360"/>
   <media:description>Day one.</media:description>
  </media:group>
 </entry>
</feed>
"""


def test_reads_youtubes_feed() -> None:
    feed = parse_feed(YOUTUBE_FEED)
    [entry] = feed.entries
    assert (entry.video_id, entry.channel_id) == ("dQw4w9WgXcQ", CHANNEL)
    assert entry.published == 1777626000.0 and entry.updated == 1777716000.0
    assert feed.video_ids == ["dQw4w9WgXcQ"] and not feed.full


def test_reads_the_fakes_feed_newest_first_and_full_at_fifteen() -> None:
    ids = [f"v{n:010d}" for n in range(FEED_ENTRIES)]
    videos = {ids[0]: upcoming(ids[0], NOW, title="Q&A <live>")}
    feed = parse_feed(feed_document(CHANNEL, ids, videos, {ids[1]: NOW}).encode())
    assert feed.video_ids == ids and feed.full
    assert feed.entries[1].published == NOW
    assert not parse_feed(feed_document(CHANNEL, ids[:14], {}, {}).encode()).full
    assert parse_feed(feed_document(CHANNEL, [], {}, {}).encode()).entries == ()


def test_the_video_id_comes_from_the_atom_id_under_another_prefix() -> None:
    body = YOUTUBE_FEED.replace(b"xmlns:yt=", b"xmlns:youtube=").replace(b"yt:videoId", b"x")
    body = body.replace(b"<yt:channelId>", b"<youtube:channelId>")
    body = body.replace(b"</yt:channelId>", b"</youtube:channelId>")
    body = body.replace(b"<x>dQw4w9WgXcQ</x>", b"")
    assert parse_feed(body).video_ids == ["dQw4w9WgXcQ"]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (YOUTUBE_FEED[:700], "not well-formed XML"),
        (
            b"<html><head><title>Before you continue</title></head><body></body></html>",
            "not a feed",
        ),
        (b'{"error": "nope"}', "not well-formed XML"),
        (b"", "not a feed"),
        (b"/etc/hostname", "not well-formed XML"),  # bytes are never opened as a file
        (b"https://example.invalid/feed.xml", "not well-formed XML"),  # nor fetched
    ],
)
def test_a_body_that_is_not_a_feed_is_an_error(body: bytes, why: str) -> None:
    with pytest.raises(FeedError, match=why) as caught:
        parse_feed(body)
    assert isinstance(caught.value, YouTubeError)


def test_feed_url() -> None:
    assert feed_url("", CHANNEL) == (
        f"https://www.youtube.com/feeds/videos.xml?channel_id={CHANNEL}"
    )
    assert feed_url("http://127.0.0.1:8080/", "UC a&b") == (
        "http://127.0.0.1:8080/feeds/videos.xml?channel_id=UC+a%26b"
    )


# -- when discovery reads the feed and the playlist (pure) ------------------------------


def test_the_feed_is_read_at_most_every_feed_gap() -> None:
    uploads = Uploads()
    assert uploads.feed_due(NOW)
    uploads.feed_read(["a"], full=False, now=NOW)
    assert not uploads.feed_due(NOW + FEED_GAP - 1) and uploads.feed_due(NOW + FEED_GAP)
    uploads.feed_failed("the feed answered 500", NOW + FEED_GAP)
    assert not uploads.feed_due(NOW + 2 * FEED_GAP - 1)  # a failing one is not hammered


def test_a_feed_that_is_not_full_is_enough_and_the_playlist_is_a_rare_cross_check() -> None:
    uploads = Uploads()
    assert not uploads.feed_enough  # never read: the playlist
    uploads.feed_read(["a", "b"], full=False, now=NOW)
    assert uploads.feed_enough
    assert not uploads.playlist_wanted(found=True, now=NOW)
    assert uploads.playlist_wanted(found=False, now=NOW)  # never read yet
    uploads.playlist_done(NOW)
    assert not uploads.playlist_wanted(found=False, now=NOW + PLAYLIST_CHECK - 1)
    assert uploads.playlist_wanted(found=False, now=NOW + PLAYLIST_CHECK)
    assert uploads.report()["feed"] == "ok"


def test_a_full_feed_owes_the_playlist_a_read_when_it_may_have_skipped_uploads() -> None:
    first = [f"a{n}" for n in range(FEED_ENTRIES)]
    uploads = Uploads()
    uploads.feed_read(first, full=True, now=NOW)
    assert not uploads.feed_enough  # the first read of a full feed: older ones unseen
    uploads.playlist_done(NOW)
    assert uploads.feed_enough
    uploads.feed_read(["new", *first[:-1]], full=True, now=NOW + FEED_GAP)
    assert uploads.feed_enough  # overlaps the last read: nothing skipped
    burst = [f"b{n}" for n in range(FEED_ENTRIES)]
    uploads.feed_read(burst, full=True, now=NOW + 2 * FEED_GAP)
    assert not uploads.feed_enough  # 15 new uploads since: some may be below
    uploads.feed_failed("the feed answered 404", NOW + 3 * FEED_GAP)
    assert not uploads.feed_enough
    assert uploads.report()["feed"] == "failed"
    assert uploads.report()["feed_error"] == "the feed answered 404"


# -- the feed client, over HTTP --------------------------------------------------------


async def test_the_client_says_briefly_why_a_feed_cannot_be_read() -> None:
    fake = FakeYouTube()
    fake.uploads[CHANNEL] = "UU" + "c" * 22
    fake.playlists["UU" + "c" * 22] = ["aaaaaaaaaaa"]
    async with TestServer(fake.app(), host="127.0.0.1") as server:
        address = f"http://127.0.0.1:{server.port}"
        client = FeedClient(address)
        try:
            assert (await client.read(CHANNEL)).video_ids == ["aaaaaaaaaaa"]
            with pytest.raises(FeedError, match=r"^the feed answered 404$"):
                await client.read("UC" + "x" * 22)  # no such channel
            fake.feed_body = b"<" * (MAX_BYTES + 1)
            with pytest.raises(FeedError, match=r"^the feed is over 1024 KiB$"):
                await client.read(CHANNEL)
        finally:
            await client.aclose()
    unreachable = FeedClient(address)  # the server is gone
    try:
        with pytest.raises(FeedError, match=r"^the feed is unreachable \(\w+\)$") as caught:
            await unreachable.read(CHANNEL)
        assert address not in str(caught.value) and str(server.port) not in repr(unreachable)
    finally:
        await unreachable.aclose()
