"""File names made from pupil ids and group names (per-pupil slips, digests), one per id, always.

A name part is the id cleaned to letters, digits and `-` (`safe_name`, never a raw name), so two
ids can clean to the same text: `A/1` and `A-1`, `3/B` and `3-B`, two long ids that differ only
after the 40th character, or `3a` and `3A` (one file on a disk that ignores case, as Windows and
macOS do). Written as they come, the second would overwrite the first and the run would still say
it wrote both. Such ids get a short hash of the real id appended: stable from run to run, and
different for different ids.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable

from attendance_cli.errors import UsageError
from attendance_cli.letters.facts import safe_name

HASH_LENGTH = 8


def id_hash(key: str) -> str:
    """Eight hex digits of SHA-256 of the id as written: the same id always gives the same."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:HASH_LENGTH]


def file_names(keys: Iterable[str], *, mark_changed: bool = False) -> dict[str, str]:
    """{id: its file-name part}, no two the same even ignoring case.

    An id whose cleaned name another id also cleans to gets `-HASH` appended; of such a clash, an
    id that is already clean keeps its plain name (`A-1` stays `A-1`, `A/1` becomes `A-1-1f3c…`).
    With `mark_changed`, every id the cleaning changes gets the hash, whether or not it clashes in
    this run, so a pupil's file is called the same whoever else is in the run.
    """
    keys = list(dict.fromkeys(keys))
    clean = {key: safe_name(key) for key in keys}
    clashes: dict[str, list[str]] = defaultdict(list)
    for key in keys:
        clashes[clean[key].casefold()].append(key)
    names = {}
    for key in keys:
        group = clashes[clean[key].casefold()]
        if len(group) == 1:
            plain = not mark_changed or clean[key] == key
        else:
            plain = [k for k in group if clean[k] == k] == [key]
        names[key] = clean[key] if plain else f"{clean[key]}-{id_hash(key)}"
    _check_unique(names)
    return names


def _check_unique(names: dict[str, str]) -> None:
    """Refuse, rather than overwrite, in the (astronomically unlikely) case a hashed name is still
    another id's name: `A-1-1f3c…` written as an id in the export."""
    seen: dict[str, str] = {}
    for key, name in names.items():
        other = seen.setdefault(name.casefold(), key)
        if other != key:
            raise UsageError(f"{other!r} and {key!r} would be written to the same file ({name}).",
                             fix="Change one of the two ids or names in the MIS so they differ in their letters "
                                 "and digits.")
