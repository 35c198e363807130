"""A channel's public feed over HTTP, with aiohttp, on the event loop.

The feed costs no API quota and needs no key: none is sent (this client never holds
it), and no cookie is kept. Every failure comes back as ``YouTubeFeedError`` with a
short message that names no address (``YOUTUBE_FEED_ENDPOINT`` may be a proxy whose
address holds a password): a status, the kind of network failure, a timeout, a body
over ``MAX_BYTES``, or why the body is not a feed. The body is parsed in a worker
thread (``feed.parse_feed``), so a large or odd one cannot stall the loop.
"""

from __future__ import annotations

import asyncio

import aiohttp

from service.youtube.feed import Feed, FeedError, feed_url, parse_feed

TIMEOUT = 10.0
MAX_BYTES = 1 << 20  # YouTube's feed of 15 entries is about 30 KB
USER_AGENT = "companion (live captions; YouTube broadcast tracker)"


class FeedClient:
    """Reads YouTube channels' feeds from ``endpoint`` (Google's when empty)."""

    def __init__(self, endpoint: str = "", timeout: float = TIMEOUT) -> None:
        self._endpoint = endpoint
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:  # the endpoint may be a proxy with a password in it
        return f"FeedClient(endpoint={'default' if not self._endpoint else 'custom'})"

    async def read(self, channel_id: str) -> Feed:
        """The channel's newest uploads; ``FeedError`` if the feed cannot be read."""
        try:
            body = await self._fetch(feed_url(self._endpoint, channel_id))
        except TimeoutError:
            raise FeedError(f"the feed did not answer within {self._timeout:.0f} s") from None
        except aiohttp.ClientResponseError as error:  # its text holds the address
            raise FeedError(f"the feed answered {error.status}") from None
        except (aiohttp.ClientError, OSError) as error:
            raise FeedError(f"the feed is unreachable ({type(error).__name__})") from None
        return await asyncio.to_thread(parse_feed, body)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _fetch(self, url: str) -> bytes:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                cookie_jar=aiohttp.DummyCookieJar(),
                headers={"User-Agent": USER_AGENT},
            )
        async with self._session.get(url, raise_for_status=True) as response:
            body = bytearray()
            async for chunk in response.content.iter_chunked(1 << 16):
                body += chunk
                if len(body) > MAX_BYTES:
                    raise FeedError(f"the feed is over {MAX_BYTES >> 10} KiB")
            return bytes(body)
