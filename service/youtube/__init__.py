"""YouTube: each channel's broadcast, tracked within the Data API's daily quota.

Pure cores (no I/O, ``now`` passed in): ``broadcast`` (the API's JSON to a state
document), ``schedule`` (when to ask again, and when discovery reads the feed or the
playlist), ``quota`` (the day's budget and its pacing), ``feed`` (a channel's public
Atom feed, parsed). At the edges: ``client`` (google-api-python-client in a worker
thread), ``feed_client`` (the feed over aiohttp, no key, no quota), ``ledger`` (the
quota counters in the bus, shared by every process), ``tracker`` (the polling task)
and ``web`` (its place in the service). docs/youtube.md has the setup. The caption
poster is a worker: ``workers/poster``.
"""
