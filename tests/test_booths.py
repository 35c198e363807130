"""The booth state machine and channel routing: pure, with property tests."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from companion.booths import ACTIONS, REQUEST_SECONDS, Booth, Refused, apply, expire, route

PAIR = ("kim", "lee")


def booth(**changes: object) -> Booth:
    base = Booth("booth-en", "en", PAIR, relays=("booth-ko",))
    return Booth(**{**base.__dict__, **changes})  # type: ignore[arg-type]


def test_go_live_then_handover_request_and_accept() -> None:
    b, event = apply(booth(), "go_live", "kim", 10.0)
    assert b.live == "kim" and b.on_air and b.shift_started == 10.0
    assert (event.action, event.by, event.at) == ("go_live", "kim", 10.0)
    b, _ = apply(b, "request_handover", "kim", 20.0)
    assert b.request is not None and (b.request.giver, b.request.taker) == ("kim", "lee")
    with pytest.raises(Refused, match="only lee can answer"):
        apply(b, "accept", "kim", 21.0)
    b, event = apply(b, "accept", "lee", 22.0)
    assert b.live == "lee" and b.request is None
    assert b.shift_started == 22.0 and b.last_handover == 22.0
    assert event.detail == "kim -> lee"


def test_partner_asks_and_live_declines() -> None:
    b, _ = apply(booth(), "go_live", "kim", 0.0)
    b, _ = apply(b, "request_handover", "lee", 1.0)
    assert b.request is not None and b.request.asked_by == "lee"
    with pytest.raises(Refused, match="only kim can answer"):
        apply(b, "decline", "lee", 2.0)
    b, event = apply(b, "decline", "kim", 2.0)
    assert b.live == "kim" and b.request is None and "declined" in event.detail


def test_take_over_is_forced_and_clears_a_request() -> None:
    b, _ = apply(booth(), "go_live", "kim", 0.0)
    b, _ = apply(b, "request_handover", "kim", 1.0)
    b, event = apply(b, "take_over", "lee", 5.0)
    assert b.live == "lee" and b.request is None and event.detail == "from kim"


def test_refusals_say_why() -> None:
    with pytest.raises(Refused, match="nobody is live"):
        apply(booth(), "mute", "kim", 0.0, "on")
    b, _ = apply(booth(), "go_live", "kim", 0.0)
    with pytest.raises(Refused, match="kim is already live"):
        apply(b, "go_live", "lee", 1.0)
    with pytest.raises(Refused, match="only the live interpreter"):
        apply(b, "cough", "lee", 1.0, "on")
    with pytest.raises(Refused, match="not an interpreter"):
        apply(b, "take_over", "park", 1.0)
    with pytest.raises(Refused, match="can listen to floor, booth-ko"):
        apply(b, "listen", "kim", 1.0, "booth-jp")
    with pytest.raises(Refused, match="'on' or 'off'"):
        apply(b, "mute", "kim", 1.0, "maybe")
    with pytest.raises(Refused, match="unknown action"):
        apply(b, "explode", "kim", 1.0)


def test_an_unanswered_request_expires() -> None:
    b, _ = apply(booth(), "go_live", "kim", 0.0)
    b, _ = apply(b, "request_handover", "kim", 10.0)
    assert expire(b, 10.0 + REQUEST_SECONDS - 1) is None
    expired = expire(b, 10.0 + REQUEST_SECONDS)
    assert expired is not None
    b, event = expired
    assert b.request is None and b.live == "kim" and event.action == "expire"
    assert expire(b, 1e9) is None  # nothing left to expire


def test_cough_and_mute_take_the_booth_off_air() -> None:
    b, _ = apply(booth(), "go_live", "kim", 0.0)
    coughing, _ = apply(b, "cough", "kim", 1.0, "on")
    assert not coughing.on_air and coughing.live == "kim"
    back, _ = apply(coughing, "cough", "kim", 2.0, "off")
    assert back.on_air
    muted, _ = apply(b, "mute", "kim", 3.0, "on")
    assert not muted.on_air


def test_relay_and_state_round_trip() -> None:
    b, _ = apply(booth(), "go_live", "kim", 0.0)
    b, _ = apply(b, "listen", "lee", 1.0, "booth-ko")
    b, _ = apply(b, "request_handover", "kim", 2.0)
    assert b.listening == "booth-ko"
    assert Booth.from_dict(b.to_dict()) == b


def test_route_follows_the_floor_language_and_overrides() -> None:
    channels = {"ko": "ko", "en": "en"}
    en, _ = apply(booth(), "go_live", "kim", 0.0)
    ko = Booth("booth-ko", "ko", ("park", "choi"), live="park")
    booths = {"booth-en": en, "booth-ko": ko}
    korean_floor = route(channels, booths, "ko")
    assert korean_floor["ko"].carries == "floor"
    assert korean_floor["en"].carries == "booth-en" and korean_floor["en"].live == "kim"
    english_floor = route(channels, booths, "en")
    assert english_floor["en"].carries == "floor" and english_floor["ko"].carries == "booth-ko"
    third = route(channels, booths, "ja")
    assert third["en"].carries == "booth-en" and third["ko"].carries == "booth-ko"
    forced, _ = apply(en, "carry", "kim", 1.0, "floor")
    assert route(channels, {**booths, "booth-en": forced}, "ko")["en"].carries == "floor"
    off, _ = apply(en, "sign_off", "kim", 2.0)
    assert route(channels, {**booths, "booth-en": off}, "ko")["en"].carries == ""
    assert route({"en": "en"}, {}, "ko")["en"].carries == "floor"  # no booth: its own source


moves = st.lists(
    st.tuples(
        st.sampled_from(ACTIONS),
        st.sampled_from(("kim", "lee", "park")),
        st.sampled_from(("", "on", "off", "floor", "booth-ko", "lee", "kim", "auto", "booth")),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(moves)
def test_any_sequence_keeps_the_invariants(sequence: list[tuple[str, str, str]]) -> None:
    b = booth()
    for t, (action, by, arg) in enumerate(sequence):
        try:
            new, event = apply(b, action, by, float(t), arg)
        except Refused as refused:
            assert refused.reason
            continue
        assert event.at == float(t) and event.by == by and event.booth == b.id
        # Exactly one live interpreter, of this booth, or none.
        assert new.live is None or new.live in PAIR
        assert new.request is None or new.live is not None
        if new.request is not None:
            assert new.request.giver == new.live and new.request.taker != new.live
        assert new.on_air == (new.live is not None and not new.muted and not new.coughing)
        if new.live != b.live:
            assert new.shift_started == (float(t) if new.live else None)
        assert new.listening in ("floor", "booth-ko")
        # A signed-in partner can always take over from whoever is live.
        if new.live is not None:
            for partner in PAIR:
                if partner != new.live:
                    assert apply(new, "take_over", partner, float(t))[0].live == partner
        # Every request is answered, withdrawn or expires.
        if new.request is not None:
            expired = expire(new, new.request.at + REQUEST_SECONDS)
            assert expired is not None and expired[0].request is None
        b = new
