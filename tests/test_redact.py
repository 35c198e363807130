"""No secret of a source address reaches a public endpoint or a log line."""

from __future__ import annotations

import time

import pytest
from aiohttp.test_utils import TestClient, TestServer

from companion.bus.memory import MemoryBus
from companion.errors import SourceError
from companion.redact import redact_source, redact_text
from service.app import create_app
from service.settings import ServiceSettings
from workers.captioner.audio import AudioSource

SECRET = "S3cr3t-pa55"


@pytest.mark.parametrize(
    ("spec", "shown"),
    [
        (f"http://user:{SECRET}@host/floor.m3u8", "http://user:***@host/floor.m3u8"),
        (f"https://{SECRET}@host/a", "https://***@host/a"),
        (
            f"srt://venue:9000?mode=caller&passphrase={SECRET}&streamid={SECRET}",
            "srt://venue:9000?mode=caller&passphrase=***&streamid=***",
        ),
        (f"rtmp://a.rtmp.youtube.com/live2/{SECRET}", "rtmp://a.rtmp.youtube.com/live2/***"),
        (f"https://host/hls.m3u8?token={SECRET}#frag", "https://host/hls.m3u8?token=***#***"),
        ("https://host/hls.m3u8?lang=ko", "https://host/hls.m3u8?lang=ko"),
        ("/srv/audio/floor.wav", "/srv/audio/floor.wav"),
        ("-", "-"),
    ],
)
def test_a_source_is_shown_without_its_secrets(spec: str, shown: str) -> None:
    assert redact_source(spec) == shown
    assert SECRET not in redact_source(spec)


def test_every_address_in_a_text_is_redacted() -> None:
    text = f"cannot open 'http://u:{SECRET}@h/x' nor srt://h:1?passphrase={SECRET}: refused"
    out = redact_text(text)
    assert SECRET not in out and "http://u:***@h/x" in out and "refused" in out


def test_a_source_that_cannot_be_opened_says_so_without_its_password() -> None:
    with pytest.raises(SourceError) as caught:
        AudioSource(f"http://user:{SECRET}@127.0.0.1:9/floor.wav", timeout=2.0)
    assert SECRET not in str(caught.value) and "user:***@127.0.0.1:9" in str(caught.value)


async def test_readyz_and_the_dashboard_never_show_a_source_secret() -> None:
    bus = MemoryBus()
    app = create_app(ServiceSettings(channels=("en",)), bus)
    async with TestClient(TestServer(app)) as client:
        # as a worker of an older version would have published it: whole
        await bus.set_state(
            "captioner:en",
            {
                "alive": False,
                "updated": time.time(),
                "source": f"http://user:{SECRET}@host/floor.m3u8",
                "error": f"cannot open audio source 'http://user:{SECRET}@host/floor.m3u8'",
            },
        )
        ready = await client.get("/readyz")
        text = await ready.text()
        metrics = await (await client.get("/metrics")).text()
        state = await (await client.get("/api/state")).text()
    assert ready.status == 503 and "stopped" in text and "user:***@host" in text
    assert SECRET not in text + metrics + state
