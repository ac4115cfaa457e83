"""The default wording of every letter, as golden files; short enough to be read; every letter a
preset names exists. Regenerate the golden files after a deliberate wording change with
UPDATE_GOLDEN=1 pytest tests/test_letter_wording.py, and read the diff before committing."""

from __future__ import annotations

import copy
import datetime as dt
import os
from pathlib import Path

import pytest

from attendance_cli.letters import markup
from attendance_cli.letters.model import Letter
from attendance_cli.letters.render import wording
from attendance_cli.letters.templates import Templates, letters_folder
from attendance_cli.rules import load_policy
from attendance_cli.rules.policy import list_presets

GOLDEN = Path(__file__).parent / "golden" / "letters"
D = dt.date
LATE = "Late, arrived before the register closed"
CONTEXT = {
    "school": {"name": "Brook Lane Primary Academy", "address": ["Brook Lane", "Newtown", "NT1 2AB"],
               "telephone": "01632 960123", "email": "attendance@brooklane.example.org", "website": "",
               "signatory": "Ms J. Rivers", "signatory_role": "Attendance Lead", "headteacher": "Mr A. Lowe"},
    "policy": {"name": "primary-academy", "title": "Primary academy attendance policy"},
    "date": D(2026, 11, 23), "as_of": D(2026, 11, 20),
    "pupil": {"id": "S1001", "forename": "Zoë", "surname": "O’Brien", "name": "Zoë O’Brien", "year_group": "Year 4",
              "form": "4R"},
    "recipient": {"name": "Mrs Aisha O’Brien", "salutation": "Mrs O’Brien", "relationship": "Mother",
                  "address": ["12 Mill Road", "Newtown", "NT1 3CD"], "email": "", "channel": "post", "on_file": True, "student": False},
    "attendance": {"percent": "89.47", "possible": 95, "attended": 85, "absences": 10, "authorised": 6,
                   "unauthorised": 4, "days_missed": 5.0, "lessons": False, "lates": 4, "minutes_late": 52,
                   "from": D(2026, 8, 1), "to": D(2026, 11, 20), "persistent_absence": True, "severe_absence": False,
                   "band": {"name": "Inadequate", "explanation": "Below 90%."}},
    "event": {"rule_id": "rule", "letter": "x", "ladder": "ladder", "stage": 1, "description": "", "value": "3",
              "threshold": "3", "measure": "sessions", "window_start": D(2026, 11, 2), "window_end": D(2026, 11, 20),
              "first_met_on": D(2026, 11, 18), "count": 3,
              "sessions": [{"date": D(2026, 11, 4), "session": "AM", "code": "L", "meaning": LATE, "minutes_late": 12},
                           {"date": D(2026, 11, 11), "session": "PM", "code": "O", "meaning": "Unauthorised absence",
                            "minutes_late": None},
                           {"date": D(2026, 11, 18), "session": "AM", "code": "U", "meaning": "Arrived after the register closed",
                            "minutes_late": 35}]},
    "window": {"from": D(2026, 11, 2), "to": D(2026, 11, 20), "possible": 28, "absences": 2, "unauthorised": 1,
               "days_missed": 1.0, "lates": 3, "minutes_late": 67, "counted": 3},
    "also": [],
    "earlier": {"letter": "earlier-letter", "date": D(2026, 10, 6)},
    "since": {"date": D(2026, 10, 6), "absences": 2, "unauthorised": 1, "lates": 3, "counted": 3, "days_missed": 1.0},
}
COLLEGE = ("college-", "university-")


def context_for(name: str, earlier: bool = True) -> dict:
    context = copy.deepcopy(CONTEXT)
    context["event"]["letter"] = name
    if name.startswith(COLLEGE):
        context["attendance"].update(lessons=True, days_missed=None, possible=240, attended=226, absences=14)
        context["attendance"]["percent"] = "94.16"
        context["window"]["days_missed"] = None
        for s in context["event"]["sessions"]:
            s["session"] = "09:00 P1 MATH"
    if name in DECISIONS:  # letters on a request decided: the request, and each session asked for with its code
        context["request"] = dict(DECISIONS[name])
        last = context["request"]["granted_to"]
        context["event"]["sessions"] = [
            {"date": D(2026, 12, day), "session": part, "code": "C" if granted else "G",
             "meaning": "Leave of absence: exceptional circumstances" if granted else "Holiday not agreed by the school",
             "minutes_late": None}
            for day in (14, 15, 16) for part in ("AM", "PM") for granted in [last is not None and day <= last.day]]
        context["event"]["count"] = 6
    if not earlier:
        context["earlier"] = context["since"] = None
    return context


_REQUEST = {"id": "LR-0042", "type": "exceptional", "type_text": "exceptional circumstances", "from": D(2026, 12, 14),
            "to": D(2026, 12, 16), "decision": "partial", "asked_sessions": 6, "asked_days": 3.0, "granted_sessions": 4,
            "granted_days": 2.0, "declined_days": 1.0, "granted_from": D(2026, 12, 14), "granted_to": D(2026, 12, 15),
            "code": "C", "code_meaning": "Leave of absence: exceptional circumstances", "declined_code": "G",
            "declined_meaning": "Holiday not agreed by the school", "reason": "Two days are agreed for the funeral.",
            "decided_on": D(2026, 11, 20), "decided_by": "the headteacher", "evidence": "", "lessons": False}
DECISIONS = {"leave-granted": _REQUEST,
             "leave-declined": {**_REQUEST, "decision": "decline", "granted_sessions": 0, "granted_days": 0.0,
                                "declined_days": 3.0, "granted_from": None, "granted_to": None,
                                "reason": "A holiday is not an exceptional circumstance."},
             "request-decision": {**_REQUEST, "decision": "grant", "granted_sessions": 6, "granted_days": 3.0,
                                  "declined_days": 0.0, "granted_to": D(2026, 12, 16)}}


def render_text(name: str, context: dict) -> tuple[str, int]:
    letter = Letter(1, "S1001", name, "rule", 1, 1, "Mrs Aisha O’Brien", "post", None, (), "x", context)
    subject, document = wording(letter, Templates())
    return f"Subject: {subject}\n\n{markup.to_text(document)}\n", document.words()


LETTERS = sorted(p.stem for p in letters_folder().glob("*.j2") if not p.name.startswith("_"))


@pytest.mark.parametrize("name", LETTERS)
def test_wording_matches_its_golden_file(name):
    text, words = render_text(name, context_for(name))
    golden = GOLDEN / f"{name}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")
    assert words <= 160, f"{name}: {words} words; letters to families aim at about 150"
    assert "Dear Mrs O’Brien," in text and ("Zoë" in text or "your" in text.lower())


@pytest.mark.parametrize("name", LETTERS)
def test_every_letter_renders_without_an_earlier_letter_or_a_window_start(name):
    context = context_for(name, earlier=False)
    context["event"]["window_start"] = context["window"]["from"] = None
    text, _ = render_text(name, context)
    assert "None" not in text


def test_school_letters_say_days_missed_and_college_letters_lessons():
    for name in LETTERS:
        text, _ = render_text(name, context_for(name))
        if name.startswith(COLLEGE):
            assert "days" not in text.split("Yours")[0] or "lesson" in text, name
        elif name in ("persistent-absence", "severe-absence", "penalty-notice-warning", "unauthorised-1", "level-2"):
            assert "5 days" in text, name


def test_every_letter_a_preset_names_has_a_default_template():
    named = {rule.letter for preset in list_presets() for rule in load_policy(preset).rules if rule.letter}
    named |= {name for preset in list_presets() for name in (load_policy(preset).requests.letters
                                                             if load_policy(preset).requests else [])}
    assert named <= set(LETTERS), sorted(named - set(LETTERS))
