"""The aiohttp service: viewer websockets (fan-out, resume), event state, health, metrics."""
