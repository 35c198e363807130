"""Issue 13's smaller holes, each with the input that opened it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request

from cli import main
from companion.bus.memory import MemoryBus
from companion.config import parse_config
from companion.errors import ConfigError
from service.app import create_app
from service.auth import Tokens
from service.headers import SECURITY_HEADERS, AccessLogger
from service.settings import ServiceSettings
from tests.support.archive_config import archive_config, config_text

ORG = "organizer-token-0123456789"
CHANNELS = '[[channels]]\nid = "en"\nlanguage = "en"\n'


def test_an_event_id_is_a_name_never_a_path() -> None:
    with pytest.raises(ConfigError, match=r"event\.id"):
        parse_config('[event]\nid = "../../x"\n' + CHANNELS, env={})
    assert parse_config('[event]\nid = "KoSEA_2026-sse"\n' + CHANNELS, env={}).event.id


def test_two_interpreter_ids_that_share_a_token_variable_are_refused() -> None:
    booth = (
        '[[booths]]\nid = "booth-en"\nchannel = "en"\n'
        'interpreters = [{ id = "a-b" }, { id = "a_b" }]\n'
    )
    with pytest.raises(ConfigError, match="COMPANION_TOKEN_A_B"):
        parse_config(CHANNELS + booth, env={})


def test_a_token_with_a_lone_surrogate_is_a_wrong_token_not_a_crash() -> None:
    tokens = Tokens(organizer=ORG, interpreters={"kim": "k" * 20})
    assert tokens.interpreter_for("\ud800") is None


async def served(tmp_path: Path) -> TestClient[web.Request, web.Application]:
    app = create_app(
        ServiceSettings(channels=("ko", "en")),
        MemoryBus(),
        tokens=Tokens(organizer=ORG),
        config=archive_config(tmp_path),
    )
    return TestClient(TestServer(app))


async def test_a_session_cannot_start_at_nan_or_infinity(tmp_path: Path) -> None:
    async with await served(tmp_path) as client:
        for at in ("NaN", "Infinity", "-Infinity"):
            response = await client.post(
                "/api/sessions/afternoon/start",
                data='{"at": ' + at + "}",
                headers={"Authorization": f"Bearer {ORG}", "Content-Type": "application/json"},
            )
            assert response.status == 400, at
            assert (await response.json())["error"] == "bad_at"


async def test_a_surrogate_token_in_the_query_is_refused_not_a_500(tmp_path: Path) -> None:
    async with await served(tmp_path) as client:
        response = await client.get("/api/admin/captioners?token=%ED%A0%80")
        assert response.status in (401, 403)


async def test_every_response_carries_the_security_headers(tmp_path: Path) -> None:
    async with await served(tmp_path) as client:
        for path in ("/healthz", "/", "/api/state", "/no-such-page", "/api/admin/captioners"):
            response = await client.get(path)
            for name, value in SECURITY_HEADERS.items():
                assert response.headers.get(name) == value, (path, name)
    assert SECURITY_HEADERS["Referrer-Policy"] != "no-referrer"  # YouTube's player needs it


def test_the_access_log_never_writes_a_token(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.access")
    request = make_mocked_request("GET", f"/ws/console?token={ORG}&lang=ko")
    with caplog.at_level(logging.INFO, logger="test.access"):
        AccessLogger(logger, "").log(request, web.Response(status=101), 0.25)
    assert ORG not in caplog.text and "token=***" in caplog.text and "lang=ko" in caplog.text


def test_export_into_a_missing_directory_says_so_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "event.toml"
    config.write_text(config_text(tmp_path / "archive"), encoding="utf-8")
    missing = tmp_path / "no" / "such" / "dir" / "en.srt"
    with pytest.raises(SystemExit) as exited:
        main(
            [
                "export",
                "morning",
                "--lang",
                "en",
                "--format",
                "srt",
                "--out",
                str(missing),
                "--config",
                str(config),
            ],
            standalone_mode=True,
        )
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "cannot write" in err and "Traceback" not in err


DEEP = "[" * 1000 + "]" * 1000  # json.loads raises RecursionError, not ValueError


async def test_json_nested_too_deep_is_a_bad_message_everywhere(tmp_path: Path) -> None:
    from tests.support.booths import KIM, TOKENS, event_config

    app = create_app(
        ServiceSettings(channels=("ko", "en")), MemoryBus(), tokens=TOKENS, config=event_config()
    )
    async with TestClient(TestServer(app)) as client:
        ws = await client.ws_connect("/ws/console")
        await ws.send_json({"type": "login", "token": KIM})
        await ws.receive_json()  # the desk
        await ws.send_str(DEEP)
        assert (await ws.receive_json())["code"] == "bad_json"
        await ws.send_json({"type": "ping"})
        assert (await ws.receive_json())["type"] == "pong"  # the socket goes on
        await ws.close()
        login = await client.ws_connect("/ws/booth-audio")
        await login.send_str(DEEP)  # as the login
        assert (await login.receive_json())["code"] == "login_required"
        await login.close()
    async with await served(tmp_path) as client:
        response = await client.post(
            "/api/sessions/afternoon/start",
            data=DEEP,
            headers={"Authorization": f"Bearer {ORG}", "Content-Type": "application/json"},
        )
        assert response.status == 400 and (await response.json())["error"] == "bad_json"


async def test_pages_carry_a_content_security_policy_and_apis_do_not(tmp_path: Path) -> None:
    async with await served(tmp_path) as client:
        viewer = (await client.get("/")).headers["Content-Security-Policy"]
        assert "script-src 'self' 'sha256-" in viewer and "https://www.youtube.com" in viewer
        assert "object-src 'none'" in viewer and "frame-ancestors" not in viewer  # embeddable
        dashboard = (await client.get("/dashboard")).headers["Content-Security-Policy"]
        assert "frame-ancestors 'self'" in dashboard
        assert "Content-Security-Policy" not in (await client.get("/api/state")).headers
