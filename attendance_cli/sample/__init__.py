"""Synthetic register exports of three fictional schools, for demos, tests and benchmarks.

Everything here is invented. Names are random pairings from lists of common forenames and
surnames, and identifiers are random. The marks use the DfE register codes (2024 regulations) and
the college's lesson codes. The absence model is tuned so that a school year's figures look like
England's national averages. The files copy the quirks of real MIS exports: title and totals lines,
a byte-order mark, Windows-1252, a two-row grid header, a warehouse layout, ISO date-times.

    write_samples(Path("sample_data"))   # the same seed always gives byte-identical files
"""

from __future__ import annotations

import os
import random
import unicodedata
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import polars as pl

# --------------------------------------------------------------------------------------------
# Calendar (England, state schools): 2025/26 and the autumn term of 2026/27 up to "yesterday".


@dataclass(frozen=True)
class HalfTerm:
    """One half term: school days are the weekdays from start to end inclusive."""

    year: str  # "2025-26"
    name: str  # "autumn1"
    start: date
    end: date


HALF_TERMS = (
    HalfTerm("2025-26", "autumn1", date(2025, 9, 3), date(2025, 10, 24)),
    HalfTerm("2025-26", "autumn2", date(2025, 11, 3), date(2025, 12, 19)),
    HalfTerm("2025-26", "spring1", date(2026, 1, 5), date(2026, 2, 13)),
    HalfTerm("2025-26", "spring2", date(2026, 2, 23), date(2026, 3, 27)),
    HalfTerm("2025-26", "summer1", date(2026, 4, 13), date(2026, 5, 22)),
    HalfTerm("2025-26", "summer2", date(2026, 6, 1), date(2026, 7, 22)),
    HalfTerm("2026-27", "autumn1", date(2026, 9, 3), date(2026, 10, 23)),
    HalfTerm("2026-27", "autumn2", date(2026, 11, 2), date(2026, 11, 20)),  # data ends Fri 20 Nov 2026
)
BANK_HOLIDAYS = (date(2026, 5, 4),)
CLOSURE_DAYS = (date(2025, 11, 28), date(2026, 10, 16))  # planned closures (INSET): every mark `#`
SNOW_DAY = date(2026, 1, 13)
NEW_YEAR = date(2026, 9, 1)  # pupils move up a year


def _weekdays(start: date, end: date) -> list[date]:
    """Monday to Friday dates from start to end inclusive."""
    days, day = [], start
    while day <= end:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


#: Every school day in the data, in order; pupils' marks are lists indexed like this.
DAYS: list[date] = [d for ht in HALF_TERMS for d in _weekdays(ht.start, ht.end) if d not in BANK_HOLIDAYS]
INDEX: dict[date, int] = {d: i for i, d in enumerate(DAYS)}
#: (first, last + 1) day index of each half term, in calendar order.
SPANS: list[tuple[int, int]] = [(INDEX[ht.start], INDEX[max(d for d in DAYS if d <= ht.end)] + 1)
                                for ht in HALF_TERMS]
LAST = len(DAYS) - 1
RECENT = len(DAYS) - 5  # N (reason not yet provided) is mostly left on the last five school days
SHIFT = [1 if d >= NEW_YEAR else 0 for d in DAYS]  # added to a pupil's 2025/26 year group
END_OF_2025_26 = SPANS[5][1] - 1
END_OF_SUMMER1 = SPANS[4][1] - 1  # Year 11 (and the college's Year 13) leave after Summer 1

# Illness peaks in winter; unexplained absence clusters on Mondays, Fridays and term ends.
_ILL_MONTH = {9: 0.75, 10: 1.0, 11: 1.1, 12: 1.3, 1: 1.25, 2: 1.1, 3: 1.0, 4: 0.8, 5: 0.8, 6: 0.8, 7: 0.85}
_O_WEEKDAY = (1.2, 0.9, 0.85, 0.9, 1.2)
_O_MONTH = {9: 0.8, 12: 1.2, 7: 1.35}
ILL_FACTOR = [_ILL_MONTH[d.month] for d in DAYS]
O_FACTOR = [_O_WEEKDAY[d.weekday()] * _O_MONTH.get(d.month, 1.0) for d in DAYS]
WEEKDAY = [d.weekday() for d in DAYS]

# Religious festivals that fall on school days; some families of that faith take the day (code R).
FESTIVALS = {INDEX[date(2025, 10, 2)]: "jewish", INDEX[date(2025, 10, 20)]: "hindu",
             INDEX[date(2025, 11, 5)]: "sikh", INDEX[date(2026, 3, 20)]: "muslim",
             INDEX[date(2026, 9, 21)]: "jewish"}


def _breaks() -> list[tuple[int, int, float]]:
    """(last day before a holiday, first day after it, popularity) for term-time holidays."""
    weights = (1.0, 1.2, 0.8, 1.3, 0.7, 1.6, 1.0)  # Oct, Christmas, Feb, Easter, May, summer, Oct 2026
    return [(SPANS[k][1] - 1, SPANS[k + 1][0], weights[k]) for k in range(len(SPANS) - 1)]


BREAKS = _breaks()

# --------------------------------------------------------------------------------------------
# Names. The primary school's summer file is saved as Windows-1252, so its names must all be
# representable there; names with letters outside cp1252 go to the secondary school and college.

FORENAMES_CP1252 = (
    "Olivia", "Amelia", "Isla", "Ava", "Freya", "Lily", "Ivy", "Florence", "Grace", "Sophia", "Mia", "Zoë",
    "Chloé", "Siobhán", "Niamh", "Aoife", "Renée", "Amara", "Aisha", "Fatima", "Maryam", "Priya", "Anaya",
    "Zara", "Hannah", "Ella", "Ruby", "Evie", "Poppy", "Maya", "Noah", "Oliver", "George", "Arthur",
    "Muhammad", "Leo", "Harry", "Oscar", "Archie", "Henry", "Theo", "Jack", "Charlie", "Freddie", "Alfie",
    "Thomas", "Jacob", "Isaac", "Adam", "Yusuf", "Ibrahim", "Rohan", "Arjun", "Kai", "Tomás", "Seán",
    "Jakub", "Szymon", "Chidi", "Tobi", "Kwame", "Mateo", "José", "Noé", "Anaïs", "Björn", "Zoe", "Joël",
)
FORENAMES_WIDE = (
    "Łukasz", "Oğuz", "Zofia", "Małgorzata", "Wojciech", "Bartłomiej", "Ayşe", "Gökhan", "Çağrı", "Thảo",
    "Quỳnh", "Đức", "Weronika", "Jędrzej", "Radosław", "Ştefan", "Iulia", "Andreea", "Minh", "Beyzanur",
)
SURNAMES_CP1252 = (
    # the first twenty are the most common and drawn three times as often
    "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas", "Johnson",
    "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards", "Hughes", "Green", "Hall",
    "Lewis", "Harris", "Clarke", "Patel", "Jackson", "Wood", "Turner", "Martin", "Cooper", "Hill", "Ward",
    "Morris", "Moore", "Clark", "Lee", "King", "Baker", "Harrison", "Morgan", "Allen", "James", "Scott",
    "Phillips", "Watson", "Davis", "Parker", "Price", "Bennett", "Young", "Griffiths", "Mitchell", "Kelly",
    "Cook", "Carter", "Richardson", "Bailey", "Collins", "Bell", "Shaw", "Murphy", "Khan", "Ahmed", "Ali",
    "Hussain", "Begum", "Rahman", "Singh", "Kaur", "Shah", "Sharma", "Okafor", "Adeyemi", "Mensah", "Osei",
    "Nowak", "Kowalczyk", "Wójcik", "O’Brien", "O’Connor", "O’Neill", "Byrne", "Müller", "da Silva",
    "Santos", "Fernández", "García", "Nguyen", "Chen", "Wang", "Popescu", "Öztürk", "Cohen", "Levy",
    "Smith-Jones", "Ahmed-Patel", "De Souza", "Van der Berg", "Brontë",
)
SURNAMES_WIDE = ("Nguyễn", "Trần", "Wiśniewski", "Dąbrowska", "Błaszczyk", "Yılmaz", "Şahin", "Dvořák",
                 "Kovačević", "Lê")
FAITHS = {"Khan": "muslim", "Ahmed": "muslim", "Ali": "muslim", "Hussain": "muslim", "Begum": "muslim",
          "Rahman": "muslim", "Yılmaz": "muslim", "Şahin": "muslim", "Patel": "hindu", "Shah": "hindu",
          "Sharma": "hindu", "Singh": "sikh", "Kaur": "sikh", "Cohen": "jewish", "Levy": "jewish"}
TREES = (("Hazel", "Holly"), ("Oak", "Ash"), ("Birch", "Beech"), ("Elm", "Maple"), ("Rowan", "Willow"),
         ("Cedar", "Larch"), ("Alder", "Yew"))  # Reception .. Year 6, two classes each


def _weights(names: tuple[str, ...], common: int) -> list[float]:
    return [3.0 if i < common else 1.0 for i in range(len(names))]


# --------------------------------------------------------------------------------------------
# Pupils and their absence propensity.


@dataclass(frozen=True)
class Profile:
    """How a school's pupils behave; tuned so a year's figures look like national ones."""

    mean: float  # mean absence propensity of the ordinary majority
    shape: float  # gamma shape: smaller is more skewed
    severe: float  # share of pupils who miss half their sessions or more
    unauth: float  # usual unauthorised share of a pupil's own absence
    holiday: float  # share of families taking a term-time holiday in a school year
    late_prone: float  # share of pupils who are often late
    snow: float  # share of pupils kept at home by the snow (Y2)


PRIMARY = Profile(mean=0.047, shape=1.2, severe=0.012, unauth=0.17, holiday=0.11, late_prone=0.05, snow=0.8)
SECONDARY = Profile(mean=0.06, shape=3.5, severe=0.037, unauth=0.28, holiday=0.06, late_prone=0.07,
                    snow=0.85)
COLLEGE = Profile(mean=0.034, shape=1.5, severe=0.012, unauth=0.45, holiday=0.05, late_prone=0.08, snow=1.0)


@dataclass
class Family:
    """Siblings share a surname and their term-time holidays."""

    surname: str
    holidays: list[tuple[int, int, str]] = field(default_factory=list)  # (first day, days, code)
    years: list[int] = field(default_factory=list)  # children's year groups, to keep siblings apart

    @property
    def faith(self) -> str | None:
        return FAITHS.get(self.surname)


@dataclass
class Pupil:
    """A pupil on roll from day `first` to day `last` (indices into DAYS), with their marks."""

    pid: str
    forename: str
    family: Family
    year0: int  # year group in 2025/26: 0 = Reception, -1 = joins Reception in Sept 2026, 12-13 college
    form: int  # class or form index within the year group
    first: int
    last: int
    upn: str = ""
    rate: float = 0.0
    unauth: float = 0.0
    severe: bool = False
    late: float = 0.0
    sporty: bool = False
    work_experience: bool = False
    dual_day: int | None = None  # weekday at the other school (D)
    provision_day: int | None = None  # weekday at LA-arranged provision (K)
    part_time: tuple[int, int] | None = None  # Reception PM not required (X), days [a, b)
    reduced: tuple[int, int] | None = None  # reduced timetable, PM C2, days [a, b)
    overrides: dict[tuple[int, int], str] = field(default_factory=dict)  # (day, 0=AM/1=PM) -> code
    am: list[str | None] = field(default_factory=list)
    pm: list[str | None] = field(default_factory=list)
    am_min: list[int | None] = field(default_factory=list)
    pm_min: list[int | None] = field(default_factory=list)

    @property
    def surname(self) -> str:
        return self.family.surname

    def year(self, day: int) -> int:
        return self.year0 + SHIFT[day]

    def on_roll(self, lo: int, hi: int) -> range:
        """The pupil's day indices within [lo, hi)."""
        return range(max(lo, self.first), min(hi, self.last + 1))


Label = Callable[["Pupil", int], str]  # a pupil's year group or form on a given day


def _propensity(rng: random.Random, prof: Profile, pupil: Pupil, factor: float = 1.0) -> None:
    """Draw a pupil's absence rate (skewed, with a severe tail) and its unauthorised share."""
    if rng.random() < prof.severe:
        pupil.severe, pupil.rate = True, rng.uniform(0.55, 0.95)
    else:
        pupil.rate = min(0.45, factor * rng.gammavariate(prof.shape, prof.mean / prof.shape))
    # Pupils who miss more have a larger unexplained (unauthorised) share, as nationally.
    bump = 0.3 if pupil.rate >= 0.3 else 0.15 if pupil.rate >= 0.1 else 0.0
    pupil.unauth = min(0.95, max(0.02, prof.unauth + bump + rng.gauss(0.0, 0.1)))
    often_late = rng.random() < prof.late_prone
    pupil.late = rng.uniform(0.08, 0.3) if often_late else rng.uniform(0.0, 0.02)


def _plan_holidays(rng: random.Random, family: Family, share: float) -> None:
    """Term-time holidays of 3-10 school days placed next to a half term or holiday."""
    lengths, weights = (3, 4, 5, 6, 7, 8, 9, 10), (1, 1.5, 3, 1, 1, 1, 0.7, 1.5)
    for year_breaks in (BREAKS[:6], BREAKS[6:]):  # 2025/26, then the October 2026 half term
        if rng.random() >= share * (1.0 if len(year_breaks) > 1 else 0.4):
            continue
        last, first, _ = rng.choices(year_breaks, [w for *_, w in year_breaks])[0]
        n = rng.choices(lengths, weights)[0]
        start = last - n + 1 if rng.random() < 0.6 else first  # leave early, or come back late
        code = "C" if rng.random() < 0.12 else "G"  # a few are granted as exceptional circumstances
        family.holidays.append((start, n, code))


def _runs(rng: random.Random, lo: int, hi: int, frac: float, lengths: tuple[int, ...],
          cum: list[float], factor: list[float]) -> list[tuple[int, int]]:
    """Spells (start, length) covering about `frac` of the days in [lo, hi)."""
    if frac <= 0 or hi <= lo:
        return []
    frac = min(frac, 0.9)
    mean_len = _mean_length(lengths, cum)
    hazard = frac / (mean_len * (1.0 - frac))  # renewal process: in-spell share = L / (L + 1/h)
    runs, day = [], lo
    while day < hi:
        if rng.random() < hazard * factor[day]:
            n = rng.choices(lengths, cum_weights=cum)[0]
            runs.append((day, min(n, hi - day)))
            day += n + 1
        else:
            day += 1
    return runs


def _mean_length(lengths: tuple[int, ...], cum: list[float]) -> float:
    probs = [cum[0]] + [b - a for a, b in zip(cum, cum[1:])]
    return sum(n * p for n, p in zip(lengths, probs)) / cum[-1]


def _cum(weights: tuple[float, ...]) -> list[float]:
    out, total = [], 0.0
    for w in weights:
        total += w
        out.append(total)
    return out


ILL_LEN, ILL_CUM = (1, 2, 3, 4, 5, 6), _cum((38, 26, 16, 10, 6, 4))
O_LEN, O_CUM = (1, 2, 3), _cum((70, 20, 10))
LONG_LEN, LONG_CUM = tuple(range(3, 16)), _cum(tuple(1.0 for _ in range(3, 16)))
SHORT_LEN, SHORT_CUM = (1, 2, 3, 4), _cum((55, 28, 12, 5))  # sixth-formers' illnesses are shorter


def _late_minutes(rng: random.Random, low: int = 1, high: int = 25) -> int:
    """Mostly a few minutes late, sometimes many."""
    return min(high, low + int(rng.expovariate(1 / 5)))


# --------------------------------------------------------------------------------------------
# Session registers (primary and secondary): simulate each pupil's AM and PM marks.


@dataclass
class School:
    """School-wide events that shape individual marks."""

    profile: Profile
    trips: dict[int, list[tuple[int, int | None, float]]] = field(default_factory=dict)  # day -> (year, form, share)
    fixtures: frozenset[int] = frozenset()  # days with afternoon sports fixtures (P)
    study_leave: tuple[int, int] | None = None  # Year 11 study leave (S), days [a, b)
    work_experience: tuple[int, int] | None = None  # Year 10 work experience week (W), days [a, b)


def _simulate(rng: random.Random, p: Pupil, school: School) -> None:
    """Fill the pupil's AM/PM marks and minutes late for every day on roll."""
    n = len(DAYS)
    p.am, p.pm, p.am_min, p.pm_min = [None] * n, [None] * n, [None] * n, [None] * n
    days = p.on_roll(0, n)
    am, pm, am_min, pm_min = p.am, p.pm, p.am_min, p.pm_min
    for i in days:
        am[i], pm[i] = "/", "\\"

    # Planned things first: trips, fixtures, festivals, part-time and other-site days.
    faith = p.family.faith
    for i in days:
        year = p.year(i)
        for trip_year, form, share in school.trips.get(i, ()):
            if trip_year == year and form in (None, p.form) and rng.random() < share:
                am[i] = pm[i] = "V"
        if i in school.fixtures and p.sporty and rng.random() < 0.4:
            pm[i] = "P"
        if faith and FESTIVALS.get(i) == faith and rng.random() < 0.5:
            am[i] = pm[i] = "R"
        if school.study_leave and year == 11 and school.study_leave[0] <= i < school.study_leave[1]:
            am[i] = "S" if rng.random() < 0.6 else am[i]
            pm[i] = "S" if rng.random() < 0.6 else pm[i]
        if (school.work_experience and year == 10 and p.work_experience
                and school.work_experience[0] <= i < school.work_experience[1]):
            am[i] = pm[i] = "W"
        if p.provision_day == WEEKDAY[i]:
            am[i] = pm[i] = "K"
        if p.reduced and p.reduced[0] <= i < p.reduced[1]:
            pm[i] = "C2"
        if p.part_time and p.part_time[0] <= i < p.part_time[1]:
            pm[i] = "X"
        if p.dual_day == WEEKDAY[i]:
            am[i] = pm[i] = "D"

    # Absence spells. D and X days belong to someone else's register, so spells skip them.
    def absent(i: int, code: str, sessions: tuple[bool, bool] = (True, True)) -> None:
        if sessions[0] and am[i] not in ("D", "X"):
            am[i] = code
        if sessions[1] and pm[i] not in ("D", "X"):
            pm[i] = code

    auth, unauth = p.rate * (1 - p.unauth), p.rate * p.unauth
    lo, hi = p.first, p.last + 1
    ill_len, ill_cum = (LONG_LEN, LONG_CUM) if p.severe else (ILL_LEN, ILL_CUM)
    for start, length in _runs(rng, lo, hi, auth * 0.86, ill_len, ill_cum, ILL_FACTOR):
        if length == 1 and rng.random() < 0.2:  # sent home at lunchtime
            absent(start, "I", (False, True))
            continue
        for i in range(start, start + length):
            absent(i, "I")
    o_len, o_cum = (LONG_LEN, LONG_CUM) if p.severe else (O_LEN, O_CUM)
    for start, length in _runs(rng, lo, hi, unauth * 0.8, o_len, o_cum, O_FACTOR):
        for i in range(start, start + length):
            absent(i, "O")
    for start, length, code in p.family.holidays:
        for i in range(max(start, lo), min(start + length, hi)):
            absent(i, code)

    # Single sessions: appointments, late arrivals (after the register closed is absence).
    medical, after_close = auth * 0.14, unauth * 0.3
    for i in days:
        if am[i] == "/":
            r = rng.random()
            if r < medical:
                am[i] = "M"
            elif r < medical + after_close:
                am[i], am_min[i] = "U", rng.randint(26, 60)
            elif r < medical + after_close + p.late:
                am[i], am_min[i] = "L", _late_minutes(rng)
        if pm[i] == "\\":
            r = rng.random()
            if r < medical:
                pm[i] = "M"
            elif r < medical + p.late * 0.1:
                pm[i], pm_min[i] = "L", _late_minutes(rng)
        if am[i] == "O" and rng.random() < 0.01:  # an old N that was never resolved
            am[i] = "N"
            pm[i] = "N" if pm[i] == "O" else pm[i]
    for (i, session), code in p.overrides.items():
        if lo <= i < hi:
            marks, minutes = (am, am_min) if session == 0 else (pm, pm_min)
            marks[i], minutes[i] = code, None

    # Recent absences have no reason yet: the office chases them this week.
    for i in range(max(lo, RECENT), hi):
        for marks in (am, pm):
            if marks[i] in ("I", "O") and rng.random() < 0.6:
                marks[i] = "N"

    # Whole-school days come last: they overrule everything.
    for day in CLOSURE_DAYS:
        i = INDEX[day]
        if lo <= i < hi:
            am[i] = pm[i] = "#"
            am_min[i] = pm_min[i] = None
    i = INDEX[SNOW_DAY]
    if lo <= i < hi:
        am[i], pm[i] = ("Y2", "Y2") if rng.random() < school.profile.snow else ("/", "\\")
        am_min[i] = pm_min[i] = None


def _unmarked(rng: random.Random, pupils: list[Pupil], form_of: Label, blank_forms: set[str]) -> None:
    """Registers not yet taken: PM of the last day for some forms, a handful of `-` and blanks."""
    for p in pupils:
        if p.last == LAST and form_of(p, LAST) in blank_forms:
            p.pm[LAST] = p.pm_min[LAST] = None
    special = {INDEX[d] for d in (*CLOSURE_DAYS, SNOW_DAY)}
    for mark in ("-",) * 6 + (None,) * 3:
        p = rng.choice(pupils)
        i = rng.randint(p.first, p.last)
        if i in special:
            continue
        if rng.random() < 0.5:
            p.am[i], p.am_min[i] = mark, None
        else:
            p.pm[i], p.pm_min[i] = mark, None


def _pick_family(rng: random.Random, families: list[Family], year: int, surnames: tuple[str, ...],
                 weights: list[float], sibling_share: float, holiday: float) -> Family:
    """An existing family with no child in this year (a sibling), or a new one."""
    if families and rng.random() < sibling_share:
        for _ in range(3):
            fam = rng.choice(families)
            if year not in fam.years:
                fam.years.append(year)
                return fam
    fam = Family(rng.choices(surnames, weights)[0], years=[year])
    _plan_holidays(rng, fam, holiday)
    families.append(fam)
    return fam


def _upn(rng: random.Random, serial: int, issued: int) -> str:
    """A fictional UPN (LA code 999 does not exist) with a check letter by the DfE rule."""
    digits = f"999{rng.randint(2000, 2999)}{issued % 100:02d}{serial % 1000:03d}"
    total = sum(int(c) * w for c, w in zip(digits, range(2, 14)))
    return "ABCDEFGHJKLMNPQRTUVWXYZ"[total % 23] + digits


def _day(on: date) -> int:
    return INDEX[on]


# --------------------------------------------------------------------------------------------
# Oakfield Primary Academy


def _primary_pupils(rng: random.Random) -> list[Pupil]:
    """About 300 pupils (Reception to Year 6), plus the September 2026 Reception intake."""
    prof = PRIMARY
    weights = _weights(SURNAMES_CP1252, 20)
    families: list[Family] = []
    pupils: list[Pupil] = []
    number = rng.randint(100, 140)
    for year0 in (6, 5, 4, 3, 2, 1, 0, -1):  # oldest first, so older pupils have lower ids
        for k in range(rng.randint(42, 44)):
            number += rng.randint(1, 3)
            fam = _pick_family(rng, families, year0, SURNAMES_CP1252, weights, 0.3, prof.holiday)
            first = _day(date(2026, 9, 3)) if year0 == -1 else 0
            last = END_OF_2025_26 if year0 == 6 else LAST
            pupil = Pupil(f"{number:06d}", rng.choice(FORENAMES_CP1252), fam, year0, k % 2, first, last)
            pupil.upn = _upn(rng, number, 2019 + 6 - year0)
            pupils.append(pupil)
    # Leavers during 2025/26 and joiners (2025/26 and this autumn): ids continue upwards.
    settled = [p for p in pupils if 0 <= p.year0 <= 5]
    for p in rng.sample(settled, 7):
        p.last = rng.randint(20, END_OF_2025_26 - 5)
    for k in range(10):
        number += rng.randint(1, 3)
        if k < 8:
            year0, first = rng.randint(0, 5), rng.randint(10, END_OF_2025_26 - 20)
        else:
            year0, first = rng.randint(0, 4), rng.randint(SPANS[6][0] + 8, SPANS[7][0] - 1)
        fam = _pick_family(rng, families, year0, SURNAMES_CP1252, weights, 0.1, prof.holiday)
        pupil = Pupil(f"{number:06d}", rng.choice(FORENAMES_CP1252), fam, year0, rng.randint(0, 1), first, LAST)
        pupil.upn = _upn(rng, number, 2020)
        pupils.append(pupil)
    # Two names the tests look for in the cp1252 summer file, on pupils who stay all year.
    stayers = [p for p in pupils if p.first == 0 and p.last == LAST]
    stayers[0].family.surname = "O’Brien"
    stayers[1].forename = "Zoë"

    for p in pupils:
        _propensity(rng, prof, p, 1.1 if p.year0 <= 0 else 1.0)  # Reception catches everything going
        p.sporty = rng.random() < 0.12
    # A few Reception children are not yet of compulsory school age and come mornings only (X),
    # and some of September 2026's starters have a staggered start.
    for p in rng.sample([p for p in pupils if p.year0 == 0 and p.first == 0], 3):
        p.part_time = (0, SPANS[0][1])
    for p in rng.sample([p for p in pupils if p.year0 == -1], 6):
        p.part_time = (SPANS[6][0], SPANS[6][0] + rng.randint(5, 10))
    reduced = rng.choice([p for p in pupils if p.year0 == 3])
    start = rng.randint(SPANS[2][0], SPANS[3][0])
    reduced.reduced = (start, start + 15)
    # Rare one-off codes.
    extras = [("E", 1), ("E", 1), ("C1", 2), ("T", 4), ("Y1", 1), ("B", 1), ("B", 1), ("C", 2), ("C", 1)]
    for code, length in extras:
        p = rng.choice([p for p in pupils if p.year0 >= 1 and p.first == 0])
        start = rng.randint(p.first, min(p.last, END_OF_2025_26) - length)
        for i in range(start, start + length):
            for session in ((0,) if code == "Y1" else (0, 1)):
                p.overrides[(i, session)] = code
    return sorted(pupils, key=lambda p: p.pid)


def _primary_school(rng: random.Random) -> School:
    """Class trips and sports fixtures for the primary."""
    school = School(PRIMARY)
    for lo, hi in ((0, END_OF_2025_26 + 1), (SPANS[6][0], len(DAYS))):  # a class trip each year
        for year in range(0, 7):
            for form in (0, 1):
                # not in the first fortnight: new classes settle in first
                school.trips.setdefault(rng.randint(lo + 10, hi - 1), []).append((year, form, 0.95))
    school.fixtures = frozenset(rng.sample(range(len(DAYS)), 14))
    return school


def _primary_form(p: Pupil, day: int) -> str:
    return TREES[p.year(day)][p.form]


def _primary_year(p: Pupil, day: int) -> str:
    year = p.year(day)
    return "Reception" if year == 0 else f"Year {year}"


def _primary_files(rng: random.Random) -> dict[str, bytes]:
    pupils = _primary_pupils(rng)
    school = _primary_school(rng)
    for p in pupils:
        _simulate(rng, p, school)
    blank = set(rng.sample([c for pair in TREES for c in pair], 5))
    _unmarked(rng, pupils, _primary_form, blank)

    files: dict[str, bytes] = {}
    header = ["Student ID", "UPN", "Legal Surname", "Legal Forename", "Year Group", "Registration Form",
              "Date", "Session", "Mark", "Minutes Late"]

    def long(lo: int, hi: int) -> tuple[str, int]:
        cols = _arbor_long(pupils, lo, hi, _primary_year, _primary_form, upn=True)
        return _csv(dict(zip(header, cols))), len(cols[0])

    text, n = long(SPANS[0][0], SPANS[1][1])
    files["primary_arbor_2025-26_autumn.csv"] = (
        "Oakfield Primary Academy - Attendance marks\n"
        f"Date range: 01/09/2025 - {HALF_TERMS[1].end:%d/%m/%Y}\n"
        + text + "\n" + f"Total marks,,,,,,,,{n},\n" + "Key: / present AM; \\ present PM; L late; # closure\n"
    ).encode("utf-8")
    text, _ = long(SPANS[2][0], SPANS[3][1])
    files["primary_arbor_2025-26_spring.csv"] = ("\ufeff" + text).encode("utf-8")
    text, _ = long(SPANS[4][0], SPANS[5][1])
    files["primary_arbor_2025-26_summer.csv"] = text.replace("\n", "\r\n").encode("cp1252")
    files["primary_arbor_2026-27_autumn_grid.csv"] = _primary_grid(pupils).encode("utf-8")
    # The weekly export overlaps the grid; its rows carry the minutes late the grid cannot hold.
    files["primary_arbor_2026-27_week-47.csv"] = long(INDEX[date(2026, 11, 16)], LAST + 1)[0].encode("utf-8")
    # guardians and the school's details, for letters (their own generator: the exports stay as they were)
    files["primary_contacts.csv"] = _contacts(random.Random("contacts/primary"), pupils).encode("utf-8")
    files["primary_school.toml"] = PRIMARY_SCHOOL.encode("utf-8")
    files["primary_requests.csv"] = PRIMARY_REQUESTS.encode("utf-8")
    return files


#: Leave and absence requests to the sample primary school (synthetic; pupils of its registers), for
#: `attendance requests`: exceptional leave with too little notice, an appointment, two days of a
#: religious festival (the policy grants one a festival), a funeral, and a holiday.
PRIMARY_REQUESTS = """Request ID,Student ID,Type,From,To,Session,Reason,Details,Date Received
LR-0001,000192,Exceptional circumstances,14/12/2026,18/12/2026,,Family wedding abroad,"Hannah's aunt is getting married in Lagos; flights booked for the 12th.",20/11/2026
LR-0002,000198,Medical appointment,01/12/2026,01/12/2026,AM,Orthodontist,Appointment card attached.,23/11/2026
LR-0003,000194,Religious observance,21/12/2026,22/12/2026,,Festival,Two days of the festival.,16/11/2026
LR-0004,000201,Exceptional circumstances,07/12/2026,09/12/2026,,Funeral,"Following the bereavement of her grandmother, the family are travelling to the funeral.",25/11/2026
LR-0005,000201,Illness,23/11/2026,24/11/2026,,Unwell,Sickness bug.,23/11/2026
LR-0006,000201,Other,30/11/2026,30/11/2026,PM,Moving house,,27/11/2026
LR-0007,000203,Exceptional circumstances,11/01/2027,22/01/2027,,Holiday,Family holiday to Florida - cheaper in January.,02/12/2026
"""

PRIMARY_SCHOOL = """# The sample primary school's details, printed on its letters (synthetic).
name = "Oakfield Primary Academy"
address = ["Oakfield Lane", "Brookmere", "ZZ99 1AA"]
telephone = "01632 960100"
email = "attendance@oakfield.example.org"
signatory = "Mrs R. Okafor"
signatory_role = "Attendance Lead"
headteacher = "Mr D. Ellison"
"""
STREETS = ("Mill Road", "Church Lane", "Station Road", "Orchard Close", "Victoria Street", "Meadow View",
           "Elm Grove", "Park Avenue", "Brook Street", "Willow Way")
TITLES = (("Mrs", "Mother"), ("Ms", "Mother"), ("Mr", "Father"), ("Mx", "Parent"))
#: Guardians' own forenames (grown-ups' names, not the pupils'), for the title each goes with: a
#: mother's (Mrs, Ms), a father's (Mr), or one worn by anyone (Mx). All representable in cp1252.
GUARDIAN_FORENAMES = {
    "Mother": ("Sarah", "Emma", "Laura", "Rebecca", "Claire", "Nicola", "Joanne", "Gemma", "Rachel", "Kirsty",
               "Nadia", "Shabana", "Farida", "Sunita", "Deepa", "Ngozi", "Adaeze", "Abena", "Agnieszka", "Magda",
               "Ioana", "Siân", "Bríd", "Mairéad", "Leticia", "Inês", "Mei", "Hülya", "Chantelle", "Louise"),
    "Father": ("David", "Mark", "Paul", "Andrew", "Richard", "Daniel", "Stephen", "Craig", "Gareth", "Lee",
               "Imran", "Tariq", "Nadeem", "Rajesh", "Sanjay", "Emeka", "Kofi", "Olumide", "Piotr", "Tomasz",
               "Mihai", "Dafydd", "Ciarán", "Pádraig", "Carlos", "João", "Wei", "Mehmet", "Darren", "Stuart"),
    "Parent": ("Alex", "Sam", "Jordan", "Robin", "Jamie", "Morgan", "Ashley", "Riley", "Avery", "Frankie"),
}


def _contacts(rng: random.Random, pupils: list[Pupil]) -> str:
    """Guardians for the pupils on roll this year: most have two (one now and then without parental
    responsibility, or living apart at another address), a few have none on file, many have e-mail."""
    header = ["Student ID", "Contact Name", "Relationship", "Parental Responsibility", "Salutation", "Email",
              "Address 1", "Town", "Postcode"]
    lines = [_csv_line(header)]
    names = random.Random("contacts/names")  # their own generator: who has which guardian stays as it was
    for p in sorted((p for p in pupils if p.last >= SPANS[6][0]), key=lambda p: p.pid):
        roll = rng.random()
        if roll < 0.05:
            continue  # no contact on file
        home = (f"{rng.randint(1, 180)} {rng.choice(STREETS)}", "Brookmere", f"ZZ99 {rng.randint(1, 9)}{rng.choice('ABDEFG')}{rng.choice('HJLNPQ')}")
        count = 1 if roll < 0.45 else 2
        for number in range(count):
            title, relationship = TITLES[rng.randrange(2)] if number == 0 else TITLES[2 + (rng.random() < 0.1)]
            surname = p.surname if rng.random() < 0.85 else rng.choice(SURNAMES_CP1252)
            rng.choice(FORENAMES_CP1252)  # the draw that once named the guardian, kept so the rest stays as it was
            forename = names.choice([name for name in GUARDIAN_FORENAMES[relationship] if name != p.forename])
            apart = number == 1 and rng.random() < 0.2
            address = (f"{rng.randint(1, 180)} {rng.choice(STREETS)}", "Brookmere", "ZZ99 3CD") if apart else home
            plain = unicodedata.normalize("NFKD", forename).encode("ascii", "ignore").decode().lower() or "parent"
            email = f"{plain}.{number + 1}{p.pid[-3:]}@example.org" if rng.random() < 0.7 else ""
            pr = "No" if number == 1 and rng.random() < 0.1 else "Yes"
            lines.append(_csv_line([p.pid, f"{title} {forename} {surname}", relationship, pr, f"{title} {surname}",
                                    email, *address]))
    return "".join(line + "\n" if not line.endswith("\n") else line for line in lines)


def _primary_grid(pupils: list[Pupil]) -> str:
    """Arbor's wide grid: a row per pupil, two header rows (date above AM, then AM/PM)."""
    lo, hi = SPANS[6][0], LAST + 1
    on_roll = [p for p in pupils if p.first < hi and p.last >= lo]
    on_roll.sort(key=lambda p: (p.year(hi - 1), p.form, p.surname, p.forename, p.pid))
    first = ["Student ID", "Legal Surname", "Legal Forename", "Year Group", "Registration Form"]
    second = [""] * 5
    for i in range(lo, hi):
        first += [f"{DAYS[i]:%a %d/%m/%Y}", ""]
        second += ["AM", "PM"]
    lines = [_csv_line(first), _csv_line(second)]
    for p in on_roll:
        row = [p.pid, p.surname, p.forename, _primary_year(p, hi - 1), _primary_form(p, hi - 1)]
        for i in range(lo, hi):
            if i < p.first:
                row += ["Z", "Z"]  # not yet on roll: Arbor shows the prospective-pupil code
            elif i > p.last:
                row += ["", ""]
            else:
                row += [p.am[i] or "", p.pm[i] or ""]
        lines.append(_csv_line(row))
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Riverside Academy (secondary)

SECONDARY_YEAR_FACTOR = {7: 0.8, 8: 0.95, 9: 1.05, 10: 1.12, 11: 1.12}


def _secondary_pupils(rng: random.Random) -> list[Pupil]:
    """About 1,000 pupils in Years 7-11, plus the September 2026 Year 7 intake."""
    prof = SECONDARY
    surnames = SURNAMES_CP1252 + SURNAMES_WIDE
    forenames = FORENAMES_CP1252 + FORENAMES_WIDE
    weights = _weights(surnames, 20)
    families: list[Family] = []
    pupils: list[Pupil] = []
    number = 10000 + rng.randint(1, 30)
    for year0 in (11, 10, 9, 8, 7, 6):
        for k in range(rng.randint(196, 204)):
            number += rng.randint(1, 4)
            fam = _pick_family(rng, families, year0, surnames, weights, 0.15, prof.holiday)
            first = _day(date(2026, 9, 3)) if year0 == 6 else 0
            last = END_OF_SUMMER1 if year0 == 11 else LAST
            pupils.append(Pupil(f"S{number}", rng.choice(forenames), fam, year0, k % 6, first, last))
    settled = [p for p in pupils if 7 <= p.year0 <= 10]
    for p in rng.sample(settled, 22):
        p.last = rng.randint(15, LAST - 10)
    for _ in range(24):
        number += rng.randint(1, 4)
        year0 = rng.randint(7, 10)
        first = rng.randint(10, LAST - 15)
        if year0 + SHIFT[first] > 11:
            year0 -= 1
        fam = _pick_family(rng, families, year0, surnames, weights, 0.05, prof.holiday)
        pupils.append(Pupil(f"S{number}", rng.choice(forenames), fam, year0, rng.randint(0, 5), first, LAST))
    for p in pupils:
        _propensity(rng, prof, p, SECONDARY_YEAR_FACTOR[max(7, p.year0)])
        p.sporty = rng.random() < 0.1
        p.work_experience = rng.random() < 0.8

    current = [p for p in pupils if p.first == 0 and p.last == LAST and p.year0 <= 10]
    chosen = rng.sample(current, 10)
    for p in chosen[:4]:  # dual registered with a specialist provider one day a week
        p.dual_day = rng.randint(0, 4)
    for p in chosen[4:6]:  # one day a week at local authority alternative provision
        p.provision_day = rng.randint(0, 4)
    for p in chosen[6:8]:  # reduced timetable for six weeks
        start = rng.randint(0, LAST - 40)
        p.reduced = (start, start + 30)
    # Suspensions, a child performer, a few interviews, a bus that did not come, and so on.
    for p in rng.sample(pupils, 30):
        length = rng.choice((1, 1, 2, 3))
        start = rng.randint(p.first, max(p.first, p.last - length))
        for i in range(start, start + length):
            p.overrides[(i, 0)] = p.overrides[(i, 1)] = "E"
    for code, length in (("C1", 3), ("T", 5), ("T", 5), ("Q", 4)):
        p = rng.choice(current)
        start = rng.randint(0, LAST - length)
        for i in range(start, start + length):
            p.overrides[(i, 0)] = p.overrides[(i, 1)] = code
    for p in rng.sample([p for p in pupils if p.year0 == 11], 12):
        p.overrides[(rng.randint(SPANS[2][0], SPANS[3][1] - 1), rng.randint(0, 1))] = "J1"
    bus_day = _day(date(2026, 2, 2))
    for p in rng.sample([p for p in current if p.year0 <= 9], 8):
        p.overrides[(bus_day, 0)] = "Y1"
    for p in rng.sample(pupils, 12):
        p.overrides[(rng.randint(p.first, p.last), rng.randint(0, 1))] = "B"
    return sorted(pupils, key=lambda p: p.pid)


def _secondary_school(rng: random.Random) -> School:
    school = School(SECONDARY)
    for year in range(7, 12):  # two trips a year per year group, each for some of the pupils
        for lo, hi in ((0, END_OF_SUMMER1), (0, END_OF_SUMMER1), (SPANS[6][0], len(DAYS))):
            school.trips.setdefault(rng.randint(lo, hi - 1), []).append((year, None, 0.3))
    school.fixtures = frozenset(rng.sample(range(len(DAYS)), 24))
    school.study_leave = (_day(date(2026, 5, 11)), END_OF_SUMMER1 + 1)
    school.work_experience = (_day(date(2026, 7, 6)), _day(date(2026, 7, 10)) + 1)
    return school


def _secondary_form(p: Pupil, day: int) -> str:
    return f"{p.year(day)}{'ABCDEF'[p.form]}"


def _secondary_year(p: Pupil, day: int) -> str:
    return f"Year {p.year(day)}"


def _secondary_files(rng: random.Random) -> dict[str, bytes]:
    pupils = _secondary_pupils(rng)
    school = _secondary_school(rng)
    for p in pupils:
        _simulate(rng, p, school)
    forms = [f"{y}{f}" for y in range(7, 12) for f in "ABCDEF"]
    _unmarked(rng, pupils, _secondary_form, set(rng.sample(forms, 10)))

    header = ["Student ID", "Legal Surname", "Legal Forename", "Year Group", "Registration Form", "Date",
              "Session", "Mark", "Minutes Late"]
    files: dict[str, bytes] = {}
    for ht, (lo, hi) in zip(HALF_TERMS, SPANS):
        name = f"secondary_arbor_{ht.year}_{ht.name}.csv"
        cols = _arbor_long(pupils, lo, hi, _secondary_year, _secondary_form, upn=False)
        if ht.year == "2025-26" and ht.name == "spring2":
            files[name] = _warehouse(dict(zip(header, cols))).encode("utf-8")
        else:
            files[name] = _csv(dict(zip(header, cols))).encode("utf-8")
    return files


def _warehouse(cols: dict[str, list[str | None]]) -> str:
    """Arbor's data-warehouse layout: no names, MORNING/AFTERNOON, ISO dates, in date order."""
    frame = pl.DataFrame(cols, schema={k: pl.String for k in cols})
    frame = frame.select(
        pl.col("Student ID").alias("STUDENT_ID"),
        pl.col("Mark").alias("RAW_MARK"),
        pl.col("Minutes Late").alias("MINUTES_LATE"),
        pl.when(pl.col("Session") == "AM").then(pl.lit("MORNING")).otherwise(pl.lit("AFTERNOON")).alias("PERIOD"),
        pl.col("Date").str.to_date("%d/%m/%Y").dt.strftime("%Y-%m-%d").alias("DATE"),
        pl.col("Session").alias("_session"),
    ).sort(["DATE", "_session", "STUDENT_ID"]).drop("_session")
    return frame.write_csv()


# --------------------------------------------------------------------------------------------
# Shared writers


def _arbor_long(pupils: list[Pupil], lo: int, hi: int, year_of: Label, form_of: Label, *,
                upn: bool) -> list[list[str | None]]:
    """Columns of an Arbor long export: a row per pupil, day and session, in that order."""
    ids, upns, surnames, forenames, years, forms, dates, sessions, marks, minutes = ([] for _ in range(10))
    for p in pupils:
        for i in p.on_roll(lo, hi):
            year, form, day = year_of(p, i), form_of(p, i), f"{DAYS[i]:%d/%m/%Y}"
            for session, mark, late in (("AM", p.am[i], p.am_min[i]), ("PM", p.pm[i], p.pm_min[i])):
                ids.append(p.pid)
                upns.append(p.upn)
                surnames.append(p.surname)
                forenames.append(p.forename)
                years.append(year)
                forms.append(form)
                dates.append(day)
                sessions.append(session)
                marks.append(mark)
                minutes.append(None if late is None else str(late))
    cols = [ids, upns, surnames, forenames, years, forms, dates, sessions, marks, minutes]
    return cols if upn else [cols[0], *cols[2:]]


def _csv(cols: dict[str, list[str | None]]) -> str:
    """CSV text with `\\n` line ends, quoting only where needed; None is an empty cell."""
    return pl.DataFrame(cols, schema={k: pl.String for k in cols}).write_csv()


def _csv_line(fields: list[str]) -> str:
    """One CSV line, quoting only fields that need it."""
    out = []
    for f in fields:
        if any(c in f for c in ',"\n\r'):
            f = '"' + f.replace('"', '""') + '"'
        out.append(f)
    return ",".join(out)


def _write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file beside the target, then rename over it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------------------------
# Cambridge Lane College (Progresso lesson registers and a boarding-house roll call)

PERIODS = (("P 1", "09:00", "10:00"), ("P 2", "10:15", "11:15"), ("P 3", "11:30", "12:30"),
           ("P 4", "13:30", "14:30"), ("P 5", "14:45", "15:45"))
#: Option block taught in each period, Monday to Friday (None: free, e.g. Wednesday sport).
TIMETABLE = ((0, 1, 2, 3, 4), (1, 2, 3, 4, 0), (2, 3, 4, None, None), (3, 4, 0, 1, 2), (0, 1, None, None, None))
BLOCK_SUBJECTS = (("MATH", "BIOL", "HIST", "ARTD"), ("PHYS", "ECON", "ENGL", "PSYC"),
                  ("CHEM", "MATH", "COMP", "ECON"), ("BIOL", "PSYC", "PHYS", "HIST"),
                  ("ENGL", "CHEM", "COMP", "MATH"))
HOUSES = ("HOUSE-N", "HOUSE-S", "HOUSE-E", "HOUSE-W")


@dataclass
class Student:
    """A college student: three teaching groups in three option blocks, maybe a boarder."""

    pupil: Pupil  # identity, roll dates and propensity
    code: str  # LearnerCode, e.g. 2025-00042
    groups: dict[int, str]  # block -> group code, e.g. {0: "MATH-A"}
    house: str | None
    lessons: dict[tuple[int, int], tuple[str | None, int | None]] = field(default_factory=dict)
    days: dict[int, str] = field(default_factory=dict)  # whole-day status (ill, holiday, trip...)


def _letters(cohort: int) -> str:
    """Option-block letters: alternate cohorts use A-E and F-J so year groups never share a group."""
    return "ABCDE" if cohort % 2 else "FGHIJ"


def _college_students(rng: random.Random) -> list[Student]:
    """Years 12 and 13 of 2025/26 and the 2026 intake; about 400 on roll at a time."""
    surnames = SURNAMES_CP1252 + SURNAMES_WIDE
    forenames = FORENAMES_CP1252 + FORENAMES_WIDE
    weights = _weights(surnames, 10)
    ids = iter(rng.sample(range(30000, 60000), 700))
    students: list[Student] = []
    for cohort, year0, count in ((2024, 13, 190), (2025, 12, 205), (2026, 11, 200)):
        sequence = 0
        for _ in range(count):
            sequence += rng.randint(1, 3)
            fam = Family(rng.choices(surnames, weights)[0])
            _plan_holidays(rng, fam, COLLEGE.holiday)
            first = _day(date(2026, 9, 3)) if cohort == 2026 else 0
            last = END_OF_SUMMER1 if cohort == 2024 else LAST
            pupil = Pupil(str(next(ids)), rng.choice(forenames), fam, year0, 0, first, last)
            _propensity(rng, COLLEGE, pupil)
            blocks = sorted(rng.sample(range(5), 3))
            chosen: dict[int, str] = {}
            for block in blocks:
                options = [s for s in BLOCK_SUBJECTS[block] if s not in {g.split("-")[0] for g in chosen.values()}]
                chosen[block] = f"{rng.choice(options)}-{_letters(cohort)[block]}"
            house = rng.choice(HOUSES) if rng.random() < 0.45 else None
            students.append(Student(pupil, f"{cohort}-{sequence:05d}", chosen, house))
    for s in rng.sample([s for s in students if s.pupil.year0 == 12], 6):  # left during the year
        s.pupil.last = rng.randint(30, LAST - 10)
    return students


@dataclass
class CollegeEvents:
    """College-wide events that shape individual lesson codes."""

    trips: dict[str, list[int]]  # teaching group -> days out on a visit (V)
    cancelled: set[tuple[int, int, str]]  # (day, period, group) lessons cancelled (F)
    fixtures: frozenset[int]  # days with last-period sports fixtures (P)
    mocks: tuple[int, int]  # Year 13 mock exams (?), days [a, b)
    study: tuple[int, int]  # Year 13 study leave (S), days [a, b)
    work_experience: tuple[int, int]  # Year 12 work experience (W), days [a, b)
    closed: int  # the enforced closure (Y)
    forced: dict[str, dict[int, str]] = field(default_factory=dict)  # learner -> day -> code


def _simulate_student(rng: random.Random, st: Student, ctx: CollegeEvents) -> None:
    """Each lesson's code for one student, and their whole-day status for the roll call."""
    p = st.pupil
    lo, hi = p.first, p.last + 1
    auth, unauth = p.rate * (1 - p.unauth), p.rate * p.unauth
    days = st.days
    long_len, long_cum = (LONG_LEN, LONG_CUM) if p.severe else (SHORT_LEN, SHORT_CUM)
    for start, length in _runs(rng, lo, hi, auth * 0.8, long_len, long_cum, ILL_FACTOR):
        for i in range(start, start + length):
            days[i] = "I"
    for start, length in _runs(rng, lo, hi, unauth * 0.4, LONG_LEN if p.severe else O_LEN,
                               LONG_CUM if p.severe else O_CUM, O_FACTOR):
        for i in range(start, start + length):
            days[i] = "O"
    for start, length, code in p.family.holidays:  # international families fly home early or late
        code = "H" if code == "C" or rng.random() < 0.3 else "G"  # some agreed by the college
        for i in range(max(start, lo), min(start + length, hi)):
            days[i] = code
    for i, code in ctx.forced.get(p.pid, {}).items():
        if lo <= i < hi:
            days[i] = code
    for group in st.groups.values():
        for i in ctx.trips.get(group, ()):
            if lo <= i < hi and i not in days:
                days[i] = "V"
    if rng.random() < 0.06:  # a university interview day in Year 13's autumn
        year13 = [i for i in range(lo, hi) if p.year(i) == 13 and DAYS[i].month in (11, 12)]
        if year13:
            days[rng.choice(year13)] = "J"
    if p.year(lo) == 12 and rng.random() < 0.15:
        for i in range(ctx.work_experience[0], ctx.work_experience[1]):
            if lo <= i < hi:
                days[i] = "W"

    skip, medical, after = unauth * 0.6, auth * 0.2, unauth * 0.08
    for i in range(lo, hi):
        slots = [(period, st.groups[b]) for period, b in enumerate(TIMETABLE[WEEKDAY[i]])
                 if b is not None and b in st.groups]
        year = p.year(i)
        for period, group in slots:
            code, minutes = days.get(i), None
            if code is None:
                r = rng.random()
                edge = 1.5 if period in (0, 4) else 0.8  # first and last lessons are skipped most
                if r < skip * edge:
                    code = "O"
                elif r < skip * edge + medical:
                    code = "M"
                elif r < skip * edge + medical + after:
                    code, minutes = "U", rng.randint(16, 45)
                elif r < skip * edge + medical + after + p.late:
                    code, minutes = "L", _late_minutes(rng, 1, 15)
                else:
                    r = rng.random()
                    code = ("A" if r < 0.002 else "C" if r < 0.004 else "B" if r < 0.0045 else
                            "*" if r < 0.005 else "X" if r < 0.0053 else "/\\")
                if code == "/\\" and year == 13 and ctx.mocks[0] <= i < ctx.mocks[1] and rng.random() < 0.4:
                    code = "?"
                if code == "/\\" and year == 13 and ctx.study[0] <= i < ctx.study[1] and rng.random() < 0.6:
                    code = "S"
                if code == "/\\" and period == 4 and i in ctx.fixtures and p.sporty and rng.random() < 0.6:
                    code = "P"
            if (i, period, group) in ctx.cancelled:
                code, minutes = "F", None
            if i >= RECENT and code in ("I", "O") and rng.random() < 0.6:
                code = "N"
            if i == ctx.closed:
                code, minutes = "Y", None
            st.lessons[(i, period)] = (code, minutes)


def _college_files(rng: random.Random) -> dict[str, bytes]:
    students = _college_students(rng)
    for s in students:
        s.pupil.sporty = rng.random() < 0.12
    groups = sorted({g for s in students for g in s.groups.values()})
    ctx = CollegeEvents(
        trips={g: [rng.randint(0, LAST)] for g in rng.sample(groups, 12)},
        cancelled={(rng.randint(0, LAST), rng.randint(0, 4), g) for g in groups for _ in range(3)},
        fixtures=frozenset(rng.sample(range(len(DAYS)), 20)),
        mocks=(_day(date(2026, 1, 12)), _day(date(2026, 1, 16)) + 1),
        study=(_day(date(2026, 5, 11)), END_OF_SUMMER1 + 1),
        work_experience=(_day(date(2026, 7, 6)), _day(date(2026, 7, 10)) + 1),
        closed=INDEX[SNOW_DAY],  # the snow closed the college too
    )
    # A few students with a long run of missed lessons (10+ in a row), whatever their propensity.
    for s in rng.sample([s for s in students if s.pupil.year0 == 12], 4):
        start = rng.randint(20, SPANS[5][0])
        code = rng.choice(("I", "O"))
        ctx.forced[s.pupil.pid] = {i: code for i in range(start, start + rng.randint(6, 9))}
    for s in students:
        _simulate_student(rng, s, ctx)

    members: dict[str, list[Student]] = {g: [] for g in groups}
    for s in students:
        for g in s.groups.values():
            members[g].append(s)
    for g in groups:
        members[g].sort(key=lambda s: int(s.pupil.pid))
    by_block: dict[int, list[str]] = {b: [g for g in groups if g.split("-")[1] in ("ABCDEFGHIJ"[b], "ABCDEFGHIJ"[b + 5])]
                                      for b in range(5)}
    # Registers not yet taken on the last day (Friday's last lessons are in P 2).
    unmarked = set(rng.sample(by_block[1], 2))

    files: dict[str, bytes] = {}
    event = 500000
    header = ["EventId", "GroupCode", "Date", "StartTime", "EndTime", "LearnerId", "LearnerCode", "Period",
              "AttendanceCode", "MinutesLate", "SubjectCode"]
    for ht, (lo, hi) in zip(HALF_TERMS, SPANS):
        iso = ht.year == "2025-26" and ht.name == "spring1"
        cols: list[list[str | None]] = [[] for _ in header]
        for i in range(lo, hi):
            for period, block in enumerate(TIMETABLE[WEEKDAY[i]]):
                if block is None:
                    continue
                name, start, end = PERIODS[period]
                when = f"{DAYS[i]:%Y-%m-%d}T{start}:00" if iso else f"{DAYS[i]:%d-%m-%Y}"
                for g in by_block[block]:
                    present = [s for s in members[g] if s.pupil.first <= i <= s.pupil.last]
                    if not present:
                        continue
                    event += 1
                    for s in present:
                        code, minutes = s.lessons[(i, period)]
                        if i == LAST and g in unmarked:
                            code, minutes = None, None
                        row = (str(event), g, when, start, end, s.pupil.pid, s.code, name, code,
                               None if minutes is None else str(minutes), g.split("-")[0])
                        for col, value in zip(cols, row):
                            col.append(value)
        files[f"college_progresso_lessons_{ht.year}_{ht.name}.csv"] = _csv(dict(zip(header, cols))).encode("utf-8")
    files["college_progresso_rollcall_2026-27_autumn.csv"] = _rollcall(rng, students).encode("utf-8")
    return files


def _rollcall(rng: random.Random, students: list[Student]) -> str:
    """Boarding-house roll call (DfE codes) for this autumn term, a row per boarder and session."""
    header = ["LearnerId", "LearnerCode", "Date", "Session", "AttendanceCode", "MinutesLate", "GroupCode",
              "YearGroup"]
    cols: list[list[str | None]] = [[] for _ in header]
    boarders = sorted((s for s in students if s.house), key=lambda s: int(s.pupil.pid))
    as_dfe = {"I": "I", "O": "O", "G": "G", "H": "C", "V": "V", "J": "J1", "W": "W"}
    for s in boarders:
        p = s.pupil
        for i in p.on_roll(SPANS[6][0], LAST + 1):
            status = s.days.get(i)
            for session in ("AM", "PM"):
                code, minutes = as_dfe.get(status, "/\\"), None
                if status is None:
                    r = rng.random()
                    if r < 0.03 and session == "AM":
                        code, minutes = "L", _late_minutes(rng)
                    elif r < 0.035:
                        code = "M"
                    elif r < 0.04:
                        code = "O"
                if i >= RECENT and code in ("I", "O") and rng.random() < 0.6:
                    code = "N"
                if i == LAST and session == "PM" and s.house == "HOUSE-W":
                    code, minutes = None, None
                row = (p.pid, s.code, f"{DAYS[i]:%d-%m-%Y}", session, code,
                       None if minutes is None else str(minutes), s.house, f"Year {p.year(i)}")
                for col, value in zip(cols, row):
                    col.append(value)
    return _csv(dict(zip(header, cols)))


# --------------------------------------------------------------------------------------------


def write_samples(out_dir: Path, seed: int = 2026) -> list[Path]:
    """Write every synthetic export into out_dir; return the paths written (sorted)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {}
    # One generator per school (seeded from a string, which Python hashes stably), so a change
    # to one school's rules leaves the other schools' files as they were.
    files.update(_primary_files(random.Random(f"{seed}/primary")))
    files.update(_secondary_files(random.Random(f"{seed}/secondary")))
    files.update(_college_files(random.Random(f"{seed}/college")))
    paths = []
    for name in sorted(files):
        path = out_dir / name
        _write_atomic(path, files[name])
        paths.append(path)
    return paths
