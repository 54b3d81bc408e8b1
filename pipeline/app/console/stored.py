"""Reading the loosely typed JSON of stored records (evaluations, summaries, windows) into numbers.

Records written by older code, or hand-edited, may hold a number as text, ``null``, a boolean or
NaN; every page reads them through here so each shows such a value the same way: as missing.
"""

from __future__ import annotations

import math
from typing import Any


def number(value: Any) -> float | None:
    """``value`` as a finite float, or None when it is missing, a boolean, not a number, NaN or ±inf."""
    if value is None or isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None
