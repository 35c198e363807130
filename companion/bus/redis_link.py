"""What the Redis bus's parts share: outage errors, backoff, key names, Lua scripts.

``RedisBus`` (``companion/bus/redis.py``) publishes, reads and follows caption
streams; ``StateChanges`` (``companion/bus/redis_state.py``) follows the event state.
Both name keys through ``RedisKeys`` and treat ``OUTAGE_ERRORS`` as "Redis is not
answering": anything else is a bug and propagates.
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from companion.captions import CaptionEvent

#: What "Redis is not answering" looks like; anything else is a bug and propagates.
OUTAGE_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)


BACKOFF_MIN = 0.1
# At most a second between tries (jittered to 0.5-1 s): live captions resume within
# about a second of Redis coming back (at 5 s a follower could sleep through five
# seconds of captions). A few loops per process knocking once a second cost Redis
# nothing worth saving.
BACKOFF_MAX = 1.0
FOLLOW_BLOCK_MS = 1000

# KEYS: stream, seq counter, epoch. ARGV: event JSON, max_len, a fresh epoch token.
# The epoch is set once per stream's life; each entry carries it, so a follower can
# tell a Redis that came back empty (new epoch, or none) from one that kept its data.
# Returns the new seq.
# The XREVRANGE guard keeps numbering above the stream's last id even if the counter
# key was lost (evicted or deleted) while the stream survived; ARGV[4], the highest
# seq this publisher has written, keeps it above that even when Redis came back
# empty, so a restart never hands out a number twice and viewers' resume still holds.
# KEYS[4] marks this event (ARGV[5], its id) as appended, with its seq, for
# ``APPEND_MEMORY`` seconds: the same event sent again (a timeout came after the
# script had run, and the publisher retried) gets its seq back and is not appended a
# second time, so it is never archived or posted to YouTube twice.
APPEND_LUA = """
local done = redis.call('GET', KEYS[4])
if done then
  return tonumber(done)
end
local seq = redis.call('INCR', KEYS[2])
local floor = tonumber(ARGV[4])
if seq <= floor then
  seq = floor + 1
  redis.call('SET', KEYS[2], seq)
end
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if last[1] then
  local last_seq = tonumber(string.match(last[1][1], '^(%d+)'))
  if last_seq >= seq then
    seq = last_seq + 1
    redis.call('SET', KEYS[2], seq)
  end
end
redis.call('SET', KEYS[3], ARGV[3], 'NX')
local epoch = redis.call('GET', KEYS[3])
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], seq .. '-0', 'data', ARGV[1], 'epoch', epoch)
redis.call('SET', KEYS[4], seq, 'EX', ARGV[6])
return seq
"""
APPEND_MEMORY = 3600  # seconds an appended event's id is remembered

# KEYS: state hash, version counter, changes channel. ARGV: key as JSON, value JSON, key.
# Each stored document is {"version": n, "value": ...}; versions only grow (per Redis
# life), so a subscriber can tell a stale announcement from a new one.
SET_STATE_LUA = """
local version = redis.call('INCR', KEYS[2])
local tail = '"version":' .. version .. ',"value":' .. ARGV[2] .. '}'
redis.call('HSET', KEYS[1], ARGV[3], '{' .. tail)
redis.call('PUBLISH', KEYS[3], '{"key":' .. ARGV[1] .. ',' .. tail)
return version
"""

# Compare and set (``set_state_if``). KEYS: as SET_STATE_LUA's. ARGV: n, then n pairs
# (key, expected version), then one triple per document to store: key, key as JSON,
# and the value's JSON from its first key on (",\"a\":1}", or "}" when it is empty),
# so the script writes the version into it without parsing JSON. Every stored
# document starts '{"version":n,', which is how its version is read. Returns 0 when
# a version has moved (nothing stored), else the first document's new version; the
# others follow it one by one.
SET_STATE_IF_LUA = """
local n = tonumber(ARGV[1])
for i = 1, n do
  local stored = redis.call('HGET', KEYS[1], ARGV[2 * i])
  local version = 0
  if stored then
    version = tonumber(string.match(stored, '^{"version":(%d+),'))
  end
  if version ~= tonumber(ARGV[2 * i + 1]) then
    return 0
  end
end
local first = 0
for i = 2 * n + 2, #ARGV, 3 do
  local version = redis.call('INCR', KEYS[2])
  if first == 0 then
    first = version
  end
  local tail = '"version":' .. version .. ',"value":{"version":' .. version .. ARGV[i + 2] .. '}'
  redis.call('HSET', KEYS[1], ARGV[i], '{' .. tail)
  redis.call('PUBLISH', KEYS[3], '{"key":' .. ARGV[i + 1] .. ',' .. tail)
end
return first
"""


# KEYS: the lease. ARGV: owner, ttl in ms. Take it if free, renew it if ours; 1 if ours now.
CLAIM_LUA = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""


# KEYS: the channel's latest segment document. ARGV: n, document, ttl in ms. The
# document is stored as "<n> <json>" so the script compares numbers without parsing
# JSON; it is stored only if n is past the stored one's. 1 if stored.
SET_LATEST_LUA = """
local stored = redis.call('GET', KEYS[1])
if stored and tonumber(string.match(stored, '^(%d+) ')) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. ARGV[2], 'PX', ARGV[3])
return 1
"""


POOL_SIZE = 64  # connections of a bus's client for reads and writes
POOL_WAIT = 10.0  # seconds a command waits for one of them before it is an outage


def connect(url: str, pool_size: int = POOL_SIZE, *, decode: bool = True) -> aioredis.Redis:
    """A client for ``url`` that fails at once when Redis does not answer.

    No retries inside redis-py: an outage must reach the caller at once, where its own
    buffer and backoff deal with it. Replies are decoded to ``str`` (``decode=False``:
    ``bytes``, for audio). Its pool holds
    ``pool_size`` connections and a command *waits* for one (up to ``POOL_WAIT``)
    rather than failing: redis-py's default pool raises ``MaxConnectionsError`` past
    100, so a crowd of viewers joining at once (each join reads the channel's backlog)
    was closed with 1013 and took the bus down with it.
    """
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=pool_size,
        timeout=POOL_WAIT,
        decode_responses=decode,
        socket_connect_timeout=2.0,
        socket_timeout=FOLLOW_BLOCK_MS / 1000 + 4.0,
        retry=Retry(NoBackoff(), 0),
    )
    return aioredis.Redis.from_pool(pool)


def raise_if_cancelled() -> None:
    """Raise ``CancelledError`` if the current task is being cancelled.

    redis-py (8.1 here; redis/redis-py#2028 is the same kind) can lose a cancellation
    that lands while it replaces a dead connection: the command fails with a
    ``ConnectionError``, or even succeeds, and the task goes on. A loop that retries
    on an outage, or waits for more, would then never stop, and whoever cancelled it
    would wait forever; each such loop calls this at the top of every turn.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def jittered(delay: float) -> float:
    """``delay`` scaled by a random factor in [0.5, 1], so retries do not march in step."""
    return delay * random.uniform(0.5, 1.0)


def backoff(delay: float) -> float:
    """The next retry delay after ``delay``: doubled, at most ``BACKOFF_MAX``."""
    return min(BACKOFF_MAX, delay * 2)


Entries = list[tuple[str, dict[str, str]]]  # XRANGE and friends, with decode_responses


def decode_entry(entry_id: str, fields: dict[str, str]) -> CaptionEvent:
    """A stream entry as an event; its seq is the entry id's first part."""
    seq = int(entry_id.split("-", 1)[0])
    return CaptionEvent.from_dict({**json.loads(fields["data"]), "seq": seq})


@dataclass(frozen=True)
class RedisKeys:
    """The key names under one namespace (see the module docstring of ``redis.py``)."""

    namespace: str

    def stream(self, channel: str) -> str:
        return f"{self.namespace}:captions:{channel}"

    def seq(self, channel: str) -> str:
        return f"{self.namespace}:seq:{channel}"

    def epoch(self, channel: str) -> str:
        return f"{self.namespace}:epoch:{channel}"

    def counter(self, name: str) -> str:
        return f"{self.namespace}:counter:{name}"

    def lease(self, name: str) -> str:
        return f"{self.namespace}:lease:{name}"

    def segment(self, channel: str, n: int) -> str:
        return f"{self.namespace}:segment:{channel}:{n}"

    def latest_segment(self, channel: str) -> str:
        return f"{self.namespace}:segment-latest:{channel}"

    def audio(self, booth: str) -> str:
        return f"{self.namespace}:audio:{booth}"

    def appended(self, channel: str, event_id: str) -> str:
        return f"{self.namespace}:appended:{channel}:{event_id}"

    @property
    def state(self) -> str:
        return f"{self.namespace}:state"

    @property
    def state_version(self) -> str:
        return f"{self.namespace}:state-version"

    @property
    def changes(self) -> str:
        return f"{self.namespace}:state-changes"
