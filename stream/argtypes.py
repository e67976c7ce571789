"""Argument types shared by the ``gmv`` commands' parsers (argparse turns their errors into usage errors)."""
from __future__ import annotations

import argparse


def count(text: str) -> int:
    """A whole number of at least 1 (records, events, workers)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value
