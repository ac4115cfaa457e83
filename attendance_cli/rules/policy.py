"""Attendance policies as data: a TOML file of rules, validated before anything runs.

A policy names its code table, where its calendar comes from, an optional preset it extends,
its rules and (for reports) its attendance bands. Each rule has a *kind* (what it measures),
a *window* (which dates it looks at), a threshold, a stage in a ladder of escalation, and the
letter it leads to. See `presets/` for the shipped policies and `docs/policies.md` in the README.
"""

from __future__ import annotations

import tomllib
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Literal, Union, get_args

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, field_validator, model_validator

from attendance_cli.errors import AttendanceError, ConfigError, UsageError

PRESETS_DIR = Path(__file__).parent / "presets"

WindowName = Literal["week", "half-term", "term", "ytd", "year", "rolling-school-weeks", "rolling-weeks",
                     "since-stage", "all"]
RunUnit = Literal["school-days", "sessions", "contact-points", "weeks"]
#: Kinds whose events are made of particular sessions (never counted twice) ...
EVIDENCE_KINDS = ("count", "run", "age")
#: ... and kinds that describe a state the pupil is in (recorded on entering it, again after leaving).
STATE_KINDS = ("attendance", "will-cross", "cannot-reach", "decline")

#: Numbers and true/false exactly as TOML writes them: `at_least = "3"` or `late = "yes"` is refused,
#: not read as 3 or true. A quoted number is usually a slip (or a value pasted from a spreadsheet),
#: and `late = "no"` would otherwise be read as true; a whole number is accepted where a percentage is.
Int = Annotated[int, Strict()]
Bool = Annotated[bool, Strict()]
Number = Annotated[float, Strict()]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Selection(_Model):
    """Which marks a rule counts: codes, categories, or late marks (any of them)."""

    codes: tuple[str, ...] = ()
    categories: tuple[Literal["present", "aea", "authorised", "unauthorised"], ...] = ()
    late: Bool = Field(False, description="Late marks (L before the register closed, U after).")

    def describe(self) -> str:
        parts = []
        if self.codes:
            parts.append("codes " + ", ".join(self.codes))
        if self.categories:
            parts.append(" or ".join(self.categories) + " marks")
        if self.late:
            parts.append("late marks")
        return " or ".join(parts)


class Threshold(_Model):
    """An attendance threshold: `attendance_below = 95` (attendance under 95%) or
    `absence_at_least = 10` (10% or more of possible sessions missed)."""

    attendance_below: Number | None = Field(None, gt=0, le=100)
    absence_at_least: Number | None = Field(None, gt=0, le=100)

    @model_validator(mode="after")
    def _one(self) -> Threshold:
        if (self.attendance_below is None) == (self.absence_at_least is None):
            raise ValueError("give exactly one of attendance_below or absence_at_least")
        return self

    @property
    def absence_share(self) -> tuple[Fraction, bool]:
        """The absence share T (a fraction of 100) and whether the test is strict: the state holds
        when 100 × absences ≥ T × possible (or > when strict). Exact: no floating point."""
        if self.absence_at_least is not None:
            return Fraction(str(self.absence_at_least)), False
        return 100 - Fraction(str(self.attendance_below)), True

    def describe(self) -> str:
        if self.absence_at_least is not None:
            return f"{_num(self.absence_at_least)}% or more of possible sessions missed"
        return f"attendance below {_num(self.attendance_below)}%"

    def label(self) -> str:
        if self.absence_at_least is not None:
            return f"attendance {_num(100 - self.absence_at_least)}% or less"
        return f"attendance below {_num(self.attendance_below)}%"


def _num(value: float | None) -> str:
    return f"{value:g}"


#: What a school records it did about a case (`attendance case record`); the rules read some of them.
ACTIONS = ("evidence-received", "meeting-held", "notice-issued", "notice-waived", "referred", "closed", "hold")
Action = Literal["evidence-received", "meeting-held", "notice-issued", "notice-waived", "referred", "closed", "hold"]
Recipient = Literal["guardians", "student", "agent"]


class NewEvidence(Selection):
    """New marks after the earlier stage: `needs_new = { categories = ["unauthorised"], at_least = 1 }`."""

    at_least: Int = Field(1, ge=1)


class NoticeLimit(_Model):
    """At most `count` of an action in a rolling `years` years; past it, `then` (for staff) instead of letters:
    the national framework's 2 penalty notices per child per parent in 3 years."""

    action: Action = "notice-issued"
    count: Int = Field(2, ge=1)
    years: Int = Field(3, ge=1, le=10)
    then: str = Field(min_length=1, description="What staff do instead (a referral for other action).")


class Ladder(_Model):
    """How the cases of one ladder are run: which letter wins in a run, when a case starts again, who
    is written to, and what follows its last stage."""

    name: str = Field(min_length=1)
    priority: Int = Field(0, description="When a pupil has new events on several ladders in a run, the family "
                                         "gets the letter of the highest priority; the others are held.")
    covers: tuple[str, ...] = Field((), description="Ladders this ladder's letters speak for: their events in the "
                                                    "same run are recorded as covered, not held.")
    reset_quiet_school_weeks: Int | None = Field(None, ge=1, description="A case starts again at stage 1 after this "
                                                 "many school weeks with no new event (besides each new school year).")
    reset_recovered_school_weeks: Int | None = Field(None, ge=1, description="A case starts again once every "
                                                     "state it was in (attendance below a threshold) has been left for "
                                                     "this many school weeks with no new event.")
    letter_within: Int | None = Field(None, ge=1, description="School days after an event is first met within "
                                                             "which its letter may go (default: the policy's).")
    recipients: tuple[Recipient, ...] = Field(("guardians",), min_length=1)
    channel: Literal["any", "email"] = Field("any", description="'email': these letters are e-mails (to the "
                                             "recipients' e-mail addresses), whatever --format says.")
    escalation: str = Field("", description="The next step after the last stage, for staff (listed, never a letter).")
    safeguarding: Bool = Field(False, description="Events head the run's output as actions for today and go in "
                                                 "the --referrals list.")
    limit: NoticeLimit | None = None


class RuleBase(_Model):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str = ""
    source: str = Field("", description="Where the rule comes from (regulation, guidance, the school's policy).")
    stage: Int = Field(1, ge=1)
    ladder: str | None = Field(None, description="Rules in the same ladder are stages of one escalation; default: the rule id.")
    follows: str | None = Field(None, description="Only for pupils with a recorded event of this rule (the earlier stage).")
    wait_school_weeks: Int = Field(0, ge=0, description="With follows: at least this many school weeks after the earlier event.")
    letter: str | None = Field(None, description="The letter this rule leads to (a template name).")
    window: WindowName = "ytd"
    weeks: Int | None = Field(None, ge=1, le=60, description="For rolling windows: how many weeks.")
    enabled: Bool = True
    needs_new: NewEvidence | None = Field(None, description="With follows: only when at least this many marks of "
                                          "this kind were recorded after the earlier stage (\"no improvement\").")
    after_action: Action | None = Field(None, description="With follows: only once the school has recorded this "
                                        "action on the case after the earlier stage (e.g. meeting-held).")
    repeat_after: tuple[Action, ...] = Field((), description="This stage's letter may go again only after one of "
                                             "these actions was recorded since the last letter of the case.")

    @model_validator(mode="after")
    def _window(self) -> RuleBase:
        rolling = self.window in ("rolling-school-weeks", "rolling-weeks")
        if rolling and self.weeks is None:
            raise ValueError(f"window {self.window!r} needs weeks = N")
        if not rolling and self.weeks is not None and self.kind != "decline":
            raise ValueError(f"weeks is only used with a rolling window (this rule's window is {self.window!r})")
        if self.window == "since-stage" and not self.follows:
            raise ValueError("window 'since-stage' needs follows = the earlier rule's id")
        for key in ("needs_new", "after_action"):
            if getattr(self, key) is not None and not self.follows:
                raise ValueError(f"{key} needs follows = the earlier rule's id (it is measured after that stage)")
        return self

    @property
    def ladder_name(self) -> str:
        return self.ladder or self.id

    @property
    def records_evidence(self) -> bool:
        return self.kind in EVIDENCE_KINDS


class CountRule(RuleBase, Selection):
    """Count the selected marks in the window: met at `at_least` N (or `more_than` N)."""

    kind: Literal["count"]
    at_least: Int | None = Field(None, ge=1)
    more_than: Int | None = Field(None, ge=0)
    only_when: Threshold | None = Field(None, description="Only when the pupil's attendance over only_when_window meets this.")
    only_when_window: Literal["week", "half-term", "term", "ytd", "year", "all"] = "ytd"

    @model_validator(mode="after")
    def _threshold(self) -> CountRule:
        if (self.at_least is None) == (self.more_than is None):
            raise ValueError("give exactly one of at_least or more_than")
        if not (self.codes or self.categories or self.late):
            raise ValueError("say which marks to count: codes, categories or late = true")
        return self

    @property
    def minimum(self) -> int:
        return self.at_least if self.at_least is not None else self.more_than + 1  # type: ignore[operator]


class AttendanceRule(RuleBase, Threshold):
    """The pupil's attendance over the window meets the threshold (a state)."""

    kind: Literal["attendance"]
    min_possible: Int = Field(0, ge=0, description="Ignore pupils with fewer possible sessions than this in the window.")


class WillCrossRule(RuleBase, Threshold):
    """Not past the threshold yet, but `within` more absent sessions would take the pupil past it."""

    kind: Literal["will-cross"]
    within: Int = Field(ge=1)
    min_possible: Int = Field(0, ge=0, description="Ignore pupils with fewer possible sessions than this in the window.")


class CannotReachRule(RuleBase):
    """Even with full attendance for the rest of the school year, attendance stays below `attendance`%."""

    kind: Literal["cannot-reach"]
    attendance: Number = Field(gt=0, le=100)
    window: WindowName = "year"
    sessions_per_year: Int = Field(380, ge=1, description="Possible sessions in a full school year (DfE: 380).")


class DeclineRule(RuleBase):
    """Attendance over the latest `weeks` school weeks is lower than over the `weeks` before, by more than `by` points."""

    kind: Literal["decline"]
    weeks: Int = Field(ge=1, le=26)
    by: Number = Field(ge=1, le=100, description="A real drop: more than this many percentage points.")
    min_sessions: Int = Field(20, ge=1, description="Possible sessions needed in each of the two periods.")
    below: Number | None = Field(None, gt=0, le=100, description="Only when attendance over the later weeks is "
                                                                 "below this %.")
    window: WindowName = "all"


class RunRule(RuleBase, Selection):
    """A continuous run of `length` school days, sessions, contact points or weeks, every one in the selection."""

    kind: Literal["run"]
    unit: RunUnit
    length: Int = Field(ge=1)
    after: tuple[str, ...] = Field((), description="The run must start straight after a mark with one of these codes.")
    window: WindowName = "all"

    @model_validator(mode="after")
    def _selection(self) -> RunRule:
        if not (self.codes or self.categories or self.late):
            raise ValueError("say which marks make the run: codes, categories or late = true")
        return self


class AgeRule(RuleBase):
    """Marks with these codes still in the register more than `older_than_school_days` school days later."""

    kind: Literal["age"]
    codes: tuple[str, ...] = Field(min_length=1)
    older_than_school_days: Int = Field(ge=1)
    window: WindowName = "all"


Rule = Annotated[Union[CountRule, AttendanceRule, WillCrossRule, CannotReachRule, DeclineRule, RunRule, AgeRule],
                 Field(discriminator="kind")]
KINDS = ("count", "attendance", "will-cross", "cannot-reach", "decline", "run", "age")


class Band(_Model):
    """A named attendance band, from `from` % (inclusive) up to the next band."""

    name: str = Field(min_length=1)
    from_: Number = Field(alias="from", ge=0, le=100)
    explanation: str = ""


#: The kinds of absence request a requests file may hold (`attendance requests`).
REQUEST_TYPES = ("illness", "appointment", "exceptional", "religious", "other")
RequestType = Literal["illness", "appointment", "exceptional", "religious", "other"]


class RequestRoute(_Model):
    """What the policy does with one type of absence request: authorise it, decline it, or leave it to
    a person (`decided_by`). `code` is the register code for sessions granted, `declined_code` the code
    for sessions asked for and not granted, should the pupil be away anyway."""

    type: RequestType
    route: Literal["authorise", "decline", "decide"]
    decided_by: str = Field("", description="Who decides (route = \"decide\"), e.g. \"the headteacher\".")
    code: str = Field(min_length=1, description="The code entered for sessions granted (C, M, R, I, ...).")
    declined_code: str = Field("O", min_length=1, description="The code for sessions not granted, if the pupil "
                               "is away anyway (G for a holiday not agreed, O otherwise).")
    days_per_year: Number | None = Field(None, gt=0, le=200, description="At most this many days of this type are "
                                         "granted in a school year; beyond it, the request is partly granted.")
    days_per_request: Number | None = Field(None, gt=0, le=200, description="At most this many days granted for "
                                            "one request (one religious festival: 1).")
    notice_weeks: Int | None = Field(None, ge=1, le=52, description="Ask at least this many weeks before the first "
                                     "day; a request made later is flagged (never refused for it).")
    evidence: str = Field("", description="What the school asks to see (an appointment card).")
    grant_letter: str | None = Field(None, description="The letter for a request granted (a template name).")
    partial_letter: str | None = Field(None, description="The letter for a request partly granted.")
    decline_letter: str | None = Field(None, description="The letter for a request declined.")


class Requests(_Model):
    """How the school handles absence and leave requests: a route per type, and when a request goes to
    support staff for review. The words and patterns are the school's; the tool never judges health."""

    recent_weeks: Int = Field(6, ge=1, le=52, description="'Recent' requests: those received in this many weeks "
                              "up to the as-of date.")
    review_after: Int | None = Field(None, ge=1, description="Flag for review when a pupil has made this many "
                                     "requests in recent_weeks (this one included).")
    review_below: Number | None = Field(None, gt=0, le=100, description="Flag for review when the request would "
                                        "bring attendance below this percentage.")
    review_words: tuple[str, ...] = Field((), description="Words or phrases in the reason or details that send a "
                                          "request to support staff (matched whole, in any case).")
    review_to: str = Field("support staff", min_length=1, description="Who reviews flagged requests.")
    recipients: tuple[Literal["guardians", "student"], ...] = Field(("guardians",), min_length=1,
                                                                      description="Who decision letters go to.")
    channel: Literal["any", "email"] = Field("any", description="'email': decision letters are e-mails.")
    route: tuple[RequestRoute, ...] = Field(min_length=1)

    @field_validator("route")
    @classmethod
    def _once(cls, routes: tuple[RequestRoute, ...]) -> tuple[RequestRoute, ...]:
        types = [r.type for r in routes]
        twice = sorted({t for t in types if types.count(t) > 1})
        if twice:
            raise ValueError(f"a route for {', '.join(twice)} is given twice: one [[requests.route]] per type")
        missing = [t for t in REQUEST_TYPES if t not in types]
        if missing:
            raise ValueError(f"no route for {', '.join(missing)}: give a [[requests.route]] for every type "
                             f"({', '.join(REQUEST_TYPES)}); route = \"decide\" leaves it to a person")
        return routes

    def route_of(self, kind: str) -> RequestRoute:
        return next(r for r in self.route if r.type == kind)

    @property
    def letters(self) -> list[str]:
        return sorted({name for r in self.route for name in (r.grant_letter, r.partial_letter, r.decline_letter)
                       if name})


class Policy(_Model):
    name: str = Field(min_length=1)
    title: str = ""
    source: str = ""
    extends: str | None = None
    codes: str = "dfe"
    calendar: str = Field("inferred", description="'inferred' from the data, or a calendar file (TOML/CSV) path.")
    register_type: Literal["session", "lesson"] = Field("session", alias="register")
    letters: str | None = Field(None, description="A folder of the school's own letter templates.")
    school: str | None = Field(None, description="The school settings file (TOML) letters take the school's details from.")
    ledger: str | None = Field(None, description="The ledger file (SQLite) that remembers recorded events.")
    letter_within: Int = Field(10, ge=1, description="A letter goes only for an event first met within this many "
                                                     "school days of the as-of date (a fortnight).")
    bands: tuple[Band, ...] = ()
    requests: Requests | None = Field(None, description="Absence and leave requests: how each type is decided.")
    ladder: tuple[Ladder, ...] = ()
    rule: tuple[Rule, ...] = ()

    @field_validator("bands")
    @classmethod
    def _bands(cls, bands: tuple[Band, ...]) -> tuple[Band, ...]:
        """Bands are listed from the lowest `from` up, each running up to the next band's `from`. They
        are not re-sorted: a band out of place is an edit gone wrong (a `from` changed, its band left
        where it was), and sorting would quietly give it a range its explanation does not say."""
        if not bands:
            return bands
        for lower, upper in zip(bands, bands[1:]):
            if upper.from_ == lower.from_:
                raise ValueError(f"bands {lower.name!r} and {upper.name!r} both start from {_num(lower.from_)}%: "
                                 "each band needs its own starting percentage")
            if upper.from_ < lower.from_:
                raise ValueError(f"band {upper.name!r} (from {_num(upper.from_)}%) is listed after band "
                                 f"{lower.name!r} (from {_num(lower.from_)}%): list the bands from the lowest "
                                 "'from' up, each running up to the next band's 'from'")
        if bands[0].from_ != 0:
            raise ValueError("the lowest band must start from 0 so that every pupil has a band")
        return bands

    @model_validator(mode="after")
    def _references(self) -> Policy:
        ids = [r.id for r in self.rule]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"rule id(s) used twice: {', '.join(duplicates)}")
        for rule in self.rule:
            if rule.follows and rule.follows not in ids:
                raise ValueError(f"rule {rule.id!r} follows {rule.follows!r}, which is not a rule of this policy "
                                 f"(rules: {', '.join(ids)})")
            if rule.follows == rule.id:
                raise ValueError(f"rule {rule.id!r} cannot follow itself")
        names = [ladder.name for ladder in self.ladder]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"ladder(s) described twice: {', '.join(twice)}")
        used = {rule.ladder_name for rule in self.rule}
        for ladder in self.ladder:
            if ladder.name not in used:
                raise ValueError(f"ladder {ladder.name!r} has no rules (ladders of the rules: {', '.join(sorted(used))})")
            unknown = [name for name in ladder.covers if name not in used]
            if unknown:
                raise ValueError(f"ladder {ladder.name!r} covers {', '.join(map(repr, unknown))}, which no rule is in")
        return self

    def ladder_of(self, name: str) -> Ladder:
        """The ladder's settings: as described in the policy, or the defaults."""
        for ladder in self.ladder:
            if ladder.name == name:
                return ladder
        return Ladder(name=name)

    def top_stage(self, ladder: str) -> int:
        return max((rule.stage for rule in self.rules if rule.ladder_name == ladder), default=1)

    @model_validator(mode="after")
    def _reachable(self) -> Policy:
        """A threshold its window can never hold (11 sessions in a week) is a typo, not a rule: refused
        rather than left to never fire."""
        for rule in self.rules:
            problem = unreachable(rule, self.register_type)
            if problem:
                raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _ladders(self) -> Policy:
        """The stages of a ladder must escalate: letters go out for the highest stage met, so stages
        out of order, or two different letters at one stage, would send the wrong letter."""
        problem = ladder_problem(self.rules, {r.id: r for r in self.rule})
        if problem:
            raise ValueError(problem)
        return self

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rule if r.enabled)

    def band_of(self) -> list[tuple[str, float, float | None]]:
        """(name, from, to) per band, `to` exclusive (None for the top band, which includes 100), to
        describe them; the band a pupil is in is `figures.band_of`."""
        from attendance_cli.figures import band_ranges

        return band_ranges(self.bands)


# -- thresholds a window can hold ----------------------------------------------------------------

#: The most school days a school year (1 August to 31 July, 366 days at most) can hold: Monday to Friday.
YEAR_SCHOOL_DAYS = 262
#: ... and the most Monday-Sunday weeks with a weekday in it.
YEAR_WEEKS = 53


def window_span(rule: RuleBase) -> tuple[str, int, int]:
    """(what the window is, in words; school days; Monday-Sunday weeks): the most the rule's window can
    hold, counting Monday to Friday as school days. Windows without a fixed length (half term, term,
    year, all dates, since the earlier stage) are taken as at most a school year: no threshold asks
    for more than a year of absence, and a pupil missing that long has long left the roll."""
    if rule.window == "week":
        return "a week", 5, 1
    if rule.window == "rolling-school-weeks":
        return f"{rule.weeks} school weeks", 5 * rule.weeks, rule.weeks  # type: ignore[operator]
    if rule.window == "rolling-weeks":  # 7 × N days: 5 × N weekdays, touching up to N + 1 weeks
        return f"{rule.weeks} weeks", 5 * rule.weeks, rule.weeks + 1  # type: ignore[operator]
    return "a school year from 1 August to 31 July", YEAR_SCHOOL_DAYS, YEAR_WEEKS


def unreachable(rule: Rule, register: str) -> str | None:
    """Why the rule's count or run threshold can never be met in its window, or None. Sessions are
    two a school day in session registers; lesson registers have no fixed number of contact points a
    day, so only their school days and weeks are checked."""
    if isinstance(rule, CountRule):
        need, key, unit = rule.minimum, "at_least" if rule.at_least is not None else "more_than", "sessions"
    elif isinstance(rule, RunRule):
        need, key, unit = rule.length, "length", rule.unit
    else:
        return None
    if unit == "sessions" and register != "session":
        return None
    words, days, weeks = window_span(rule)
    most = {"sessions": 2 * days, "school-days": days, "weeks": weeks}.get(unit)
    if most is None or need <= most:
        return None
    why = {"sessions": f"at most {days} school days of 2 sessions",
           "school-days": f"at most {days} school days, Monday to Friday",
           "weeks": f"at most {weeks} Monday-to-Sunday week{'s' if weeks != 1 else ''}"}[unit]
    if rule.window not in ("week", "rolling-weeks", "rolling-school-weeks"):
        why += f"; a window such as {rule.window!r} is taken as at most a school year"
    unit_words = unit.replace("-", " ")
    what = f"{need} {unit_words}" if isinstance(rule, CountRule) else f"{need} continuous {unit_words}"
    return (f"rule {rule.id!r} can never be met: it needs {what} ({key} = {getattr(rule, key)}), "
            f"but window {rule.window!r} holds at most {most} ({words}: {why})")


# -- ladders ---------------------------------------------------------------------------------------


def ladder_problem(rules: tuple[Rule, ...], by_id: dict[str, Rule]) -> str | None:
    """The first problem with the policy's ladders, or None: a rule that follows a rule of another
    ladder, two letters at one stage, a later stage met before an earlier one."""
    for rule in rules:
        problem = _follows_problem(rule, by_id.get(rule.follows or ""))
        if problem:
            return problem
    ladders: dict[str, list[Rule]] = {}
    for rule in rules:
        ladders.setdefault(rule.ladder_name, []).append(rule)
    for name, stages in ladders.items():
        ordered = sorted(stages, key=lambda r: r.stage)
        for index, lower in enumerate(ordered):
            for upper in ordered[index + 1:]:
                problem = _stage_problem(name, lower, upper)
                if problem:
                    return problem
    return None


def _follows_problem(rule: Rule, earlier: Rule | None) -> str | None:
    """A rule given a ladder of its own escalates that ladder: what it follows must be an earlier stage
    of it (its letter quotes that stage's letter, found in the same ladder). A rule with no `ladder`
    may follow any rule: it is then only a condition on who it applies to."""
    if earlier is None or rule.ladder is None:
        return None
    if earlier.ladder_name != rule.ladder_name:
        return (f"rule {rule.id!r} (ladder {rule.ladder_name!r}) follows {earlier.id!r}, which is in ladder "
                f"{earlier.ladder_name!r}: a stage can only follow an earlier stage of its own ladder")
    if earlier.stage >= rule.stage:
        return (f"rule {rule.id!r} (stage {rule.stage} of ladder {rule.ladder_name!r}) follows {earlier.id!r}, "
                f"which is stage {earlier.stage}: a stage can only follow an earlier (lower) stage")
    return None


def _stage_problem(ladder: str, lower: Rule, upper: Rule) -> str | None:
    """Two rules of one ladder, `lower.stage <= upper.stage`. At one stage they must write the same
    letter (two routes to the same step, as in the shipped presets); a later stage measured the same
    way as an earlier one must not be met first."""
    if lower.stage == upper.stage:
        if lower.letter == upper.letter:
            return None
        return (f"rules {lower.id!r} and {upper.id!r} are both stage {lower.stage} of ladder {ladder!r}, with "
                f"different letters ({lower.letter or 'none'}, {upper.letter or 'none'}): give each stage its own "
                "number (rules share a stage only as two routes to the same letter)")
    low, high = _severity(lower), _severity(upper)
    if low is None or high is None or low[0] != high[0] or high[1] >= low[1]:
        return None
    return (f"rule {upper.id!r} (stage {upper.stage} of ladder {ladder!r}, {_threshold_key(upper)}) is met "
            f"before rule {lower.id!r} (stage {lower.stage}, {_threshold_key(lower)}), on the same measure: "
            "a later stage needs a threshold at least as high as an earlier one")


def _severity(rule: Rule) -> tuple[tuple, object] | None:
    """(what the rule measures, how far along it the rule is met), for the kinds whose thresholds
    compare simply: the same marks, unit and window, a higher threshold met later. None for the others
    (will-cross, cannot-reach, decline), which are not compared."""
    if isinstance(rule, CountRule):
        measure = ("count", _selection(rule), rule.window, rule.weeks, rule.only_when, rule.only_when_window)
        return measure, rule.minimum
    if isinstance(rule, RunRule):
        return ("run", _selection(rule), rule.unit, tuple(sorted(rule.after)), rule.window, rule.weeks), rule.length
    if isinstance(rule, AgeRule):
        return ("age", tuple(sorted(rule.codes))), rule.older_than_school_days
    if isinstance(rule, AttendanceRule):  # more absence is further along; "below" is stricter at the same share
        return ("attendance", rule.window, rule.weeks, rule.min_possible), rule.absence_share
    return None


def _selection(rule: Selection) -> tuple:
    return tuple(sorted(rule.codes)), tuple(sorted(rule.categories)), rule.late


def _threshold_key(rule: Rule) -> str:
    """The rule's threshold as written in the file: `at_least = 3`."""
    for key in ("at_least", "more_than", "length", "older_than_school_days", "attendance_below", "absence_at_least"):
        value = getattr(rule, key, None)
        if value is not None:
            return f"{key} = {_num(value) if isinstance(value, float) else value}"
    return rule.kind


# -- loading ---------------------------------------------------------------------------------------


def list_presets() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.toml"))


def preset_path(name: str) -> Path:
    """The preset's file. An unknown name is a usage error (exit 2), like any value an option does not
    accept: it is what was typed that is wrong, not a file that is there."""
    path = PRESETS_DIR / f"{name}.toml"
    if not path.exists():
        raise UsageError(f"There is no policy preset called {name!r}.",
                         fix=f"Use one of: {', '.join(list_presets())}, or the path of a policy file (.toml).")
    return path


def policy_path(name_or_path: str | Path) -> Path:
    """A preset name or a file path, resolved to a file."""
    text = str(name_or_path)
    if text.endswith(".toml") or "/" in text or "\\" in text:
        path = Path(text)
        if not path.exists():
            raise ConfigError(f"Policy file {path} does not exist.",
                              fix=f"Give a preset ({', '.join(list_presets())}) or start one with 'attendance policy init NAME {path}'.")
        return path
    return preset_path(text)


def load_policy(name_or_path: str | Path, _seen: tuple[str, ...] = ()) -> Policy:
    """Read and validate a policy (a preset name or a TOML file), following `extends`."""
    path = policy_path(name_or_path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Policy {path} is not valid TOML: {exc}.") from None
    except UnicodeDecodeError:
        raise ConfigError(f"Policy {path} is not a UTF-8 text file.") from None
    parent_name = data.get("extends")
    if parent_name:
        parent_name = str(parent_name)
        if parent_name.endswith(".toml") and not Path(parent_name).is_absolute():
            parent_name = str(path.parent / parent_name)  # beside this policy, wherever it is run from
        if parent_name in _seen or str(path) in _seen:
            raise ConfigError(f"Policy {path}: 'extends' goes round in a circle ({' → '.join((*_seen, parent_name))}).")
        parent = _load_parent(path, parent_name, (*_seen, str(path)))
        data = _merge(parent, data)
    data.setdefault("name", path.stem)
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"Policy {path} has problems:\n{describe_errors(exc, data)}",
                          fix="Compare with a preset: 'attendance policy show dfe-national'.") from None
    return _check_calendar(policy, path)


def _load_parent(path: Path, parent_name: str, seen: tuple[str, ...]) -> Policy:
    """The policy `path` extends. A parent that is not there is a problem of the file that names it
    (exit 1, naming that file), not of the command line: the user typed a policy that exists."""
    try:
        policy_path(parent_name)
    except AttendanceError as exc:
        raise ConfigError(f"Policy {path}: extends = {parent_name!r}: {exc.message}", fix=exc.fix) from None
    return load_policy(parent_name, seen)


def _merge(parent: Policy, child: dict) -> dict:
    """A child policy's rules replace the parent's rules of the same id; others are added after them."""
    merged = parent.model_dump(by_alias=True, exclude_none=True, exclude={"name", "title", "source", "extends"})
    own_rules = list(child.get("rule", []))
    inherited = merged.pop("rule", [])
    by_id = {r.get("id"): r for r in own_rules if isinstance(r, dict)}
    rules = []
    for rule in inherited:
        own = by_id.pop(rule["id"], None)
        if own is None:
            rules.append(rule)
        elif "kind" in own:
            rules.append(own)  # a rule of its own, replacing the parent's
        else:
            rules.append({**rule, **own})  # changes to the parent's rule, e.g. enabled = false or at_least = 8
    rules += [r for r in own_rules if not isinstance(r, dict) or r.get("id") in by_id]
    # ladders likewise: the child's settings for a ladder are changes to the parent's
    own_ladders = list(child.get("ladder", []))
    named = {lad.get("name"): lad for lad in own_ladders if isinstance(lad, dict)}
    # a parent's ladder whose rules the child moved to another ladder is dropped with them
    used = {r.get("ladder") or r.get("id") for r in rules if isinstance(r, dict)}
    ladders = [{**lad, **named.pop(lad["name"], {})} for lad in merged.pop("ladder", [])
               if lad["name"] in used or lad["name"] in named]
    ladders += [lad for lad in own_ladders if not isinstance(lad, dict) or lad.get("name") in named]
    out = {**merged, **{k: v for k, v in child.items() if k not in ("rule", "ladder")}}
    out["rule"] = rules
    out["ladder"] = ladders
    out.pop("extends", None)
    return out


def _check_calendar(policy: Policy, path: Path) -> Policy:
    if policy.calendar != "inferred":
        calendar = Path(policy.calendar)
        if not calendar.is_absolute():
            calendar = path.parent / calendar
        if not calendar.exists():
            raise ConfigError(f"Policy {path}: calendar {policy.calendar!r} does not exist (looked for {calendar}).",
                              fix="Set calendar = \"inferred\" to work it out from the data, or give the calendar file's path.")
        policy = policy.model_copy(update={"calendar": str(calendar)})
    for key in ("ledger", "letters", "school"):  # paths in a policy are relative to the policy file
        value = getattr(policy, key)
        if value is not None and not Path(value).is_absolute():
            policy = policy.model_copy(update={key: str(path.parent / value)})
    return policy


def _keys(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


#: The keys each part of a policy file may have, for error messages: derived from the models, so they
#: cannot drift apart. A rule's own keys come first, then those every rule shares.
_COMMON = [k for k in _keys(RuleBase) if k != "id"]
_ALLOWED = {"policy": _keys(Policy)} | {
    get_args(model.model_fields["kind"].annotation)[0]: ["id", "kind"] + [k for k in _keys(model) if k not in ("id", "kind", *_COMMON)]
    for model in get_args(get_args(Rule)[0])
}


#: What a value of the wrong type should have been, in TOML's terms.
_TYPES = {"int_type": "a whole number", "float_type": "a number", "bool_type": "true or false",
          "string_type": "text in quotes"}


def _wrong_type(error_type: str, value: object) -> str:
    """`must be a whole number, not the text "3"`: says what was written as well as what is wanted,
    since a quoted number looks right to the person who typed it."""
    wanted = _TYPES[error_type]
    if isinstance(value, str) and error_type != "string_type":
        return f'must be {wanted}, written without quotes, not the text "{value}"'
    shown = ("true" if value else "false") if isinstance(value, bool) else repr(value)
    return f"must be {wanted}, not {shown}"


def describe_errors(exc: ValidationError, data: dict) -> str:
    """Pydantic's errors as `rule 'x' (rule 3): key: problem. Allowed: ...` lines."""
    lines = []
    rules = data.get("rule", []) if isinstance(data.get("rule"), list) else []
    errors = exc.errors()
    for error in errors:
        loc = list(error["loc"])
        if error["type"] == "too_short" and any(len(e["loc"]) > len(loc) and list(e["loc"][:len(loc)]) == loc
                                                 for e in errors):
            continue  # the list's own entries are wrong: said for each of them
        where = "policy"
        allowed = _ALLOWED["policy"]
        if loc and loc[0] == "rule" and len(loc) > 1 and isinstance(loc[1], int):
            index = loc[1]
            rule = rules[index] if index < len(rules) and isinstance(rules[index], dict) else {}
            kind = rule.get("kind")
            # by id: after `extends` the position is in the merged list, not the file
            where = f"rule {rule['id']!r}" if rule.get("id") else f"rule {index + 1} (no id)"
            loc = loc[2:]
            if loc and loc[0] == kind:
                loc = loc[1:]
            allowed = _ALLOWED[kind] + _COMMON if kind in _ALLOWED else []
        elif loc and loc[0] == "requests":
            where, allowed = "requests", _keys(Requests)
            loc = loc[1:]
            if len(loc) > 1 and loc[0] == "route" and isinstance(loc[1], int):
                routes = (data.get("requests") or {}).get("route") or []
                route = routes[loc[1]] if loc[1] < len(routes) and isinstance(routes[loc[1]], dict) else {}
                where = f"requests route {route['type']!r}" if route.get("type") else f"requests route {loc[1] + 1}"
                allowed, loc = _keys(RequestRoute), loc[2:]
        key = ".".join(str(p) for p in loc)
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "is not a known key" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
        elif error["type"] == "union_tag_invalid" or error["type"] == "union_tag_not_found":
            message = f"must be one of: {', '.join(KINDS)}"
            key = "kind"
        elif error["type"] == "literal_error":
            message = error["msg"].replace("Input should be", "must be")
        elif error["type"] in _TYPES:
            message = _wrong_type(error["type"], error["input"])
        elif error["type"] == "missing":
            message = "is missing"
        elif error["type"] == "too_short":
            message = "needs at least one entry"
        lines.append(f"  {where}: {key + ': ' if key else ''}{message}")
    return "\n".join(lines)


def check_codes(policy: Policy, table, origin: str) -> None:
    """Every code a rule names must be in the code table (in some era): a typo is an error, not a rule
    that silently never fires."""
    known = {t for code in table.codes for t in (code.code, *code.aliases)}
    problems = []
    for rule in policy.rules:
        for key in ("codes", "after"):
            for code in getattr(rule, key, ()) or ():
                if code not in known:
                    problems.append(f"  rule {rule.id!r}: {key}: {code!r} is not a code in the {table.name!r} table")
    for route in policy.requests.route if policy.requests is not None else ():
        for key, wanted in (("code", ("authorised", "aea")), ("declined_code", ("unauthorised",))):
            code = getattr(route, key)
            found = table.any_code_for(code) if code in known else None
            if found is None:
                problems.append(f"  requests route {route.type!r}: {key}: {code!r} is not a code in the "
                                f"{table.name!r} table")
            elif found.category not in wanted:
                problems.append(f"  requests route {route.type!r}: {key}: {code!r} is a {found.category} code "
                                f"({found.meaning}); {key} must be {' or '.join(wanted)}")
    if problems:
        misused = any(" must be " in problem for problem in problems)
        raise ConfigError(f"Policy {origin} names codes its code table does not have"
                          + (", or uses a code as what it is not" if misused else "") + ":\n" + "\n".join(problems),
                          fix=f"Use codes from 'attendance codes --codes {table.name}', or set codes = \"...\" in the policy "
                              "to the table the rules are written for.")


def rules_frame(policy: Policy):
    """The rules as a table: what `attendance policy show` prints."""
    import polars as pl

    rows = []
    for rule in policy.rules:
        rows.append({"rule_id": rule.id, "kind": rule.kind, "ladder": rule.ladder_name, "stage": rule.stage,
                     "follows": rule.follows, "window": _window_text(rule), "condition": condition_text(rule),
                     "letter": rule.letter, "description": rule.description, "source": rule.source})
    schema = {"rule_id": pl.String, "kind": pl.String, "ladder": pl.String, "stage": pl.Int64, "follows": pl.String,
              "window": pl.String, "condition": pl.String, "letter": pl.String, "description": pl.String,
              "source": pl.String}
    return pl.DataFrame(rows, schema=schema)


def _window_text(rule: RuleBase) -> str:
    if rule.window in ("rolling-school-weeks", "rolling-weeks"):
        return f"last {rule.weeks} {'school ' if rule.window == 'rolling-school-weeks' else ''}weeks"
    return {"since-stage": f"since the {rule.follows} event", "all": "all dates", "ytd": "school year to date",
            "year": "school year to date"}.get(rule.window, rule.window)


def condition_text(rule: Rule) -> str:
    """The rule's condition in words."""
    if isinstance(rule, CountRule):
        amount = f"{rule.at_least} or more" if rule.at_least is not None else f"more than {rule.more_than}"
        text = f"{amount} sessions with {rule.describe()}"
        if rule.only_when is not None:
            text += f", when {rule.only_when.describe()} ({rule.only_when_window})"
        return text
    if isinstance(rule, AttendanceRule):
        return rule.describe() + (f" (at least {rule.min_possible} possible sessions)" if rule.min_possible else "")
    if isinstance(rule, WillCrossRule):
        return f"within {rule.within} sessions of: {rule.describe()}"
    if isinstance(rule, CannotReachRule):
        return f"cannot reach {rule.attendance:g}% attendance by the end of the school year"
    if isinstance(rule, DeclineRule):
        return (f"attendance over the last {rule.weeks} school weeks below the {rule.weeks} before"
                + (f" by more than {rule.by:g} points" if rule.by else ""))
    if isinstance(rule, RunRule):
        after = f", starting straight after {', '.join(rule.after)}" if rule.after else ""
        return f"{rule.length} continuous {rule.unit.replace('-', ' ')}, all {rule.describe()}{after}"
    if isinstance(rule, AgeRule):
        return f"{', '.join(rule.codes)} still in the register more than {rule.older_than_school_days} school days later"
    return rule.kind
