"""The ``companion`` command line, above the service and the workers: it parses,
then wires the parts together (``serve`` runs the service with its captioners,
archiver and posters; ``worker`` runs one part on its own). Thin on purpose.

* ``cli.main``: the group, and errors as exit statuses;
* ``cli.serve``: ``serve``;
* ``cli.replay``: ``replay``;
* ``cli.worker``: ``worker caption|post|archive``;
* ``cli.bench``: ``bench …`` (the benchmarks themselves are in ``bench/``);
* ``cli.admin``: ``export``, ``model``, ``config``;
* ``cli.options``: the ``--config`` option, the event config, ``REDIS_URL``.
"""

from cli.main import main

__all__ = ["main"]
