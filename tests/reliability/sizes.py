"""Fast or long: every reliability test sizes its run through ``scale()``.

``CHATSPAN_LONG_TESTS=1`` selects the long size: tests marked ``slow`` run, and ``scale()`` returns
the long figure. Both sizes run the same code, so the fast run proves the test itself works.
"""

from __future__ import annotations

import os

LONG = os.environ.get("CHATSPAN_LONG_TESTS", "") == "1"


def scale(fast: int, long: int) -> int:
    """The fast figure in an ordinary run, the long one under ``CHATSPAN_LONG_TESTS=1``."""
    return long if LONG else fast
