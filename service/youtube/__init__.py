"""YouTube: each channel's broadcast, tracked within the Data API's daily quota.

Pure cores (no I/O, ``now`` passed in): ``broadcast`` (the API's JSON to a state
document), ``schedule`` (when to ask again), ``quota`` (the day's budget and its
pacing). At the edges: ``client`` (google-api-python-client in a worker thread),
``ledger`` (the quota counters in the bus, shared by every process), ``tracker``
(the polling task) and ``web`` (its place in the service). docs/youtube.md has the
setup. The caption poster is a worker: ``workers/poster``.
"""
