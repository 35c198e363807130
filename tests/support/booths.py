"""An event with a floor and two booths, and its tokens: what the console's tests and
the error mapping's tests sign in with."""

from __future__ import annotations

from companion.config import EventConfig, parse_config
from service.auth import Tokens

CONFIG = """
[event]
id = "test"
[floor]
source = "floor.wav"
[[channels]]
id = "ko"
language = "ko"
[[channels]]
id = "en"
language = "en"
[[booths]]
id = "booth-en"
channel = "en"
interpreters = [{ id = "kim", name = "Kim" }, { id = "lee", name = "Lee" }]
[[booths]]
id = "booth-ko"
channel = "ko"
interpreters = [{ id = "park" }, { id = "choi" }]
"""
KIM, LEE, PARK, ORG = "k" * 20, "l" * 20, "p" * 20, "o" * 20
TOKENS = Tokens(organizer=ORG, interpreters={"kim": KIM, "lee": LEE, "park": PARK})


def event_config() -> EventConfig:
    return parse_config(CONFIG, "test.toml", env={})
