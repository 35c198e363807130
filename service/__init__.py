"""The aiohttp service (websocket fan-out, APIs, YouTube tracker) — not built yet."""
