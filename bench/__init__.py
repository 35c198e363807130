"""Benchmarks and their scoring, above the service and the workers (never imported by them).

* ``room``: a venue microphone simulated (reverberation, steady noise), pure numpy;
* ``compose``: recordings joined into a test file with its reference;
* ``sets``: the named tuning and test sets;
* ``captions``: caption accuracy and latency, clean and through the room, over
  several runs, against the same model offline.
"""
