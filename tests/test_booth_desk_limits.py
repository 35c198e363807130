"""The booth log cannot be wiped: no-op actions are not logged, actions are rate-limited
per interpreter, and every change is appended to a journal nothing truncates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from companion.bus.memory import MemoryBus
from companion.config import parse_config
from companion.errors import Refused
from service.booth_desk import ACTION_BURST, JOURNAL, LOG_SIZE, BoothDesk
from tests.support.booths import CONFIG


async def test_a_flood_of_actions_cannot_push_the_record_out_of_the_log(tmp_path: Path) -> None:
    config = parse_config(CONFIG + f'[archive]\ndirectory = "{tmp_path}"\n', env={})
    now = [1000.0]
    desk = BoothDesk(config, MemoryBus(), clock=lambda: now[0])
    await desk.start()
    await desk.act("kim", "go_live")
    for _ in range(LOG_SIZE + 20):  # "listen floor" while listening to the floor
        now[0] += 1.0
        await desk.act("lee", "listen", "floor")
    assert [e.action for e in desk.log] == ["go_live"]
    now[0] += 10.0  # a full bucket
    refused = 0
    for k in range(30):  # changes, all at one instant: the burst, then refusals
        try:
            await desk.act("lee", "listen", "booth-ko" if k % 2 == 0 else "floor")
        except Refused as exc:
            assert "too many actions" in str(exc)
            refused += 1
    assert refused == 30 - ACTION_BURST
    with pytest.raises(Refused, match="too many actions"):
        await desk.act("lee", "listen", "booth-ko")
    now[0] += 10.0  # the bucket refills: an honest action goes through again
    await desk.act("kim", "mute", "on")
    lines = (tmp_path / config.event.id / JOURNAL).read_text(encoding="utf-8").splitlines()
    actions = [json.loads(line)["action"] for line in lines]
    assert actions == ["go_live", *["listen"] * ACTION_BURST, "mute"]
    assert desk.log[0].action == "go_live"
