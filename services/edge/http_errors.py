"""The edge's upstream HTTP client's errors (httpx's names, which the rest of the edge catches)
and its timeouts: connect, first byte, idle between body pieces, and a deadline for the whole
response. ``services.edge.http_client`` re-exports them."""

from __future__ import annotations

import time
from typing import NamedTuple


class HTTPError(Exception):
    """Anything that went wrong sending a request or reading its response."""


class TransportError(HTTPError):
    pass


class TimeoutException(TransportError):
    pass


class ConnectTimeout(TimeoutException):
    pass


class ReadTimeout(TimeoutException):
    pass


class IdleTimeout(ReadTimeout):
    """The body had started and then nothing came for the idle timeout."""


class DeadlineExceeded(TimeoutException):
    """The response did not end by its deadline (``Timeouts.deadline``)."""


class PoolTimeout(TimeoutException):
    pass


class ConnectError(TransportError):
    """Could not connect: refused, unresolvable, TLS or proxy failure."""


class ReadError(TransportError):
    """The connection was lost before the response ended."""


class RemoteProtocolError(TransportError):
    """The server's answer is not HTTP/1.1 we can read."""


class LocalProtocolError(TransportError):
    """The request cannot be written (a header with a line break, a non-latin-1 value)."""


class Timeouts(NamedTuple):
    connect: float
    read: float  # until the first bytes (the head, then the body's first piece); also the longest wait for a pooled connection
    idle: float = 0.0  # between body pieces once they flow (0 = ``read``)
    deadline: float = 0.0  # time.perf_counter() by which the whole response must have arrived (0 = none)

    def bounded(self, wait: float) -> tuple[float, bool]:
        """``wait`` cut to what is left before the deadline, and whether the deadline is what binds."""
        if not self.deadline:
            return wait, False
        left = self.deadline - time.perf_counter()
        return (max(left, 0.0), True) if left < wait else (wait, False)
