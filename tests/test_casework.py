"""Casework through `attendance letters` with one real ledger, run after run: a ladder never goes back,
one letter per family per run (the others held, and sent next run), too old for a letter, adopting a
ledger mid-year, evidence received, and the penalty-notice limit."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import polars as pl

from attendance_cli.ledger import Ledger
from tests.conftest import ARBOR_HEADER, SCHOOL, csv_frame, weekdays

START = dt.date(2026, 11, 2)  # Monday

POLICY = """name = "casework"
codes = "dfe"
school = "school.toml"

[[ladder]]
name = "unauthorised"
priority = 40
limit = { action = "notice-issued", count = 2, years = 3, then = "Refer for other action" }

[[ladder]]
name = "punctuality"
priority = 10

[[rule]]
id = "late-3"
kind = "count"
late = true
window = "half-term"
at_least = 3
ladder = "punctuality"
stage = 1
letter = "punctuality-1"

[[rule]]
id = "late-5"
kind = "count"
late = true
window = "half-term"
at_least = 5
ladder = "punctuality"
stage = 2
letter = "punctuality-meeting"

[[rule]]
id = "unauth-2"
kind = "count"
categories = ["unauthorised"]
window = "ytd"
at_least = 2
ladder = "unauthorised"
stage = 1
letter = "unauthorised-1"

[[rule]]
id = "ill"
kind = "count"
codes = ["I"]
window = "ytd"
at_least = 2
ladder = "medical"
letter = "medical-evidence"
"""


def register(path: Path, mornings: dict[str, dict[int, str]], days: int) -> Path:
    rows = [ARBOR_HEADER]
    for pupil_id, marks in mornings.items():
        for index, day in enumerate(weekdays(START, days)):
            mark = marks.get(index, "/")
            rows.append(f"{pupil_id},Smith,Amy,Year 4,4R,{day:%d/%m/%Y},AM,{mark},{'10' if mark == 'L' else ''}")
            rows.append(f"{pupil_id},Smith,Amy,Year 4,4R,{day:%d/%m/%Y},PM,\\,")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def setup(tmp_path: Path) -> Path:
    (tmp_path / "school.toml").write_text(SCHOOL, encoding="utf-8")
    (tmp_path / "policy.toml").write_text(POLICY, encoding="utf-8")
    return tmp_path


def letters(run, folder: Path, export: Path, *extra):
    return run("letters", export, "--policy", folder / "policy.toml", "--db", folder / "ledger.sqlite",
               "--out", folder / "out", "-f", "txt", "--date", "30/11/2026", *extra)


def sent(folder: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(folder / "ledger.sqlite") as db:
        return db.execute("select pupil_id, letter from letters order by letter_id").fetchall()


def manifest(folder: Path, day: str) -> pl.DataFrame:
    return csv_frame((folder / "out" / f"manifest-{day}.csv").read_text(encoding="utf-8"))


def act(folder: Path, ladder: str, action: str, *dates: dt.date, until: dt.date | None = None, note: str = "") -> None:
    """Record what the school did on S1's case, as `attendance case record` does: one action per date."""
    with Ledger(folder / "ledger.sqlite") as ledger:
        ledger.record_actions(pl.DataFrame({
            "pupil_id": ["S1"] * len(dates), "ladder": [ladder] * len(dates), "action": [action] * len(dates),
            "date": list(dates), "until": [until] * len(dates), "note": [note] * len(dates),
            "source": ["test"] * len(dates)}, schema_overrides={"until": pl.Date}))


def test_a_ladder_never_goes_back_to_a_lower_stage(run, tmp_path):
    folder = setup(tmp_path)
    # 5 lates in week 1 (the meeting letter); 3 more in week 2: stage 1 again, which must not be sent
    export = register(tmp_path / "m.csv", {"S1": {0: "L", 1: "L", 2: "L", 3: "L", 4: "L", 5: "L", 6: "L", 7: "L"}}, 10)
    assert letters(run, folder, export, "--as-of", "06/11/2026").exit_code == 0
    assert sent(folder) == [("S1", "punctuality-meeting")]
    second = letters(run, folder, export)
    assert second.exit_code == 0, second.stderr
    assert sent(folder) == [("S1", "punctuality-meeting")]
    assert "1 event below the stage the case reached this school year (recorded, no letter)" in second.stderr
    # 5 more lates: the last stage again, which is for staff (the policy's next step), not a second letter
    more = {i: "L" for i in range(8)} | {i: "L" for i in range(10, 15)}
    export = register(tmp_path / "m.csv", {"S1": more}, 15)
    third = letters(run, folder, export)
    assert third.exit_code == 0, third.stderr
    assert sent(folder) == [("S1", "punctuality-meeting")]
    with Ledger(folder / "ledger.sqlite") as ledger:
        assert ledger.events().select("rule_id", "decision").rows() == [
            ("late-3", "superseded"), ("late-5", "letter"), ("late-3", "below-stage"), ("late-3", "below-stage"),
            ("late-5", "escalation")]


def test_one_letter_per_family_per_run_the_other_held_and_sent_next_run(run, tmp_path):
    folder = setup(tmp_path)
    # 3 lates and 2 unauthorised sessions in week 1: the higher-priority unauthorised letter goes now
    export = register(tmp_path / "m.csv", {"S1": {0: "L", 1: "L", 2: "L", 3: "O", 4: "O"}}, 10)
    first = letters(run, folder, export, "--as-of", "06/11/2026")
    assert first.exit_code == 0, first.stderr
    assert sent(folder) == [("S1", "unauthorised-1")]
    rows = manifest(folder, "2026-11-06").select("rule_id", "decision", "event_id").rows()
    assert rows == [("unauth-2", "letter", "1"), ("late-3", "held", None)]  # held: not recorded
    assert "1 event held for next run: the family gets another ladder's letter now (not recorded)" in first.stderr
    second = letters(run, folder, export)
    assert second.exit_code == 0, second.stderr
    assert sent(folder) == [("S1", "unauthorised-1"), ("S1", "punctuality-1")]


def test_an_event_first_met_long_ago_is_too_old_for_a_letter(run, tmp_path):
    folder = setup(tmp_path)
    # 3 lates in the first week; evaluated three weeks later (more than 10 school days after)
    export = register(tmp_path / "m.csv", {"S1": {0: "L", 1: "L", 2: "L"}}, 15)
    result = letters(run, folder, export)
    assert result.exit_code == 0, result.stderr
    assert "1 event too old for a letter (not recorded; --include-older records them)" in result.stderr
    assert not (folder / "out").exists() or not list((folder / "out").glob("*.txt"))
    assert not (folder / "ledger.sqlite").exists() or sent(folder) == []
    included = letters(run, folder, export, "--include-older")
    assert included.exit_code == 0, included.stderr
    with Ledger(folder / "ledger.sqlite") as ledger:
        assert ledger.events().select("rule_id", "decision").rows() == [("late-3", "too-old")]
    assert sent(folder) == []


def test_adopting_a_ledger_records_what_is_met_and_writes_nothing(run, tmp_path):
    folder = setup(tmp_path)
    export = register(tmp_path / "m.csv", {"S1": {0: "L", 1: "L", 2: "L", 3: "L", 4: "L"}, "S2": {5: "O", 6: "O"}}, 10)
    adopted = run("letters", export, "--policy", folder / "policy.toml", "--db", folder / "ledger.sqlite", "--adopt")
    assert adopted.exit_code == 0, adopted.stderr
    assert "3 events for 2 pupils adopted: recorded as handled, no letter written." in adopted.stderr
    assert "  punctuality, stage 2: 1 case" in adopted.stderr and "  unauthorised, stage 1: 1 case" in adopted.stderr
    assert sent(folder) == []
    again = letters(run, folder, export)
    assert again.exit_code == 0 and "No new letters." in again.stderr


def test_evidence_received_covers_the_absences_it_is_for(run, tmp_path):
    folder = setup(tmp_path)
    export = register(tmp_path / "m.csv", {"S1": {0: "I", 1: "I", 7: "I", 8: "I"}}, 10)
    act(folder, "medical", "evidence-received", dt.date(2026, 11, 12))
    result = letters(run, folder, export)
    assert result.exit_code == 0, result.stderr
    assert sent(folder) == []  # the four illness absences to 12/11 are covered by the evidence


def test_after_two_penalty_notices_the_next_breach_is_for_staff_not_a_letter(run, tmp_path):
    folder = setup(tmp_path)
    export = register(tmp_path / "m.csv", {"S1": {8: "O", 9: "O"}}, 10)
    act(folder, "unauthorised", "notice-issued", dt.date(2025, 3, 3), dt.date(2026, 1, 12))
    result = letters(run, folder, export)
    assert result.exit_code == 0, result.stderr
    assert sent(folder) == []
    assert "1 event for staff: past the case's last letter, the policy's next step (recorded)" in result.stderr
    with Ledger(folder / "ledger.sqlite") as ledger:
        assert ledger.events().select("rule_id", "decision").rows() == [("unauth-2", "escalation")]


RECOVERY = """name = "recovery"
codes = "dfe"
school = "school.toml"

[[ladder]]
name = "pa"
reset_recovered_school_weeks = 1

[[rule]]
id = "pa"
kind = "attendance"
absence_at_least = 10
window = "ytd"
ladder = "pa"
letter = "persistent-absence"
"""


def test_a_pupil_back_above_the_threshold_long_enough_starts_a_new_case(run, tmp_path):
    folder = setup(tmp_path)
    (folder / "policy.toml").write_text(RECOVERY, encoding="utf-8")
    # 2 of 10 sessions missed in week 1 (20%); none in weeks 2 and 3 (2 of 20 is still 10%; 2 of 30); 5 more in week 4 (17.5%)
    export = register(tmp_path / "m.csv", {"S1": {0: "O", 1: "O", 15: "O", 16: "O", 17: "O", 18: "O", 19: "O"}}, 20)
    for day in ("06/11/2026", "13/11/2026", "20/11/2026", "27/11/2026"):
        result = letters(run, folder, export, "--as-of", day)
        assert result.exit_code == 0, result.stderr
    # the state was left on 20/11 (2 of 30) and stayed left a school week: falling back in is a new letter
    assert sent(folder) == [("S1", "persistent-absence"), ("S1", "persistent-absence")]
    with Ledger(folder / "ledger.sqlite") as ledger:
        assert ledger.events().select("as_of", "left_on", "decision").rows() == [
            (dt.date(2026, 11, 6), dt.date(2026, 11, 20), "letter"), (dt.date(2026, 11, 27), None, "letter")]


def test_without_a_long_enough_recovery_the_case_stays_at_its_stage(run, tmp_path):
    folder = setup(tmp_path)
    (folder / "policy.toml").write_text(RECOVERY.replace("reset_recovered_school_weeks = 1",
                                                         "reset_recovered_school_weeks = 3"), encoding="utf-8")
    export = register(tmp_path / "m.csv", {"S1": {0: "O", 1: "O", 15: "O", 16: "O", 17: "O", 18: "O", 19: "O"}}, 20)
    for day in ("06/11/2026", "13/11/2026", "20/11/2026", "27/11/2026"):
        assert letters(run, folder, export, "--as-of", day).exit_code == 0
    assert sent(folder) == [("S1", "persistent-absence")]


def test_a_letter_names_the_events_of_the_ladders_it_covers(run, tmp_path):
    folder = setup(tmp_path)
    policy = POLICY.replace('''[[ladder]]
name = "punctuality"''', '''[[ladder]]
name = "leave"
priority = 30

[[ladder]]
name = "punctuality"''').replace('priority = 40\n', 'priority = 40\ncovers = ["leave"]\n') + '''
[[rule]]
id = "leave"
kind = "run"
description = "Holiday in term time not agreed"
codes = ["G"]
unit = "sessions"
length = 1
ladder = "leave"
letter = "leave-not-applied-for"
'''
    (folder / "policy.toml").write_text(policy, encoding="utf-8")
    export = register(tmp_path / "m.csv", {"S1": {3: "G", 4: "G"}}, 5)
    result = letters(run, folder, export)
    assert result.exit_code == 0, result.stderr
    assert sent(folder) == [("S1", "unauthorised-1")]
    rows = manifest(folder, "2026-11-06").select("rule_id", "decision").rows()
    assert rows == [("unauth-2", "letter"), ("leave", "covered"), ("leave", "covered")]
    text = " ".join((folder / "out" / "2026-11-06_S1_unauthorised-1.txt").read_text(encoding="utf-8").split())
    assert "This letter also covers: Holiday in term time not agreed." in text


def test_safeguarding_events_go_to_the_referrals_list_and_are_recorded_for_staff(run, tmp_path):
    folder = setup(tmp_path)
    policy = POLICY + '''
[[ladder]]
name = "missing"
priority = 100
safeguarding = true

[[rule]]
id = "missing-3"
kind = "count"
description = "Three unauthorised sessions: check the child is safe"
categories = ["unauthorised"]
window = "ytd"
at_least = 3
ladder = "missing"
'''
    (folder / "policy.toml").write_text(policy, encoding="utf-8")
    export = register(tmp_path / "m.csv", {"S1": {2: "O", 3: "O", 4: "O"}, "S2": {}}, 5)
    referrals = tmp_path / "referrals.csv"
    dry = letters(run, folder, export, "--dry-run", "--referrals", referrals)
    assert dry.exit_code == 0, dry.stderr
    listed = csv_frame(referrals.read_text(encoding="utf-8-sig"))
    assert listed.select("pupil_id", "rule_id", "decision", "description").rows() == [
        ("S1", "missing-3", "action", "Three unauthorised sessions: check the child is safe")]
    assert not (folder / "ledger.sqlite").exists()  # a dry run records nothing
    real = letters(run, folder, export, "--new-ledger", "--referrals", referrals)
    assert real.exit_code == 0, real.stderr
    # the family still gets the unauthorised letter; the safeguarding event is recorded for staff
    assert sent(folder) == [("S1", "unauthorised-1")]
    with Ledger(folder / "ledger.sqlite") as ledger:
        assert sorted(ledger.events().select("rule_id", "decision").rows()) == [
            ("missing-3", "action"), ("unauth-2", "letter")]


def lesson_register(path: Path, absent: dict[str, range], days: int) -> Path:
    """A university lesson export (Progresso): two lessons a day; no names, as such exports have none."""
    rows = ["EventId,GroupCode,Date,StartTime,EndTime,LearnerId,LearnerCode,Period,AttendanceCode,MinutesLate,SubjectCode"]
    for learner in ("U1", "U2"):
        for index, day in enumerate(weekdays(START, days)):
            for period, (start, end) in enumerate((("09:00", "10:00"), ("11:00", "12:00"))):
                lesson = 2 * index + period
                mark = "O" if lesson in absent.get(learner, range(0)) else "/\\"
                rows.append(f"{10 * index + period + 1},MATH-A,{day:%d-%m-%Y},{start},{end},{learner},C-{learner},"
                            f"P {period + 1},{mark},,MATH")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def university(run, folder: Path, export: Path, *extra):
    return run("letters", export, "--policy", "university", "--school", folder / "school.toml", "--db",
               folder / "ledger.sqlite", "--new-ledger", "--out", folder / "out", "--date", "09/11/2026", *extra)


def test_university_letters_are_e_mails_to_the_student_named_from_the_pupils_file(run, tmp_path):
    folder = setup(tmp_path)
    export = lesson_register(tmp_path / "lessons.csv", {"U1": range(0, 10)}, 5)  # no lesson attended all week
    refused = university(run, folder, export)
    assert refused.exit_code == 1
    assert refused.stderr.startswith("Error: No forename for pupil U1 in the exports: a letter cannot go out with a "
                                     "blank name; nothing was written or recorded.")
    assert not (folder / "ledger.sqlite").exists() or sent(folder) == []
    pupils = tmp_path / "students.csv"
    pupils.write_text("Learner ID,First Name,Last Name,Email\nU1,Łukasz,Nowak,l.nowak@students.example.ac.uk\n"
                      "U2,Ada,Jones,not an address\n", encoding="utf-8")
    bad = university(run, folder, export, "--pupils", pupils)
    assert bad.exit_code == 1 and f"{pupils}: the pupils file has problems" in bad.stderr and "line 3" in bad.stderr
    pupils.write_text("Learner ID,First Name,Last Name,Email\nU1,Łukasz,Nowak,l.nowak@students.example.ac.uk\n",
                      encoding="utf-8")
    result = university(run, folder, export, "--pupils", pupils)  # the default format is pdf: e-mails all the same
    assert result.exit_code == 0, result.stderr
    written = sorted(p.name for p in (folder / "out").glob("*.eml"))
    assert written == ["2026-11-06_U1_university-1-week.eml"]
    import email
    import email.policy

    message = email.message_from_bytes((folder / "out" / written[0]).read_bytes(), policy=email.policy.default)
    assert [(a.display_name, a.addr_spec) for a in message["To"].addresses] == [
        ("Łukasz Nowak", "l.nowak@students.example.ac.uk")]
    body = message.get_body(("plain",)).get_content()
    assert "Dear Łukasz," in body and "Parent or Carer" not in body


def test_a_case_on_hold_writes_nothing_until_the_date_then_its_letter_goes(run, tmp_path):
    folder = setup(tmp_path)
    export = register(tmp_path / "m.csv", {"S1": {5: "O", 6: "O"}}, 10)
    act(folder, "unauthorised", "hold", dt.date(2026, 11, 9), until=dt.date(2026, 11, 12), note="family bereavement")
    held = letters(run, folder, export, "--as-of", "11/11/2026")
    assert held.exit_code == 0, held.stderr
    assert sent(folder) == [] and "1 event on hold (not recorded)" in held.stderr
    assert "family bereavement" not in held.stderr  # a note is for staff, never in a log
    after = letters(run, folder, export, "--as-of", "13/11/2026")
    assert after.exit_code == 0, after.stderr
    assert sent(folder) == [("S1", "unauthorised-1")]


def test_an_event_held_for_another_letter_is_not_too_old_for_its_own_later(run, tmp_path):
    folder = setup(tmp_path)
    # week 1: 3 lates and 2 unauthorised sessions (the unauthorised letter wins, punctuality held);
    # weeks 2-3: 2 more unauthorised each week, so that ladder keeps winning; week 4: the punctuality
    # letter goes, 3 weeks after it was first met
    marks = {0: "L", 1: "L", 2: "L", 3: "O", 4: "O", 8: "O", 9: "O", 13: "O", 14: "O"}
    policy = POLICY + '''
[[rule]]
id = "unauth-more"
kind = "count"
categories = ["unauthorised"]
window = "ytd"
at_least = 2
ladder = "unauthorised-weekly"
letter = "unauthorised-1"

[[ladder]]
name = "unauthorised-weekly"
priority = 40
'''
    (folder / "policy.toml").write_text(policy, encoding="utf-8")
    export = register(tmp_path / "m.csv", {"S1": marks}, 20)
    for day in ("06/11/2026", "13/11/2026", "20/11/2026", "27/11/2026"):
        result = letters(run, folder, export, "--as-of", day)
        assert result.exit_code == 0, result.stderr
    assert [letter for _, letter in sent(folder)][-1] == "punctuality-1"
    assert "too old" not in result.stderr


def test_a_renamed_copy_of_the_policy_sends_nothing_again_and_is_named_in_a_warning(run, tmp_path):
    folder = setup(tmp_path)
    export = register(tmp_path / "m.csv", {"S1": {0: "L", 1: "L", 2: "L"}}, 5)
    assert letters(run, folder, export).exit_code == 0
    assert sent(folder) == [("S1", "punctuality-1")]
    (folder / "policy.toml").write_text(POLICY.replace('name = "casework"', 'name = "my-copy"'), encoding="utf-8")
    again = letters(run, folder, export)
    assert again.exit_code == 0, again.stderr
    assert sent(folder) == [("S1", "punctuality-1")]
    assert (f"Warning: the policy 'my-copy' is new to the ledger {folder / 'ledger.sqlite'}, which holds runs of "
            "'casework'.") in " ".join(again.stderr.split())


def test_a_stage_that_needs_the_school_s_action_waits_for_it(run, tmp_path):
    folder = setup(tmp_path)
    policy = POLICY + '''
[[rule]]
id = "after-meeting"
kind = "count"
categories = ["unauthorised"]
window = "since-stage"
follows = "unauth-2"
after_action = "meeting-held"
at_least = 1
ladder = "unauthorised"
stage = 2
letter = "unauthorised-meeting"
'''
    (folder / "policy.toml").write_text(policy, encoding="utf-8")
    # 2 unauthorised in week 1 (the letter); one more on Wednesday of week 2, after the meeting on Tuesday
    export = register(tmp_path / "m.csv", {"S1": {0: "O", 1: "O", 5: "O", 7: "O"}}, 10)
    assert letters(run, folder, export, "--as-of", "06/11/2026").exit_code == 0
    no_meeting = letters(run, folder, export, "--dry-run")
    assert "unauthorised-meeting" not in no_meeting.stdout  # no meeting recorded: the stage does not apply
    act(folder, "unauthorised", "meeting-held", dt.date(2026, 11, 10))
    after = letters(run, folder, export)
    assert after.exit_code == 0, after.stderr
    assert sent(folder) == [("S1", "unauthorised-1"), ("S1", "unauthorised-meeting")]
    text = " ".join((folder / "out" / "2026-11-13_S1_unauthorised-meeting.txt").read_text(encoding="utf-8").split())
    assert "Wednesday 11 November 2026 O" in text and "Monday 9 November" not in text  # only after the meeting


def test_a_preview_writes_the_letters_to_read_and_records_nothing(run, tmp_path):
    folder = setup(tmp_path)
    export = register(tmp_path / "m.csv", {"S1": {0: "L", 1: "L", 2: "L"}, "S2": {3: "O", 4: "O"}}, 5)
    result = letters(run, folder, export, "--dry-run", "--preview", tmp_path / "preview")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "preview").iterdir()) == [
        "2026-11-06_S1_punctuality-1.txt", "2026-11-06_S2_unauthorised-1.txt"]
    assert f"they are in {tmp_path / 'preview'} to read. Nothing was recorded." in " ".join(result.stderr.split())
    assert not (folder / "ledger.sqlite").exists() and not (folder / "out").exists()


def test_a_ladder_for_agents_writes_to_the_agent_not_the_parents(run, tmp_path):
    folder = setup(tmp_path)
    (folder / "policy.toml").write_text(POLICY.replace('name = "unauthorised"\npriority = 40',
                                                       'name = "unauthorised"\npriority = 40\nrecipients = ["agent"]'),
                                        encoding="utf-8")
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("pupil_id,guardian_name,relationship,parental_responsibility,salutation,email,address\n"
                        "S1,Mrs Ana Lopez,Mother,yes,Mrs Lopez,,\"1 Hill Road, Newtown, NT1 1AA\"\n"
                        "S1,Mr Kenji Sato,Education agent,yes,Mr Sato,,\"9 Quay Street, Newtown, NT2 2BB\"\n",
                        encoding="utf-8")
    export = register(tmp_path / "m.csv", {"S1": {3: "O", 4: "O"}}, 5)
    result = letters(run, folder, export, "--contacts", contacts)
    assert result.exit_code == 0, result.stderr
    rows = manifest(folder, "2026-11-06").filter(pl.col("decision") == "letter")
    assert rows.select("recipient", "relationship").rows() == [("Mr Kenji Sato", "Education agent")]
