"""The viewer protocol core: parsing, encoding, the flood guard and the docs, no server."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from companion.captions import CaptionEvent
from service.protocol import (
    CLIENT_TYPES,
    CLOSE_CODES,
    ERROR_CODES,
    PROTOCOL_VERSION,
    SERVER_TYPES,
    FloodGuard,
    Hello,
    Ping,
    ProtocolError,
    Subscribe,
    caption_message,
    error_message,
    gap_message,
    parse_client,
    pong_message,
    state_message,
    subscribed_message,
    welcome_message,
)

DOCS = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"
LIMIT = 4096


def event(seq: int = 1, final: bool = True) -> CaptionEvent:
    return CaptionEvent("en", seq, final, "안녕 hello", "en", 1.0, 2.0, 3.0, 1)


def test_parses_each_client_type() -> None:
    assert parse_client('{"type": "hello", "channel": "en"}', LIMIT) == Hello("en", None)
    assert parse_client('{"type":"hello","v":1,"channel":"ko","resume":7}', LIMIT) == Hello("ko", 7)
    assert parse_client('{"type": "subscribe", "channel": "ko", "resume": 0}', LIMIT) == (
        Subscribe("ko", 0)
    )
    assert parse_client('{"type": "ping", "extra": [1]}', LIMIT) == Ping()


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("{", "bad_json"),
        ("", "bad_json"),
        ("[" * 3000, "bad_json"),
        ("1" * 4500, "too_large"),
        ('"x"', "bad_message"),
        ("[]", "bad_message"),
        ('{"channel": "en"}', "bad_message"),
        ('{"type": 3}', "bad_message"),
        ('{"type": "hello", "v": 2, "channel": "en"}', "bad_message"),
        ('{"type": "hello", "v": true, "channel": "en"}', "bad_message"),
        ('{"type": "hello"}', "bad_message"),
        ('{"type": "hello", "channel": ""}', "bad_message"),
        ('{"type": "hello", "channel": "en", "resume": -1}', "bad_message"),
        ('{"type": "hello", "channel": "en", "resume": true}', "bad_message"),
        ('{"type": "hello", "channel": "en", "resume": 1.5}', "bad_message"),
        ('{"type": "launch"}', "unknown_type"),
    ],
)
def test_refuses_bad_input_with_a_code(text: str, code: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_client(text, LIMIT)
    assert caught.value.code == code
    assert caught.value.message


def test_size_limit_counts_utf8_bytes() -> None:
    text = json.dumps({"type": "hello", "channel": "가" * 60}, ensure_ascii=False)
    assert len(text) < 200 < len(text.encode())
    with pytest.raises(ProtocolError, match="too_large"):
        parse_client(text, 200)


def test_error_codes_are_checked() -> None:
    with pytest.raises(ValueError):
        ProtocolError("whatever", "no")


@given(st.text(max_size=300))
def test_arbitrary_text_raises_only_protocol_errors(text: str) -> None:
    try:
        parse_client(text, 256)
    except ProtocolError as error:
        assert error.code in ERROR_CODES


@given(st.binary(max_size=300))
def test_arbitrary_decoded_bytes_raise_only_protocol_errors(data: bytes) -> None:
    try:
        parse_client(data.decode("utf-8", "surrogateescape"), 256)
    except ProtocolError as error:
        assert error.code in ERROR_CODES


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@given(
    st.sampled_from([*CLIENT_TYPES, "other"]),
    st.dictionaries(st.sampled_from(["channel", "resume", "v", "x"]), json_values),
)
def test_arbitrary_objects_raise_only_protocol_errors(kind: str, fields: dict[str, object]) -> None:
    try:
        message = parse_client(json.dumps({"type": kind, **fields}), LIMIT)
    except ProtocolError as error:
        assert error.code in ERROR_CODES
    else:
        assert isinstance(message, Hello | Subscribe | Ping)


def test_server_messages_are_json_with_their_type() -> None:
    encoded = {
        "caption": caption_message(event()),
        "state": state_message("broadcast:en", {"status": "live"}),
        "error": error_message("bad_json", "no"),
        "welcome": welcome_message(["en", "ko"]),
        "subscribed": subscribed_message("ko", None),
        "gap": gap_message("en", 3, 9),
        "pong": pong_message(),
    }
    assert set(encoded) == set(SERVER_TYPES)
    for kind, text in encoded.items():
        assert json.loads(text)["type"] == kind
    caption = json.loads(encoded["caption"])
    assert caption == {"type": "caption", **event().to_dict()}
    assert "안녕" in encoded["caption"]  # UTF-8 kept as is
    assert json.loads(encoded["welcome"]) == {
        "type": "welcome",
        "v": PROTOCOL_VERSION,
        "channels": ["en", "ko"],
    }


def test_flood_guard_allows_a_burst_then_the_rate() -> None:
    guard = FloodGuard(rate=2.0, burst=3, now=100.0)
    assert [guard.allow(100.0) for _ in range(4)] == [True, True, True, False]
    assert guard.allow(100.4) is False
    assert guard.allow(100.5) is True
    assert guard.allow(99.0) is False  # a clock going back gives nothing
    assert [guard.allow(200.0) for _ in range(4)] == [True, True, True, False]


def test_docs_show_every_message_type_code_and_close_code() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    for kind in (*CLIENT_TYPES, *SERVER_TYPES):
        assert f"### `{kind}`" in docs, kind
        assert re.search(rf'"type": "{kind}"', docs), f"no example of {kind}"
    for code in ERROR_CODES:
        assert f"`{code}`" in docs, code
    for close in CLOSE_CODES:
        assert f"| {close} |" in docs, close


def test_docs_examples_are_valid() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    examples = re.findall(r"```json\n(.*?)```", docs, re.S)
    kinds = set()
    for example in examples:
        data = json.loads(example)
        kinds.add(data["type"])
        if data["type"] in CLIENT_TYPES:
            parse_client(example, LIMIT)
    assert kinds == set(CLIENT_TYPES) | set(SERVER_TYPES)


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70000])
def test_text_frame_header_per_rfc6455(size: int) -> None:
    from service.protocol import text_frame

    frame = text_frame("a" * size)
    assert frame[0] == 0x81  # FIN, text
    if size < 126:
        assert frame[1] == size and len(frame) == 2 + size
    elif size < 65536:
        assert frame[1] == 126 and int.from_bytes(frame[2:4], "big") == size
    else:
        assert frame[1] == 127 and int.from_bytes(frame[2:10], "big") == size
    assert frame.endswith(b"a" * size)
