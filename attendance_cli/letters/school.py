"""The school settings file: the details every letter carries (name, address, telephone, signatory).

    name = "Brook Lane Primary Academy"
    address = ["Brook Lane", "Newtown", "NT1 2AB"]
    telephone = "01632 960123"
    email = "attendance@brooklane.example.org"   # also the From: of e-mailed letters
    signatory = "Ms J. Rivers"
    signatory_role = "Attendance Lead"
    headteacher = "Mr A. Lowe"

    [smtp]                                        # for --send: the school's mail server
    host = "smtp.example.org"
    port = 587                                    # default: 587 for starttls, 465 for tls, 25 for none
    security = "starttls"                         # starttls (default), tls, or none
    user = "attendance@brooklane.example.org"     # leave out if the server needs no login
    from = "attendance@brooklane.example.org"     # the envelope sender; default: email above
    rate = 60                                     # messages a minute at most
    password_env = "ATTENDANCE_SMTP_PASSWORD"     # the variable holding the password (the default)
    # password_file = "/etc/attendance/smtp-password"   # or a file holding only the password

The password is never in this file: it is read from the environment variable, or from a file of
its own, when a run sends, and never printed, logged or recorded.

Found from --school, else the policy's `school` key, else `school.toml` in the working folder.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from attendance_cli.errors import ConfigError, MissingFileError

DEFAULT = Path("school.toml")
EXAMPLE = ('name = "Brook Lane Primary Academy"\naddress = ["Brook Lane", "Newtown", "NT1 2AB"]\n'
           'telephone = "01632 960123"\nemail = "attendance@brooklane.example.org"\n'
           'signatory = "Ms J. Rivers"\nsignatory_role = "Attendance Lead"\nheadteacher = "Mr A. Lowe"\n')


SECURITY = ("starttls", "tls", "none")
DEFAULT_PORT = {"starttls": 587, "tls": 465, "none": 25}
PASSWORD_ENV = "ATTENDANCE_SMTP_PASSWORD"


class Smtp(BaseModel):
    """How --send reaches the school's mail server. No password here: see `password_env`, `password_file`."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    host: str = Field(min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    user: str = ""
    sender: str = Field(default="", alias="from", description="The envelope sender; default: the school's email.")
    rate: float = Field(default=60, gt=0, description="Messages a minute at most.")
    password_env: str = Field(default=PASSWORD_ENV, min_length=1)
    password_file: str = ""
    ca_file: str = Field(default="", description="Certificates to trust besides the system's (a school's own relay).")
    timeout: float = Field(default=60, gt=0, description="Seconds to wait for the server.")

    @property
    def port_number(self) -> int:
        return self.port or DEFAULT_PORT[self.security]


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
    phase: Literal["primary", "secondary", "special", "all"] | None = Field(
        None, description="The national figures the report compares with (default: from the year groups).")
    slip_text: str = Field(default="", description="The school's own paragraph on every slip (`attendance slips`).")
    smtp: Smtp | None = None

    def letter_details(self) -> dict:
        """What letters and reports may show about the school (not how its mail is sent, nor the slips' text)."""
        return self.model_dump(exclude={"smtp", "slip_text"})


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
    if isinstance(data.get("smtp"), dict):
        if "password" in data["smtp"]:
            raise ConfigError(f"{path}: the [smtp] table holds a password; it must not be kept in the settings file "
                              "(the file is copied, shared and backed up with the school's other settings).",
                              fix=f"Remove the password line, and set the environment variable {PASSWORD_ENV} (or the one "
                                  "named by password_env), or name a file holding only the password with password_file.")
        problems += _email_problem(data["smtp"].get("from"), "smtp.from")
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
                          fix=f"Settings are: {', '.join(School.model_fields)}; in [smtp]: "
                              f"{', '.join(f.alias or n for n, f in Smtp.model_fields.items())} (security is starttls, "
                              "tls or none). For example:\n" + _indent(EXAMPLE)) from None  # the values (a password
        # under a misspelt key) stay out of any traceback, --debug's too
    if problems:
        raise ConfigError(f"{path}: " + "; ".join(problems) + ".",
                          fix='Give the one address e-mailed letters come from, with no name and no second address, '
                              'for example email = "attendance@brooklane.example.org" (or leave email out if no '
                              'letter is e-mailed).')
    return school


def _email_problem(value: object, key: str = "email") -> list[str]:
    """The `email` setting is the From: of every e-mailed letter, where replies go: anything but one
    plain address (a name, a second address, a typo) would send a family's reply somewhere else, or
    stop the run half-way through rendering."""
    from attendance_cli.letters.render import one_address

    if not isinstance(value, str) or value == "" or one_address(value):
        return []
    return [f"setting {key!r}: {value!r} is not one e-mail address such as name@example.org"]


def _indent(text: str) -> str:
    return "\n".join("      " + line for line in text.splitlines())
