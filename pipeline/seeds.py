"""Parsing seed lists given on the command line: "0-7", "1,5,9", "0-3,10-11"."""

from __future__ import annotations

from datasetgan.pipeline.errors import InputError


def parse_seeds(text: str) -> list[int]:
    """Expand a comma-separated list of ints and inclusive ranges into seeds, in order."""
    seeds: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            if sep:
                first, last = int(lo), int(hi)
                if last < first:
                    raise ValueError
                seeds.extend(range(first, last + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise InputError(
                "seeds", f"got {part!r} in {text!r}", "non-negative ints or ranges like 0-7"
            ) from None
    if not seeds or min(seeds) < 0:
        raise InputError("seeds", f"got {text!r}", "at least one non-negative seed")
    return seeds
