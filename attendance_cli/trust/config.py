"""The trust file (`trust.toml`): the schools of a trust or local authority, each with its exports
and, optionally, its own calendar, policy, ledger, code table and school settings.

    name = "Riverside Learning Trust"
    policy = "dfe-national"              # every school's policy unless it names its own

    [[school]]
    name = "Oak Primary"
    dfe_number = "123/4567"              # the DfE number (LAESTAB): 7 digits, 123/4567 or 1234567
    phase = "primary"
    exports = "oak/*.csv"                # a file, a folder pattern, or a list of either
    calendar = "oak/calendar.toml"       # optional: else inferred from the school's own marks
    ledger = "oak/ledger.sqlite"         # optional: the school's own ledger
    school = "oak/school.toml"           # optional: the school settings file (letters, reports)
    policy = "oak/policy.toml"           # optional: instead of the trust's
    codes = "dfe"                        # optional: instead of the policy's

Paths are relative to the trust file. Every problem is an error naming the file, the school and
the fix: an unknown key, a missing or duplicate DfE number, an export that is not there, a folder
pattern that matches nothing, two schools sharing an export or a ledger.
"""

from __future__ import annotations

import glob
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from attendance_cli.errors import ConfigError, MissingFileError

PHASES = ("nursery", "primary", "middle", "secondary", "all-through", "special", "alternative", "sixth-form", "college")
EXAMPLE = '''name = "Riverside Learning Trust"
policy = "dfe-national"

[[school]]
name = "Oak Primary"
dfe_number = "123/4567"
phase = "primary"
exports = "oak/*.csv"

[[school]]
name = "Ash Academy"
dfe_number = "123/4001"
phase = "secondary"
exports = ["ash/autumn.csv", "ash/spring.csv"]
calendar = "ash/calendar.toml"'''
_DFE = re.compile(r"^(\d{3})/?(\d{4})$")
_GLOB = re.compile(r"[*?\[]")


class _SchoolFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    dfe_number: str = Field(min_length=1)
    phase: Literal[PHASES]  # type: ignore[valid-type]  # required: the national figures compared with are by phase
    exports: str | list[str]
    calendar: str | None = None
    policy: str | None = None
    ledger: str | None = None
    school: str | None = None
    codes: str | None = None


class _TrustFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    policy: str = "dfe-national"
    codes: str | None = None
    school: list[_SchoolFile] = Field(min_length=1)


@dataclass(frozen=True)
class School:
    """One school of the trust, every path resolved (absolute, so a worker on another process or
    machine of the cluster finds the same files). Plain data: it is sent to the workers."""

    name: str
    dfe_number: str  # 123/4567
    phase: str
    exports: tuple[Path, ...]
    calendar: Path | None = None
    policy: str | None = None  # a preset's name or an absolute path
    ledger: Path | None = None
    settings: Path | None = None  # the school settings file
    codes: str | None = None
    own_policy: bool = False  # the school names its own policy (not the trust's default)
    #: exports split from a file with a school column: the split file -> (original file, the original
    #: line of each of its lines), so that an error names the line the user can find
    lines: tuple[tuple[Path, Path, tuple[int, ...]], ...] = ()


@dataclass(frozen=True)
class Trust:
    name: str
    path: Path | None  # None: the schools came from a school column in the exports
    schools: tuple[School, ...]
    policy: str = "dfe-national"


def load_trust(path: Path) -> Trust:
    """Read and check a trust file. Errors name the file, the school and the fix."""
    if not path.is_file():
        raise MissingFileError(f"There is no trust file at {path}.",
                               fix="Give the trust file (trust.toml), for example:\n" + _indent(EXAMPLE))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not a valid TOML file ({error}).",
                          fix="Compare it with:\n" + _indent(EXAMPLE)) from error
    try:
        parsed = _TrustFile.model_validate(data)
    except ValidationError as error:
        raise ConfigError(f"{path}: " + "; ".join(_problem(item, data) for item in error.errors()) + ".",
                          fix=_fix(error) + " For example:\n" + _indent(EXAMPLE)) from None
    folder = path.resolve().parent
    schools = [_school(path, folder, n, entry, parsed) for n, entry in enumerate(parsed.school, 1)]
    _check_unique(path, schools)
    return Trust(parsed.name, path, tuple(schools), _policy(parsed.policy, folder, str(path)))


def _where(index: int, data: dict) -> str:
    try:
        name = data["school"][index]["name"]
    except (KeyError, IndexError, TypeError):
        name = None
    return f"school {index + 1}" + (f" ({name})" if isinstance(name, str) and name else "")


def _problem(item: dict, data: dict) -> str:
    loc = list(item["loc"])
    where = ""
    if loc and loc[0] == "school" and len(loc) > 1 and isinstance(loc[1], int):
        where = _where(loc[1], data) + ": "
        loc = loc[2:]
        if loc and loc[0] in ("str", "list[str]"):  # which member of `str | list[str]` pydantic tried
            loc = loc[:1] if len(loc) == 1 else loc[1:]
            loc = [p for p in loc if p not in ("str", "list[str]")] or ["exports"]
    key = ".".join(str(p) for p in loc) or "(file)"
    kind = item["type"]
    if kind == "extra_forbidden":
        return f"{where}unknown key {key!r}"
    if kind == "missing":
        return f"{where}the key {key!r} is missing"
    if kind == "literal_error":
        return f"{where}{key} {item['input']!r} is not a phase (one of: {', '.join(PHASES)})"
    if key == "school" and kind == "too_short":
        return "no [[school]] is listed"
    return f"{where}{key}: {item['msg']}"


def _fix(error: ValidationError) -> str:
    kinds = {item["type"] for item in error.errors()}
    if "extra_forbidden" in kinds:
        return (f"The trust's keys are: {', '.join(_TrustFile.model_fields)}; each [[school]]'s: "
                f"{', '.join(_SchoolFile.model_fields)}.")
    return "Correct the trust file."


def _school(path: Path, folder: Path, index: int, entry: _SchoolFile, trust: _TrustFile) -> School:
    where = f"{path}, school {index} ({entry.name})"
    match = _DFE.match(entry.dfe_number.strip())
    if match is None:
        raise ConfigError(f"{where}: dfe_number {entry.dfe_number!r} is not a DfE number.",
                          fix='Give the school\'s 7-digit DfE number (local authority and establishment), '
                              'e.g. dfe_number = "123/4567".')
    dfe = f"{match.group(1)}/{match.group(2)}"
    patterns = [entry.exports] if isinstance(entry.exports, str) else entry.exports
    if not patterns:
        raise ConfigError(f"{where}: exports is an empty list.", fix='Name the school\'s exports, e.g. exports = "oak/*.csv".')
    exports: list[Path] = []
    for pattern in patterns:
        full = folder / pattern
        if _GLOB.search(pattern):
            found = sorted(Path(p) for p in glob.glob(str(full)) if Path(p).is_file())
            if not found:
                raise MissingFileError(f"{where}: the folder pattern {pattern!r} matches no file (looked for {full}).",
                                       fix="Check the folder and the pattern; paths are relative to the trust file.")
            exports += found
        elif not full.exists():
            raise MissingFileError(f"{where}: the export {pattern!r} is not there (looked for {full}).",
                                   fix="Check the path; paths are relative to the trust file.")
        else:  # a folder or a pipe is said to be one where the export is read
            exports.append(full)
    exports = list(dict.fromkeys(exports))

    def file(key: str, value: str | None) -> Path | None:
        if value is None:
            return None
        full = folder / value
        if not full.is_file():
            raise MissingFileError(f"{where}: the {key} file {value!r} is not there (looked for {full}).",
                                   fix=f"Check the path (relative to the trust file), or leave {key} out.")
        return full

    calendar = file("calendar", entry.calendar)
    settings = file("school", entry.school)
    policy = _policy(entry.policy or trust.policy, folder, where)
    if entry.ledger is not None:
        ledger: Path | None = folder / entry.ledger
        if not ledger.is_file():  # a typo would read no ledger, and every event would look new
            raise MissingFileError(f"{where}: the ledger {entry.ledger!r} is not there (looked for {ledger}).",
                                   fix="Check the path (relative to the trust file); leave ledger out for a school "
                                       "that has recorded nothing yet.")
    else:  # the ledger its policy names, if any: two schools must not share one through a policy
        from attendance_cli.rules import load_policy

        named = load_policy(policy).ledger
        ledger = Path(named) if named else None
    codes = entry.codes or trust.codes
    if codes is not None and codes.endswith((".toml", ".csv")):
        codes = str(file("codes", codes))
    return School(entry.name.strip(), dfe, entry.phase, tuple(exports), calendar, policy, ledger, settings, codes,
                  own_policy=entry.policy is not None)


def _policy(value: str, folder: Path, where: str) -> str:
    """A preset's name as it is; a policy file made absolute (and there)."""
    if value.endswith(".toml") or "/" in value or "\\" in value:
        full = folder / value
        if not full.is_file():
            raise MissingFileError(f"{where}: the policy file {value!r} is not there (looked for {full}).",
                                   fix="Check the path (relative to the trust file), or name a preset such as dfe-national.")
        return str(full)
    return value


def _check_unique(path: Path, schools: list[School]) -> None:
    """Two schools with one name, one DfE number, one export or one ledger would mix two schools."""
    def once(what: str, key, fix: str) -> None:
        seen: dict = {}
        for school in schools:
            for value in key(school):
                if value in seen:
                    raise ConfigError(f"{path}: {seen[value]} and {school.name} have the same {what} ({value}).",
                                      fix=fix)
                seen[value] = school.name

    once("name", lambda s: [s.name.casefold()], "Give each school its own name.")
    once("DfE number", lambda s: [s.dfe_number], "Each school has its own DfE number: check the one that is wrong.")
    once("export", lambda s: list(s.exports),
         "An export belongs to one school: check the folder patterns, or use a school column in one export "
         "('attendance trust summary EXPORT...').")
    once("ledger", lambda s: [s.ledger.resolve()] if s.ledger else [],
         "Each school keeps its own ledger (pupil ids are the school's own): give each its own file.")


def _indent(text: str) -> str:
    return "\n".join("      " + line for line in text.splitlines())
