"""Durations as the paper's Table 2 prints them."""

from __future__ import annotations


def format_minutes(seconds: float) -> str:
    """Whole minutes and seconds, rounded to the second: ``21926`` -> ``"365m26s"``, ``59.6`` -> ``"1m00s"``."""
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s"
