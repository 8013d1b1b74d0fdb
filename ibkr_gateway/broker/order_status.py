"""Map IBKR order status strings to the gateway's order lifecycle.

Working orders can still fill, including ``PendingCancel`` and
``PreCancelled``. ``Inactive`` is refused unless the broker gives a hold
reason. A string not listed here maps to ``UNKNOWN`` and must be kept
verbatim and reported, never guessed.
"""

WORKING = "working"
FILLED = "filled"
CANCELLED = "cancelled"
REFUSED = "refused"
UNKNOWN = "unknown"

FINAL = frozenset({FILLED, CANCELLED, REFUSED})

_LIFECYCLE = {
    "PendingSubmit": WORKING,
    "ApiPending": WORKING,
    "PreSubmitted": WORKING,
    "Submitted": WORKING,
    "WarnState": WORKING,
    "PendingCancel": WORKING,
    "PreCancelled": WORKING,
    "Filled": FILLED,
    "Cancelled": CANCELLED,
    "ApiCancelled": CANCELLED,
}


def lifecycle(status, why_held=None):
    """Return the lifecycle of IBKR ``status``; ``why_held`` matters for Inactive."""
    if status == "Inactive":
        return WORKING if why_held else REFUSED
    return _LIFECYCLE.get(status, UNKNOWN)


def is_final(status, why_held=None):
    return lifecycle(status, why_held) in FINAL
