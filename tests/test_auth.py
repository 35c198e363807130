"""Organizer and interpreter tokens: from the environment, checked in constant time."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from service.auth import Tokens, interpreter_env, request_token, require_organizer, tokens_from_env

ORG = "o" * 24
KIM = "k" * 20


def test_tokens_come_from_the_environment() -> None:
    env = {"COMPANION_ORGANIZER_TOKEN": ORG, "COMPANION_TOKEN_KIM_MINJI": KIM}
    tokens = tokens_from_env(env, ["kim-minji", "lee"])
    assert tokens.is_organizer(ORG)
    assert not tokens.is_organizer(KIM) and not tokens.is_organizer(None)
    assert tokens.interpreter_for(KIM) == "kim-minji"
    assert tokens.interpreter_for(ORG) is None and tokens.interpreter_for("") is None
    assert "lee" not in tokens.interpreters  # no token set: cannot sign in
    assert ORG not in repr(tokens) and KIM not in repr(tokens)
    assert interpreter_env("kim-minji") == "COMPANION_TOKEN_KIM_MINJI"


def test_unset_tokens_let_nobody_in() -> None:
    tokens = Tokens()
    assert not tokens.is_organizer("") and not tokens.is_organizer("anything-at-all-long")


def test_a_short_token_is_refused_naming_the_variable() -> None:
    with pytest.raises(ValueError, match="COMPANION_TOKEN_LEE is too short"):
        tokens_from_env({"COMPANION_TOKEN_LEE": "1234"}, ["lee"])


def test_bearer_header_then_query() -> None:
    assert (
        request_token(make_mocked_request("GET", "/", headers={"Authorization": "Bearer x"})) == "x"
    )
    assert request_token(make_mocked_request("GET", "/?token=y")) == "y"
    assert request_token(make_mocked_request("GET", "/")) is None


def test_require_organizer_401_then_403() -> None:
    tokens = Tokens(organizer=ORG)
    with pytest.raises(web.HTTPUnauthorized):
        require_organizer(make_mocked_request("GET", "/"), tokens)
    with pytest.raises(web.HTTPForbidden):
        require_organizer(make_mocked_request("GET", f"/?token={KIM}"), tokens)
    require_organizer(
        make_mocked_request("GET", "/", headers={"Authorization": f"Bearer {ORG}"}), tokens
    )
