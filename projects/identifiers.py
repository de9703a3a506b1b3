"""Identifiers users type for their papers, checked before anything is stored or fetched.

Pure functions with no I/O: the services, forms and serializers validate with them, and the arXiv backend
builds its addresses from what they return.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NEW = re.compile(r"^(\d{2})(\d{2})\.(\d{4,5})(?:v(\d+))?$")
_OLD = re.compile(r"^([a-z][a-z-]*(?:\.[A-Za-z-]{2,})?)/(\d{2})(\d{2})(\d{3})(?:v(\d+))?$")


@dataclass(frozen=True)
class ArxivId:
    base: str
    version: int | None = None

    def __str__(self) -> str:
        return f"{self.base}v{self.version}" if self.version else self.base


def parse_arxiv_id(text: str) -> ArxivId:
    """The identifier, checked; ValueError says what is wrong (a URL is refused: give the identifier)."""
    value = text.strip()
    lowered = value.lower()
    if "://" in value or lowered.startswith(("www.", "arxiv.org", "export.arxiv", "/")) or "arxiv.org/" in lowered:
        raise ValueError(
            f"{value!r} looks like an address: give the arXiv identifier itself (for example 2202.08906 or "
            "hep-th/9901001); papercast builds the addresses."
        )
    if lowered.startswith("arxiv:"):
        value = value[6:].strip()
    new = _NEW.match(value)
    if new:
        year, month, number, version = new.groups()
        if not 1 <= int(month) <= 12:
            raise ValueError(f"{value!r} is not an arXiv identifier: {month} is not a month (YYMM.NNNNN).")
        if len(number) == 5 and int(year) < 15:
            raise ValueError(f"{value!r} is not an arXiv identifier: five-digit numbers began in 2015.")
        if len(number) == 4 and int(year) >= 15:
            raise ValueError(f"{value!r} is not an arXiv identifier: since 2015 the number has five digits.")
        return ArxivId(f"{year}{month}.{number}", int(version) if version else None)
    old = _OLD.match(value)
    if old:
        archive, year, month, number, version = old.groups()
        if not 1 <= int(month) <= 12:
            raise ValueError(f"{value!r} is not an arXiv identifier: {month} is not a month.")
        return ArxivId(f"{archive}/{year}{month}{number}", int(version) if version else None)
    raise ValueError(
        f"{value!r} is not an arXiv identifier: use the form 2202.08906 (or 2202.08906v2), or the older "
        "archive/YYMMNNN such as hep-th/9901001."
    )
