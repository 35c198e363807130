"""The YouTube caption poster: final captions into the broadcast's own player.

``format`` is YouTube's format and the numbering of posts (pure); ``poster`` follows
a channel on the bus and POSTs (aiohttp). A channel posts when its ingestion URL,
a secret, is in the environment as ``COMPANION_CAPTION_URL_<CHANNEL>`` and its
``youtube.post_captions`` is on. ``clock`` is YouTube's clock as the replies tell it
and which cues it will still take (pure); ``seqfile`` keeps the numbering of posts
beside the archive when the bus (in memory) does not outlive the process; ``lease``
makes one poster per channel. A test caption for organizers: ``trial`` (its number,
body and report, pure), ``trial_desk`` (the running poster's side of a request over
the bus) and ``trial_post`` (the command's own post while no poster runs).
docs/youtube.md has the setup.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path
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


def seq_file(config: EventConfig, channel: str, env: Mapping[str, str]) -> Path:
    """Where ``channel``'s poster keeps its numbering on the in-memory bus: beside the
    archive (``archive.directory`` or ``COMPANION_ARCHIVE_DIR``), in the event's folder."""
    from companion.transcripts.archive import archive_root
    from workers.poster.seqfile import seq_path

    return seq_path(archive_root(config, env) / config.event.id, channel)


def build_poster(
    bus: Bus, config: EventConfig, channel: str, url: str, seq_at: Path | None = None
) -> CaptionPoster:
    """The poster of ``channel``, with its delay and the event's heartbeat; ``seq_at``:
    the file that keeps its numbering (the in-memory bus; None: the bus keeps it)."""
    from workers.poster.poster import CaptionPoster

    return CaptionPoster(
        bus,
        channel,
        url,
        delay=config.channel(channel).youtube.caption_delay,
        heartbeat=config.youtube.caption_heartbeat,
        seq_file=seq_at,
    )


async def run_posters(
    bus: Bus, config: EventConfig, env: Mapping[str, str], *, seq_files: bool = False
) -> None:
    """Post for every channel that has an ingestion URL, until cancelled; with
    ``seq_files`` (the in-memory bus), each keeps its numbering beside the archive.

    A poster that fails (a bug) is logged; the others go on.
    """

    async def run(channel: str, url: str) -> None:
        log.info("posting channel %s's final captions to YouTube", channel)
        seq_at = seq_file(config, channel, env) if seq_files else None
        try:
            await build_poster(bus, config, channel, url, seq_at).run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the caption poster of channel %s failed and has stopped", channel)

    await asyncio.gather(*(run(ch, url) for ch, url in caption_urls(config, env).items()))
