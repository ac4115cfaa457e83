"""One letter to write: what `facts` hands to `render` (plain data, so worker processes can take it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Letter:
    key: int  # the trigger event's key in this run's evaluation
    pupil_id: str
    letter: str
    rule_id: str
    stage: int
    guardian: int  # 1, 2, ... per pupil; 0 when the pupil has no contact on file
    recipient: str
    channel: str  # "post" or "email"
    email: str | None
    address: tuple[str, ...]
    stem: str  # file name without extension
    context: dict[str, Any]
