"""When to try a request again and how long to wait: jittered exponential backoff and ``Retry-After``."""

from __future__ import annotations

import email.utils
import random
import time

#: The longest pause between two tries from the backoff rule, in seconds.
MAX_BACKOFF_S = 30.0

#: The longest pause a server's ``Retry-After`` header may ask for, in seconds.
MAX_RETRY_AFTER_S = 120.0

#: HTTP status codes worth another try besides 5xx: request timeout and rate limit.
RETRY_STATUS = frozenset({408, 429})


def backoff_delay(attempt: int, *, backoff: float) -> float:
    """The ceiling of the pause before retry number `attempt` (0-based): ``backoff * 2**attempt``, capped."""
    return min(backoff * (2.0 ** attempt), MAX_BACKOFF_S)


def jittered_delay(attempt: int, *, backoff: float, rng: random.Random | None = None) -> float:
    """A pause drawn uniformly from the upper half of :func:`backoff_delay` ("equal jitter").

    Clients that failed together (a server restart under concurrency) spread
    their retries out instead of returning at the same instant, and each
    still waits at least half the ceiling.
    """
    ceiling = backoff_delay(attempt, backoff=backoff)
    return ceiling * (0.5 + 0.5 * (rng or random).random())


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds asked for by a ``Retry-After`` header, or None when absent or unreadable.

    Parameters
    ----------
    value : str or None
        Either a number of seconds (``"7"``) or an HTTP date
        (``"Wed, 21 Oct 2015 07:28:00 GMT"``).
    now : float, optional
        The current time as a Unix timestamp (for tests); by default ``time.time()``.

    Returns
    -------
    float or None
        At least 0 and at most :data:`MAX_RETRY_AFTER_S`.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT
            import datetime

            when = when.replace(tzinfo=datetime.timezone.utc)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def should_retry_status(status: int) -> bool:
    """True for HTTP statuses another try may cure: 5xx, 408 and 429."""
    return status >= 500 or status in RETRY_STATUS
