"""Policy files a school edits by hand: values of the wrong type, thresholds no window can hold,
ladders that do not escalate, bands out of order and unknown preset names are refused with a message
naming the file and the rules, never silently coerced, sorted or left to never fire."""

from __future__ import annotations

from pathlib import Path

import pytest

from attendance_cli.errors import ConfigError
from attendance_cli.rules import load_policy
from attendance_cli.rules.policy import list_presets
from tests.conftest import ARBOR_HEADER, PUNCTUALITY_LETTER

PRESETS = "absence-levels, college, dfe-national, primary-academy, university"
UNKNOWN_PRESET = (f"Error: There is no policy preset called 'nosuch'.\n"
                  f"  Fix: Use one of: {PRESETS}, or the path of a policy file (.toml).\n")
FIX = "  Fix: Compare with a preset: 'attendance policy show dfe-national'.\n"

LATES = PUNCTUALITY_LETTER.replace('id = "punctuality-letter"', 'id = "late-letter"')
LATES_MEETING = '''[[rule]]
id = "late-meeting"
kind = "count"
late = true
window = "half-term"
at_least = {at_least}
ladder = "punctuality"
stage = {stage}
letter = "{letter}"
'''


def write_policy(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "school.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problem(tmp_path: Path, text: str) -> tuple[Path, str]:
    """(the policy file, load_policy's message) for a policy that must be refused."""
    path = write_policy(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_policy(path)
    return path, caught.value.message


def count_rule(window: str, threshold: str, extra: str = "") -> str:
    return f'[[rule]]\nid = "x"\nkind = "count"\ncodes = ["G"]\nwindow = "{window}"\n{threshold}\n{extra}'


def run_rule(unit: str, length: int, window: str = "all", extra: str = "") -> str:
    return f'[[rule]]\nid = "x"\nkind = "run"\ncodes = ["G"]\nunit = "{unit}"\nlength = {length}\nwindow = "{window}"\n{extra}'


# == 1. values of the wrong type ==========================================================================


@pytest.mark.parametrize(("line", "message"), [
    ('at_least = "3"', 'at_least: must be a whole number, written without quotes, not the text "3"'),
    ("at_least = 3.0", "at_least: must be a whole number, not 3.0"),
    ('late = "yes"', 'late: must be true or false, written without quotes, not the text "yes"'),
    ("late = 1", "late: must be true or false, not 1"),
    ('stage = "1"', 'stage: must be a whole number, written without quotes, not the text "1"'),
])
def test_a_value_of_the_wrong_type_is_refused_not_coerced(tmp_path, line, message):
    key = line.split(" = ")[0]
    text = "\n".join(line if row.startswith(f"{key} = ") else row for row in LATES.splitlines()) + "\n"
    path, got = problem(tmp_path, text)
    assert got == f"Policy {path} has problems:\n  rule 'late-letter': {message}"


def test_quoted_weeks_are_refused_by_policy_check(run, tmp_path):
    path = write_policy(tmp_path, count_rule("rolling-weeks", "at_least = 4", 'weeks = "12"\n'))
    result = run("policy", "check", path)
    assert result.exit_code == 1
    assert result.stderr == (f"Error: Policy {path} has problems:\n"
                             '  rule \'x\': weeks: must be a whole number, written without quotes, not the text "12"\n'
                             + FIX)


def test_quoted_percentages_are_refused_and_whole_numbers_accepted(tmp_path):
    path, message = problem(tmp_path, '[[rule]]\nid = "low"\nkind = "attendance"\nattendance_below = "95"\n')
    assert message == (f"Policy {path} has problems:\n  rule 'low': attendance_below: must be a number, "
                       'written without quotes, not the text "95"')
    policy = load_policy(write_policy(tmp_path, '[[rule]]\nid = "low"\nkind = "attendance"\nattendance_below = 95\n'))
    assert policy.rules[0].attendance_below == 95


# == 2. thresholds a window can never hold ================================================================


def test_more_sessions_than_a_week_holds_are_refused(tmp_path):
    path, message = problem(tmp_path, count_rule("week", "at_least = 11"))
    assert message == (f"Policy {path} has problems:\n  policy: rule 'x' can never be met: it needs 11 sessions "
                       "(at_least = 11), but window 'week' holds at most 10 (a week: at most 5 school days of 2 sessions)")
    _, message = problem(tmp_path, count_rule("week", "more_than = 10"))
    assert "it needs 11 sessions (more_than = 10), but window 'week' holds at most 10" in message
    assert load_policy(write_policy(tmp_path, count_rule("week", "at_least = 10"))).rules[0].at_least == 10


def test_a_run_of_more_sessions_than_a_week_holds_is_refused(tmp_path):
    path, message = problem(tmp_path, run_rule("sessions", 11, "week"))
    assert message == (f"Policy {path} has problems:\n  policy: rule 'x' can never be met: it needs 11 continuous "
                       "sessions (length = 11), but window 'week' holds at most 10 (a week: at most 5 school "
                       "days of 2 sessions)")
    _, message = problem(tmp_path, run_rule("school-days", 6, "week"))
    assert message.endswith("it needs 6 continuous school days (length = 6), but window 'week' holds at most 5 "
                            "(a week: at most 5 school days, Monday to Friday)")
    assert load_policy(write_policy(tmp_path, run_rule("sessions", 10, "week"))).rules[0].length == 10


def test_rolling_windows_hold_five_school_days_a_week(tmp_path):
    _, message = problem(tmp_path, count_rule("rolling-weeks", "at_least = 121", "weeks = 12\n"))
    assert message.endswith("it needs 121 sessions (at_least = 121), but window 'rolling-weeks' holds at most 120 "
                            "(12 weeks: at most 60 school days of 2 sessions)")
    assert load_policy(write_policy(tmp_path, count_rule("rolling-weeks", "at_least = 120", "weeks = 12\n")))


def test_a_run_longer_than_a_school_year_is_refused_in_any_window(run, tmp_path):
    path = write_policy(tmp_path, run_rule("school-days", 100000))
    result = run("policy", "check", path)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: Policy {path} has problems:\n  policy: rule 'x' can never be met: it needs 100000 continuous "
        "school days (length = 100000), but window 'all' holds at most 262 (a school year from 1 August to 31 July: "
        "at most 262 school days, Monday to Friday; a window such as 'all' is taken as at most a school year)\n"
        + FIX)
    assert load_policy(write_policy(tmp_path, run_rule("school-days", 262)))


def test_lesson_registers_have_no_fixed_number_of_contact_points_a_week(tmp_path):
    text = 'register = "lesson"\ncodes = "college"\n' + count_rule("week", "at_least = 30").replace('"G"', '"N"')
    assert load_policy(write_policy(tmp_path, text)).rules[0].at_least == 30
    _, message = problem(tmp_path, 'register = "lesson"\n' + run_rule("weeks", 2, "week"))
    assert message.endswith("it needs 2 continuous weeks (length = 2), but window 'week' holds at most 1 "
                            "(a week: at most 1 Monday-to-Sunday week)")


# == 3. ladders ===========================================================================================


def test_a_later_stage_met_before_an_earlier_one_is_refused(tmp_path):
    path, message = problem(tmp_path, LATES + LATES_MEETING.format(at_least=2, stage=2, letter="punctuality-meeting"))
    assert message == (f"Policy {path} has problems:\n  policy: rule 'late-meeting' (stage 2 of ladder 'punctuality', "
                       "at_least = 2) is met before rule 'late-letter' (stage 1, at_least = 3), on the same measure: "
                       "a later stage needs a threshold at least as high as an earlier one")
    assert load_policy(write_policy(tmp_path, LATES + LATES_MEETING.format(at_least=5, stage=2, letter="m")))


def test_attendance_stages_must_grow_more_severe(tmp_path):
    text = ('[[rule]]\nid = "severe"\nkind = "attendance"\nabsence_at_least = 50\nladder = "pa"\nstage = 1\n'
            '[[rule]]\nid = "persistent"\nkind = "attendance"\nabsence_at_least = 10\nladder = "pa"\nstage = 2\n')
    _, message = problem(tmp_path, text)
    assert message.endswith("policy: rule 'persistent' (stage 2 of ladder 'pa', absence_at_least = 10) is met before "
                            "rule 'severe' (stage 1, absence_at_least = 50), on the same measure: a later stage needs a "
                            "threshold at least as high as an earlier one")


def test_thresholds_on_different_measures_are_not_compared(tmp_path):
    # the meeting counts since the letter's event: fewer sessions, but not the same count
    text = LATES + LATES_MEETING.format(at_least=1, stage=2, letter="m").replace(
        'window = "half-term"', 'window = "since-stage"\nfollows = "late-letter"')
    assert [r.id for r in load_policy(write_policy(tmp_path, text)).rules] == ["late-letter", "late-meeting"]


def test_two_letters_at_one_stage_of_a_ladder_are_refused(run, tmp_path):
    path = write_policy(tmp_path, LATES + LATES_MEETING.format(at_least=5, stage=1, letter="punctuality-meeting"))
    result = run("policy", "check", path)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: Policy {path} has problems:\n  policy: rules 'late-letter' and 'late-meeting' are both stage 1 of "
        "ladder 'punctuality', with different letters (punctuality-1, punctuality-meeting): give each stage its own "
        "number (rules share a stage only as two routes to the same letter)\n" + FIX)


def test_two_routes_to_the_same_letter_may_share_a_stage(tmp_path):
    text = LATES + LATES_MEETING.format(at_least=5, stage=1, letter="punctuality-1")
    assert len(load_policy(write_policy(tmp_path, text)).rules) == 2


def test_a_stage_cannot_follow_a_rule_of_another_ladder(tmp_path):
    other = ('[[rule]]\nid = "ill"\nkind = "count"\ncodes = ["I"]\nat_least = 6\nladder = "medical"\n'
             'follows = "late-letter"\nstage = 2\n')
    path, message = problem(tmp_path, LATES + other)
    assert message == (f"Policy {path} has problems:\n  policy: rule 'ill' (ladder 'medical') follows 'late-letter', "
                       "which is in ladder 'punctuality': a stage can only follow an earlier stage of its own ladder")


def test_a_stage_can_only_follow_an_earlier_stage(tmp_path):
    text = LATES.replace("stage = 1", "stage = 3") + LATES_MEETING.format(at_least=5, stage=2, letter="m").replace(
        'ladder = "punctuality"', 'ladder = "punctuality"\nfollows = "late-letter"')
    _, message = problem(tmp_path, text)
    assert message.endswith("policy: rule 'late-meeting' (stage 2 of ladder 'punctuality') follows 'late-letter', "
                            "which is stage 3: a stage can only follow an earlier (lower) stage")


@pytest.mark.parametrize("preset", list_presets())
def test_every_preset_and_its_editable_copy_pass_the_checks(run, tmp_path, preset):
    copy = tmp_path / f"{preset}-copy.toml"
    assert run("policy", "init", preset, copy).exit_code == 0
    result = run("policy", "check", copy)
    assert result.exit_code == 0 and result.stdout.startswith(f"{copy}: OK."), result.stderr
    assert run("policy", "show", preset, "-f", "csv").exit_code == 0


# == 4. bands =============================================================================================

BANDS = '''[[bands]]
name = "Inadequate"
from = 0
[[bands]]
name = "Requires improvement"
from = {middle}
[[bands]]
name = "Good"
from = 96
'''


def test_bands_out_of_order_are_refused_not_sorted(run, tmp_path):
    path = write_policy(tmp_path, 'extends = "dfe-national"\n' + BANDS.format(middle=97))
    result = run("policy", "check", path)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: Policy {path} has problems:\n  policy: bands: band 'Good' (from 96%) is listed after band "
        "'Requires improvement' (from 97%): list the bands from the lowest 'from' up, each running up to the next "
        "band's 'from'\n" + FIX)


def test_two_bands_from_the_same_percentage_are_refused(tmp_path):
    _, message = problem(tmp_path, BANDS.format(middle=96))
    assert message.endswith("policy: bands: bands 'Requires improvement' and 'Good' both start from 96%: each band "
                            "needs its own starting percentage")


def test_bands_in_order_keep_their_ranges(tmp_path):
    policy = load_policy(write_policy(tmp_path, BANDS.format(middle=90.5)))
    assert policy.band_of() == [("Inadequate", 0, 90.5), ("Requires improvement", 90.5, 96), ("Good", 96, None)]


# == 5. unknown presets ===================================================================================


def test_an_unknown_preset_is_a_usage_error(run, tmp_path):
    result = run("policy", "show", "nosuch")
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", UNKNOWN_PRESET)
    result = run("policy", "init", "nosuch", tmp_path / "x.toml")
    assert (result.exit_code, result.stderr) == (2, UNKNOWN_PRESET)
    assert not (tmp_path / "x.toml").exists()
    assert run("policy", "check", "nosuch").exit_code == 2


def test_an_unknown_preset_given_with_policy_is_a_usage_error(run, tmp_path):
    export = tmp_path / "marks.csv"
    export.write_text(f"{ARBOR_HEADER}\n000101,Smith,Amy,Year 3,3A,02/11/2026,AM,/,\n", encoding="utf-8")
    result = run("triggers", export, "--policy", "nosuch")
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", UNKNOWN_PRESET)


def test_a_file_extending_an_unknown_preset_is_a_problem_of_that_file(run, tmp_path):
    path = write_policy(tmp_path, 'extends = "nosuch"\n')
    result = run("policy", "check", path)
    assert result.exit_code == 1
    assert result.stderr == (f"Error: Policy {path}: extends = 'nosuch': There is no policy preset called 'nosuch'.\n"
                             f"  Fix: Use one of: {PRESETS}, or the path of a policy file (.toml).\n")
