"""The YouTube caption poster: final captions into the broadcast's own player.

``format`` is YouTube's format and the numbering of posts (pure); ``poster`` follows
a channel on the bus and POSTs (aiohttp). A channel posts when its ingestion URL,
a secret, is in the environment as ``COMPANION_CAPTION_URL_<CHANNEL>`` and its
``youtube.post_captions`` is on. docs/youtube.md has the setup.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from companion.bus.base import Bus
from companion.config import EventConfig

if TYPE_CHECKING:
    from workers.poster.poster import CaptionPoster

log = logging.getLogger(__name__)


def caption_url_env(channel: str) -> str:
    """The environment variable that holds ``channel``'s caption ingestion URL."""
    return "COMPANION_CAPTION_URL_" + channel.upper().replace("-", "_")


def caption_urls(config: EventConfig, env: Mapping[str, str]) -> dict[str, str]:
    """Channel id -> ingestion URL, for each channel that posts captions."""
    return {
        c.id: env[caption_url_env(c.id)].strip()
        for c in config.channels
        if c.youtube.post_captions and env.get(caption_url_env(c.id), "").strip()
    }


def build_poster(bus: Bus, config: EventConfig, channel: str, url: str) -> CaptionPoster:
    """The poster of ``channel``, with its delay and the event's heartbeat."""
    from workers.poster.poster import CaptionPoster

    return CaptionPoster(
        bus,
        channel,
        url,
        delay=config.channel(channel).youtube.caption_delay,
        heartbeat=config.youtube.caption_heartbeat,
    )


async def run_posters(bus: Bus, config: EventConfig, env: Mapping[str, str]) -> None:
    """Post for every channel that has an ingestion URL, until cancelled.

    A poster that fails (a bug) is logged; the others go on.
    """

    async def run(channel: str, url: str) -> None:
        log.info("posting channel %s's final captions to YouTube", channel)
        try:
            await build_poster(bus, config, channel, url).run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the caption poster of channel %s failed and has stopped", channel)

    await asyncio.gather(*(run(ch, url) for ch, url in caption_urls(config, env).items()))
