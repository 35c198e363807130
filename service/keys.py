"""Every ``aiohttp`` ``AppKey`` of the service, in one place: what an app built by
``service.app.create_app`` holds, and who puts it there.

Route modules read the app through these keys, never through each other, so no two
of them import one another (aiohttp's guidance: typed ``AppKey``s, no globals).
The types are only needed by the type checker, so importing this module imports
none of the parts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Gauge

    from companion.bus.base import Bus
    from companion.config import EventConfig
    from companion.transcripts.archive import TranscriptArchive
    from service.auth import Tokens
    from service.booth_audio import BoothAudio
    from service.booth_desk import BoothDesk
    from service.live import LiveSegments
    from service.settings import ServiceSettings
    from service.sockets import SocketGate
    from service.transcripts import ExportCache
    from service.viewers import Fanout
    from service.youtube.web import YouTubeParts

# service.app
SETTINGS: web.AppKey[ServiceSettings] = web.AppKey("settings")
BUS: web.AppKey[Bus] = web.AppKey("bus")
FANOUT: web.AppKey[Fanout] = web.AppKey("fanout")
REGISTRY: web.AppKey[CollectorRegistry] = web.AppKey("registry")
INSTANCE: web.AppKey[str] = web.AppKey("instance")  # this replica's id
TOKENS: web.AppKey[Tokens] = web.AppKey("tokens")
EVENT: web.AppKey[EventConfig] = web.AppKey("event")  # absent when built without a config
# the ids of the captioners the event runs (``EventConfig.captioners()``; without a
# config, one per channel): the dashboard, /readyz and /metrics report on these
CAPTIONERS: web.AppKey[tuple[str, ...]] = web.AppKey("captioners")
SOCKETS: web.AppKey[SocketGate] = web.AppKey("sockets")  # the caps on open websockets
# service.health
BUS_GAUGES: web.AppKey[tuple[Gauge, Gauge, Gauge]] = web.AppKey("bus_gauges")
CAPTIONER_GAUGES: web.AppKey[tuple[Gauge, Gauge, Gauge]] = web.AppKey("captioner_gauges")
# service.booths
DESK: web.AppKey[BoothDesk] = web.AppKey("booth_desk")
# service.booth_audio
BOOTH_AUDIO: web.AppKey[BoothAudio] = web.AppKey("booth_audio")
# service.transcripts
ARCHIVE: web.AppKey[TranscriptArchive] = web.AppKey("archive")
ARCHIVE_GAUGES: web.AppKey[tuple[Gauge, Gauge]] = web.AppKey("archive_gauges")
EXPORTS: web.AppKey[ExportCache] = web.AppKey("exports")
# service.live: the segment writers and the segments this replica has read
SEGMENTS: web.AppKey[LiveSegments] = web.AppKey("segments")
# service.youtube.web
YOUTUBE: web.AppKey[YouTubeParts] = web.AppKey("youtube")
