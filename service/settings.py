"""Settings of the viewer service: one declarative table, checked when it is built.

``ServiceSettings(channels=("en", "ko"))`` is all a test needs; a bad value raises
pydantic's ``ValidationError``, which names the field.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

CHANNEL_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"


class ServiceSettings(BaseModel):
    """How the service listens, what it keeps per viewer and whom it lets in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    channels: tuple[str, ...] = Field(
        min_length=1, description="Ids of the language channels viewers may pick, e.g. en, ko."
    )
    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8080, ge=0, le=65535, description="Port to listen on (0 picks a free one).")
    backlog_finals: int = Field(
        20, ge=0, le=1000, description="Recent final captions a new viewer is sent on joining."
    )
    queue_limit: int = Field(
        256,
        ge=1,
        description="Messages waiting for one viewer before it is dropped as slow (close 4000).",
    )
    max_message_bytes: int = Field(
        4096, ge=64, description="Largest message a viewer may send; larger closes with 1009."
    )
    max_bad_messages: int = Field(
        5, ge=1, description="Bad messages a viewer may send; the last one closes with 1008."
    )
    messages_per_second: float = Field(
        5.0, gt=0, description="Messages a viewer may send per second on average."
    )
    message_burst: int = Field(
        20, ge=1, description="Messages a viewer may send at once before the rate applies."
    )
    allowed_origins: tuple[str, ...] = Field(
        (),
        description=(
            "Origins (scheme://host[:port]) whose pages may open the viewer socket; "
            "empty lets any in."
        ),
    )
    close_timeout: float = Field(
        5.0, gt=0, description="Seconds a closing handshake may take before the socket is cut."
    )
    heartbeat: float = Field(
        30.0, gt=0, description="Seconds between websocket pings that detect dead viewers."
    )

    @field_validator("channels")
    @classmethod
    def _channel_ids(cls, channels: tuple[str, ...]) -> tuple[str, ...]:
        for channel in channels:
            if not re.fullmatch(CHANNEL_PATTERN, channel):
                raise ValueError(f"channel id {channel!r} must match {CHANNEL_PATTERN}")
        if len(set(channels)) != len(channels):
            raise ValueError("channel ids must be distinct")
        return channels

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        for origin in origins:
            if not origin.startswith(("http://", "https://")) or origin.endswith("/"):
                raise ValueError(f"origin {origin!r} must look like https://example.org")
        return origins
