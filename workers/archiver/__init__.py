"""The transcript archiver: every final caption written durably before it is acknowledged.

``archiver.Archiver`` is the loop; ``store.CaptionStore`` the durable writer; the
sources are ``bus_source.BusSource`` (the in-memory bus of ``companion serve``) and
``redis_source.RedisSource`` (a Redis consumer group, ``companion worker archive``).
"""
