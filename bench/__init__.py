"""Benchmarks and their scoring, above the service and the workers (never imported by them).

* ``room``: a venue microphone simulated (reverberation, steady noise), pure numpy;
* ``compose``: recordings joined into a test file with its reference;
* ``sets``: the named tuning and test sets;
* ``scoring``: WER/CER, latencies from the end of the speech, percentiles;
* ``replay``: in-memory recordings replayed on several captioners at once;
* ``captions``: caption accuracy and latency, clean and through the room, over
  several runs, against the same model offline;
* ``suite``, ``language``: ``companion bench latency``/``channels`` and ``language``;
* ``fanout``: ``companion bench fanout``, the service fanning captions out to N viewers;
* ``archive``: ``companion bench archive``, the archiver's throughput and fsync lag.
"""
