"""The school settings file: the details every letter carries (name, address, telephone, signatory).

    name = "Brook Lane Primary Academy"
    address = ["Brook Lane", "Newtown", "NT1 2AB"]
    telephone = "01632 960123"
    email = "attendance@brooklane.example.org"   # also the From: of e-mailed letters
    signatory = "Ms J. Rivers"
    signatory_role = "Attendance Lead"
    headteacher = "Mr A. Lowe"

Found from --school, else the policy's `school` key, else `school.toml` in the working folder.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from attendance_cli.errors import ConfigError, MissingFileError

DEFAULT = Path("school.toml")
EXAMPLE = ('name = "Brook Lane Primary Academy"\naddress = ["Brook Lane", "Newtown", "NT1 2AB"]\n'
           'telephone = "01632 960123"\nemail = "attendance@brooklane.example.org"\n'
           'signatory = "Ms J. Rivers"\nsignatory_role = "Attendance Lead"\nheadteacher = "Mr A. Lowe"\n')


class School(BaseModel):
    """What letters say about the school."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    address: list[str] = Field(min_length=1, description="Lines of the postal address, postcode last.")
    telephone: str = Field(min_length=1)
    email: str = ""
    website: str = ""
    signatory: str = Field(min_length=1, description="Who signs the letters.")
    signatory_role: str = ""
    headteacher: str = ""


def school_path(given: Path | None, policy_school: str | None) -> Path:
    if given is not None:
        return given
    if policy_school:
        return Path(policy_school)
    return DEFAULT


def load_school(path: Path) -> School:
    """Read and check the settings file. Errors name the file and the setting."""
    if not path.is_file():
        raise MissingFileError(f"There is no school settings file at {path}: letters need the school's name, "
                          "address, telephone and signatory.",
                          fix=f"Create {path} like this (or give another with --school FILE):\n" + _indent(EXAMPLE))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not a valid TOML file ({error}).", fix="Compare it with:\n" + _indent(EXAMPLE)) from error
    problems = _email_problem(data.get("email"))
    try:
        school = School.model_validate(data)
    except ValidationError as error:
        for item in error.errors():  # every problem at once, not one per attempt
            key = ".".join(str(p) for p in item["loc"]) or "(file)"
            if item["type"] == "extra_forbidden":
                problems.append(f"unknown setting {key!r}")
            elif item["type"] == "missing":
                problems.append(f"the setting {key!r} is missing")
            else:
                problems.append(f"setting {key!r}: {item['msg']}")
        raise ConfigError(f"{path}: " + "; ".join(problems) + ".",
                          fix=f"Settings are: {', '.join(School.model_fields)}. For example:\n" + _indent(EXAMPLE)) from error
    if problems:
        raise ConfigError(f"{path}: " + "; ".join(problems) + ".",
                          fix='Give the one address e-mailed letters come from, with no name and no second address, '
                              'for example email = "attendance@brooklane.example.org" (or leave email out if no '
                              'letter is e-mailed).')
    return school


def _email_problem(value: object) -> list[str]:
    """The `email` setting is the From: of every e-mailed letter, where replies go: anything but one
    plain address (a name, a second address, a typo) would send a family's reply somewhere else, or
    stop the run half-way through rendering."""
    from attendance_cli.letters.render import one_address

    if not isinstance(value, str) or value == "" or one_address(value):
        return []
    return [f"setting 'email': {value!r} is not one e-mail address such as name@example.org"]


def _indent(text: str) -> str:
    return "\n".join("      " + line for line in text.splitlines())
