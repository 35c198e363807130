"""Settings of the viewer service: one declarative table, checked when it is built.

``ServiceSettings(channels=("en", "ko"))`` is all a test needs; a bad value raises
pydantic's ``ValidationError``, which names the field. The fields other than the
address, port and channels are the event config's ``[service]`` table
(``companion.config.sections.ServiceTable``): ``from_config`` builds the settings
``companion serve`` runs with.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from companion.config import EventConfig, ServiceTable

CHANNEL_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"


class ServiceSettings(ServiceTable):
    """How the service listens, what it keeps per viewer and whom it lets in."""

    channels: tuple[str, ...] = Field(
        min_length=1, description="Ids of the language channels viewers may pick, e.g. en, ko."
    )
    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8080, ge=0, le=65535, description="Port to listen on (0 picks a free one).")

    @classmethod
    def from_config(cls, config: EventConfig, host: str, port: int) -> ServiceSettings:
        """The settings of ``config``'s ``[service]`` table, channels and this address."""
        channels = tuple(c.id for c in config.channels)
        return cls(host=host, port=port, channels=channels, **config.service.model_dump())

    @field_validator("channels")
    @classmethod
    def _channel_ids(cls, channels: tuple[str, ...]) -> tuple[str, ...]:
        for channel in channels:
            if not re.fullmatch(CHANNEL_PATTERN, channel):
                raise ValueError(f"channel id {channel!r} must match {CHANNEL_PATTERN}")
        if len(set(channels)) != len(channels):
            raise ValueError("channel ids must be distinct")
        return channels
