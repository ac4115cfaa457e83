"""Register code tables: what each mark counts as, as data.

A code table is a TOML file (see `dfe.toml` beside this module) or a CSV with the columns
`code, meaning, category` and optionally `late, from, until, aliases, closure`. Each code has a
*category* that decides how the DfE method counts it, and optionally the dates it was valid for:
historic exports are read with the meaning a code had on the day it was recorded (before
19 August 2024 `J` was attendance; from that date it is not a code at all).

A code that is not in the table is never guessed: ingest reports it with the file and line.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import tomllib
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from attendance_cli.errors import ConfigError, MissingFileError, UsageError
# which categories are possible sessions and attendance is the figures' arithmetic; re-exported here
from attendance_cli.figures import ATTENDED, POSSIBLE  # noqa: F401

Category = Literal["present", "aea", "authorised", "unauthorised", "not_counted", "admin"]

CATEGORIES: tuple[str, ...] = ("present", "aea", "authorised", "unauthorised", "not_counted", "admin")

PRESETS_DIR = Path(__file__).parent


class Code(BaseModel):
    """One register code and what it counts as."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    code: str = Field(min_length=1)
    meaning: str
    category: Category
    late: Literal["before_close", "after_close"] | None = None
    valid_from: dt.date | None = Field(default=None, alias="from")
    valid_until: dt.date | None = Field(default=None, alias="until")
    aliases: tuple[str, ...] = ()
    closure: bool = False
    note: str | None = None

    @field_validator("code")
    @classmethod
    def _no_outer_spaces(cls, value: str) -> str:
        if value != value.strip():
            raise ValueError(f"code {value!r} has spaces around it")
        return value

    def valid_on(self, start: dt.date, end: dt.date) -> bool:
        """True if the code is valid for the whole of [start, end]."""
        after_start = self.valid_from is None or self.valid_from <= start
        before_end = self.valid_until is None or end <= self.valid_until
        return after_start and before_end


class CodeTable(BaseModel):
    """A named set of codes. Immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str
    title: str = ""
    source: str = ""
    register_type: Literal["session", "lesson"] = Field(default="session", alias="register")
    codes: tuple[Code, ...]

    @model_validator(mode="after")
    def _unique_tokens(self) -> CodeTable:
        seen: dict[tuple[str, dt.date | None], str] = {}
        for code in self.codes:
            for token in (code.code, *code.aliases):
                key = (token, code.valid_from)
                if key in seen:
                    raise ValueError(f"mark {token!r} is listed twice (codes {seen[key]!r} and {code.code!r})")
                seen[key] = code.code
        return self

    # -- eras: spans of dates over which every code's validity is constant -----------------

    @cached_property
    def era_starts(self) -> tuple[dt.date, ...]:
        """Dates on which the table's meaning changes, oldest first (the first era starts at
        the beginning of time and is not listed)."""
        cuts: set[dt.date] = set()
        for code in self.codes:
            if code.valid_from is not None:
                cuts.add(code.valid_from)
            if code.valid_until is not None:
                cuts.add(code.valid_until + dt.timedelta(days=1))
        return tuple(sorted(cuts))

    @cached_property
    def tokens(self) -> tuple[str, ...]:
        """Every mark the table recognises (codes and aliases), in a fixed order."""
        out: list[str] = []
        for code in self.codes:
            for token in (code.code, *code.aliases):
                if token not in out:
                    out.append(token)
        return tuple(out)

    def code_for(self, token: str, era: int) -> Code | None:
        """The code a mark means in an era, or None if it is not valid then."""
        start = dt.date.min if era == 0 else self.era_starts[era - 1]
        end = dt.date.max if era == len(self.era_starts) else self.era_starts[era] - dt.timedelta(days=1)
        for code in self.codes:
            if token in (code.code, *code.aliases) and code.valid_on(start, end):
                return code
        return None

    def any_code_for(self, token: str) -> Code | None:
        """Any code a mark has ever meant (for explaining a mark used outside its dates)."""
        for code in self.codes:
            if token in (code.code, *code.aliases):
                return code
        return None

    def describe_codes(self, limit: int = 60) -> str:
        """Short list of valid marks for error messages."""
        text = " ".join(self.tokens)
        return text if len(text) <= limit else text[:limit] + " ..."


def list_presets() -> list[str]:
    """Names of the code tables shipped with the toolkit."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.toml"))


def load_code_table(name_or_path: str | Path) -> CodeTable:
    """Load a preset by name (`dfe`, `college`) or a table from a TOML or CSV file."""
    text = str(name_or_path)
    preset = PRESETS_DIR / f"{text}.toml"
    if "/" not in text and "\\" not in text and not text.endswith((".toml", ".csv")):
        if not preset.exists():
            raise UsageError(
                f"There is no code table called {text!r}.",
                fix=f"Use one of: {', '.join(list_presets())}, or give the path of a .toml or .csv table.",
            )
        path = preset
    else:
        path = Path(text)
        if not path.exists():
            raise MissingFileError(f"Code table file {text} does not exist.",
                                   fix=f"Check the path (given with --codes, or the policy's `codes`), or use a preset: "
                                       f"{', '.join(list_presets())}.")
    from attendance_cli.ingest.encoding import settings_text

    try:
        if path.suffix.lower() == ".csv":
            data = _read_csv_table(path)
        else:
            data = tomllib.loads(settings_text(path, "Code table"))
        data = _extended(data, path)
        if isinstance(data, dict) and not data.get("codes"):  # every mark would be unknown
            raise ConfigError(f"Code table {path} lists no codes.",
                              fix="Give a code, meaning and category on each row (or a [[codes]] entry for each), "
                                  "or start from a preset: attendance codes -o codes.csv.")
        return CodeTable.model_validate(data)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Code table {path} is not valid TOML: {exc}") from None
    except ValidationError as exc:
        raise ConfigError(f"Code table {path} is not valid:\n{_pydantic_summary(exc)}") from None


def _extended(data: dict, path: Path) -> dict:
    """A table with `extends = "dfe"` (a preset) is that preset's codes with its own added: a code it
    lists again replaces the preset's (its meaning, category, dates). Only presets can be extended,
    so there is no chain of files to follow."""
    parent = data.pop("extends", None) if isinstance(data, dict) else None
    if parent is None:
        return data
    if not isinstance(parent, str) or parent not in list_presets():
        raise ConfigError(f"Code table {path}: extends = {parent!r} is not a preset code table.",
                          fix=f"Extend one of: {', '.join(list_presets())}.")
    base = load_code_table(parent)
    own = list(data.get("codes", []))
    named = {entry.get("code") for entry in own if isinstance(entry, dict)}
    inherited = [code.model_dump(by_alias=True, exclude_none=True) for code in base.codes if code.code not in named]
    return {"register": base.register_type, **data, "codes": [*inherited, *own]}


#: Columns `attendance codes -f csv` writes that say what a code counts as (worked out from its
#: category), or that name a field differently: read back, they are checked or renamed, not refused.
_DERIVED = ("possible_session", "attendance")
_RENAMED = {"valid_from": "from", "valid_until": "until"}


def _read_csv_table(path: Path) -> dict:
    from attendance_cli.ingest.encoding import settings_text

    with io.StringIO(settings_text(path, "Code table"), newline="") as handle:
        rows = list(csv.DictReader(handle))
    codes = []
    for row in rows:
        entry: dict[str, object] = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
        entry = {_RENAMED.get(k, k): v for k, v in entry.items() if v != "" and k not in _DERIVED}
        for key in ("from", "until"):  # `attendance codes` writes dates day first
            if key in entry:
                from attendance_cli.ingest.dates import parse_date

                day = parse_date(str(entry[key]))
                if day is None:
                    raise ConfigError(f"Code table {path}: code {entry.get('code', '?')!r}: {key} {entry[key]!r} is "
                                      "not a date.", fix="Write it day first, as 19/08/2024, or as 2024-08-19.")
                entry[key] = day
        if "aliases" in entry:
            entry["aliases"] = [a for a in str(entry["aliases"]).split() if a]
        if "closure" in entry:
            entry["closure"] = str(entry["closure"]).lower() in {"true", "yes", "y", "1"}
        codes.append(entry)
    register = "lesson" if "lesson" in path.stem.lower() else "session"
    return {"name": path.stem, "title": f"Custom codes from {path.name}", "source": str(path), "register": register, "codes": codes}


def _pydantic_summary(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        msg = err["msg"]
        if err["type"] == "literal_error":
            msg = f"{msg} (found {err.get('input')!r})"
        if err["type"] == "extra_forbidden":
            msg = "unknown key; allowed keys are code, meaning, category, late, from, until, aliases, closure, note"
        lines.append(f"  - {where}: {msg}")
    return "\n".join(lines)
