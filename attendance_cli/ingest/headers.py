"""Header vocabulary: which export column is which canonical field, and which layout a file has.

MIS exports name the same thing many ways (`Student ID`, `STUDENT_ID`, `LearnerId`). Headers are
normalised (case-folded; spaces, `_`, `-`, `.` and a BOM removed) and matched against the aliases
below. Anything else can be mapped with `--map "Header=field"`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from attendance_cli.errors import InputError, UsageError

#: Canonical field -> accepted header aliases (from reference/formats.md, plus common variants).
ALIASES: dict[str, tuple[str, ...]] = {
    "pupil_id": ("Student ID", "StudentId", "STUDENT_ID", "LearnerId", "Learner ID", "PersonID",
                 "Person ID", "MIS ID", "Id", "Pupil ID", "PupilId"),
    "admission_number": ("Adno", "Admission No", "Admission Number", "AdmissionNumber", "Student Number",
                         "StudentNumber", "LearnerCode", "Learner Code", "Adm No"),
    "upn": ("UPN", "Unique Pupil Number", "ULN", "Unique Learner Number"),
    "surname": ("Legal Surname", "Surname", "Last Name", "LastName", "PreferredLastName", "Family Name"),
    "forename": ("Legal Forename", "Forename", "First Name", "FirstName", "PreferredFirstName", "Given Name"),
    "full_name": ("Name", "Student", "Student Name", "Learner", "Learner Name", "Pupil", "Pupil Name", "Full Name"),
    "year_group": ("Year", "Year Group", "YearGroup", "NC Year", "NCYear", "Year Group Name"),
    "form": ("Registration Form", "Reg Form", "Reg Group", "RegGroup", "Registration Group", "Form",
             "Form Group", "Tutor Group", "TutorGroupName", "Tutor Group Name", "Reg", "Class"),
    "date": ("Date", "Attendance Date", "Session Date", "Mark Date", "Register Date", "Lesson Date",
             "CalendarStartDate", "recordDate", "AttendanceDate"),
    "session": ("Session", "SessionName", "Session Name", "AM/PM", "AMPM", "RollCallSession",
                "Roll Call Session"),
    "mark": ("Mark", "RAW_MARK", "Attendance Mark", "AttendanceMark", "Attendance Code", "AttendanceCode",
             "Code", "Session Mark", "Export Mark", "Register Mark"),
    "subcode": ("Subcode", "Sub Code", "SubCode"),
    # a string of session marks, one character each (SIMS): a week's (`/\/\IN##/\`, Monday AM to
    # Friday PM, beside a Week Beginning column), or every session's from a start date
    "mark_string": ("Marks", "Mark String", "Marks String", "Attendance Marks", "Session Marks", "Week Marks",
                    "Attendance String", "Register Marks"),
    "marks_from": ("Marks From", "From", "From Date", "Date From", "First Date", "Start", "First Session"),
    "minutes_late": ("Minutes Late", "MinutesLate", "MINUTES_LATE", "Mins Late", "Late Minutes", "LateMinutes"),
    "comment": ("Comment", "Comments", "Note", "Notes", "AttendanceComment", "recordNote"),
    "start_time": ("Start Time", "StartTime", "startDatetime", "Lesson Start"),
    "end_time": ("End Time", "EndTime", "FinishTime", "Finish Time", "endDatetime", "Lesson End"),
    "period": ("Period", "PeriodDisplayName", "Lesson", "Period Name"),
    "event_id": ("EventId", "Event ID", "Lesson ID", "LessonId"),
    "group_code": ("Teaching Group", "Group", "Class Code", "Set"),
    "subject": ("Subject", "SubjectCode", "Subject Code", "Course"),
    "admission_date": ("Admission Date", "Date of Admission", "Entry Date", "Start Date", "Enrolment Date",
                       "DateOfEntry"),
    "leaving_date": ("Leaving Date", "Date of Leaving", "Date Left", "Leave Date", "End Date", "DateOfLeaving"),
    "date_of_birth": ("Date of Birth", "DOB", "DateOfBirth", "Birth Date"),
    "week_start": ("Week Beginning", "Week Commencing", "Week Starting", "Week Start", "WeekStart", "W/C",
                   "Week Commencing Date", "Week Beginning Date"),
    "gender": ("Gender", "Sex", "Legal Sex"),
    "sen": ("SEN", "SEND", "SEN Status", "SEN Provision", "SEND Status"),
    "fsm": ("FSM", "Free School Meals", "FSM Eligible", "FSM6", "Ever 6 FSM"),
    "pupil_premium": ("Pupil Premium", "PP", "PupilPremium"),
    "eal": ("EAL", "English as an Additional Language", "First Language"),
    "ethnicity": ("Ethnicity", "Ethnic Group", "Ethnic Origin"),
}

#: Arbor warehouse extra columns that carry derived values we deliberately recompute.
IGNORED_DERIVED = ("APPLICATION_ID", "MARK_CODE", "IS_PRESENT", "IS_AUTHORIZED_ABSENT", "IS_UNAUTHORIZED_ABSENT",
                   "IS_POSSIBLE_ATTENDANCE", "AttendanceCodeId", "AttendanceName", "EnteredDate", "IsLocked",
                   "PeriodId")

#: Fields that describe the pupil rather than one mark (kept once per pupil).
PUPIL_FIELDS = ("upn", "admission_number", "surname", "forename", "year_group", "form", "admission_date",
                "leaving_date", "date_of_birth", "gender", "sen", "fsm", "pupil_premium", "eal", "ethnicity")
#: Fields that describe one lesson in a lesson register.
LESSON_FIELDS = ("start_time", "end_time", "period", "event_id", "group_code", "subject")

#: Year-group values: `Year 10`, `10`, `Y10`, `NC Year 10` (the number is group 1); Reception; Nursery.
YEAR_NUMBER = r"^(?i:year|yr|y|nc\s*year)?\s*(\d{1,2})$"
RECEPTION_TEXT = r"^(?i:r|yr|rec|reception)$"
NURSERY_TEXT = r"^(?i:n|nur|nursery)$"

SESSION_VALUES = {
    "am": "AM", "a.m.": "AM", "a.m": "AM", "morning": "AM", "mor": "AM", "am register": "AM",
    "pm": "PM", "p.m.": "PM", "p.m": "PM", "afternoon": "PM", "aft": "PM", "pm register": "PM",
}

FURNITURE_WORDS = re.compile(
    r"^\s*(grand\s+total|totals?|sub-?total|key|legend|codes?\b|count|summary|generated|printed|produced|"
    r"report|page\s+\d|export(ed)?\b|filters?|school\b|academy\b|college\b|from\s|date range|period:|"
    r"attendance (register|report|marks)|"
    # group headings in reports grouped by form or year: "Form: 10A", "Year Group: Year 7"
    r"(form|class|group|year|year group|tutor group|teaching group|reg(istration)? (form|group)|house)\s*:)",
    re.IGNORECASE,
)


def normalise(header: str) -> str:
    """Case-fold and drop spaces, `_`, `-`, `.` and any BOM, so `STUDENT_ID` == `Student ID`."""
    return re.sub(r"[\s_\-.\ufeff]+", "", header).casefold()


_ALIAS_INDEX: dict[str, str] = {normalise(a): f for f, names in ALIASES.items() for a in names}
_IGNORED_INDEX = {normalise(h) for h in IGNORED_DERIVED}


def is_pupil_id(header: str) -> bool:
    """A header the exports use for the pupil's id (Student ID, LearnerId, Pupil ID, pupil_id, ...):
    also how contacts and pupil files are matched to the exports."""
    return _ALIAS_INDEX.get(normalise(header)) == "pupil_id"


def known_fields() -> list[str]:
    return list(ALIASES)


def parse_maps(maps: list[str] | None, fields: list[str] | tuple[str, ...] | None = None) -> dict[str, str]:
    """`--map "Header=field"` options as {normalised header: field}. `fields`: the fields the file being
    read has (default: a register's), for the messages."""
    out: dict[str, str] = {}
    names = ", ".join(fields or known_fields())
    for item in maps or []:
        if "=" not in item:
            raise UsageError(f"--map {item!r} is not of the form \"Header=field\".",
                             fix=f"For example --map \"Pupil Ref=pupil_id\". Fields: {names}.")
        header, _, target = item.rpartition("=")
        target = target.strip()
        if not re.fullmatch(r"[a-z][a-z0-9_]*", target):
            raise UsageError(f"--map {item!r}: {target!r} is not a field name.",
                             fix=f"Use one of {names}" + ("." if fields else ", or a lower-case name for an extra "
                                                          "pupil attribute."))
        out[normalise(header)] = target
    return out


@dataclass
class ColumnMap:
    """How one file's columns map to canonical fields."""

    fields: dict[str, int] = field(default_factory=dict)  # field -> column index
    extras: dict[str, int] = field(default_factory=dict)  # extra pupil attribute -> column index
    ignored: list[str] = field(default_factory=list)  # headers read and deliberately not used
    unknown: list[str] = field(default_factory=list)  # headers nobody recognised
    date_columns: dict[int, tuple[str, str | None]] = field(default_factory=dict)  # grid: col -> (date text, session)
    weekday_columns: dict[int, tuple[int, str]] = field(default_factory=dict)  # weekly grid: col -> (Mon=0.., session)


#: Fields a mark row is read from: two columns that could each be one of these are never guessed between.
MARK_ROW_FIELDS = ("pupil_id", "date", "session", "mark", "subcode", "minutes_late")


def map_columns(headers: list[str], user_maps: dict[str, str], file: str = "") -> ColumnMap:
    """Map header cells to fields. Grid date columns are recognised separately.

    A `--map` wins over the aliases: a column the user maps to a field takes it, and a column that
    would otherwise have been read as that field is set aside. Two columns that could each be the
    pupil id, date, session, mark or minutes late are refused, as the one read might be the wrong
    one; another pupil column (two name columns) is read from the first.
    """
    result = ColumnMap()
    names = [normalise(raw) for raw in headers]
    by_user = {user_maps[n] for n in names if n in user_maps}
    candidates: dict[str, list[str]] = {}
    for index, (raw, name) in enumerate(zip(headers, names)):
        if not name:
            continue
        target = user_maps.get(name) or _ALIAS_INDEX.get(name)
        if name == "groupcode" and target is None:
            target = "group_code"  # settled by layout: form in a roll call, teaching group in lessons
        if target is None:
            if name in _IGNORED_INDEX:
                result.ignored.append(raw)
            else:
                result.unknown.append(raw)
            continue
        if name not in user_maps and target in by_user:
            result.ignored.append(raw)  # the user said which column this field is read from
            continue
        if target in ALIASES:
            candidates.setdefault(target, []).append(raw)
            if target in result.fields:
                result.ignored.append(raw)  # first matching column wins; say so
                continue
            result.fields[target] = index
        else:
            result.extras[target] = index
    for target, raws in candidates.items():
        if target in MARK_ROW_FIELDS and len(raws) > 1:
            listed = " and ".join(repr(r) for r in raws)
            fix = (f"Say which one to read with --map, e.g. --map \"{raws[-1]}={target}\"."
                   if len({normalise(r) for r in raws}) == len(raws) else
                   "Two of them have the same header, so --map cannot tell them apart: delete or rename one in the "
                   "file, and read it again.")
            raise InputError(f"{file}: {len(raws)} columns could be the {target.replace('_', ' ')}: {listed}.", fix=fix)
    return result


_DATE_IN_HEADER = re.compile(
    r"^\s*(?:(?P<day>mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?\s+)?"
    r"(?P<date>\d{1,2}[/\-.]\d{1,2}[/\-.]\d{2,4}|\d{4}-\d{2}-\d{2})"
    r"(?:\s*[\(\[]?\s*(?P<session>am|pm|a\.m\.|p\.m\.|morning|afternoon)\s*[\)\]]?)?\s*$",
    re.IGNORECASE,
)


def date_header(cell: str) -> tuple[str, str | None] | None:
    """`Mon 02/09/2024 AM` -> ("02/09/2024", "AM"); a bare date -> (date, None); else None."""
    match = _DATE_IN_HEADER.match(cell or "")
    if not match:
        return None
    session = match.group("session")
    return match.group("date"), SESSION_VALUES.get(session.lower()) if session else None


_WEEKDAY_HEADER = re.compile(
    r"^\s*(?P<day>mon|tue|wed|thu|fri)[a-z]*\.?\s*(?P<session>am|pm|a\.m\.|p\.m\.|morning|afternoon)\s*$",
    re.IGNORECASE)
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")


def weekday_header(cell: str) -> tuple[int, str] | None:
    """A weekly grid's `MonAM`, `Tue PM`, `Wednesday AM` -> (0 for Monday ..., "AM"/"PM"); else None."""
    match = _WEEKDAY_HEADER.match(cell or "")
    if not match:
        return None
    return _WEEKDAYS.index(match.group("day").lower()), SESSION_VALUES[match.group("session").lower()]


def session_cell(cell: str) -> str | None:
    return SESSION_VALUES.get((cell or "").strip().lower())


@dataclass
class Layout:
    """What kind of export a file is."""

    shape: str  # "sessions" | "lessons" | "grid"
    source: str  # "arbor" | "progresso" | "generic"
    name: str  # user-facing, e.g. "arbor-sessions"
    header_line: int  # 0-based index of the (first) header line
    header_rows: int  # 1, or 2 for a grid with dates then AM/PM
    headers: list[str]
    columns: ColumnMap


def _vendor(headers: list[str]) -> str:
    names = {normalise(h) for h in headers}
    if names & {"learnerid", "attendancecode", "learnercode", "attendancecodeid", "eventid"}:
        return "progresso"
    if names & {"adno", "personid", "sessionname"}:
        return "sims"
    if names & {"studentid", "rawmark", "legalsurname", "registrationform", "upn"}:
        return "arbor"
    if names & {"reggroup", "attendancedate"}:
        return "sims"
    return "generic"


def _header_score(cells: list[str], user_maps: dict[str, str]) -> tuple[int, int, int]:
    mapped = sum(1 for c in cells if (n := normalise(c)) and (n in user_maps or n in _ALIAS_INDEX))
    dates = sum(1 for c in cells if date_header(c))
    weekdays = sum(1 for c in cells if weekday_header(c))
    return mapped, dates, weekdays


def detect_layout(rows: list[list[str]], user_maps: dict[str, str], source: str | None, file: str) -> Layout:
    """Find the header row among the first rows of a file and decide its layout.

    Rows above the header (title, school name, date range) are report furniture.
    """
    for index, cells in enumerate(rows):
        mapped, dates, weekdays = _header_score(cells, user_maps)
        # a grid: a column per date and session, or one date over a second header row of AM/PM
        below = rows[index + 1] if index + 1 < len(rows) else []
        if mapped >= 1 and (dates >= 2 or (dates == 1 and sum(1 for c in below if session_cell(c)) >= 2)):
            return _grid_layout(rows, index, user_maps, source, file)
        if weekdays >= 2 and mapped >= 1:
            return _weekly_layout(rows, index, user_maps, source, file)
        fields = {user_maps.get(normalise(c)) or _ALIAS_INDEX.get(normalise(c)) for c in cells}
        if "mark_string" in fields and mapped >= 2:
            return _string_layout(cells, index, user_maps, source, file)
        if {"AM", "PM"} <= {session_cell(c) for c in cells} and "date" in fields and mapped >= 2:
            return _am_pm_layout(cells, index, user_maps, source, file)
        if mapped >= 3 or (mapped >= 2 and any(_ALIAS_INDEX.get(normalise(c)) == "mark" or
                                                 user_maps.get(normalise(c)) == "mark" for c in cells)):
            return _long_layout(cells, index, user_maps, source, file, rows[index + 1:])
    seen = next((r for r in rows if any(c.strip() for c in r)), [])
    for cells in rows[:10]:
        _refuse_summary(cells, file, least=3)
    raise InputError(
        f"{file}: cannot tell what kind of export this is.",
        fix=(f"The first non-blank row has the headers {', '.join(repr(c) for c in seen[:15]) or '(none)'}. "
             "Expected a register with a pupil id, a date, a session (AM/PM) or lesson times, and a mark "
             "(e.g. 'Student ID, Date, Session, Mark'), or a grid with a column per 'dd/mm/yyyy AM'. "
             "Map unknown headers with --map \"Header=field\" (fields: pupil_id, date, session, mark, ...)."),
    )


def _long_layout(cells: list[str], index: int, user_maps: dict[str, str], source: str | None, file: str,
                 sample: list[list[str]]) -> Layout:
    columns = map_columns(cells, user_maps, file)
    vendor = source or _vendor(cells)
    fields = columns.fields
    if "period" in fields and "session" not in fields and _holds_sessions(sample, fields["period"]):
        fields["session"] = fields.pop("period")  # Arbor's warehouse PERIOD is MORNING/AFTERNOON
    lesson = any(f in fields for f in ("start_time", "event_id")) or ("period" in fields and "session" not in fields)
    if "group_code" in fields and not lesson and "form" not in fields:
        fields["form"] = fields.pop("group_code")  # Progresso roll call: GroupCode is the registration group
    if lesson and "form" in fields and "group_code" not in fields and normalise(cells[fields["form"]]) == "class":
        fields["group_code"] = fields.pop("form")  # in a lesson register "Class" is the teaching group
    shape = "lessons" if lesson else "sessions"
    missing = [f for f in ("date", "mark") if f not in fields]
    if not lesson and "session" not in fields:
        missing.append("session")
    if not any(f in fields for f in ("pupil_id", "admission_number", "upn")):
        missing.insert(0, "pupil_id")
    if missing:
        _refuse_summary(cells, file)
        raise InputError(
            f"{file}: the header row (line {index + 1}) has no column for {', '.join(missing)}.",
            fix=(f"Headers seen: {', '.join(repr(c) for c in cells if c.strip())}. "
                 f"Map the right columns with --map, e.g. --map \"{_first_unknown(columns)}={missing[0]}\"."),
        )
    warehouse = "rawmark" in {normalise(c) for c in cells}
    name = f"{vendor}-{'warehouse' if warehouse else ('lessons' if lesson else ('rollcall' if vendor == 'progresso' else 'sessions'))}"
    return Layout(shape, vendor, name, index, 1, cells, columns)


#: Headers of a per-pupil summary report (totals and percentages), not a register.
_SUMMARY_HEADER = re.compile(r"^(possible|present|attended|authori[sz]ed|unauthori[sz]ed|approved|unexplained|late$|"
                             r"attendance%|.*percentage|.*percent|.*pct|%.*)", re.IGNORECASE)


def _refuse_summary(cells: list[str], file: str, least: int = 2) -> None:
    """A per-pupil summary (possible sessions, absences, percentages) has no marks to count: say so,
    rather than suggest mapping its columns. `least`: how many summary headers make one."""
    totals = [c for c in cells if c.strip() and _SUMMARY_HEADER.match(normalise(c))]
    if len(totals) >= least:
        raise InputError(
            f"{file}: this is a summary of totals per pupil ({', '.join(repr(c) for c in totals[:6])}), not a register.",
            fix="Figures are worked out from the marks, never copied from a summary: export the session marks (one row "
                "per pupil per AM/PM session, or per lesson) or the register grid instead.")


def _holds_sessions(sample: list[list[str]], column: int) -> bool:
    """True if the column's sample values are AM/PM spellings (not lesson periods)."""
    values = [row[column].strip() for row in sample if column < len(row) and row[column].strip()]
    return bool(values) and all(session_cell(v) for v in values)


def _first_unknown(columns: ColumnMap) -> str:
    return columns.unknown[0] if columns.unknown else "Header"


def _weekly_layout(rows: list[list[str]], index: int, user_maps: dict[str, str], source: str | None,
                   file: str) -> Layout:
    """A weekly grid (Bromcom): a row per pupil (and week), a column per `MonAM` ... `FriPM`. The
    week comes from a Week Beginning column, or from the one date in the title lines above."""
    header = rows[index]
    columns = map_columns([c if not weekday_header(c) else "" for c in header], user_maps, file)
    for col, cell in enumerate(header):
        parsed = weekday_header(cell)
        if parsed:
            columns.weekday_columns[col] = parsed
    if not any(f in columns.fields for f in ("pupil_id", "admission_number", "upn")):
        raise InputError(
            f"{file}: the weekly grid's header row (line {index + 1}) has no pupil identifier column.",
            fix=f"Headers seen: {', '.join(repr(c) for c in header[:8] if c.strip())} ... "
                "Map the identifier with --map \"Header=pupil_id\".")
    return Layout("grid", source or "generic", "weekly-grid", index, 1, header, columns)


def _string_layout(cells: list[str], index: int, user_maps: dict[str, str], source: str | None,
                   file: str) -> Layout:
    """Marks as one string a row, a character a session (SIMS): a week's, Monday AM to Friday PM,
    beside the week's Monday (`sims-week-marks`); or every weekday's from the date of the first
    (`mark-string`: a Marks From column, or the row's Date or Start Date), AM first unless a Session
    column says the first is a PM."""
    columns = map_columns(cells, user_maps, file)
    fields = columns.fields
    _require_pupil(columns, cells, index, file, "mark string")
    vendor = source or _vendor(cells)
    if "week_start" in fields:
        return Layout("grid", vendor, f"{'sims' if vendor == 'generic' else vendor}-week-marks", index, 1, cells, columns)
    start = next((f for f in ("marks_from", "date", "admission_date") if f in fields), None)
    if start is None:
        raise InputError(
            f"{file}: the header row (line {index + 1}) has a column of mark strings "
            f"({cells[fields['mark_string']]!r}) but no date for the first mark.",
            fix="Export the week's Monday beside a week's marks (a 'Week Beginning' column), or the date of the first "
                "mark beside marks from a start date ('Marks From'); or map the column that holds it with "
                "--map \"Header=week_start\" or --map \"Header=marks_from\".")
    fields["marks_from"] = fields.pop(start)
    return Layout("grid", vendor, f"{vendor}-mark-string", index, 1, cells, columns)


def _am_pm_layout(cells: list[str], index: int, user_maps: dict[str, str], source: str | None,
                  file: str) -> Layout:
    """A row per pupil and date, the date's AM mark and PM mark in columns headed AM and PM (SIMS)."""
    columns = map_columns([c if not session_cell(c) else "" for c in cells], user_maps, file)
    _require_pupil(columns, cells, index, file, "register")
    for col, cell in enumerate(cells):
        session = session_cell(cell)
        if session:
            if session in {s for _, s in columns.weekday_columns.values()}:
                raise InputError(f"{file}: the header row (line {index + 1}) has two {session} columns.",
                                 fix="Keep one column of AM marks and one of PM marks, or map the one to read with --map.")
            columns.weekday_columns[col] = (0, session)
    vendor = source or _vendor(cells)
    return Layout("grid", vendor, f"{'sims' if vendor == 'generic' else vendor}-am-pm", index, 1, cells, columns)


def _require_pupil(columns: ColumnMap, cells: list[str], index: int, file: str, what: str) -> None:
    if not any(f in columns.fields for f in ("pupil_id", "admission_number", "upn")):
        raise InputError(
            f"{file}: the {what}'s header row (line {index + 1}) has no pupil identifier column.",
            fix=f"Headers seen: {', '.join(repr(c) for c in cells[:8] if c.strip())} ... "
                "Map the identifier with --map \"Header=pupil_id\".")


def _check_day_names(header: list[str], index: int, file: str) -> None:
    """A grid header that names the day ('Mon 01/09/2025 AM') must name the day its date is read as:
    when it does not, the dates are month-first (09/01/2025 for 1 September) or the header is wrong."""
    from attendance_cli.ingest.dates import parse_date

    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    for cell in header:
        match = _DATE_IN_HEADER.match(cell or "")
        if not match or not match.group("day"):
            continue
        day = parse_date(match.group("date"))
        named = days.index(match.group("day").lower())
        if day is not None and day.weekday() != named:
            raise InputError(
                f"{file}: grid column {cell!r} (line {index + 1}) names a {_DAY_NAMES[named]}, but "
                f"{match.group('date')} read day-first is a {_DAY_NAMES[day.weekday()]}: the dates look month-first.",
                fix="Export the register with UK (day-first) date settings; dates are never read month-first.")


_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _grid_layout(rows: list[list[str]], index: int, user_maps: dict[str, str], source: str | None, file: str) -> Layout:
    header = rows[index]
    second = rows[index + 1] if index + 1 < len(rows) else []
    two_rows = sum(1 for c in second if session_cell(c)) >= 2
    columns = map_columns([c if not date_header(c) else "" for c in header], user_maps, file)
    _check_day_names(header, index, file)
    current: str | None = None
    for col, cell in enumerate(header):
        parsed = date_header(cell)
        if two_rows:
            if parsed:
                current = parsed[0]
            sess = session_cell(second[col]) if col < len(second) else None
            if sess and current:
                columns.date_columns[col] = (current, sess)
        elif parsed:
            if parsed[1] is None:
                raise InputError(
                    f"{file}: grid column {cell!r} (line {index + 1}) has a date but no AM/PM.",
                    fix="Grid headers must read like '03/09/2025 AM' and '03/09/2025 PM', or have a second header row of AM/PM.",
                )
            columns.date_columns[col] = parsed
    if not any(f in columns.fields for f in ("pupil_id", "admission_number", "upn")):
        raise InputError(
            f"{file}: the grid's header row (line {index + 1}) has no pupil identifier column.",
            fix=f"Headers seen: {', '.join(repr(c) for c in header[:8] if c.strip())} ... "
                "Map the identifier with --map \"Header=pupil_id\".",
        )
    vendor = source or _vendor(header)
    return Layout("grid", vendor, f"{vendor}-grid", index, 2 if two_rows else 1, header, columns)
