"""Weekly replay harness (issue 12): a synthetic school year run week by week through
`attendance letters` with one ledger, checking after every run the invariants a school relies on.

Four settings, each a small seeded school (about 50 pupils) with its own register layout and policy:

    primary     Arbor long session register (AM/PM), policy primary-academy
    secondary   session register (other column names), policy absence-levels
    college     Progresso lesson register (no name columns: names from --pupils), policy college
    university  lesson register with name columns, e-mail addresses from --pupils, policy university

Every pupil's marks are generated here, for the whole year, in plain Python (nothing from
attendance_cli computes them or counts them). For each school week, the register up to that
week's Friday is written (a cumulative export, as a weekly MIS export is: an N the office later
corrects to I or O is N in the exports of the days before the correction), `attendance letters` is
run in-process (typer's CliRunner) with one ledger, and the manifest, the letter files written that
run and the ledger are checked. After each run a simulated office records what the school did
(`attendance case record`): a penalty notice issued or waived after each penalty warning, medical
evidence for about half the medical letters, meetings held after meeting letters.

The week's as-of date is its last school day (a day with marks that are not all closure codes):
the Friday, or the Thursday when the Friday is an INSET day (the register then reaches the Friday,
so that run is also an `--as-of` before the export's last date); the letter date is the Monday after.

    1 stage      no letter at a stage <= one already sent on the same ladder this school year
                 (two exceptions the policies define are listed, not counted, unless --strict: a ladder
                 with reset_quiet_school_weeks restarting after that many quiet school weeks, and a
                 repeat_after stage repeating after the school recorded its decision)
    2 one-letter at most one letter type per pupil per run
    3 penalty    at most 2 penalty-notice-warning letters per pupil in a rolling 3 years
    4 age        no letter for an event first met more than 10 school days before the as-of date
    5 figures    every figure, date and session in a letter equals an independent count of the marks
    6 names      no blank name ("Dear ,", " 's attendance"); the pupil's forename is in the letter
    7 evidence   no medical letter lists an illness session the school has recorded evidence for
                 (only with the simulated office: see `school_actions`)
    0 run        a run that fails, or a manifest that does not match the ledger and the files in DIR

Run directly:

    .venv/bin/python -m tests.replay primary            # one setting, report on stdout
    .venv/bin/python -m tests.replay all --keep /tmp/r  # every setting; keep the files to look at
    .venv/bin/python -m tests.replay college --examples 10 --json violations.json
    .venv/bin/python -m tests.replay primary --strict --no-office   # no exceptions, no school actions
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import random
import re
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

D = dt.date
ONE = dt.timedelta(days=1)

# ---------------------------------------------------------------------------------------------
# Code tables, as the school defines them (the definitions, typed here; not computed by the CLI)

#: DfE session codes used by the generator -> category
DFE = {"/": "present", "\\": "present", "L": "present", "V": "aea", "P": "aea", "B": "aea",
       "I": "authorised", "M": "authorised", "C": "authorised", "E": "authorised", "R": "authorised",
       "G": "unauthorised", "U": "unauthorised", "O": "unauthorised", "N": "unauthorised",
       "X": "not_counted", "#": "closure"}
#: College lesson codes used by the generator -> category
COLLEGE = {"/": "present", "L": "present", "V": "aea", "F": "aea", "P": "aea",
           "I": "authorised", "M": "authorised", "H": "authorised", "C": "authorised",
           "O": "unauthorised", "U": "unauthorised", "A": "unauthorised", "G": "unauthorised", "N": "unauthorised",
           "Y": "closure"}
POSSIBLE = {"present", "aea", "authorised", "unauthorised"}
ATTENDED = {"present", "aea"}
ABSENT = {"authorised", "unauthorised"}
LATE = {"L", "U"}

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# ---------------------------------------------------------------------------------------------
# Calendars

SCHOOL_TERMS = ((D(2025, 9, 3), D(2025, 10, 24)), (D(2025, 11, 3), D(2025, 12, 19)), (D(2026, 1, 5), D(2026, 2, 13)),
                (D(2026, 2, 23), D(2026, 3, 27)), (D(2026, 4, 13), D(2026, 5, 22)), (D(2026, 6, 1), D(2026, 7, 22)))
UNIVERSITY_TERMS = ((D(2025, 9, 22), D(2025, 10, 31)), (D(2025, 11, 10), D(2025, 12, 12)),
                    (D(2026, 1, 12), D(2026, 2, 13)), (D(2026, 2, 23), D(2026, 3, 27)), (D(2026, 4, 20), D(2026, 6, 5)))
BANK_HOLIDAYS = frozenset({D(2026, 5, 4)})


@dataclass
class Calendar:
    """Register days (weekdays with marks), closure days among them, and the half terms."""

    terms: tuple[tuple[dt.date, dt.date], ...]
    closures: frozenset[dt.date] = frozenset()  # every mark a closure code: not school days

    def __post_init__(self) -> None:
        self.register_days = [d for lo, hi in self.terms for d in _weekdays(lo, hi) if d not in BANK_HOLIDAYS]
        self.school_days = [d for d in self.register_days if d not in self.closures]
        self.school_day_set = frozenset(self.school_days)

    def half_term_of(self, day: dt.date) -> tuple[dt.date, dt.date] | None:
        for lo, hi in self.terms:
            if lo <= day <= hi:
                return lo, hi
        return None

    def weeks(self) -> list[tuple[dt.date, dt.date]]:
        """(Friday, as-of) for each week with a school day: the as-of is the week's last school day."""
        out: dict[dt.date, dt.date] = {}
        for d in self.school_days:
            friday = d + dt.timedelta(days=4 - d.weekday())
            out[friday] = max(out.get(friday, d), d)
        return sorted(out.items())

    def school_days_between(self, after: dt.date, upto: dt.date) -> int:
        """School days d with after < d <= upto."""
        return sum(1 for d in self.school_days if after < d <= upto)


def _weekdays(lo: dt.date, hi: dt.date) -> list[dt.date]:
    out, d = [], lo
    while d <= hi:
        if d.weekday() < 5:
            out.append(d)
        d += ONE
    return out


def monday_after(day: dt.date) -> dt.date:
    return day + dt.timedelta(days=7 - day.weekday())


# ---------------------------------------------------------------------------------------------
# Pupils and their marks

FORENAMES = ("Olivia", "Amelia", "Isla", "Ava", "Freya", "Lily", "Ivy", "Florence", "Grace", "Sophia", "Mia", "Zoë",
             "Chloé", "Siobhán", "Niamh", "Aoife", "Amara", "Aisha", "Fatima", "Maryam", "Priya", "Zara", "Hannah",
             "Ella", "Ruby", "Evie", "Noah", "Oliver", "George", "Arthur", "Muhammad", "Leo", "Harry", "Oscar",
             "Archie", "Henry", "Theo", "Jack", "Charlie", "Freddie", "Alfie", "Thomas", "Jacob", "Isaac", "Adam",
             "Yusuf", "Ibrahim", "Rohan", "Arjun", "Kai", "Tomás", "Seán", "Jakub", "Chidi", "Kwame", "Mateo",
             "José", "Łukasz", "Zofia", "Ayşe", "Minh", "Bo", "Al")
SURNAMES = ("Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas", "Johnson",
            "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards", "Hughes", "Green", "Hall",
            "Patel", "Khan", "Ahmed", "Singh", "Okafor", "Mensah", "Nowak", "O’Brien", "O'Neill", "Smith-Jones",
            "da Silva", "Nguyễn", "Müller", "Van der Berg", "Brontë", "Kowalczyk", "Begum", "Chen", "Levy", "Ng")

#: archetype -> share of the school (the rest are "regular")
ARCHETYPES = (("late", 0.10), ("truant", 0.10), ("ill", 0.10), ("long-illness", 0.05), ("missing", 0.05),
              ("holiday", 0.10), ("leave-then-missing", 0.03), ("recovering", 0.07), ("declining", 0.07),
              ("severe", 0.03), ("persistent-truant", 0.05))


@dataclass
class Person:
    pid: str
    forename: str
    surname: str
    year: str
    form: str
    kind: str  # the archetype
    first: dt.date  # on roll from
    last: dt.date  # to
    email: str = ""
    code: str = ""  # LearnerCode (college)
    subjects: tuple[str, ...] = ()


@dataclass
class Mark:
    code: str
    minutes: int | None = None
    n_until: dt.date | None = None  # exports as of a date before this show N (reason not yet given)


@dataclass
class Lesson:
    """One timetabled lesson slot of a lesson register (the 'session' of a lesson)."""

    period: str  # P1..P5
    start: str
    end: str
    group: str
    subject: str


PERIODS = (("P1", "09:00", "10:00"), ("P2", "10:15", "11:15"), ("P3", "11:30", "12:30"), ("P4", "13:30", "14:30"),
           ("P5", "14:45", "15:45"))


@dataclass
class School:
    setting: str
    shape: str  # sessions | lessons
    policy: str
    codes: dict[str, str]
    calendar: Calendar
    pupils: list[Person]
    marks: dict[str, dict[tuple[dt.date, str], Mark]]  # pid -> (date, slot) -> mark; slot AM/PM or P1..P5
    lessons: dict[str, dict[tuple[int, str], Lesson]] = field(default_factory=dict)  # pid -> (weekday, period)
    contacts: list[dict[str, str]] = field(default_factory=list)
    name: str = ""
    extra_args: tuple[str, ...] = ()

    def person(self, pid: str) -> Person:
        return self._by_id[pid]

    def __post_init__(self) -> None:
        self._by_id = {p.pid: p for p in self.pupils}
        # school days are the weekdays with a mark in the register that is not a closure code
        days = {day for marks in self.marks.values() for (day, _slot), mark in marks.items()
                if self.codes[mark.code] != "closure"}
        self.calendar.school_days = sorted(days)
        self.calendar.school_day_set = frozenset(days)
        self._cache: dict[dt.date, dict[str, list[tuple[dt.date, str, str | None, int | None]]]] = {}

    # -- the register as exported on a day -------------------------------------------------------

    def shown(self, pid: str, day: dt.date, slot: str, as_of: dt.date) -> tuple[str | None, int | None]:
        """The mark (code, minutes) the export written for `as_of` holds; code None = not yet marked."""
        mark = self.marks[pid].get((day, slot))
        if mark is None:
            return None, None
        if day == as_of and _unmarked(self.setting, pid, day, slot, self.shape):
            return None, None
        if mark.n_until is not None and as_of < mark.n_until:
            return "N", None
        return mark.code, mark.minutes

    def view(self, as_of: dt.date) -> dict[str, list[tuple[dt.date, str, str | None, int | None]]]:
        """Per pupil, every (date, slot, code, minutes) up to `as_of` as that day's export has it."""
        if as_of not in self._cache:
            out: dict[str, list] = {}
            for p in self.pupils:
                rows = []
                for (day, slot) in sorted(self.marks[p.pid]):
                    if day > as_of:
                        continue
                    code, minutes = self.shown(p.pid, day, slot, as_of)
                    rows.append((day, slot, code, minutes))
                out[p.pid] = rows
            self._cache.clear()
            self._cache[as_of] = out
        return self._cache[as_of]

    def category(self, code: str | None) -> str | None:
        return None if code is None else self.codes[code]


def _unmarked(setting: str, pid: str, day: dt.date, slot: str, shape: str) -> bool:
    """A register not yet taken on the export's last day (about one pupil in 25): filled in next week."""
    last_slot = "PM" if shape == "sessions" else None
    if last_slot is not None and slot != last_slot:
        return False
    if shape == "lessons" and slot not in ("P4", "P5"):
        return False
    return random.Random(f"{setting}/{pid}/{day}/{slot}").random() < 0.04


def _pick_kind(rng: random.Random) -> str:
    r, acc = rng.random(), 0.0
    for name, share in ARCHETYPES:
        acc += share
        if r < acc:
            return name
    return "regular"


def _people(rng: random.Random, setting: str, count: int, cal: Calendar, years: tuple[str, ...],
            forms: tuple[str, ...], prefix: str) -> list[Person]:
    kinds = [name for name, share in ARCHETYPES for _ in range(max(1, round(share * count)))]
    kinds += ["regular"] * max(0, count - len(kinds))
    rng.shuffle(kinds)
    used: set[tuple[str, str]] = set()
    people = []
    numbers = sorted(rng.sample(range(100, 999), count))
    for i in range(count):
        while True:
            name = (rng.choice(FORENAMES), rng.choice(SURNAMES))
            if name not in used:
                used.add(name)
                break
        first, last = cal.register_days[0], cal.register_days[-1]
        if i == 3:  # joins in January
            first = next(d for d in cal.register_days if d >= D(2026, 1, 7))
        if i == 7:  # leaves at Easter
            last = max(d for d in cal.register_days if d <= D(2026, 3, 27))
        year = rng.choice(years)
        people.append(Person(f"{prefix}{numbers[i]:04d}", name[0], name[1], year, rng.choice(forms), kinds[i % len(kinds)],
                             first, last))
    return people


def _days_on_roll(p: Person, cal: Calendar) -> list[dt.date]:
    return [d for d in cal.register_days if p.first <= d <= p.last]


def _plan_days(rng: random.Random, p: Person, cal: Calendar) -> dict[dt.date, str]:
    """Whole-day absences by archetype: day -> code (I, O, N, G, C, M)."""
    days = [d for d in _days_on_roll(p, cal) if d not in cal.closures]
    plan: dict[dt.date, str] = {}
    if not days:
        return plan

    def spells(rate: float, lengths: tuple[int, ...], code: str, lo: int = 0, hi: int | None = None,
               weekday_bias: bool = False) -> None:
        hi = len(days) if hi is None else hi
        i = lo
        while i < hi:
            chance = rate * (1.6 if weekday_bias and days[i].weekday() in (0, 4) else 1.0)
            if rng.random() < chance:
                n = rng.choice(lengths)
                for d in days[i:min(hi, i + n)]:
                    plan.setdefault(d, code)
                i += n + 1
            else:
                i += 1

    def run(start: int, length: int, code: str) -> None:
        for d in days[start:start + length]:
            plan[d] = code

    kind = p.kind
    spells(0.02, (1, 1, 2, 3), "I")  # everyone catches something
    if kind == "ill":
        spells(0.06, (1, 2, 3, 4, 5), "I")
        spells(0.01, (1,), "M")
    elif kind == "long-illness":
        run(rng.randint(20, len(days) - 40), rng.randint(20, 28), "I")
    elif kind == "truant":
        spells(0.05, (1, 1, 2, 3), "O", weekday_bias=True)
    elif kind == "persistent-truant":
        spells(0.12, (1, 2, 2, 3), "O", weekday_bias=True)
    elif kind == "missing":
        start = rng.randint(25, len(days) - 50)
        run(start, 3, "N")
        run(start + 3, rng.randint(20, 26), "O")
    elif kind == "holiday":  # next to a half term: leave early, or come back late
        k = rng.randrange(len(cal.terms) - 1)
        ends = [i for i, d in enumerate(days) if d <= cal.terms[k][1]]
        n = rng.choice((5, 5, 7, 10))
        code = "C" if rng.random() < 0.15 else "G"
        if ends:
            run(max(0, ends[-1] - n + 1) if rng.random() < 0.6 else ends[-1] + 1, n, code)
        if rng.random() < 0.4:  # and a second one later in the year
            k2 = min(len(cal.terms) - 2, k + 2)
            ends2 = [i for i, d in enumerate(days) if d <= cal.terms[k2][1]]
            if ends2:
                run(ends2[-1] + 1, rng.choice((3, 4, 5)), "G")
    elif kind == "leave-then-missing":
        start = rng.randint(30, len(days) - 40)
        run(start, 5, "C")
        run(start + 5, rng.randint(11, 14), "O")
    elif kind == "recovering":
        january = next(i for i, d in enumerate(days) if d >= D(2026, 1, 5)) if days[-1] >= D(2026, 1, 5) else len(days)
        spells(0.12, (1, 2, 3), "O", 0, january)
        spells(0.10, (1, 2, 3), "I", 0, january)
    elif kind == "declining":
        feb = next((i for i, d in enumerate(days) if d >= D(2026, 2, 23)), len(days))
        spells(0.10, (1, 2, 3), "O", feb)
        spells(0.10, (1, 2, 3, 4), "I", feb)
    elif kind == "severe":
        spells(0.45, (2, 3, 5, 8), "O")
        spells(0.10, (1, 2), "I")
    return plan


def _session_marks(rng: random.Random, p: Person, cal: Calendar, setting: str) -> dict[tuple[dt.date, str], Mark]:
    plan = _plan_days(rng, p, cal)
    marks: dict[tuple[dt.date, str], Mark] = {}
    late_rate = {"late": rng.uniform(0.12, 0.35), "persistent-truant": 0.08, "severe": 0.05}.get(p.kind, 0.006)
    trip = D(2026, 6, 17) if p.year in ("Year 5", "Year 6", "Year 9", "Year 10") else None
    for d in _days_on_roll(p, cal):
        if d in cal.closures:
            marks[(d, "AM")] = marks[(d, "PM")] = Mark("#")
            continue
        code = plan.get(d)
        if code is not None:
            n_until = None
            if code in ("O", "I") and rng.random() < 0.35:  # N until the office hears (or chases)
                n_until = _school_day_after(cal, d, rng.choice((1, 2, 3, 6)))
            if code == "O" and rng.random() < 0.04:
                code = "N"  # never resolved
            marks[(d, "AM")] = Mark(code, None, n_until)
            marks[(d, "PM")] = Mark(code, None, n_until)
            continue
        if d == trip:
            marks[(d, "AM")] = marks[(d, "PM")] = Mark("V")
            continue
        am, am_min = "/", None
        r = rng.random()
        if r < late_rate:
            if rng.random() < 0.15:
                am, am_min = "U", rng.randint(31, 60)
            else:
                am, am_min = "L", rng.randint(2, 25)
        elif r < late_rate + 0.004:
            am = "M"
        pm = "\\" if rng.random() > 0.004 else ("M" if rng.random() < 0.5 else "O")
        marks[(d, "AM")] = Mark(am, am_min)
        marks[(d, "PM")] = Mark(pm)
    return marks


def _school_day_after(cal: Calendar, day: dt.date, n: int) -> dt.date:
    later = [d for d in cal.school_days if d > day]
    return later[min(n, len(later)) - 1] if later else day + ONE


def _lesson_marks(rng: random.Random, p: Person, cal: Calendar, timetable: dict[tuple[int, str], Lesson],
                  university: bool) -> dict[tuple[dt.date, str], Mark]:
    plan = _plan_days(rng, p, cal)
    marks: dict[tuple[dt.date, str], Mark] = {}
    skip = {"truant": 0.08, "persistent-truant": 0.2, "severe": 0.3, "late": 0.02}.get(p.kind, 0.01)
    late_rate = {"late": rng.uniform(0.1, 0.3)}.get(p.kind, 0.01)
    code_of = {"I": "I", "O": "O", "N": "N", "G": "G", "C": "H" if not university else "C", "M": "M"}
    for d in _days_on_roll(p, cal):
        slots = [(period, lesson) for (weekday, period), lesson in sorted(timetable.items()) if weekday == d.weekday()]
        for period, lesson in slots:
            if d in cal.closures:
                marks[(d, period)] = Mark("Y")
                continue
            day_code = plan.get(d)
            if day_code is not None:
                code = code_of[day_code]
                n_until = (_school_day_after(cal, d, rng.choice((1, 2, 4)))
                           if code in ("O", "I") and rng.random() < 0.3 else None)
                marks[(d, period)] = Mark(code, None, n_until)
                continue
            r = rng.random()
            edge = 1.5 if period in ("P1", "P5") else 0.8
            if r < skip * edge:
                marks[(d, period)] = Mark("O" if rng.random() < 0.9 else "A")
            elif r < skip * edge + late_rate:
                marks[(d, period)] = (Mark("L", rng.randint(1, 15)) if rng.random() < 0.8
                                      else Mark("U", rng.randint(16, 45)))
            elif r < skip * edge + late_rate + 0.005:
                marks[(d, period)] = Mark("M")
            elif r < skip * edge + late_rate + 0.008:
                marks[(d, period)] = Mark("F")  # lesson cancelled
            else:
                marks[(d, period)] = Mark("/")
    return marks


def _contacts(rng: random.Random, pupils: list[Person], agents: bool = False) -> list[dict[str, str]]:
    rows = []
    streets = ("Mill Road", "Church Lane", "Station Road", "Orchard Close", "Meadow View", "Elm Grove")
    for p in pupils:
        roll = rng.random()
        if roll < 0.06:
            continue  # no guardian on file
        home = [f"{rng.randint(1, 180)} {rng.choice(streets)}", "Newtown", f"NT{rng.randint(1, 9)} {rng.randint(1, 9)}AB"]
        count = 1 if roll < 0.45 else 2
        for n in range(count):
            title, relationship = (("Mrs", "Mother") if rng.random() < 0.6 else ("Ms", "Mother")) if n == 0 else ("Mr", "Father")
            surname = p.surname if rng.random() < 0.85 else rng.choice(SURNAMES)
            forename = rng.choice(FORENAMES)
            rows.append({"Student ID": p.pid, "Contact Name": f"{title} {forename} {surname}",
                         "Relationship": relationship,
                         "Parental Responsibility": "No" if n == 1 and rng.random() < 0.15 else "Yes",
                         "Salutation": f"{title} {surname}",
                         "Email": f"parent{n + 1}.{p.pid.lower()}@example.org" if rng.random() < 0.6 else "",
                         "Address 1": home[0], "Town": home[1], "Postcode": home[2]})
        if agents and rng.random() < 0.15:
            rows.append({"Student ID": p.pid, "Contact Name": "Bright Futures Education Agency", "Relationship": "Agent",
                         "Parental Responsibility": "No", "Salutation": "Sir or Madam",
                         "Email": "office@brightfutures.example.org", "Address 1": "1 High Street", "Town": "Lagos",
                         "Postcode": "100001"})
    return rows


def build(setting: str, pupils: int = 50) -> School:
    """The synthetic school for a setting (fixed seed: the same school every time)."""
    rng = random.Random(f"replay/{setting}")
    if setting in ("primary", "secondary"):
        cal = Calendar(SCHOOL_TERMS, frozenset({D(2025, 11, 28), D(2026, 1, 5)}))  # INSET days (#)
        if setting == "primary":
            years = ("Reception", "Year 1", "Year 2", "Year 3", "Year 4", "Year 5", "Year 6")
            forms, prefix, policy = ("Oak", "Ash", "Elm"), "P", "primary-academy"
        else:
            years = ("Year 7", "Year 8", "Year 9", "Year 10", "Year 11")
            forms, prefix, policy = ("A", "B", "C"), "S", "absence-levels"
        people = _people(rng, setting, pupils, cal, years, forms, prefix)
        if setting == "secondary":
            for p in people:
                p.form = f"{p.year.split()[-1]}{p.form}"
        marks = {p.pid: _session_marks(rng, p, cal, setting) for p in people}
        school = School(setting, "sessions", policy, DFE, cal, people, marks,
                        name="Brook Lane Primary Academy" if setting == "primary" else "Riverside Academy")
        school.contacts = _contacts(random.Random(f"replay/{setting}/contacts"), people)
        return school

    university = setting == "university"
    cal = (Calendar(UNIVERSITY_TERMS) if university
           else Calendar(SCHOOL_TERMS, frozenset({D(2026, 1, 13)})))  # the college's snow day (Y)
    years = ("Year 1", "Year 2", "Year 3") if university else ("Year 12", "Year 13")
    people = _people(rng, setting, pupils, cal, years, ("T1", "T2"), "U" if university else "C")
    subjects = (("LAW", "HIST", "ECON", "PSYC", "MATH", "PHIL", "COMP", "BIOL") if university
                else ("MATH", "PHYS", "CHEM", "BIOL", "ECON", "HIST", "ENGL", "ARTD"))
    lessons: dict[str, dict[tuple[int, str], Lesson]] = {}
    for p in people:
        chosen = rng.sample(subjects, 4 if university else 3)
        p.subjects = tuple(chosen)
        table: dict[tuple[int, str], Lesson] = {}
        for s in chosen:
            block = subjects.index(s)
            # each subject on fixed slots: college 4 lessons a week, university 2 (Monday to Thursday)
            wanted = 2 if university else 4
            slots = [((block + k * 2) % (4 if university else 5), PERIODS[(block + k) % 5]) for k in range(8)]
            placed = 0
            for weekday, (period, start, end) in slots:
                if (weekday, period) in table:
                    continue
                table[(weekday, period)] = Lesson(period, start, end, f"{s}-{'AB'[block % 2]}", s)
                placed += 1
                if placed == wanted:
                    break
        lessons[p.pid] = table
        p.email = f"{p.pid.lower()}@students.example.ac.uk" if (university or rng.random() < 0.7) else ""
        p.code = f"2025-{p.pid[1:]}"
    marks = {p.pid: _lesson_marks(rng, p, cal, lessons[p.pid], university) for p in people}
    school = School(setting, "lessons", "university" if university else "college", COLLEGE, cal, people, marks, lessons,
                    name="Hillside University" if university else "Cambridge Lane College",
                    extra_args=("--codes", "college"))
    if not university:
        school.contacts = _contacts(random.Random(f"replay/{setting}/contacts"), people, agents=True)
    return school


def describe(school: School) -> dict[str, int]:
    """What the synthetic year holds, counted from the final marks: pupils with each kind of record."""
    out: Counter = Counter()
    cal = school.calendar
    for p in school.pupils:
        rows = sorted(school.marks[p.pid].items())
        codes = [m.code for _k, m in rows]
        by_day: dict[dt.date, list[str]] = defaultdict(list)
        for (day, _slot), m in rows:
            by_day[day].append(m.code)
        out["pupils"] += 1
        out["named"] += bool(p.forename.strip() and p.surname.strip())
        if sum(c in LATE for c in codes) >= 10:
            out["10+ lates"] += 1
        if "G" in codes:
            out["term-time holiday (G)"] += 1
        if sum(c == "I" for c in codes) >= 10:
            out["10+ illness marks"] += 1
        if any(m.n_until for _k, m in rows):
            out["N later corrected"] += 1
        best = run = 0
        for day in cal.school_days:
            day_codes = [c for c in by_day.get(day, []) if school.codes[c] in POSSIBLE]
            if not day_codes:
                continue
            run = run + 1 if all(school.codes[c] in ABSENT for c in day_codes) else 0
            best = max(best, run)
        if best >= 20:
            out["absent 20+ school days in a row"] += 1
        unauth_run = best_u = 0
        for day in cal.school_days:
            day_codes = [c for c in by_day.get(day, []) if school.codes[c] in POSSIBLE]
            if not day_codes:
                continue
            unauth_run = unauth_run + 1 if all(school.codes[c] == "unauthorised" for c in day_codes) else 0
            best_u = max(best_u, unauth_run)
        if best_u >= 3:
            out["unauthorised run of 3+ days"] += 1
        autumn = [c for (day, _s), m in rows for c in [m.code] if day < D(2026, 1, 1) and school.codes[c] in POSSIBLE]
        summer = [c for (day, _s), m in rows for c in [m.code] if day >= D(2026, 4, 1) and school.codes[c] in POSSIBLE]
        if autumn and summer:
            a = sum(school.codes[c] in ABSENT for c in autumn) / len(autumn)
            b = sum(school.codes[c] in ABSENT for c in summer) / len(summer)
            if a >= 0.12 and b <= 0.05:
                out["recovers (autumn 12%+ absent, summer 5% or less)"] += 1
        if p.first > cal.register_days[0]:
            out["joins mid-year"] += 1
        if p.last < cal.register_days[-1]:
            out["leaves mid-year"] += 1
    return dict(out)


# ---------------------------------------------------------------------------------------------
# Files: the register as exported for a week, contacts, school settings, pupils


def _csv_text(header: list[str], rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def write_register(school: School, path: Path, upto: dt.date, as_of: dt.date) -> None:
    """The cumulative export written on the week's last school day (`as_of`), up to its Friday."""
    rows: list[list[str]] = []
    s = school.setting
    event_ids: dict[tuple[dt.date, str, str], int] = {}
    for p in school.pupils:
        for (day, slot) in sorted(school.marks[p.pid]):
            if day > upto:
                continue
            code, minutes = school.shown(p.pid, day, slot, as_of)
            code_text, minutes_text = code or "", "" if minutes is None else str(minutes)
            if s == "primary":
                rows.append([p.pid, f"UPN{p.pid}", p.surname, p.forename, p.year, p.form, f"{day:%d/%m/%Y}", slot,
                             code_text, minutes_text])
            elif s == "secondary":
                rows.append([p.pid, p.surname, p.forename, p.year, p.form, f"{day:%d/%m/%Y}", slot, code_text,
                             minutes_text])
            else:
                lesson = school.lessons[p.pid][(day.weekday(), slot)]
                if s == "college":
                    key = (day, slot, lesson.group)
                    event = event_ids.setdefault(key, 700000 + len(event_ids))
                    rows.append([str(event), lesson.group, f"{day:%d-%m-%Y}", lesson.start, lesson.end, p.pid, p.code,
                                 slot, code_text, minutes_text, lesson.subject])
                else:
                    rows.append([p.pid, p.surname, p.forename, f"{day:%Y-%m-%d}", lesson.start, lesson.end,
                                 lesson.subject, code_text, minutes_text])
    header = {
        "primary": ["Student ID", "UPN", "Legal Surname", "Legal Forename", "Year Group", "Registration Form", "Date",
                    "Session", "Mark", "Minutes Late"],
        "secondary": ["Pupil ID", "Surname", "Forename", "Year", "Form", "Date", "AM/PM", "Mark", "Mins Late"],
        "college": ["EventId", "GroupCode", "Date", "StartTime", "EndTime", "LearnerId", "LearnerCode", "Period",
                    "AttendanceCode", "MinutesLate", "SubjectCode"],
        "university": ["Student ID", "Last Name", "First Name", "Date", "Start Time", "End Time", "Subject", "Mark",
                       "Minutes Late"],
    }[s]
    path.write_text(_csv_text(header, rows), encoding="utf-8")


def write_setup(school: School, folder: Path) -> list[str]:
    """Contacts, school settings and pupils files; returns the CLI arguments that pass them."""
    args: list[str] = []
    settings = folder / "school.toml"
    settings.write_text(f'name = "{school.name}"\naddress = ["Brook Lane", "Newtown", "NT1 2AB"]\n'
                        'telephone = "01632 960123"\nemail = "attendance@school.example.org"\n'
                        'signatory = "Ms J. Rivers"\nsignatory_role = "Attendance Lead"\nheadteacher = "Mr D. Ellison"\n',
                        encoding="utf-8")
    args += ["--school", str(settings)]
    if school.contacts:
        contacts = folder / "contacts.csv"
        header = list(school.contacts[0])
        contacts.write_text(_csv_text(header, [[row[h] for h in header] for row in school.contacts]), encoding="utf-8")
        args += ["--contacts", str(contacts)]
    if school.setting == "college":  # Progresso lessons carry no names: the pupils file gives them
        pupils = folder / "pupils.csv"
        pupils.write_text(_csv_text(["pupil_id", "forename", "surname", "email"],
                                    [[p.pid, p.forename, p.surname, p.email] for p in school.pupils]), encoding="utf-8")
        args += ["--pupils", str(pupils)]
    elif school.setting == "university":  # names in the export; e-mail addresses from the pupils file
        pupils = folder / "pupils.csv"
        pupils.write_text(_csv_text(["Student ID", "Email"], [[p.pid, p.email] for p in school.pupils]), encoding="utf-8")
        args += ["--pupils", str(pupils)]
    return args


# ---------------------------------------------------------------------------------------------
# Independent figures


@dataclass
class Figures:
    possible: int = 0
    attended: int = 0
    authorised: int = 0
    unauthorised: int = 0
    lates: int = 0
    minutes: int = 0

    @property
    def absences(self) -> int:
        return self.authorised + self.unauthorised

    @property
    def percent(self) -> str | None:
        if not self.possible:
            return None
        hundredths = self.attended * 10000 // self.possible
        return f"{hundredths // 100}.{hundredths % 100:02d}"


def figures(school: School, pid: str, as_of: dt.date, start: dt.date | None = None,
            end: dt.date | None = None) -> Figures:
    """The pupil's figures from `start` (default: 1 August of the school year) to `end` (as_of)."""
    start = start or D(as_of.year if as_of.month >= 8 else as_of.year - 1, 8, 1)
    end = end or as_of
    f = Figures()
    for day, _slot, code, minutes in school.view(as_of)[pid]:
        if not (start <= day <= end) or code is None:
            continue
        category = school.codes[code]
        if category not in POSSIBLE:
            continue
        f.possible += 1
        if category in ATTENDED:
            f.attended += 1
        elif category == "authorised":
            f.authorised += 1
        else:
            f.unauthorised += 1
        if code in LATE:
            f.lates += 1
            f.minutes += minutes or 0
    return f


def count_marks(school: School, pid: str, as_of: dt.date, start: dt.date, end: dt.date, *,
                codes: set[str] | None = None, categories: set[str] | None = None) -> int:
    n = 0
    for day, _slot, code, _m in school.view(as_of)[pid]:
        if code is None or not (start <= day <= end):
            continue
        if (codes and code in codes) or (categories and school.codes[code] in categories):
            n += 1
    return n


def days_text_value(text: str) -> float:
    """'19½ days' -> 19.5; '½ day' -> 0.5; '1,204 days' -> 1204."""
    number = text.split()[0].replace(",", "")
    half = number.endswith("½")
    number = number.rstrip("½")
    return (float(number) if number else 0.0) + (0.5 if half else 0.0)


# ---------------------------------------------------------------------------------------------
# Reading a .txt letter

_MONTH = "|".join(MONTHS)
_DAYNAME = "|".join(WEEKDAYS)
DATE_RE = re.compile(rf"\b(?:({_DAYNAME}) )?(\d{{1,2}}) ({_MONTH})(?: (\d{{4}}))?\b")
SHORT_DATE_RE = re.compile(r"\b(\d{2})/(\d{2})/(\d{4})\b")


def flat(text: str) -> str:
    return " ".join(text.replace("**", "").split())


def parse_date_text(text: str, school_year: int) -> dt.date | None:
    m = DATE_RE.fullmatch(text.strip())
    if not m:
        return None
    _name, day, month, year = m.groups()
    month_n = MONTHS.index(month) + 1
    y = int(year) if year else (school_year if month_n >= 8 else school_year + 1)
    return D(y, month_n, int(day))


@dataclass
class Table:
    headings: list[str]
    rows: list[list[str]]


def tables(text: str) -> dict[str, Table]:
    """The letter's ::figures table ('figures') and ::sessions table ('sessions'), as printed."""
    lines = text.splitlines()
    found: dict[str, Table] = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        if re.match(r"^\s+School year to date\s*$", line):
            rows = []
            i += 1
            while i < len(lines) and lines[i].startswith("  ") and lines[i].strip():
                parts = re.split(r"\s{2,}", lines[i].strip())
                rows.append(parts)
                i += 1
            found["figures"] = Table(["", "School year to date"], rows)
            continue
        m = re.match(r"^(\s+)Date(\s+)(Morning\s+Afternoon|Lesson\s+Mark)\s*$", line)
        if m:
            names = ["Date", *m.group(3).split()]
            starts = [line.index("Date")] + [line.index(n, line.index("Date") + 4) for n in names[1:]]
            rows = []
            i += 1
            while i < len(lines) and lines[i].startswith("  ") and lines[i].strip():
                row = lines[i]
                cells = [row[starts[k]:(starts[k + 1] if k + 1 < len(starts) else None)].strip()
                         for k in range(len(starts))]
                rows.append(cells)
                i += 1
            found["sessions"] = Table(names, rows)
            continue
        i += 1
    return found


def mark_cell(cell: str) -> tuple[str, int | None]:
    m = re.fullmatch(r"(\S+)(?: \((\d+) min late\))?", cell)
    if not m:
        return cell, None
    return m.group(1), (int(m.group(2)) if m.group(2) else None)


# ---------------------------------------------------------------------------------------------
# The replay


@dataclass
class Violation:
    invariant: str
    week: int
    as_of: str
    pupil: str
    rule: str
    letter_file: str
    detail: str
    excerpt: str = ""

    def line(self) -> str:
        out = (f"[{self.invariant}] week {self.week} (as of {self.as_of}) pupil {self.pupil} rule {self.rule} "
               f"file {self.letter_file}: {self.detail}")
        if self.excerpt:
            out += f"\n      > {self.excerpt}"
        return out


@dataclass
class Sent:
    week: int
    as_of: dt.date
    letter_date: dt.date
    pupil: str
    letter: str
    rule: str
    ladder: str
    stage: int
    file: str


@dataclass
class Report:
    setting: str
    policy: str
    pupils: int
    runs: int = 0
    failed_runs: int = 0
    letters_files: int = 0
    letters: Counter = field(default_factory=Counter)  # (letter, stage) -> letters (families, one per run)
    decisions: Counter = field(default_factory=Counter)
    violations: list[Violation] = field(default_factory=list)
    sanctioned: list[tuple[str, str]] = field(default_factory=list)  # (restart | recovered | repeat, line)
    data: dict[str, int] = field(default_factory=dict)  # what the synthetic year holds (`describe`)
    checked: Counter = field(default_factory=Counter)  # what the checks looked at (so a silent regex is seen)
    actions: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    office: bool = False
    seconds: float = 0.0

    def counts(self) -> Counter:
        return Counter(v.invariant for v in self.violations)

    def text(self, examples: int = 5) -> str:
        out = [f"Replay {self.setting}: policy {self.policy}, {self.pupils} pupils, {self.runs} weekly runs "
               f"({self.failed_runs} failed), {self.letters_files} letter files, "
               f"{sum(self.letters.values())} family letters, {self.seconds:.1f}s"]
        if self.data:
            out.append("  the year's pupils: " + ", ".join(f"{k}: {n}" for k, n in self.data.items() if k != "pupils"))
        out.append("  letters by type and stage: " + ", ".join(
            f"{name} (stage {stage}): {n}" for (name, stage), n in sorted(self.letters.items())))
        if self.actions:
            out.append("  school actions recorded (attendance case record): " + ", ".join(
                f"{k}: {n}" for k, n in sorted(self.actions.items())))
        out.extend(f"  note: {n}" for n in self.notes)
        if self.decisions:
            out.append("  event decisions over the year: " + ", ".join(f"{k}: {n}" for k, n in sorted(self.decisions.items())))
        if self.sanctioned:
            kinds = Counter(kind for kind, _line in self.sanctioned)
            out.append(f"  same or lower stage again, as the policy allows (not counted as violations; --strict counts "
                       f"them): {len(self.sanctioned)} (" + ", ".join(f"{k}: {n}" for k, n in sorted(kinds.items())) + ")")
            for kind in sorted(kinds):
                out.extend([f"    {line}" for k, line in self.sanctioned if k == kind][:examples])
        counts = self.counts()
        if self.checked:
            out.append("  checked: " + ", ".join(f"{k} {n}" for k, n in sorted(self.checked.items())))
        out.append(f"  violations: {len(self.violations)} (" + ", ".join(
            f"{k}: {counts.get(k, 0)}" for k in INVARIANTS) + ")")
        for invariant in sorted(counts):
            chosen = [v for v in self.violations if v.invariant == invariant]
            out.append(f"  -- {invariant}: {len(chosen)}")
            by_kind: dict[str, list[Violation]] = defaultdict(list)
            for v in chosen:
                by_kind[v.detail.split(":")[0]].append(v)
            shown = 0
            # one example of each kind of problem first, then more
            for group in by_kind.values():
                if shown >= examples:
                    break
                out.append("    " + group[0].line().replace("\n", "\n    "))
                shown += 1
            for v in chosen:
                if shown >= examples:
                    break
                if any(v is g[0] for g in by_kind.values()):
                    continue
                out.append("    " + v.line().replace("\n", "\n    "))
                shown += 1
        return "\n".join(out)


def replay(setting: str, folder: Path, *, pupils: int = 50, weeks: int | None = None, quiet: bool = True,
           school: School | None = None, office: bool = True, strict: bool = False) -> Report:
    """Run the school year of `setting` week by week in `folder`; return the report. With `office`, the
    school records what it did after each letter (`attendance case record`, when the CLI has it): a
    penalty notice issued or waived after each penalty warning, medical evidence received for some
    pupils after a medical letter, meetings held after meeting letters.

    Invariant 1 has two narrow exceptions the policies define, reported (`Report.sanctioned`) but not
    counted as violations unless `strict`: a ladder with `reset_quiet_school_weeks` restarting after
    that many school weeks with no event recorded on it, and a stage whose rule has `repeat_after`
    repeating after the office recorded one of those actions since that stage's last letter."""
    from attendance_cli.cli import app
    from attendance_cli.ledger import Ledger
    from attendance_cli.rules import load_policy

    started = time.perf_counter()
    school = school or build(setting, pupils)
    if (folder / ".replay").exists():  # an earlier replay's folder: start the year again
        shutil.rmtree(folder)
    elif folder.exists() and any(folder.iterdir()):
        raise SystemExit(f"{folder} is not empty and not a replay folder: choose another")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".replay").write_text("a tests/replay.py folder: removed by the next replay here\n", encoding="utf-8")
    exports, out, db = folder / "exports", folder / "letters", folder / "ledger.sqlite"
    exports.mkdir(exist_ok=True)
    setup = write_setup(school, folder)
    policy = load_policy(school.policy)
    rules = {r.id: r for r in policy.rules}
    report = Report(setting, school.policy, len(school.pupils), data=describe(school))
    runner = _Runner(app)
    if office and runner.invoke(app, ["case", "--help"]).exit_code != 0:
        office = False
        report.notes.append("`attendance case` is not available: the school records no actions (penalty decisions, "
                            "evidence, meetings), so invariant 3 cannot be reached")
    report.office = office
    history: list[Sent] = []
    evidence: dict[str, dt.date] = {}  # pupil -> the latest `until` of evidence received on the medical ladder
    done_actions: list[tuple[str, str, str, dt.date]] = []  # (pupil, ladder, action, date) the office recorded
    held: dict[tuple[str, str, str], tuple[int, dt.date]] = {}  # (pupil, rule, first met) -> first held (week, as-of)
    seen_letter_ids: set[int] = set()
    restarted: dict[tuple[str, str], dt.date] = {}
    schedule = school.calendar.weeks()[:weeks] if weeks else school.calendar.weeks()
    for week, (friday, as_of) in enumerate(schedule, start=1):
        register = exports / f"register-{friday:%Y-%m-%d}.csv"
        write_register(school, register, friday, as_of)
        letter_date = monday_after(friday)
        args = ["letters", str(register), "--policy", school.policy, "--db", str(db), "--out", str(out),
                "--format", "txt", "--date", f"{letter_date:%d/%m/%Y}", "--as-of", f"{as_of:%d/%m/%Y}",
                *setup, *school.extra_args]
        result = runner.invoke(app, args, catch_exceptions=True)
        report.runs += 1
        ctx = RunContext(school, report, rules, policy, week, as_of, letter_date, history, restarted, evidence,
                         done_actions, strict, held)
        if result.exit_code != 0:
            report.failed_runs += 1
            detail = (result.stderr if hasattr(result, "stderr") else result.output) or repr(result.exception)
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                import traceback
                detail += "".join(traceback.format_exception(result.exception))[-1500:]
            ctx.add("0-run", "-", "-", "-", f"run failed: exit code {result.exit_code}", flat(detail)[:600])
            continue
        manifest_path = out / f"manifest-{as_of:%Y-%m-%d}.csv"
        manifest = []
        if manifest_path.exists():
            with manifest_path.open(encoding="utf-8-sig", newline="") as handle:
                manifest = list(csv.DictReader(handle))
        for row in manifest:
            report.decisions[row.get("decision", "")] += 1
        written = [row for row in manifest if row.get("decision", "letter") == "letter"]
        ledger_letters, ledger_events = [], []
        if db.exists():  # a run with nothing to record creates no ledger
            with Ledger(db, create=False) as ledger:
                ledger_letters = ledger.letters().to_dicts()
                ledger_events = ledger.events().to_dicts()
        new = [row for row in ledger_letters if row["letter_id"] not in seen_letter_ids]
        seen_letter_ids.update(row["letter_id"] for row in new)
        ctx.check_bookkeeping(written, new, out)
        sent_now = ctx.sent_this_run(new)
        report.letters_files += len({row["file"] for row in written})
        for s in sent_now:
            report.letters[(s.letter, s.stage)] += 1
        ctx.check_stage(sent_now, ledger_events)
        ctx.check_one_letter(written)
        ctx.check_penalty(sent_now)
        ctx.check_age(written)
        for row in written:
            path = out / row["file"]
            if not path.exists():
                continue
            text = letter_text(path)
            if text is None:
                ctx.tick(f"letters not read ({path.suffix} file)")
                continue
            ctx.check_letter(row, text)
        for row in manifest:  # events held back for the family's other letter: their age is explained later
            if row.get("decision") == "held":
                held.setdefault((row["pupil_id"], row["rule_id"], row["first_met_on"]), (week, as_of))
        history.extend(sent_now)
        if office:
            for action in school_actions(sent_now, setting):
                pid, ladder, name, day, until = action
                cmd = ["case", "record", pid, "--ladder", ladder, "--action", name, "--date", f"{day:%d/%m/%Y}",
                       "--db", str(db), "--policy", school.policy]
                if until is not None:
                    cmd += ["--until", f"{until:%d/%m/%Y}"]
                done = runner.invoke(app, cmd, catch_exceptions=True)
                report.actions[name] += 1
                if done.exit_code != 0:
                    ctx.add("0-run", pid, ladder, "-", f"case record {name} failed: exit code {done.exit_code}",
                            flat(done.output or repr(done.exception))[:400])
                else:
                    done_actions.append((pid, ladder, name, day))
                    if name == "evidence-received":
                        evidence[pid] = max(evidence.get(pid, until or day), until or day)
        if not quiet:
            print(f"week {week:2d} as of {as_of}: {len(written)} letter files, "
                  f"{len(report.violations)} violations so far", file=sys.stderr)
    report.seconds = time.perf_counter() - started
    return report


class _Runner:
    """typer's CliRunner (in-process, output captured), with the click command built once: typer builds it
    again on every invoke, which costs about 0.1 s a run."""

    def __init__(self, app) -> None:
        import typer.testing

        self._testing = typer.testing
        self._runner = typer.testing.CliRunner()
        self._command = typer.testing._get_command(app)

    def invoke(self, app, args: list[str], catch_exceptions: bool = True):
        original = self._testing._get_command
        self._testing._get_command = lambda _app: self._command
        try:
            return self._runner.invoke(app, args, catch_exceptions=catch_exceptions)
        finally:
            self._testing._get_command = original


def school_actions(sent: list[Sent], setting: str) -> list[tuple[str, str, str, dt.date, dt.date | None]]:
    """What the office records after this run's letters: (pupil, ladder, action, date, until)."""
    out = []
    for s in sent:
        rng = random.Random(f"{setting}/office/{s.pupil}/{s.letter}/{s.letter_date}")
        if s.letter == "penalty-notice-warning":
            action = "notice-issued" if rng.random() < 0.75 else "notice-waived"
            out.append((s.pupil, s.ladder, action, s.letter_date + dt.timedelta(days=2), None))
        elif s.letter in ("medical-evidence", "medical-follow-up") and rng.random() < 0.5:
            day = s.letter_date + dt.timedelta(days=3)
            out.append((s.pupil, s.ladder, "evidence-received", day, day))  # covers absences up to that day
        elif s.letter in ("unauthorised-meeting", "punctuality-meeting", "punctuality-head", "severe-absence"):
            out.append((s.pupil, s.ladder, "meeting-held", s.letter_date + dt.timedelta(days=4), None))
    return out


@dataclass
class RunContext:
    school: School
    report: Report
    rules: dict
    policy: object
    week: int
    as_of: dt.date
    letter_date: dt.date
    history: list[Sent]
    restarted: dict[tuple[str, str], dt.date]  # (pupil, ladder) -> as-of of a case restarted by the policy
    evidence: dict[str, dt.date]  # pupil -> medical evidence received, covering absences up to this date
    actions: list[tuple[str, str, str, dt.date]]  # what the office recorded: (pupil, ladder, action, date)
    strict: bool = False
    held: dict = field(default_factory=dict)  # (pupil, rule, first met) -> (week, as-of) an earlier run held it

    def tick(self, what: str, n: int = 1) -> None:
        self.report.checked[what] += n

    def add(self, invariant: str, pupil: str, rule: str, file: str, detail: str, excerpt: str = "") -> None:
        self.report.violations.append(Violation(invariant, self.week, f"{self.as_of:%Y-%m-%d}", pupil, rule, file,
                                                detail, excerpt[:300]))

    # -- 0: what was written is what was recorded ------------------------------------------------

    def check_bookkeeping(self, written: list[dict], new: list[dict], out: Path) -> None:
        files = {row["file"] for row in written}
        ledger_files = {row["file"] for row in new}
        for name in sorted(files - ledger_files):
            row = next(r for r in written if r["file"] == name)
            self.add("0-run", row["pupil_id"], row["rule_id"], name, "manifest letter not recorded in the ledger this run")
        for name in sorted(ledger_files - files):
            row = next(r for r in new if r["file"] == name)
            self.add("0-run", row["pupil_id"], row["rule_id"], name, "ledger letter of this run missing from the manifest")
        for name in sorted(files):
            if not (out / name).exists():
                row = next(r for r in written if r["file"] == name)
                self.add("0-run", row["pupil_id"], row["rule_id"], name, "letter in the manifest but not in DIR")

    def sent_this_run(self, new: list[dict]) -> list[Sent]:
        """One Sent per pupil and letter type this run (several guardians: one family letter)."""
        out: dict[tuple[str, str], Sent] = {}
        for row in new:
            key = (row["pupil_id"], row["letter"])
            if key not in out:
                out[key] = Sent(self.week, self.as_of, row["letter_date"], row["pupil_id"], row["letter"], row["rule_id"],
                                row["ladder"], int(row["stage"]), row["file"])
        return list(out.values())

    # -- 1: a ladder only goes forward within a school year --------------------------------------

    def check_stage(self, sent_now: list[Sent], events: list[dict]) -> None:
        year_start = D(self.as_of.year if self.as_of.month >= 8 else self.as_of.year - 1, 8, 1)
        for s in sent_now:
            since = max(year_start, self.restarted.get((s.pupil, s.ladder), year_start))
            before = [h for h in self.history if h.pupil == s.pupil and h.ladder == s.ladder and h.as_of >= since]
            if not before:
                continue
            top = max(before, key=lambda h: (h.stage, h.as_of))
            if s.stage > top.stage:
                continue
            what = (f"{s.letter} (ladder {s.ladder}, stage {s.stage}) after {top.letter} (stage {top.stage}) sent in "
                    f"week {top.week} (as of {top.as_of})")
            notes = []
            ladder_of = getattr(self.policy, "ladder_of", None)  # (policies before casework had no ladders)
            quiet = getattr(ladder_of(s.ladder), "reset_quiet_school_weeks", None) if ladder_of else None
            if quiet:
                # the policy restarts the ladder after `quiet` school weeks with no event recorded on it
                earlier = [e["as_of"] for e in events if e["pupil_id"] == s.pupil and e["ladder"] == s.ladder
                           and year_start <= e["as_of"] < self.as_of]
                last = max(earlier) if earlier else None
                gap = self._school_weeks_between(last, self.as_of) if last else None
                if gap is not None and gap > quiet:
                    self.restarted[(s.pupil, s.ladder)] = self.as_of  # a new case: later stages compare from here
                    self._sanctioned(s, f"restart: {what}; {gap} school weeks since the last {s.ladder} event "
                                        f"(reset_quiet_school_weeks = {quiet})")
                    continue
                notes.append(f"last {s.ladder} event recorded {last}, {gap} school weeks before "
                             f"(reset_quiet_school_weeks = {quiet})")
            recovered = getattr(ladder_of(s.ladder), "reset_recovered_school_weeks", None) if ladder_of else None
            if recovered:
                # the policy restarts the case once every state on it was left N school weeks ago, nothing since
                mine = [e for e in events if e["pupil_id"] == s.pupil and e["ladder"] == s.ladder
                        and year_start <= e["as_of"] < self.as_of]
                lefts = [e["left_on"] for e in mine if e.get("left_on")]
                still = [e for e in mine if e.get("kind") == "state" and not e.get("left_on")]
                if mine and lefts and not still:
                    left = max(lefts)
                    gap = self._school_weeks_between(left, self.as_of)
                    quiet_since = max(e["as_of"] for e in mine) <= left
                    rule = self.rules.get(s.rule)
                    below = getattr(rule, "absence_at_least", None)
                    f = figures(self.school, s.pupil, left)
                    out_of_state = below is None or 100 * f.absences < below * f.possible
                    if gap >= recovered and quiet_since and out_of_state:
                        self.restarted[(s.pupil, s.ladder)] = self.as_of
                        self._sanctioned(s, f"recovered: {what}; the state was left on {left} (marks: absence "
                                            f"{f.absences}/{f.possible}), {gap} school weeks before "
                                            f"(reset_recovered_school_weeks = {recovered})")
                        continue
                    notes.append(f"state left on {left}, {gap} school weeks before (reset_recovered_school_weeks = "
                                 f"{recovered}; events since: {not quiet_since}; marks out of the state then: "
                                 f"{out_of_state})")
                else:
                    notes.append(f"reset_recovered_school_weeks = {recovered}, but the case's state was never left")
            rule = self.rules.get(s.rule)
            repeat = tuple(getattr(rule, "repeat_after", ()) or ())
            if repeat and s.stage == top.stage:
                last_same = max((h for h in before if h.stage == s.stage), key=lambda h: h.letter_date)
                acted = [a for a in self.actions if a[0] == s.pupil and a[1] == s.ladder and a[2] in repeat
                         and a[3] >= last_same.letter_date]
                if acted:
                    self._sanctioned(s, f"repeat: {what}; repeat_after {'/'.join(repeat)}: the school recorded "
                                        f"{acted[-1][2]} on {acted[-1][3]}")
                    continue
                notes.append(f"rule {s.rule} repeats only after {'/'.join(repeat)}, none recorded since "
                             f"{last_same.letter_date}")
            self.add("1-stage", s.pupil, s.rule, s.file, "stage regression: " + what
                     + ("; " + "; ".join(notes) if notes else ""))

    def _sanctioned(self, s: Sent, text: str) -> None:
        line = f"week {self.week} (as of {self.as_of}) pupil {s.pupil} file {s.file}: {text}"
        if self.strict:
            self.add("1-stage", s.pupil, s.rule, s.file, "stage regression (strict): " + text)
        else:
            self.report.sanctioned.append((text.split(":")[0], line))

    def _school_weeks_between(self, earlier: dt.date, later: dt.date) -> int:
        """School weeks (Monday-Sunday weeks with a school day) after `earlier`'s week, up to `later`'s."""
        mondays = sorted({d - dt.timedelta(days=d.weekday()) for d in self.school.calendar.school_days})
        a = earlier - dt.timedelta(days=earlier.weekday())
        b = later - dt.timedelta(days=later.weekday())
        return sum(1 for m in mondays if a < m <= b)

    # -- 2: one letter per family per run --------------------------------------------------------

    def check_one_letter(self, written: list[dict]) -> None:
        kinds: dict[str, set[str]] = defaultdict(set)
        files: dict[str, list[str]] = defaultdict(list)
        for row in written:
            kinds[row["pupil_id"]].add(row["letter"])
            files[row["pupil_id"]].append(row["file"])
        for pupil, letters in sorted(kinds.items()):
            if len(letters) > 1:
                rules = sorted({r["rule_id"] for r in written if r["pupil_id"] == pupil})
                self.add("2-one-letter", pupil, ",".join(rules), ",".join(sorted(files[pupil])),
                         f"{len(letters)} letters to one family in one run: {', '.join(sorted(letters))}")

    # -- 3: penalty notices ----------------------------------------------------------------------

    def check_penalty(self, sent_now: list[Sent]) -> None:
        for s in sent_now:
            if s.letter != "penalty-notice-warning":
                continue
            three_years = self.as_of.replace(year=self.as_of.year - 3)
            earlier = [h for h in self.history if h.pupil == s.pupil and h.letter == "penalty-notice-warning"
                       and h.as_of > three_years]
            # the national framework: at most 2 penalty notices per child in a rolling 3 years, after which
            # another measure is used; a waived notice is not a notice, so a warning after one is allowed
            decided = [a for a in self.actions if a[0] == s.pupil and a[2] in ("notice-issued", "notice-waived")
                       and a[3] > three_years]
            issued = sum(1 for a in decided if a[2] == "notice-issued")
            if issued >= 2:
                kind = "after 2 notices issued: the policy's limit is broken"
                self.add("3-penalty", s.pupil, s.rule, s.file,
                         f"penalty-notice warning number {len(earlier) + 1} in 3 years, {kind}; earlier warnings "
                         + ", ".join(f"week {h.week} ({h.letter_date})" for h in earlier) + "; decisions recorded "
                         + (", ".join(f"{a[2]} {a[3]}" for a in decided) or "none"))

    # -- 4: letters only for recent events -------------------------------------------------------

    def check_age(self, written: list[dict]) -> None:
        done: set[tuple[str, str]] = set()
        for row in written:
            key = (row["pupil_id"], row["rule_id"])
            if key in done:
                continue
            done.add(key)
            first = D.fromisoformat(row["first_met_on"])
            age = self.school.calendar.school_days_between(first, self.as_of)
            if first > self.as_of:
                self.add("4-age", row["pupil_id"], row["rule_id"], row["file"],
                         f"first met on {first}, after the as-of date")
            elif age > 10:
                was = self.held.get((row["pupil_id"], row["rule_id"], row["first_met_on"]))
                if was and self.school.calendar.school_days_between(first, was[1]) <= 10:
                    continue  # held, while still recent, for the family's other letter: it keeps its place
                why = (f"; held in week {was[0]} (as of {was[1]}) for the family's other letter, "
                       f"{self.school.calendar.school_days_between(first, was[1])} school days after it was first met"
                       if was else "; never held for another letter")
                self.add("4-age", row["pupil_id"], row["rule_id"], row["file"],
                         f"event first met on {first}, {age} school days before the as-of date (limit 10){why}")

    # -- 5 and 6: what the letter says -----------------------------------------------------------

    def check_letter(self, row: dict, text: str) -> None:
        school, pid, rule_id, file = self.school, row["pupil_id"], row["rule_id"], row["file"]
        person = school.person(pid) if pid in school._by_id else None
        body = flat(text)
        self.tick("letters read")

        def bad(invariant: str, detail: str, excerpt: str = "") -> None:
            self.add(invariant, pid, rule_id, file, detail, excerpt)

        # 6: names
        for m in re.finditer(r"(^|[\s(])['’]s attendance", text, flags=re.M):
            bad("6-names", "blank name before 's attendance", _around(body, "'s attendance"))
        if re.search(r"Dear\s*,", text):
            bad("6-names", "blank salutation", _around(body, "Dear"))
        if person is None:
            bad("6-names", f"pupil {pid} is not in the register")
            return
        if person.forename not in text:
            bad("6-names", f"pupil's forename {person.forename!r} not in the letter", body[:200])
        if row.get("forename", "").strip() == "":
            bad("6-names", "empty forename in the manifest")

        # 5: figures
        year_fig = figures(school, pid, self.as_of)
        lessons = school.shape == "lessons"
        unit = "lessons" if lessons else "sessions"
        tabs = tables(text)
        fig = tabs.get("figures")
        if fig is not None:
            want = {"Attendance this school year": f"{year_fig.percent}%" if year_fig.percent else "no sessions yet",
                    f"Possible {unit}": f"{year_fig.possible:,}", f"{unit.capitalize()} attended": f"{year_fig.attended:,}",
                    f"{unit.capitalize()} missed without permission": f"{year_fig.unauthorised:,}",
                    "Times late": f"{year_fig.lates:,}", "Minutes lost to lateness": f"{year_fig.minutes:,}"}
            seen = set()
            self.tick("figures tables")
            self.tick("figures rows", len(fig.rows))
            for cells in fig.rows:
                if len(cells) != 2:
                    bad("5-figures", f"figures row not label/value: {cells}")
                    continue
                label, value = cells
                seen.add(label)
                if label == "Days missed":
                    if lessons:
                        bad("5-figures", "days missed printed for a lesson register", f"{label} {value}")
                    elif days_text_value(value) != year_fig.absences / 2:
                        bad("5-figures", f"figures table: Days missed {value}, marks give {year_fig.absences / 2:g}",
                            f"{label}  {value}")
                elif label in want:
                    if value != want[label]:
                        bad("5-figures", f"figures table: {label} {value}, marks give {want[label]}", f"{label}  {value}")
                else:
                    bad("5-figures", f"figures table: unknown row {label!r}")
            for label in want:
                if label not in seen:
                    bad("5-figures", f"figures table: no row {label!r}")
        self._check_sentences(body, pid, year_fig, bad)
        sessions = tabs.get("sessions")
        if sessions is not None:
            self._check_sessions(sessions, pid, rule_id, bad, body)
        self._check_dates(body, pid, bad)

    def _check_sentences(self, body: str, pid: str, year_fig: Figures, bad) -> None:
        school, as_of = self.school, self.as_of
        sy = as_of.year if as_of.month >= 8 else as_of.year - 1
        days = r"((?:[\d,]+½?|½) days?)"
        date = rf"((?:(?:{_DAYNAME}) )?\d{{1,2}} (?:{_MONTH})(?: \d{{4}})?)"

        def when(text: str) -> dt.date | None:
            return parse_date_text(text, sy)

        def finditer(pattern: str, text: str):
            for match in re.finditer(pattern, text):
                self.tick("sentences")
                yield match

        for m in finditer(rf"has (?:also )?missed {days} of (?:school|college)", body):
            if days_text_value(m.group(1)) != year_fig.absences / 2:
                bad("5-figures", f"sentence: days missed {m.group(1)}, marks give {year_fig.absences / 2:g} days",
                    _excerpt(body, m))
        for m in finditer(rf"\({days} missed\)", body):
            if days_text_value(m.group(1)) != year_fig.absences / 2:
                bad("5-figures", f"sentence: days missed {m.group(1)}, marks give {year_fig.absences / 2:g} days",
                    _excerpt(body, m))
        for m in finditer(r"(\d+\.\d{2})%", body):
            before = body[max(0, m.start() - 40):m.start()]
            if re.search(r"it has been $", before):
                continue  # the decline figure: checked below
            if before.rstrip().endswith("Attendance this school year"):
                continue  # the figures table (flattened)
            if m.group(1) != year_fig.percent:
                bad("5-figures", f"sentence: attendance {m.group(1)}%, marks give {year_fig.percent}%", _excerpt(body, m))
        for m in finditer(rf"since {date} it has been ([\d.]+)%", body):
            start = when(m.group(1))
            if start:
                f = figures(school, pid, as_of, start, as_of)
                if m.group(2) != f.percent:
                    bad("5-figures", f"sentence: attendance since {start} {m.group(2)}%, marks give {f.percent}%",
                        _excerpt(body, m))
        for m in finditer(r"has missed ([\d,]+) lessons?, ([\d,]+) of them without permission", body):
            if int(m.group(1).replace(",", "")) != year_fig.absences or int(m.group(2).replace(",", "")) != year_fig.unauthorised:
                bad("5-figures", f"sentence: {m.group(1)} lessons missed, {m.group(2)} unauthorised; marks give "
                    f"{year_fig.absences} and {year_fig.unauthorised}", _excerpt(body, m))
        for m in finditer(r"has missed ([\d,]+) lessons?: attendance", body):
            if int(m.group(1).replace(",", "")) != year_fig.absences:
                bad("5-figures", f"sentence: {m.group(1)} lessons missed, marks give {year_fig.absences}", _excerpt(body, m))
        # the rule's window
        for m in finditer(rf"has missed ([\d,]+) sessions? of school without permission since {date}\.", body):
            start = when(m.group(2))
            if start:
                n = count_marks(school, pid, as_of, start, as_of, categories={"unauthorised"})
                if int(m.group(1).replace(",", "")) != n:
                    bad("5-figures", f"sentence: {m.group(1)} unauthorised sessions since {start}, marks give {n}",
                        _excerpt(body, m))
        for m in finditer(rf"has missed ([\d,]+) sessions? of school without permission between {date} and {date}", body):
            a, b = when(m.group(2)), when(m.group(3))
            if a and b:
                n = count_marks(school, pid, as_of, a, b, codes={"G", "N", "O", "U"})
                if int(m.group(1).replace(",", "")) != n:
                    bad("5-figures", f"sentence: {m.group(1)} unauthorised sessions between {a} and {b}, marks give {n}",
                        _excerpt(body, m))
        for m in finditer(rf"has arrived late ([\d,]+) times? since {date}(?:, missing ([\d,]+) minutes?)?", body):
            start = when(m.group(2))
            if start:
                self._check_lates(pid, start, m, bad, body)
        for m in finditer(r"has (?:now )?been late ([\d,]+) times? this half term(?:, missing ([\d,]+) minutes?)?", body):
            term = school.calendar.half_term_of(as_of)
            if term:
                self._check_lates(pid, term[0], m, bad, body, minutes_group=2)
        for m in finditer(r"This includes ([\d,]+) sessions? \(mornings or afternoons\) without permission", body):
            if int(m.group(1).replace(",", "")) != year_fig.unauthorised:
                bad("5-figures", f"sentence: {m.group(1)} unauthorised sessions this year, marks give {year_fig.unauthorised}",
                    _excerpt(body, m))
        for m in finditer(rf"On {date} we wrote to you about \S+ absence without permission\. Since that letter, \S+ "
                             r"has missed ([\d,]+) more sessions? without permission", body):
            start = when(m.group(1))
            if start:
                n = count_marks(school, pid, as_of, start, as_of, categories={"unauthorised"})
                if int(m.group(2).replace(",", "")) != n:
                    bad("5-figures", f"sentence: {m.group(2)} more unauthorised sessions since the letter of {start}, "
                        f"marks give {n}", _excerpt(body, m))
        for m in finditer(rf"has been off ill for {days}", body):
            n = count_marks(school, pid, as_of, D(sy, 8, 1), as_of, codes={"I"})
            if days_text_value(m.group(1)) != n / 2:
                bad("5-figures", f"sentence: off ill for {m.group(1)}, marks give {n / 2:g} days (I sessions this year)",
                    _excerpt(body, m))
        for m in finditer(r"has missed ([\d,]+) lessons? through illness", body):
            n = count_marks(school, pid, as_of, D(sy, 8, 1), as_of, codes={"I"})
            if int(m.group(1).replace(",", "")) != n:
                bad("5-figures", f"sentence: {m.group(1)} lessons through illness, marks give {n}", _excerpt(body, m))
        for m in finditer(r"has missed ([\d,]+) lessons? this year without permission", body):
            if int(m.group(1).replace(",", "")) != year_fig.unauthorised:
                bad("5-figures", f"sentence: {m.group(1)} unauthorised lessons this year, marks give {year_fig.unauthorised}",
                    _excerpt(body, m))
        for m in finditer(r"([\d,]+) more missed lessons? would take it below", body):
            k = 1
            while 100 * year_fig.attended >= 95 * (year_fig.possible + k):
                k += 1
            if int(m.group(1).replace(",", "")) != k:
                bad("5-figures", f"sentence: {m.group(1)} more missed lessons would take attendance below 95%; "
                    f"marks give {k} ({year_fig.attended}/{year_fig.possible})", _excerpt(body, m))
        for m in finditer(rf"absent from school since {date}: ([\d,]+) school days? in a row", body):
            start = when(m.group(1))
            if start:
                self._check_day_run(pid, start, int(m.group(2).replace(",", "")), m, bad, body)
        for m in finditer(rf"absent from school from {date} to {date}: ([\d,]+) school days? in a row", body):
            start, end = when(m.group(1)), when(m.group(2))
            if start and end:
                self._check_day_run(pid, start, int(m.group(3).replace(",", "")), m, bad, body, end)
        for m in finditer(rf"You have missed ([\d,]+) lessons? in a row without permission, starting on {date}", body):
            start = when(m.group(2))
            if start:
                self._check_lesson_run(pid, start, int(m.group(1).replace(",", "")), m, bad, body)
        for m in finditer(rf"(?:at any of your timetabled sessions since|timetabled session for ([\d,]+) weeks?, since) {date}",
                             body):
            start = when(m.group(2))
            if start:
                self._check_no_attendance(pid, start, int(m.group(1)) if m.group(1) else None, m, bad, body)
        for m in finditer(rf"(?:at any of your timetabled sessions|timetabled session for ([\d,]+) weeks?,) from {date} "
                          rf"to {date}", body):
            start, end = when(m.group(2)), when(m.group(3))
            if start and end:
                self._check_no_attendance(pid, start, int(m.group(1)) if m.group(1) else None, m, bad, body, end)

    def _check_lates(self, pid: str, start: dt.date, m: re.Match, bad, body: str, minutes_group: int = 3) -> None:
        n, minutes = 0, 0
        for day, _slot, code, mins in self.school.view(self.as_of)[pid]:
            if code in LATE and start <= day <= self.as_of:
                n += 1
                minutes += mins or 0
        said = int(m.group(1).replace(",", ""))
        said_minutes = int(m.group(minutes_group).replace(",", "")) if m.group(minutes_group) else 0
        if said != n or said_minutes != minutes:
            bad("5-figures", f"sentence: late {said} times ({said_minutes} minutes) since {start}, marks give {n} "
                f"({minutes} minutes)", _excerpt(body, m))

    def _check_day_run(self, pid: str, start: dt.date, length: int, m: re.Match, bad, body: str,
                       end: dt.date | None = None) -> None:
        by_day: dict[dt.date, list[str | None]] = defaultdict(list)
        for day, _slot, code, _mins in self.school.view(self.as_of)[pid]:
            by_day[day].append(code)
        days = [d for d in self.school.calendar.school_days if start <= d <= self.as_of]
        if not days or days[0] != start:
            bad("5-figures", f"run start {start} is not a school day", _excerpt(body, m))
            return
        run, run_days = 0, []
        for d in days:
            codes = [c for c in by_day.get(d, []) if c is not None and self.school.codes[c] in POSSIBLE]
            if not codes:
                continue
            if all(self.school.codes[c] == "unauthorised" for c in codes):
                run += 1
                run_days.append(d)
            else:
                break
        if run < length:
            bad("5-figures", f"sentence: {length} school days absent in a row since {start}, marks give {run}",
                _excerpt(body, m))
        elif end is not None and run_days[length - 1] != end:
            bad("5-figures", f"sentence: {length} school days absent in a row from {start} to {end}, but the "
                f"{length}th of them is {run_days[length - 1]}", _excerpt(body, m))

    def _check_lesson_run(self, pid: str, start: dt.date, length: int, m: re.Match, bad, body: str) -> None:
        """From the first unauthorised lesson on `start`: `length` possible lessons in a row, all unauthorised."""
        run, begun = 0, False
        for day, _slot, code, _mins in self.school.view(self.as_of)[pid]:
            if day < start or code is None or self.school.codes[code] not in POSSIBLE:
                continue
            unauthorised = self.school.codes[code] == "unauthorised"
            if not begun:
                if day > start:
                    break  # no unauthorised lesson on the day the letter says the run started
                if not unauthorised:
                    continue
                begun = True
            if unauthorised:
                run += 1
            else:
                break
        if run < length:
            bad("5-figures", f"sentence: {length} lessons in a row without permission from {start}, marks give {run}",
                _excerpt(body, m))

    def _check_no_attendance(self, pid: str, start: dt.date, weeks: int | None, m: re.Match, bad, body: str,
                             end: dt.date | None = None) -> None:
        """No lesson attended from `start` to `end` (or to the as-of date: 'since'), and `weeks` weeks with
        timetabled lessons in that span."""
        upto = end or self.as_of
        span = f"from {start} to {end}" if end else f"since {start}"
        if end is not None and end > self.as_of:
            bad("5-figures", f"sentence: {span}, after the as-of date", _excerpt(body, m))
        attended = [(day, slot, code) for day, slot, code, _ in self.school.view(self.as_of)[pid]
                    if code is not None and start <= day <= upto and self.school.codes[code] in ATTENDED]
        if attended:
            day, slot, code = attended[0]
            bad("5-figures", f"sentence: no attendance {span}, but marked {code} on {day} {slot} "
                f"({len(attended)} lessons attended in that time)", _excerpt(body, m))
        if weeks is not None:
            mondays = {day - dt.timedelta(days=day.weekday()) for day, _s, code, _ in self.school.view(self.as_of)[pid]
                       if code is not None and start <= day <= upto and self.school.codes[code] in POSSIBLE}
            if len(mondays) != weeks and not attended:
                bad("5-figures", f"sentence: no attendance for {weeks} weeks {span}; marks give {len(mondays)} "
                    "weeks with timetabled lessons in that time, none attended", _excerpt(body, m))

    def _check_sessions(self, table: Table, pid: str, rule_id: str, bad, body: str) -> None:
        school = self.school
        view = {(day, slot): (code, mins) for day, slot, code, mins in school.view(self.as_of)[pid]}
        rule = self.rules.get(rule_id)
        sy = self.as_of.year if self.as_of.month >= 8 else self.as_of.year - 1
        selection = _selection(rule)
        self.tick("sessions tables")
        for cells in table.rows:
            self.tick("session rows")
            day = parse_date_text(cells[0], sy)
            if day is None:
                bad("5-figures", f"sessions table: unreadable date {cells[0]!r}")
                continue
            if table.headings[1] == "Morning":
                pairs = [("AM", cells[1]), ("PM", cells[2])]
            else:
                pairs = [(_lesson_slot(school, pid, day, cells[1]), cells[2])]
            for slot, cell in pairs:
                if not cell:
                    continue
                code, mins = mark_cell(cell)
                actual = view.get((day, slot)) if slot else None
                if actual is None:
                    bad("5-figures", f"sessions table: {day} {slot or cells[1]} {cell} is not in the register",
                        " | ".join(cells))
                    continue
                if actual[0] != code:
                    bad("5-figures", f"sessions table: {day} {slot} printed {code}, the register has {actual[0]}",
                        " | ".join(cells))
                elif mins is not None and mins != actual[1]:
                    bad("5-figures", f"sessions table: {day} {slot} {code} printed {mins} min late, the register has "
                        f"{actual[1]}", " | ".join(cells))
                covered = self.evidence.get(pid)
                if (rule is not None and rule.ladder_name == "medical" and covered is not None and day <= covered
                        and code == "I"):
                    bad("7-evidence", f"sessions table: {day} {slot} {code} listed as without evidence, but the "
                        f"school recorded evidence received covering absences up to {covered}", " | ".join(cells))
                if selection is not None and actual[0] == code and not selection(code, school.codes[code]):
                    bad("5-figures", f"sessions table: {day} {slot} {code} is not a mark rule {rule_id} counts",
                        " | ".join(cells))

    def _check_dates(self, body: str, pid: str, bad) -> None:
        school = self.school
        sy = self.as_of.year if self.as_of.month >= 8 else self.as_of.year - 1
        earlier = {h.letter_date for h in self.history if h.pupil == pid}
        for m in DATE_RE.finditer(body):
            self.tick("dates")
            name, day, month, year = m.groups()
            try:
                when = D(int(year) if year else (sy if MONTHS.index(month) + 1 >= 8 else sy + 1),
                         MONTHS.index(month) + 1, int(day))
            except ValueError:
                bad("5-dates", f"impossible date {m.group(0)!r}", _excerpt(body, m))
                continue
            if name and WEEKDAYS[when.weekday()] != name:
                bad("5-dates", f"{m.group(0)!r}: {when} is a {WEEKDAYS[when.weekday()]}", _excerpt(body, m))
            if not year:
                bad("5-dates", f"date without a year: {m.group(0)!r}", _excerpt(body, m))
            if when == self.letter_date or when in school.calendar.school_day_set:
                pass
            elif when in earlier:
                pass  # the date of an earlier letter to this family
            else:
                what = ("a weekend" if when.weekday() >= 5 else "a closure day (INSET)" if when in school.calendar.closures
                        else "a bank holiday" if when in BANK_HOLIDAYS else "a school holiday")
                bad("5-dates", f"date {when} ({m.group(0)}) is {what}, not a school day or the letter date",
                    _excerpt(body, m))
            # a letter that quotes an earlier letter: that letter must exist
            before, after = body[max(0, m.start() - 70):m.start()], body[m.end():m.end() + 30]
            quoted = (re.search(r"(?:wrote to you|contacted you)(?: about [^.]{0,50})? on $", before)
                      or (before.endswith("On ") and re.match(r" we (?:wrote|contacted)", after)))
            if quoted and when != self.letter_date and when not in earlier:
                bad("5-dates", f"quotes an earlier letter of {when}, but no letter went to this family that day "
                    f"(letters: {', '.join(str(d) for d in sorted(earlier)) or 'none'})", _excerpt(body, m))
        for m in SHORT_DATE_RE.finditer(body):
            try:
                when = D(int(m.group(3)), int(m.group(2)), int(m.group(1)))
            except ValueError:
                continue
            if when != self.letter_date and when not in school.calendar.school_day_set and when not in earlier:
                bad("5-dates", f"date {when} is not a school day", _excerpt(body, m))


def letter_text(path: Path) -> str | None:
    """The words of a letter file as a family reads them: a .txt as it is, an .eml's plain-text part
    (decoded: quoted-printable would split words and dates); None for a PDF."""
    if path.suffix == ".txt":
        return path.read_text(encoding="utf-8")
    if path.suffix == ".eml":
        import email
        from email import policy as email_policy

        message = email.message_from_bytes(path.read_bytes(), policy=email_policy.default)
        body = message.get_body(preferencelist=("plain",))
        return None if body is None else f"{message['Subject']}\n\n{body.get_content()}"
    return None


def _selection(rule):
    """What marks a rule's evidence should be: (code, category) -> bool, or None (not known)."""
    if rule is None:
        return None
    codes = set(getattr(rule, "codes", ()) or ())
    categories = set(getattr(rule, "categories", ()) or ())
    late = bool(getattr(rule, "late", False))
    if not (codes or categories or late):
        return None
    return lambda code, category: code in codes or category in categories or (late and code in LATE)


def _lesson_slot(school: School, pid: str, day: dt.date, text: str) -> str | None:
    """The period of the pupil's lesson that day printed as `text` (a period, start time or subject)."""
    for (weekday, period), lesson in school.lessons[pid].items():
        if weekday != day.weekday():
            continue
        if text in (period, lesson.start, f"{lesson.start}-{lesson.end}", f"{lesson.start}–{lesson.end}",
                    lesson.subject, lesson.group) or text.startswith(lesson.start):
            return period
        if text.replace(" ", "") == period:
            return period
    return None


def _excerpt(body: str, m: re.Match) -> str:
    return body[max(0, m.start() - 60):m.end() + 60]


def _around(body: str, needle: str) -> str:
    i = body.find(needle)
    return body[max(0, i - 60):i + 80] if i >= 0 else ""


SETTINGS = ("primary", "secondary", "college", "university")
INVARIANTS = ("0-run", "1-stage", "2-one-letter", "3-penalty", "4-age", "5-figures", "5-dates", "6-names", "7-evidence")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.replay", description=__doc__.split("\n\n")[0])
    parser.add_argument("setting", choices=[*SETTINGS, "all"])
    parser.add_argument("--keep", type=Path, help="write the files here (default: a temporary folder, removed)")
    parser.add_argument("--weeks", type=int, help="only the first N school weeks")
    parser.add_argument("--pupils", type=int, default=50)
    parser.add_argument("--examples", type=int, default=5, help="examples per invariant in the report")
    parser.add_argument("--json", type=Path, help="write every violation as JSON")
    parser.add_argument("--verbose", action="store_true", help="a line per week on stderr")
    parser.add_argument("--strict", action="store_true", help="count the stage repeats the policy allows (a ladder "
                        "restarted after quiet weeks, a repeat_after stage after the school's decision) as violations")
    parser.add_argument("--no-office", action="store_true", help="the school records no actions (case record)")
    args = parser.parse_args(argv)
    settings = SETTINGS if args.setting == "all" else (args.setting,)
    reports = []
    with tempfile.TemporaryDirectory(prefix="replay-") as tmp:
        base = args.keep or Path(tmp)
        for setting in settings:
            report = replay(setting, base / setting, pupils=args.pupils, weeks=args.weeks, quiet=not args.verbose,
                            office=not args.no_office, strict=args.strict)
            reports.append(report)
            print(report.text(args.examples))
            print()
    if args.json:
        args.json.write_text(json.dumps([{"setting": r.setting, **v.__dict__} for r in reports for v in r.violations],
                                        indent=1, ensure_ascii=False), encoding="utf-8")
    return 1 if any(r.violations for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
