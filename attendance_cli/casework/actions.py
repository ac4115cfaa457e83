"""What the school did about a case, recorded in the ledger: `attendance case record`, `case import`
and `case list`.

A case is a pupil on a ladder of the policy. The school records what it did (a meeting held, evidence
received, a notice issued or waived, a referral, the case closed, the case on hold until a date); the
casework rules (`decide`) and the engine read these actions on the next run.

Every action is checked before anything is recorded: an action the ledger knows, a day-first date
not after today, `until` only where it means something (`hold`, which needs it, and
`evidence-received`), a ladder of the policy when one is given, and a ledger that already exists
(recording an action never creates one). An import is all or nothing: every row is checked and
every problem listed with its line; nothing is recorded if any row is bad. The same action on the
same case and date is recorded once. Notes are free text about a family: no message ever shows one.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from attendance_cli.errors import InputError, MissingFileError, Problem, UsageError
from attendance_cli.ingest.dates import format_date, parse_date
from attendance_cli.ingest.headers import is_pupil_id
from attendance_cli.rules.policy import ACTIONS

if TYPE_CHECKING:
    from attendance_cli.rules.policy import Policy

#: Actions that may give `until`, and what it means for each.
UNTIL = {"hold": "the date the case is on hold until",
         "evidence-received": "the date the evidence covers absences up to"}
#: Columns of `list_cases`, in order.
CASE_SCHEMA: dict[str, pl.DataType] = {
    "pupil_id": pl.String(), "ladder": pl.String(), "stage": pl.Int64(), "last_event": pl.Date(),
    "last_letter": pl.Date(), "letters": pl.Int64(), "actions": pl.String(), "on_hold_until": pl.Date(),
}
#: The columns of an import file (any case, spaces or underscores), by field; the pupil id column is
#: named as the exports name it (pupil_id, Student ID, Learner ID, ...).
IMPORT_FIELDS = {
    "ladder": ("ladder", "case"),
    "action": ("action",),
    "date": ("date", "action date", "date of action"),
    "until": ("until", "until date", "hold until", "covers until"),
    "note": ("note", "notes", "comment", "comments"),
}
_REQUIRED = ("ladder", "action", "date")
_DATE_FIX = "Write dates day first: dd/mm/yyyy, e.g. 20/11/2026."


@dataclass(frozen=True)
class _Action:
    pupil_id: str
    ladder: str
    action: str
    date: dt.date
    until: dt.date | None
    note: str
    source: str


@dataclass(frozen=True)
class _Wrong:
    """One problem with one action: which field, the value as given, why, what would do."""

    field: str
    value: str | None
    reason: str
    expected: str | None = None
    fix: str | None = None


def policy_ladders(policy: Policy) -> list[str]:
    """The ladders of the policy's rules, in the policy's order."""
    return list(dict.fromkeys(rule.ladder_name for rule in policy.rules))


def normal_action(text: str) -> str:
    """`Meeting held`, `meeting_held`, ` MEETING-HELD ` all read as `meeting-held`."""
    return re.sub(r"[\s_]+", "-", text.strip().lower())


def _date(value: str | dt.date | None, serials: bool = False) -> dt.date | None | str:
    """A date, None when not given, or the text itself when it is not a date."""
    if value is None or isinstance(value, dt.date):
        return value
    text = value.strip()
    if not text:
        return None
    parsed = parse_date(text, serials=serials)
    return text if parsed is None else parsed


def _check(pupil_id: str, ladder: str, action: str, date: str | dt.date | None, until: str | dt.date | None,
           ladders: list[str] | None, today: dt.date, serials: bool = False, policy_name: str = ""
           ) -> tuple[list[_Wrong], tuple[str, str, str, dt.date, dt.date | None] | None]:
    """Every problem with one action (fields named pupil_id, ladder, action, date, until), and the
    action as recorded when there is none."""
    wrong: list[_Wrong] = []
    pupil_id, ladder, action = pupil_id.strip(), ladder.strip(), normal_action(action)
    if not pupil_id:
        wrong.append(_Wrong("pupil_id", "", "no pupil id", fix="Give the pupil's id, as in the register exports."))
    if not ladder:
        wrong.append(_Wrong("ladder", "", "no ladder", "the case's ladder" + (f": {', '.join(ladders)}" if ladders else ""),
                            fix="Give the ladder of the case (`attendance policy show` lists each rule's ladder)."))
    elif ladders is not None and ladder not in ladders:
        wrong.append(_Wrong("ladder", ladder, f"not a ladder of the policy{f' {policy_name}' if policy_name else ''}",
                            ", ".join(ladders)))
    if action not in ACTIONS:
        wrong.append(_Wrong("action", action, "not an action the ledger records", ", ".join(ACTIONS)))
    day, end = _date(date, serials), _date(until, serials)
    if day is None:
        wrong.append(_Wrong("date", "", "no date", "the day the school did it, dd/mm/yyyy", _DATE_FIX))
    elif isinstance(day, str):
        wrong.append(_Wrong("date", day, "not a date", "a day-first date, dd/mm/yyyy", _DATE_FIX))
    elif day > today:
        wrong.append(_Wrong("date", format_date(day), f"after today ({format_date(today)})",
                            f"a date up to {format_date(today)}",
                            "Record what the school has done once it is done, on the day it was done."))
    if isinstance(end, str):
        wrong.append(_Wrong("until", end, "not a date", "a day-first date, dd/mm/yyyy", _DATE_FIX))
    elif end is None and action == "hold":
        wrong.append(_Wrong("until", "", "a hold needs the date the case is on hold until", "a date on or after the "
                            "action's date", "Give the date the hold ends, dd/mm/yyyy."))
    elif end is not None and action in ACTIONS and action not in UNTIL:
        wrong.append(_Wrong("until", format_date(end), f"only hold and evidence-received take a date until, not {action}",
                            "no date", "Leave until empty for this action."))
    elif isinstance(end, dt.date) and isinstance(day, dt.date) and end < day:
        wrong.append(_Wrong("until", format_date(end), f"before the action's date ({format_date(day)})",
                            f"a date on or after {format_date(day)}"))
    if wrong:
        return wrong, None
    assert isinstance(day, dt.date) and not isinstance(end, str)
    return [], (pupil_id, ladder, action, day, end)


def _frame(actions: list[_Action]) -> pl.DataFrame:
    return pl.DataFrame([vars(a) for a in actions], schema={
        "pupil_id": pl.String, "ladder": pl.String, "action": pl.String, "date": pl.Date, "until": pl.Date,
        "note": pl.String, "source": pl.String})


def _existing_ledger(path: Path) -> Path:
    """Refuse a ledger that is not there (exit 2, as for any missing file): recording an action never
    creates one, so a mistyped path cannot start a second, empty ledger."""
    path = Path(path)
    if not path.exists():
        raise MissingFileError(
            f"There is no ledger at {path}: an action is recorded in the ledger of the case's events, and recording "
            "one never creates a ledger.",
            fix="Check the path (--db, the policy's 'ledger', or $ATTENDANCE_DB); `attendance triggers --record` "
                "creates the ledger on its first run.")
    return path


def _record(ledger_path: Path, actions: list[_Action]) -> tuple[int, int]:
    from attendance_cli.ledger import Ledger

    with Ledger(ledger_path, create=False) as ledger:
        return ledger.record_actions(_frame(actions))


# -- one action ----------------------------------------------------------------------------------

#: The command-line option that gives each field, for `record_action`'s messages.
_OPTIONS = {"pupil_id": "PUPIL_ID", "ladder": "--ladder", "action": "--action", "date": "--date", "until": "--until"}


def record_action(ledger_path: Path, pupil_id: str, ladder: str, action: str, date: str | dt.date,
                  until: str | dt.date | None = None, note: str = "", policy: Policy | None = None, *,
                  today: dt.date | None = None, source: str = "case record") -> tuple[int, int]:
    """Record one action on a case: (1, 0) when recorded, (0, 1) when the ledger already has it.

    Dates are day-first text (or dates). Raises UsageError (exit 2) for a value that cannot be
    recorded, naming the option, and MissingFileError when there is no ledger at `ledger_path`."""
    today = today or dt.date.today()
    ladders = policy_ladders(policy) if policy is not None else None
    wrong, checked = _check(pupil_id, ladder, action, date, until, ladders, today)
    if wrong:
        raise _usage(wrong[0], policy, normal_action(action))
    assert checked is not None
    path = _existing_ledger(ledger_path)
    return _record(path, [_Action(*checked, note=(note or "").strip(), source=source)])


def _usage(wrong: _Wrong, policy: Policy | None, action: str) -> UsageError:
    """The message for the first problem with an action given on the command line."""
    option = _OPTIONS[wrong.field]
    if wrong.field == "action":
        return UsageError(f"--action {wrong.value!r} is not an action the ledger records.",
                          fix=f"Use one of: {', '.join(ACTIONS)}.")
    if wrong.field == "ladder" and wrong.value:
        assert policy is not None
        return UsageError(f"--ladder {wrong.value!r} is not a ladder of the policy {policy.name}.",
                          fix=f"Use one of its ladders: {', '.join(policy_ladders(policy))}.")
    if wrong.field == "until" and not wrong.value:
        return UsageError("--action hold needs --until DATE: the date the case is on hold until.",
                          fix="Add --until dd/mm/yyyy, on or after --date.")
    if wrong.field == "until" and wrong.reason.startswith("only"):
        return UsageError(f"--until is only for hold ({UNTIL['hold']}) and evidence-received "
                          f"({UNTIL['evidence-received']}), not for {action}.", fix="Leave out --until.")
    if not wrong.value:
        return UsageError(f"{option} is empty: {wrong.reason}.", fix=wrong.fix)
    return UsageError(f"{option} {wrong.value!r} is {wrong.reason}." if wrong.reason.startswith(("not", "after", "before"))
                      else f"{option} {wrong.value!r}: {wrong.reason}.", fix=wrong.fix or (
                          f"Give {wrong.expected}." if wrong.expected else None))


# -- a file of actions ---------------------------------------------------------------------------


def _key(header: str) -> str:
    return re.sub(r"[\s_\-]+", " ", header.strip().lower())


def _rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]], bool]:
    """(headers, [(line, cells)], read from a workbook): every record of the file with the physical line
    it starts on; blank lines left out."""
    from attendance_cli.ingest.encoding import open_text

    decoded = open_text(path)
    data = decoded.data
    text = data.read_text(encoding="utf-8") if isinstance(data, Path) else data.decode("utf-8")
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=decoded.separator, strict=True)
    records: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                records.append((start, cells))
            start = reader.line_num + 1
    except csv.Error:
        # the cell's text is not shown: it may be a note about a family
        raise InputError(f"{path}, line {start}: not valid CSV: a quoted field is not closed, or has text after its "
                         "closing quote; nothing was recorded.",
                         fix="Correct the quotes on that line (a field with a quote in it is written "
                             "\"like \"\"this\"\"\"), or save the file again as CSV.") from None
    if not records:
        raise InputError(f"{path} is empty: no header and no actions; nothing was recorded.",
                         fix=f"Give a header row: pupil_id, {', '.join(IMPORT_FIELDS)}; then one action a row.")
    (_, headers), *body = records
    return [h.strip() for h in headers], body, decoded.workbook


def _columns(path: Path, headers: list[str]) -> dict[str, int]:
    """Where each field is in the file's rows."""
    columns: dict[str, int] = {}
    ids = [i for i, h in enumerate(headers) if is_pupil_id(h)]
    if ids:
        columns["pupil_id"] = ids[0]
    keys = {_key(h): i for i, h in reversed(list(enumerate(headers)))}
    for name, aliases in IMPORT_FIELDS.items():
        for alias in aliases:
            if _key(alias) in keys:
                columns[name] = keys[_key(alias)]
                break
    missing = [name for name in ("pupil_id", *_REQUIRED) if name not in columns]
    if missing:
        raise InputError(
            f"{path}: no {', '.join(missing)} column (headers seen: {', '.join(headers) or 'none'}); nothing was recorded.",
            fix=f"Give a header row: pupil_id (or Student ID, Learner ID), {', '.join(IMPORT_FIELDS)} "
                "(until and note may be left out).")
    return columns


def read_actions(csv_path: Path, policy: Policy | None = None, *, today: dt.date | None = None) -> pl.DataFrame:
    """Every action of an import file (pupil_id, ladder, action, date, until, note, source), checked:
    an InputError listing every problem, with its lines, if any row is bad."""
    path = Path(csv_path)
    if not path.is_file():
        raise MissingFileError(f"There is no file of actions at {path}.", fix="Check the path.")
    today = today or dt.date.today()
    headers, body, serials = _rows(path)
    columns = _columns(path, headers)
    ladders = policy_ladders(policy) if policy is not None else None

    def cell(cells: list[str], name: str) -> str:
        index = columns.get(name)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    groups: dict[tuple[str, str, str | None], Problem] = {}
    actions: dict[tuple[str, str, str, dt.date], tuple[int, _Action]] = {}
    for line, cells in body:
        if len(cells) > len(headers) and any(c.strip() for c in cells[len(headers):]):
            # the cells may be shifted: a value shown could be part of a note, so none is
            _add(groups, path, headers, columns, _Wrong(
                "row", None, f"more cells than the header row has columns ({len(cells)}, not {len(headers)})",
                fix="Put a note with a comma in it in double quotes, or save the file again as CSV from the "
                    "spreadsheet."), line)
            continue
        wrong, checked = _check(cell(cells, "pupil_id"), cell(cells, "ladder"), cell(cells, "action"),
                                cell(cells, "date"), cell(cells, "until"), ladders, today, serials,
                                policy.name if policy is not None else "")
        for problem in wrong:
            _add(groups, path, headers, columns, problem, line)
        if checked is None:
            continue
        action = _Action(*checked, note=cell(cells, "note"), source=f"case import {path.name} line {line}")
        key = checked[:4]
        if key in actions:
            first, earlier = actions[key]
            if (earlier.until, earlier.note) != (action.until, action.note):
                # which one is right cannot be told: the ledger keeps the first, so say so (the notes are not shown)
                _add(groups, path, headers, columns, _Wrong(
                    "action", action.action, f"the same action on the same case and date as line {first}, with a "
                    "different until or note", fix="Keep one of the two rows (the ledger records an action on a case "
                    "once a day); put both notes in it."), line)
            continue
        actions[key] = (line, action)
    if groups:
        problems = list(groups.values())
        rows = len({n for p in problems for n in p.lines})
        raise InputError(f"{path}: {rows} of {len(body)} rows cannot be recorded; nothing was recorded.", problems,
                         fix="Correct the rows listed and import the file again (rows already in the ledger are "
                             "recorded once).")
    return _frame([action for _, action in actions.values()])


def _add(groups: dict, path: Path, headers: list[str], columns: dict[str, int], wrong: _Wrong, line: int) -> None:
    """Rows with the same problem and value are one problem, with their lines."""
    key = (wrong.field, wrong.reason, wrong.value)
    if key in groups:
        groups[key].lines.append(line)
        groups[key].count += 1
        return
    column = headers[columns[wrong.field]] if wrong.field in columns else None if wrong.field == "row" else wrong.field
    groups[key] = Problem(str(path), wrong.reason, [line], column, wrong.value or None, wrong.expected, wrong.fix)


def import_actions(ledger_path: Path, csv_path: Path, policy: Policy | None = None, *,
                   today: dt.date | None = None) -> tuple[int, int]:
    """Record every action of a CSV file (or workbook), all or nothing: (recorded, already in the ledger).

    Headers: pupil_id (or Student ID, Learner ID, ...), ladder, action, date, until, note. Every row is
    checked before anything is recorded; an InputError lists every problem with its lines."""
    path = _existing_ledger(ledger_path)
    frame = read_actions(csv_path, policy, today=today)
    if frame.is_empty():
        return 0, 0
    from attendance_cli.ledger import Ledger

    with Ledger(path, create=False) as ledger:
        return ledger.record_actions(frame)


# -- the cases -------------------------------------------------------------------------------------


def list_cases(ledger_path: Path, policy: Policy | None = None, pupil_id: str | None = None,
               ladder: str | None = None, *, today: dt.date | None = None) -> pl.DataFrame:
    """One row per pupil and ladder with events or actions in the ledger (CASE_SCHEMA), by pupil and ladder.

    stage: the highest stage recorded in the case this school year (the year of `today`), after its
    latest `closed` action (null: nothing since); last_event: the as-of date of its latest event;
    last_letter, letters: its latest letter's date and how many of its events had a letter (one a
    family, however many guardians it went to); actions: what the school recorded, by date;
    on_hold_until: the end of a hold that has started and not ended by `today`. With a policy, only
    the cases of its ladders."""
    from attendance_cli.calendar import school_year_start
    from attendance_cli.ledger import Ledger

    today = today or dt.date.today()
    ladders = policy_ladders(policy) if policy is not None else None
    if ladder is not None and ladders is not None and ladder not in ladders:
        raise UsageError(f"--ladder {ladder!r} is not a ladder of the policy {policy.name}.",  # type: ignore[union-attr]
                         fix=f"Use one of its ladders: {', '.join(ladders)}.")
    path = _existing_ledger(ledger_path)
    with Ledger(path, create=False) as ledger:
        events = ledger.events(pupil_id=pupil_id)
        letters = ledger.letters(pupil_id=pupil_id)
        actions = ledger.actions(pupil_id=pupil_id, ladder=ladder)
    keep = pl.lit(True)
    if ladder is not None:
        keep = pl.col("ladder") == ladder
    if ladders is not None:
        keep = keep & pl.col("ladder").is_in(ladders)
    events, letters, actions = events.filter(keep), letters.filter(keep), actions.filter(keep)
    case = ["pupil_id", "ladder"]

    closed = (actions.filter((pl.col("action") == "closed") & (pl.col("date") <= today))
              .group_by(case).agg(pl.col("date").max().alias("_closed")))
    year = events.filter(pl.col("as_of").is_between(school_year_start(today), today)
                         & (pl.col("decision").fill_null("") != "too-old"))
    stage = (year.join(closed, on=case, how="left")
             .filter(pl.col("_closed").is_null() | (pl.col("as_of") > pl.col("_closed")))
             .group_by(case).agg(pl.col("stage").max()))
    last_event = events.group_by(case).agg(pl.col("as_of").max().alias("last_event"))
    sent = letters.group_by(case).agg(pl.col("letter_date").max().alias("last_letter"),
                                      pl.col("event_id").n_unique().cast(pl.Int64).alias("letters"))
    day = lambda column: pl.col(column).dt.strftime("%d/%m/%Y")  # noqa: E731
    words = (pl.col("action") + pl.lit(" ") + day("date")
             + pl.when(pl.col("until").is_null()).then(pl.lit(""))
             .when(pl.col("action") == "hold").then(pl.lit(" until ") + day("until"))
             .otherwise(pl.lit(" (up to ") + day("until") + pl.lit(")")))
    done = (actions.sort("date", "action_id").group_by(case, maintain_order=True)
            .agg(words.str.join("; ").alias("actions")))
    held = (actions.filter((pl.col("action") == "hold") & (pl.col("date") <= today) & (pl.col("until") >= today))
            .group_by(case).agg(pl.col("until").max().alias("on_hold_until")))
    cases = pl.concat([events.select(case), actions.select(case)]).unique()
    for part in (stage, last_event, sent, done, held):
        cases = cases.join(part, on=case, how="left")
    return (cases.with_columns(pl.col("letters").fill_null(0)).select(
        [pl.col(name).cast(dtype) for name, dtype in CASE_SCHEMA.items()]).sort(case))
