"""How many websockets the service holds: in all, and from each address.

Every socket route admits its connection here before the upgrade; past
``max_sockets`` in all or ``max_sockets_per_address`` from one address, it is refused
with ``TooManySocketsError`` (503, ``too_many_sockets``; service/errors.py). The caps
are the event config's ``[service]`` settings. Pure bookkeeping: no I/O.

Behind a reverse proxy every socket comes from the proxy's address, so the cap per
address would cap the whole audience: ``client_address`` takes the client from
``X-Forwarded-For`` when (and only when) the connection comes from one of the
``trusted_proxies``; anyone else could write any address there.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence

from companion.errors import TooManySocketsError


class SocketGate:
    """Counts the open sockets; ``admit`` holds one for the block's lifetime."""

    def __init__(self, total: int, per_address: int, trusted: Iterable[str] = ()) -> None:
        self.total = total
        self.per_address = per_address
        self.trusted = networks(trusted)
        self.open: Counter[str] = Counter()

    def admit_from(
        self, remote: str | None, forwarded_for: Sequence[str]
    ) -> contextlib.AbstractContextManager[None]:
        """``admit`` for a connection from ``remote`` with these X-Forwarded-For headers."""
        return self.admit(client_address(remote, forwarded_for, self.trusted))

    @property
    def count(self) -> int:
        return sum(self.open.values())

    @contextlib.contextmanager
    def admit(self, address: str | None) -> Iterator[None]:
        """Hold a socket from ``address`` (``None``: unknown) or raise ``TooManySocketsError``."""
        key = address or "?"
        if self.count >= self.total:
            raise TooManySocketsError("the service holds all the sockets it takes")
        if self.open[key] >= self.per_address:
            raise TooManySocketsError("too many sockets from this address")
        self.open[key] += 1
        try:
            yield
        finally:
            self.open[key] -= 1
            if self.open[key] <= 0:
                del self.open[key]


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(proxies: Iterable[str]) -> tuple[Network, ...]:
    """The ``trusted_proxies`` setting as networks (an address is a network of one)."""
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def _trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_address(
    remote: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]
) -> str | None:
    """The client's address: ``remote``, unless it is a trusted proxy, then the last
    address of ``X-Forwarded-For`` (its headers, in order) that is not one too."""
    if remote is None or not trusted or not _trusted(remote, trusted):
        return remote
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            return hop
    return hops[0] if hops else remote
