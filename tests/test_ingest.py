"""Each export layout, header aliases, encodings and the quirks real exports have."""

from __future__ import annotations

import codecs
import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attendance_cli.errors import InputError
from tests.conftest import ARBOR_HEADER, pupil, read, session_rows, stats

NAMES = [("Zoë", "Nowak"), ("O’Brien", "Siobhán"), ("Kowalczyk", "Łukasz")]


def _figures(row: dict) -> tuple:
    return (row["possible_sessions"], row["attended_sessions"], row["authorised_absences"],
            row["unauthorised_absences"], row["late_before_close"], row["minutes_late"])


# -- the five layouts --------------------------------------------------------------------------


def test_arbor_long_sessions_with_every_alias_spelling(write):
    path = write("arbor.csv", [
        "student_id,upn,SURNAME,First Name,NC Year,Reg Group,Attendance Date,AM/PM,Attendance Mark,Mins Late",
        "000869,A123,Nowak,Zoë,10,10B,01/09/2025,Morning,L,12",
        "000869,A123,Nowak,Zoë,10,10B,01/09/2025,Afternoon,I,",
    ])
    result = read([path])
    assert result.report.files[0].layout == "arbor-sessions"
    row = pupil(pupil_stats(result), "000869")
    assert (row["surname"], row["forename"], row["year_group"], row["form"]) == ("Nowak", "Zoë", "Year 10", "10B")
    assert _figures(row) == (2, 1, 1, 0, 1, 12)


def pupil_stats(result):
    from attendance_cli.statistics import pupil_statistics

    return pupil_statistics(result)


def test_arbor_warehouse_layout(write):
    path = write("warehouse.csv", [
        "STUDENT_ID,APPLICATION_ID,RAW_MARK,MARK_CODE,MINUTES_LATE,PERIOD,DATE,IS_PRESENT,IS_POSSIBLE_ATTENDANCE",
        "1001,9,/,PRESENT_AM,,MORNING,2015-10-16,TRUE,TRUE",
        "1001,9,U,LATE_AFTER_REG,35,AFTERNOON,2015-10-16,FALSE,TRUE",
    ])
    result = read([path])
    report = result.report.files[0]
    assert report.layout == "arbor-warehouse"
    assert result.export.shape == "sessions"  # PERIOD holds MORNING/AFTERNOON: sessions, not lessons
    # derived flags are recomputed from the marks, never trusted
    assert report.ignored_columns == ["APPLICATION_ID", "MARK_CODE", "IS_PRESENT", "IS_POSSIBLE_ATTENDANCE"]
    row = pupil(pupil_stats(result), "1001")
    assert (row["possible_sessions"], row["attended_sessions"], row["unauthorised_absences"],
            row["late_after_close"], row["minutes_late"]) == (2, 1, 1, 1, 35)


def test_wide_grid_with_date_and_session_in_each_header(write):
    path = write("grid.csv", [
        "Student ID,Legal Surname,Legal Forename,Year Group,Registration Form,Mon 01/09/2025 AM,Mon 01/09/2025 PM,02/09/2025 AM,02/09/2025 PM",
        "000123,Nowak,Zoë,R,Oak,/,\\,N,\\",
        "000124,O’Brien,Siobhán,Reception,Oak,I,I,/,",
    ])
    result = read([path])
    assert result.report.files[0].layout == "arbor-grid"
    figures = pupil_stats(result)
    assert _figures(pupil(figures, "000123")) == (4, 3, 0, 1, 0, 0)
    assert _figures(pupil(figures, "000124")) == (3, 1, 2, 0, 0, 0)
    assert result.report.unmarked == 1
    assert pupil(figures, "000124")["year_group"] == "Reception"


def test_a_grid_turned_into_marks_a_few_rows_at_a_time_gives_every_mark_and_every_message(write, monkeypatch):
    from attendance_cli.ingest import reader

    header = "Student ID,Legal Surname,Form,Mon 01/09/2025 AM,Mon 01/09/2025 PM,02/09/2025 AM,02/09/2025 PM"
    rows = [header, *[f"{n},S{n},Oak,/,{'N' if n % 3 else 'L'},\\,{'U' if n % 2 else ''}" for n in range(1, 8)]]
    whole = read([write("whole.csv", rows)])
    monkeypatch.setattr(reader, "GRID_CELLS", 5)  # one pupil's row (4 cells) at a time
    parts = read([write("parts.csv", rows)])
    assert pupil_stats(parts).equals(pupil_stats(whole)) and parts.report.unmarked == whole.report.unmarked == 3
    assert _figures(pupil(pupil_stats(parts), "3")) == (4, 3, 0, 1, 1, 0)
    with pytest.raises(InputError) as raised:  # a bad cell in the last part is named by its row and column
        read([write("bad.csv", [*rows, "8,S8,Oak,/,/,9,/"])])
    assert "bad.csv, line 9: unknown code; column '02/09/2025 AM'; value '9'" in raised.value.describe()


def test_a_grid_that_holds_a_pupil_on_two_rows_is_checked_for_duplicates(write):
    # a grid row is one pupil's marks in order; a pupil on two rows may hold a session twice: copies
    # collapse, and a copy with another mark is a conflict, as in a long export
    header = "Student ID,Legal Surname,Form,Mon 01/09/2025 AM,Mon 01/09/2025 PM,02/09/2025 AM"
    same = read([write("same.csv", [header, "1,Nowak,Oak,/,\\,/", "2,Lee,Oak,/,O,/", "2,Lee,Oak,/,O,/"])])
    assert same.report.duplicates_collapsed == 3
    assert [(pupil(pupil_stats(same), p)["possible_sessions"], pupil(pupil_stats(same), p)["attended_sessions"])
            for p in ("1", "2")] == [(3, 3), (3, 2)]
    with pytest.raises(InputError) as raised:
        read([write("conflict.csv", [header, "1,Nowak,Oak,/,\\,/", "1,Nowak,Oak,/,O,/"])])
    assert "conflicting duplicate: pupil 1 on 01/09/2025 PM" in raised.value.describe()


def test_a_grid_row_with_more_fields_than_the_header_is_one_row_naming_its_extra_text(write):
    path = write("glong.csv", ["Student ID,Surname,Forename,01/09/2025 AM,01/09/2025 PM", "1,Smith, Ann,A,/,N", "2,Lee,Bob,/,N"])
    with pytest.raises(InputError) as raised:
        read([path])
    text = raised.value.describe()
    assert text.startswith("1 row could not be used; nothing was written.")
    assert f"{path}, line 2: more fields than the header; column '(past the last column)'; value 'N'" in text


def test_wide_grid_with_two_header_rows(write):
    path = write("grid2.csv", [
        "Student ID,Name,Form,Mon 01/09/2025,,Tue 02/09/2025,",
        ",,,AM,PM,AM,PM",
        '7,"Nowak, Zoë",Oak,/,\\,L,\\',
        '8,"O’Brien, Siobhán",Oak,/,-,/,\\',
    ])
    result = read([path])
    report = result.report.files[0]
    assert (report.layout, report.header_rows) == ("arbor-grid", 2)
    figures = pupil_stats(result)
    assert (pupil(figures, "7")["surname"], pupil(figures, "7")["forename"]) == ("Nowak", "Zoë")
    assert _figures(pupil(figures, "7")) == (4, 4, 0, 0, 1, 0)
    assert _figures(pupil(figures, "8")) == (3, 3, 0, 0, 0, 0)  # "-" is unmarked, not absent
    # a day's export: one date over AM and PM
    day = write("day.csv", ["Student ID,Name,Form,Mon 01/09/2025,", ",,,AM,PM", '7,"Nowak, Zoë",Oak,/,N'])
    assert _figures(pupil(pupil_stats(read([day])), "7")) == (2, 1, 0, 1, 0, 0)


WEEK_HEADERS = "MonAM,MonPM,TueAM,TuePM,WedAM,WedPM,ThuAM,ThuPM,FriAM,FriPM"


def test_a_grid_whose_day_names_contradict_its_dates_is_refused_as_month_first(write):
    # 1 and 2 September 2025 were a Monday and a Tuesday, written month-first
    path = write("us_grid.csv", ["Student ID,Mon 09/01/2025 AM,Mon 09/01/2025 PM,Tue 09/02/2025 AM", "1,/,\\,/"])
    with pytest.raises(InputError) as raised:
        read([path])
    assert raised.value.describe().startswith(
        f"{path}: grid column 'Mon 09/01/2025 AM' (line 1) names a Monday, but 09/01/2025 read day-first is a "
        "Thursday: the dates look month-first.")


def test_weekly_grid_with_the_week_in_the_title(write):
    # Bromcom's weekly grid: a column per MonAM ... FriPM, the week said above the header
    path = write("week.csv", [
        "Weekly attendance: week beginning 01/09/2025", "",
        f"StudentId,Surname,Forename,Tutor Group,{WEEK_HEADERS}",
        "B1,Nowak,Zoë,7A,/,\\,/,\\,O,O,/,\\,L,\\",
        "B2,Smith,Amy,7A,/,\\,I,I,/,\\,/,\\,/,-",
        "Totals,,,2,2,1,1,1,1,2,2,2,1",
    ])
    result = read([path])
    report = result.report.files[0]
    assert (report.layout, report.header_line, report.above_header) == ("weekly-grid", 3, 2)
    assert report.furniture_lines == [(6, "report text")]
    figures = pupil_stats(result)
    assert _figures(pupil(figures, "B1")) == (10, 8, 0, 2, 1, 0)
    assert _figures(pupil(figures, "B2")) == (9, 7, 2, 0, 0, 0)
    assert (report.first_date, report.last_date) == (dt.date(2025, 9, 1), dt.date(2025, 9, 5))


def test_weekly_grid_with_a_week_column_holds_several_weeks(write):
    path = write("weeks.csv", [
        f"StudentId,Week Beginning,{WEEK_HEADERS}",
        "B1,01/09/2025,/,\\,/,\\,/,\\,/,\\,/,\\",
        "B1,08/09/2025,O,O,/,\\,/,\\,/,\\,/,\\",
    ])
    row = pupil(pupil_stats(read([path])), "B1")
    assert (row["possible_sessions"], row["unauthorised_absences"]) == (20, 2)
    marks = ",/,\\,/,\\,/,\\,/,\\,/,\\"
    # the first bad row in file order is named, with its own value
    bad = write("bad.csv", [f"StudentId,Week Beginning,{WEEK_HEADERS}", "B0,01/09/2025" + marks, "B1,02/09/2025" + marks,
                            "B2," + marks, "B3,03/09/2025" + marks])
    with pytest.raises(InputError) as raised:
        read([bad])
    assert raised.value.describe().splitlines()[0] == (
        f"{bad}, line 3: column 'Week Beginning' has '02/09/2025', not the date of a Monday.")


def test_weekly_grid_names_a_bad_cell_by_its_day_and_date_and_needs_a_week(write):
    path = write("week.csv", ["Week commencing 08/09/2025", f"StudentId,{WEEK_HEADERS}",
                              "B1,/,\\,/,\\,Q9,\\,/,\\,/,\\"])
    with pytest.raises(InputError) as raised:
        read([path])
    assert f"{path}, line 3: unknown code; column 'WedAM (10/09/2025)'; value 'Q9'" in raised.value.describe()
    undated = write("undated.csv", [f"StudentId,{WEEK_HEADERS}", "B1,/,\\,/,\\,/,\\,/,\\,/,\\"])
    with pytest.raises(InputError) as raised:
        read([undated])
    assert raised.value.describe().splitlines()[0] == (
        f"{undated}: a weekly grid (MonAM ... FriPM), but which week it is cannot be told: no date above the header.")


def test_progresso_roll_call(write):
    path = write("rollcall.csv", [
        "LearnerId,LearnerCode,Date,Session,AttendanceCode,MinutesLate,GroupCode,YearGroup",
        "12,000869,16-10-2025,AM,/\\,,HOUSE-N,Year 12",
        "12,000869,16-10-2025,PM,O,,HOUSE-N,Year 12",
    ])
    result = read([path])
    assert result.report.files[0].layout == "progresso-rollcall"
    row = pupil(pupil_stats(result), "12")
    assert (row["form"], row["year_group"], row["attendance_pct"]) == ("HOUSE-N", "Year 12", 50.0)
    assert result.pupils["admission_number"].to_list() == ["000869"]


def test_progresso_lessons_count_contact_points(write):
    path = write("lessons.csv", [
        "EventId,GroupCode,Date,StartTime,EndTime,LearnerId,LearnerCode,Period,AttendanceCode,MinutesLate,SubjectCode",
        "1,MATH-A,05-01-2026,09:00,10:00,12,2025-00012,P 1,/\\,,MATH",
        "2,PHYS-A,05-01-2026,10:15,11:15,12,2025-00012,P 2,A,,PHYS",
        "3,PHYS-A,05-01-2026,11:30,12:30,12,2025-00012,P 3,L,4,PHYS",
        "4,MATH-A,06-01-2026,09:00,10:00,12,2025-00012,P 1,I,,MATH",
    ])
    result = read([path], codes="college", by=["subject"])
    assert result.export.shape == "lessons"
    assert result.report.files[0].layout == "progresso-lessons"
    from attendance_cli.statistics import group_statistics, pupil_statistics

    per_subject = group_statistics(pupil_statistics(result, ["subject"]), ["subject"], lessons=True)
    assert per_subject.select("subject", "possible_sessions", "attended_sessions", "unauthorised_absences",
                              "days_missed").rows() == [("MATH", 2, 1, 0, None), ("PHYS", 2, 1, 1, None)]


def test_layout_can_be_forced_and_columns_mapped(write):
    path = write("odd.csv", ["Pupil Ref,Day,Half,Register Code", "1,01/09/2025,AM,/", "1,01/09/2025,PM,O"])
    maps = {"pupilref": "pupil_id", "day": "date", "half": "session", "registercode": "mark"}
    result = read([path], maps=maps, source="progresso")
    assert result.report.files[0].layout == "progresso-rollcall"
    assert pupil(pupil_stats(result), "1")["attendance_pct"] == 50.0


def test_a_map_wins_over_a_column_found_by_its_header(write):
    # "Pupil Ref" is the id this school uses; "Student ID" would otherwise be read as the id
    path = write("m.csv", ["Student ID,Pupil Ref,Date,Session,Mark", "1,P1,01/09/2025,AM,/", "2,P1,01/09/2025,PM,N"])
    result = read([path], maps={"pupilref": "pupil_id"})
    assert pupil_stats(result)["pupil_id"].to_list() == ["P1"]
    assert result.report.files[0].ignored_columns == ["Student ID"]


def test_two_columns_that_could_be_the_mark_are_never_guessed_between(write):
    path = write("two.csv", ["Student ID,Date,Session,Mark,Attendance Code", "1,01/09/2025,AM,/,O"])
    with pytest.raises(InputError) as raised:
        read([path])
    assert raised.value.describe().startswith(f"{path}: 2 columns could be the mark: 'Mark' and 'Attendance Code'.")
    assert "--map \"Attendance Code=mark\"" in raised.value.describe()
    assert pupil(stats([path], maps={"attendancecode": "mark"}), "1")["unauthorised_absences"] == 1
    # the same header twice: a --map cannot choose, so the fix says what can
    twice = write("twice.csv", ["Student ID,Date,Session,Mark,Mark", "1,01/09/2025,AM,/,/"])
    with pytest.raises(InputError) as raised:
        read([twice])
    assert raised.value.fix == ("Two of them have the same header, so --map cannot tell them apart: delete or rename one "
                                "in the file, and read it again.")


def test_a_map_of_a_header_no_export_has_is_refused(write, run):
    path = write("m.csv", ["Student ID,Date,Session,Mark", "1,01/09/2025,AM,/"])
    result = run("summary", path, "--map", "Pupil Reff=pupil_id")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --map: no export has a column matching 'pupilreff' (to read as pupil_id;")


def test_an_extra_column_mapped_to_a_new_attribute_can_be_grouped_by(write, run):
    path = write("house.csv", [f"{ARBOR_HEADER},House", "1,A,B,Year 7,7A,01/09/2025,AM,/,,Red",
                               "2,C,D,Year 7,7A,01/09/2025,AM,O,,Blue"])
    result = run("summary", path, "--map", "House=house", "--by", "house", "-f", "csv", "-q")
    assert result.exit_code == 0, result.stderr
    assert [line.split(",")[:4] for line in result.stdout.splitlines()[1:]] == [["Blue", "1", "1", "0"], ["Red", "1", "1", "1"],
                                                                            ["All pupils", "2", "2", "1"]]


# -- encodings -------------------------------------------------------------------------------


def _names_file(write, name: str, encoding: str, bom: bytes = b"", names=NAMES):
    rows = [ARBOR_HEADER] + [f"{i},{s},{f},Year 3,3A,01/09/2025,AM,/," for i, (s, f) in enumerate(names)]
    text = "\r\n".join(rows) + "\r\n"
    path = write(name, "")
    path.write_bytes(bom + text.encode(encoding))
    return path


@pytest.mark.parametrize(("encoding", "bom"), [
    ("utf-8", b""), ("utf-8", codecs.BOM_UTF8), ("utf-16-le", codecs.BOM_UTF16_LE),
    ("utf-16-be", codecs.BOM_UTF16_BE), ("utf-16-le", b""),
])
def test_names_survive_every_unicode_encoding(write, encoding, bom):
    path = _names_file(write, "names.csv", encoding, bom)
    result = read([path])
    assert sorted(zip(result.pupils["surname"], result.pupils["forename"])) == sorted(NAMES)


@pytest.mark.parametrize(("encoding", "bom"), [("utf-16-le", codecs.BOM_UTF16_LE), ("utf-8", b"")])
def test_tab_separated_saves_are_read(write, encoding, bom):
    # Excel's "Unicode text" is UTF-16 and tab-separated; names with commas need no quotes there
    names = [*NAMES, ("Smith, Jr", "Tom")]
    rows = [ARBOR_HEADER] + [f"{i},{s},{f},Year 3,3A,01/09/2025,AM,/," for i, (s, f) in enumerate(names)]
    path = write("unicode.txt", "")
    path.write_bytes(bom + ("\r\n".join(r.replace(",", "\t") for r in rows).replace("Smith\t Jr", "Smith, Jr") + "\r\n").encode(encoding))
    result = read([path])
    assert sorted(zip(result.pupils["surname"], result.pupils["forename"])) == sorted(names)
    assert result.report.files[0].encoding_note.endswith("tab-separated")


def test_tabs_inside_the_cells_of_a_comma_separated_file_do_not_make_it_tab_separated(write):
    path = write("notes.csv", [f"{ARBOR_HEADER},Notes", "1,A,B,3,3A,01/09/2025,AM,/,,a\tb\tc\td\te\tf\tg\th\ti\tj",
                               "2,C,D,3,3A,01/09/2025,AM,N,," + "\t" * 12])
    assert stats([path])["pupil_id"].to_list() == ["1", "2"]


def test_windows_1252_from_excel_is_detected(write):
    names = [("Zoë", "Nowak"), ("O’Brien", "Siobhán"), ("Smith", "Renée")]
    path = _names_file(write, "excel.csv", "cp1252", names=names)
    result = read([path])
    assert sorted(zip(result.pupils["surname"], result.pupils["forename"])) == sorted(names)
    assert result.report.files[0].encoding_note == "Windows-1252 (Excel 'CSV' save); converted to UTF-8"


def test_a_file_that_is_partly_utf8_and_partly_not_is_refused(write):
    path = write("mixed.csv", "")
    path.write_bytes((ARBOR_HEADER + "\n1,Zoë,A,3,3A,01/09/2025,AM,/,\n").encode("utf-8")
                     + "2,Renée,B,3,3A,01/09/2025,AM,/,\n".encode("cp1252"))
    with pytest.raises(InputError) as raised:
        read([path])
    text = raised.value.describe()
    assert "cannot tell the text encoding. It is mostly UTF-8 but byte" in text
    assert "(line 3) is not, so names could be corrupted." in text
    assert "try --encoding cp1252" in text


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"a", b",", b"\n", b"0"] + [bytes([b]) for b in range(128, 256)
                                                              if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)]), max_size=60),
       st.sampled_from(["cp1252", "latin-1"]))
def test_a_single_byte_encoding_is_converted_exactly_as_python_decodes_it(pieces, encoding):
    # every defined byte, in any mix: the byte-replacing conversion equals decoding and re-encoding
    # (`’` becomes E2 80 99 and `â` is E2: the order of replacements must never rewrite a replacement)
    from attendance_cli.ingest.encoding import _single_byte_converter

    chunk = b"".join(pieces)
    convert = _single_byte_converter(encoding, Path("x.csv"), lambda *a: AssertionError(a))
    assert convert(chunk, 0, False) == chunk.decode(encoding).encode("utf-8")


@pytest.fixture
def large(monkeypatch):
    """Every file read as a large one: converted a few bytes at a time into a temporary file."""
    from attendance_cli.ingest import encoding

    monkeypatch.setattr(encoding, "_small", lambda path: False)
    monkeypatch.setattr(encoding, "CHUNK_BYTES", 7)


def test_a_large_windows_1252_export_is_converted_chunk_by_chunk(write, large):
    names = [("Zoë", "Nowak"), ("O’Brien", "Siobhán"), ("Smith", "Renée"), ("Dâ’n", "Ãx ƒ")]
    path = _names_file(write, "excel.csv", "cp1252", names=names)
    result = read([path])
    assert sorted(zip(result.pupils["surname"], result.pupils["forename"])) == sorted(names)
    assert result.report.files[0].encoding_note == "Windows-1252 (Excel 'CSV' save); converted to UTF-8"


@pytest.mark.parametrize("size", ["small", "large"])
def test_a_byte_windows_1252_leaves_undefined_is_named_with_its_line(write, request, size):
    if size == "large":
        request.getfixturevalue("large")
    path = write("excel.csv", "")
    data = (ARBOR_HEADER + "\n1,Zoë,A,3,3A,01/09/2025,AM,/,\n").encode("cp1252") + b"2,Ren\x81e,B,3,3A,01/09/2025,AM,/,\n"
    path.write_bytes(data)
    with pytest.raises(InputError) as raised:
        read([path])
    assert raised.value.describe().splitlines()[0] == (
        f"{path}: cannot tell the text encoding (not UTF-8, and byte 0x81 at offset {data.index(0x81):,}, line 3, "
        "is not Windows-1252 either).")


def test_forced_encoding(write):
    path = _names_file(write, "latin.csv", "latin-1", names=[("Zoë", "Renée")])
    result = read([path], encoding="latin-1")
    assert result.pupils["surname"].to_list() == ["Zoë"]


# -- quirks ----------------------------------------------------------------------------------


def test_identifiers_stay_text_and_marks_are_never_escapes_or_comments(write):
    path = write("ids.csv", [ARBOR_HEADER, "000869,A,B,3,3A,01/09/2025,AM,/,", "000869,A,B,3,3A,01/09/2025,PM,\\,",
                             "2013-00001,C,D,3,3A,01/09/2025,AM,#,", "2013-00001,C,D,3,3A,01/09/2025,PM,Y1,",
                             "2013-00001,C,D,3,3A,02/09/2025,AM,C1,", "2013-00001,C,D,3,3A,02/09/2025,PM,J1,"])
    figures = stats([path])
    assert figures["pupil_id"].to_list() == ["000869", "2013-00001"]
    assert _figures(pupil(figures, "000869")) == (2, 2, 0, 0, 0, 0)
    assert _figures(pupil(figures, "2013-00001")) == (2, 0, 2, 0, 0, 0)


@pytest.mark.parametrize("text", ["01/09/2025", "1/9/2025", "01-09-2025", "01/09/25", "2025-09-01",
                                  "2025-09-01T08:45:00", "01-09-2025T08:45:00", "01/09/2025 00:00:00", "01.09.2025"])
def test_day_first_date_formats(write, text):
    path = write("d.csv", [ARBOR_HEADER, f"1,A,B,3,3A,{text},AM,/,"])
    assert read([path]).report.first_date == dt.date(2025, 9, 1)


def test_a_file_mixing_date_formats_is_read(write):
    rows = [ARBOR_HEADER] + [f"1,A,B,3,3A,{d:%d/%m/%Y},AM,/," for d in (dt.date(2025, 9, 1) + dt.timedelta(days=i) for i in range(80))]
    rows += ["1,A,B,3,3A,2025-11-20,AM,O,", "1,A,B,3,3A,21-11-2025T00:00:00,AM,O,"]
    row = pupil(stats([write("mixed.csv", rows)]), "1")
    assert (row["possible_sessions"], row["unauthorised_absences"]) == (82, 2)


def test_unpadded_dates_deep_in_a_padded_file_are_read(write):
    days = [dt.date(2025, 9, 1) + dt.timedelta(days=i) for i in range(90)]
    rows = [ARBOR_HEADER] + [f"1,A,B,3,3A,{d:%d/%m/%Y},AM,/," for d in days] + ["1,A,B,3,3A,3/1/2026,AM,O,"]
    row = pupil(stats([write("padded.csv", rows)]), "1")
    assert (row["possible_sessions"], row["unauthorised_absences"]) == (91, 1)


def test_padded_and_tolerant_readings_agree(write):
    rows = [ARBOR_HEADER, "1,A,B,3,3A,01/09/2025, AM , / ,", "1,A,B,3,3A,01/09/2025,PM,L,5.0", "1,A,B,3,3A,2/9/2025,AM,O,",
            "1,A,B,3,3A,  02/09/2025 ,PM,O,"]
    row = pupil(stats([write("messy.csv", rows)]), "1")
    assert (row["possible_sessions"], row["attended_sessions"], row["minutes_late"]) == (4, 2, 5)


def test_a_later_export_without_names_keeps_the_names_an_earlier_one_gave(write):
    # a pupil who left during a half term exported from the warehouse (ids and marks only)
    autumn = write("autumn.csv", [ARBOR_HEADER, "1001,Nowak,Zoë,Year 3,3A,01/09/2025,AM,/,"])
    # sorted by date, not pupil: its rows are read again for each pupil's latest row
    spring = write("spring.csv", ["STUDENT_ID,RAW_MARK,MINUTES_LATE,PERIOD,DATE", "1001,O,,MORNING,2026-01-05",
                                  "1002,/,,MORNING,2026-01-05", "1001,/,,AFTERNOON,2026-01-05"])
    row = pupil(stats([autumn, spring]), "1001")
    assert (row["surname"], row["forename"], row["year_group"], row["form"], row["possible_sessions"]) == (
        "Nowak", "Zoë", "Year 3", "3A", 3)


def test_pupil_ids_padded_with_spaces_are_the_same_pupil(write):
    # Excel and some MIS reports pad identifiers; " 1001" in one export and "1001" in the next is one pupil
    autumn = write("autumn.csv", [ARBOR_HEADER, " 1001 ,A,B,3,3A,01/09/2025,AM,/,", " 1001 ,A,B,3,3A,01/09/2025,PM,O,"])
    spring = write("spring.csv", [ARBOR_HEADER, "1001,A,B,3,3A,05/01/2026,AM,/,", "1002,C,D,3,3A,05/01/2026,AM,/,"])
    result = stats([autumn, spring])
    assert result["pupil_id"].to_list() == ["1001", "1002"]
    row = pupil(result, "1001")
    assert (row["possible_sessions"], row["unauthorised_absences"]) == (3, 1)


def test_a_pupil_id_of_spaces_is_a_missing_pupil_id(write):
    path = write("blank_id.csv", [ARBOR_HEADER, " 1001,A,B,3,3A,01/09/2025,AM,/,", "   ,A,B,3,3A,01/09/2025,PM,/,"])
    with pytest.raises(InputError) as raised:
        read([path])
    assert "line 3: missing pupil id; column 'Student ID'; value ''" in raised.value.describe()


def test_month_first_dates_are_refused(write):
    path = write("us.csv", [ARBOR_HEADER, "1,A,B,3,3A,09/13/2025,AM,/,"])
    with pytest.raises(InputError) as raised:
        read([path])
    assert "line 2: not a day-first date; column 'Date'; value '09/13/2025'" in raised.value.describe()


def test_blank_and_dash_are_unmarked_not_absent(write):
    path = write("u.csv", [ARBOR_HEADER, "1,A,B,3,3A,01/09/2025,AM,/,", "1,A,B,3,3A,01/09/2025,PM,,",
                           "1,A,B,3,3A,02/09/2025,AM,-,", "1,A,B,3,3A,02/09/2025,PM, - ,"])
    result = read([path])
    assert _figures(pupil(pupil_stats(result), "1")) == (1, 1, 0, 0, 0, 0)
    assert result.report.unmarked == 3


def test_quoted_empty_and_space_only_cells_are_blank(write):
    # exports that quote every field write a blank cell as ""; Excel may leave a cell of spaces
    long = write("quoted.csv", ['"Student ID","Date","Session","Mark","Minutes Late"', '"1","01/09/2025","AM","/",""',
                                '"1","01/09/2025","PM","N",""', '"1","02/09/2025","AM",""," "', '"1","02/09/2025","PM","L"," 5 "'])
    result = read([long])
    assert _figures(pupil(pupil_stats(result), "1")) == (3, 2, 0, 1, 1, 5)
    assert (result.report.unmarked, result.report.rejected) == (1, 0)
    grid = write("quoted_grid.csv", ["Student ID,01/09/2025 AM,01/09/2025 PM,02/09/2025 AM", '"1","/",""," "'])
    result = read([grid])
    assert (result.report.marks, result.report.unmarked, result.report.rejected) == (1, 2, 0)


def test_blank_can_be_configured_to_mean_a_code(write):
    path = write("u.csv", [ARBOR_HEADER, "1,A,B,3,3A,01/09/2025,AM,/,", "1,A,B,3,3A,01/09/2025,PM,,"])
    assert pupil(stats([path], blank_means="O"), "1")["unauthorised_absences"] == 1
    # a quoted empty cell and a cell of spaces are blank too
    quoted = write("q.csv", [ARBOR_HEADER, '1,A,B,3,3A,01/09/2025,AM,"",', "1,A,B,3,3A,01/09/2025,PM,   ,"])
    assert pupil(stats([quoted], blank_means="O"), "1")["unauthorised_absences"] == 2


def test_report_furniture_is_skipped_and_accounted_for(write):
    path = write("f.csv", [
        "Riverside Academy - Attendance",
        "Date range: 01/09/2025 to 05/09/2025",
        ARBOR_HEADER,
        "1,A,B,3,3A,01/09/2025,AM,/,",
        "",
        ARBOR_HEADER,
        "1,A,B,3,3A,01/09/2025,PM,N,",
        ",,,,,,,,,",
        "Total,,,,,,,2,",
        "Key: / present; N no reason yet,,,,,,,,",
        "Printed 20/11/2026",
        "Form: 3B,,,,,,,,",  # a report grouped by form heads each group
        "2,C,D,3,3B,01/09/2025,AM,/,",
    ])
    report = read([path]).report.files[0]
    assert (report.above_header, report.header_line, report.rows, report.accepted, report.rejected, report.furniture) == (
        2, 3, 10, 3, 0, 7)
    assert report.balanced and report.total_lines == 13
    assert report.furniture_lines == [(5, "blank row"), (6, "repeated header"), (8, "blank row"),
                                      (9, "report text"), (10, "report text"), (11, "report text"), (12, "report text")]


def test_identical_duplicates_across_overlapping_exports_collapse(write):
    week1 = write("w1.csv", [ARBOR_HEADER, *session_rows("1", dt.date(2025, 9, 1), ["/", "\\", "/", "N"])])
    week2 = write("w2.csv", [ARBOR_HEADER, *session_rows("1", dt.date(2025, 9, 2), ["/", "N", "/", "\\"])])
    result = read([week1, week2])
    assert result.report.duplicates_collapsed == 2
    assert _figures(pupil(pupil_stats(result), "1")) == (6, 5, 0, 1, 0, 0)


def test_an_unmarked_session_marked_in_a_later_export_is_not_a_conflict(write):
    first = write("a.csv", [ARBOR_HEADER, "1,A,B,3,3A,01/09/2025,AM,/,", "1,A,B,3,3A,01/09/2025,PM,,"])
    later = write("b.csv", [ARBOR_HEADER, "1,A,B,3,3A,01/09/2025,AM,/,", "1,A,B,3,3A,01/09/2025,PM,O,"])
    result = read([first, later])
    assert _figures(pupil(pupil_stats(result), "1")) == (2, 1, 0, 1, 0, 0)
    assert result.report.unmarked == 0


def test_a_grid_copy_without_minutes_agrees_with_a_long_copy_with_minutes(write):
    grid = write("g.csv", ["Student ID,01/09/2025 AM,01/09/2025 PM", "1,L,\\"])
    long = write("l.csv", ["Student ID,Date,Session,Mark,Minutes Late", "1,01/09/2025,AM,L,12", "1,01/09/2025,PM,\\,"])
    result = read([grid, long])
    assert result.report.duplicates_collapsed == 2
    assert _figures(pupil(pupil_stats(result), "1")) == (2, 2, 0, 0, 1, 12)
    clash = write("c.csv", ["Student ID,Date,Session,Mark,Minutes Late", "1,01/09/2025,AM,L,15"])
    with pytest.raises(InputError, match="could not be used"):
        read([long, clash])


def test_a_conflicting_duplicate_names_both_rows(write):
    first = write("a.csv", [ARBOR_HEADER, "1,A,B,3,3A,01/09/2025,AM,/,", "1,A,B,3,3A,01/09/2025,PM,N,"])
    later = write("b.csv", [ARBOR_HEADER, "1,A,B,3,3A,01/09/2025,PM,I,"])
    with pytest.raises(InputError) as raised:
        read([first, later])
    assert (f"{first} and {later}: conflicting duplicate: pupil 1 on 01/09/2025 PM: a.csv line 3 has 'N'; "
            "b.csv line 2 has 'I'" in raised.value.describe())
    # the same mark with other minutes late: the minutes are what differ
    lates = write("l.csv", [ARBOR_HEADER, "1,A,B,3,3A,01/09/2025,AM,L,12", "1,A,B,3,3A,01/09/2025,AM,L,15"])
    with pytest.raises(InputError) as raised:
        read([lates])
    assert (f"{lates}, lines 2, 3: conflicting duplicate: pupil 1 on 01/09/2025 AM: l.csv line 2 has 'L' "
            "(12 minutes late); l.csv line 3 has 'L' (15 minutes late)") in raised.value.describe()
    kept = read([first, later], duplicates="keep-last")
    assert _figures(pupil(pupil_stats(kept), "1")) == (2, 1, 1, 0, 0, 0)
    assert kept.report.duplicates_collapsed == 1
    # with --lenient both sides of the conflict are set aside: the session is not counted
    lenient = read([first, later], lenient=True)
    assert _figures(pupil(pupil_stats(lenient), "1")) == (1, 1, 0, 0, 0, 0)
    assert (lenient.report.duplicates_collapsed, lenient.report.rejected) == (0, 2)
    assert lenient.report.rejects["reason"].to_list() == ["conflicting duplicate", "conflicting duplicate"]
    assert all(f.balanced for f in lenient.report.files)


def test_duplicates_within_an_unsorted_file_are_found(write):
    rows = session_rows("1", dt.date(2025, 9, 1), ["/", "\\", "/", "\\"]) + session_rows("2", dt.date(2025, 9, 1), ["/", "\\"])
    rows.append(rows[1])  # the same session again, after another pupil
    result = read([write("dup.csv", [ARBOR_HEADER, *rows])])
    assert result.report.duplicates_collapsed == 1
    assert pupil(pupil_stats(result), "1")["possible_sessions"] == 4


def test_lesson_duplicates_by_event(write):
    header = "EventId,GroupCode,Date,StartTime,EndTime,LearnerId,LearnerCode,Period,AttendanceCode,MinutesLate,SubjectCode"
    path = write("l.csv", [header, "1,M,05-01-2026,09:00,10:00,12,X,P 1,/,,MATH", "1,M,05-01-2026,09:00,10:00,12,X,P 1,/,,MATH",
                           "2,M,05-01-2026,10:00,11:00,12,X,P 2,O,,MATH"])
    result = read([path], codes="college")
    assert result.report.duplicates_collapsed == 1
    assert pupil(pupil_stats(result), "12")["possible_sessions"] == 2


def test_bromcom_style_subcode_column_gives_the_real_code(write):
    path = write("sub.csv", ["StudentId,Date,Session,Mark,Subcode", "1,01/09/2025,AM,C,C1", "1,01/09/2025,PM,Y,Y3",
                             "1,02/09/2025,AM,/,"])
    row = pupil(stats([path]), "1")
    assert (row["possible_sessions"], row["authorised_absences"]) == (2, 1)


def test_a_subcode_only_refines_its_own_mark(write):
    # a subcode that is not one of its mark's would turn a present mark into an absence: refused
    path = write("sub.csv", ["StudentId,Date,Session,Mark,Subcode", "1,02/09/2025,AM,/,C1", "1,02/09/2025,PM,C,CZ"])
    with pytest.raises(InputError) as raised:
        read([path])
    text = raised.value.describe()
    assert ("line 2: subcode does not belong to the mark; column 'Subcode'; value 'C1'\n"
            "        Expected: a subcode of the mark '/' (C1 or C2 with C, J1 with J, Y1 to Y7 with Y)") in text
    assert "line 3: unknown code; column 'Subcode'; value 'CZ'" in text
    # a subcode used before it was a code is explained as the subcode
    early = write("early.csv", ["StudentId,Date,Session,Mark,Subcode", "1,05/09/2023,PM,C,C1"])
    with pytest.raises(InputError) as raised:
        read([early])
    assert ("line 2: code not valid on this date; column 'Subcode'; value 'C1'\n"
            "        Expected: 'C1' is valid from 19/08/2024.") in raised.value.describe()


def test_admission_and_leaving_dates_limit_possible_sessions(write):
    path = write("e.csv", [f"{ARBOR_HEADER},Admission Date,Leaving Date",
                           *[r + ",02/09/2025,03/09/2025" for r in session_rows("1", dt.date(2025, 9, 1), ["O", "O", "/", "O", "/", "/", "O", "O"])]])
    row = pupil(stats([path]), "1")
    # only 2–3 September count: /, O, /, /
    assert (row["possible_sessions"], row["attended_sessions"], row["unauthorised_absences"]) == (4, 3, 1)


def test_every_row_is_accounted_for_in_lenient_mode(write):
    rows = [ARBOR_HEADER, "1,A,B,3,3A,01/09/2025,AM,/,", "1,A,B,3,3A,01/09/2025,PM,??,", ",A,B,3,3A,02/09/2025,AM,/,",
            "1,A,B,3,3A,31/09/2025,AM,/,", "", "Total,,,,,,,3,"]
    result = read([write("mix.csv", rows)], lenient=True)
    report = result.report.files[0]
    assert (report.rows, report.accepted, report.rejected, report.furniture) == (6, 1, 3, 2)
    assert result.report.rejects.select("line", "reason", "column", "value").rows() == [
        (3, "unknown code", "Mark", "??"), (4, "missing pupil id", "Student ID", None), (5, "not a day-first date", "Date", "31/09/2025")]


def test_canonical_parquet_round_trip_gives_the_same_figures(write, run, tmp_path):
    rows = session_rows("000869", dt.date(2025, 9, 1), ["/", "\\", "L", "N", "I", "#"], minutes={2: 9})
    path = write("a.csv", [ARBOR_HEADER, *rows])
    out = tmp_path / "marks.parquet"
    assert run("ingest", path, "-o", out).exit_code == 0
    marks = pl.read_parquet(out)
    assert marks.columns == ["pupil_id", "date", "session", "code", "minutes_late", "source_file", "source_line", "pupil"]
    assert marks["source_line"].to_list() == [2, 3, 4, 5, 6, 7]
    direct = run("summary", path, "-f", "csv", "-q").stdout
    assert run("summary", out, "-f", "csv", "-q").stdout == direct


def test_the_store_holds_unmarked_sessions_the_report_and_fingerprints_and_answers_like_the_exports(write, run, tmp_path):
    import json
    import os

    rows = [*session_rows("000869", dt.date(2025, 9, 1), ["/", "\\", "L", "-", "I", "#", "O", "/"], minutes={2: 9}),
            *session_rows("000870", dt.date(2025, 9, 1), ["N", "\\", "/", "\\", "U", "\\"], minutes={4: 40})]
    path = write("a.csv", [ARBOR_HEADER, *rows])
    out = tmp_path / "store.parquet"
    assert run("ingest", path, "-o", out).exit_code == 0
    marks = pl.read_parquet(out)
    assert marks.filter(pl.col("code").is_null()).select("pupil_id", "source_line").rows() == [("000869", 5)]
    # each row's pupil number, in pupil id order, for readers that count by number
    assert marks.select("pupil_id", "pupil").unique().sort("pupil").rows() == [("000869", 0), ("000870", 1)]
    info = json.loads(pl.read_parquet_metadata(out)["attendance_cli"])
    assert info["report"]["marks"] == 13 and info["report"]["unmarked"] == 1
    assert info["pupils"]["pupil_id"] == ["000869", "000870"]
    assert info["fingerprints"][0]["size"] == path.stat().st_size
    for options in ([], ["--window", "ytd", "--by", "form"], ["--from", "02/09/2025", "--to", "03/09/2025"],
                    ["--by", "session"], ["--cohort", "dfe"]):
        assert run("summary", out, "-f", "csv", "-q", *options).stdout == run("summary", path, "-f", "csv", "-q", *options).stdout, options
    found = [run("triggers", p, "--policy", "dfe-national", "-f", "csv", "-q", "--db", tmp_path / "none.sqlite").stdout
             for p in (path, out)]
    assert found[0] == found[1]
    # each code one of the code table's tokens (counted by number); a store of the version before,
    # with codes as text, is still read, with the same figures
    assert isinstance(marks["code"].dtype, pl.Enum)
    older = tmp_path / "older.parquet"
    marks.with_columns(pl.col("code").cast(pl.String)).write_parquet(
        older, metadata={"attendance_cli": json.dumps(info | {"version": 3})})
    for options in ([], ["--by", "form"]):
        assert run("summary", older, "-f", "csv", "-q", *options).stdout == run("summary", path, "-f", "csv", "-q", *options).stdout
    # an export changed since the store was written is named
    later = path.stat().st_mtime_ns + 5_000_000_000
    os.utime(path, ns=(later, later))
    assert "has changed since this store was written" in run("summary", out, "-f", "csv").stderr


def test_a_grid_overlapping_a_long_export_keeps_every_mark_in_the_canonical_file(write, run, tmp_path):
    # the long export repeats one of the grid's sessions with its minutes late, so the grid's copy is
    # the one that collapses, and only that mark (a grid row holds many marks: the copy is named by
    # its date and session, not its row)
    grid = write("grid.csv", [
        "Student ID,Legal Surname,Legal Forename,Year Group,Registration Form,01/09/2025 AM,01/09/2025 PM,02/09/2025 AM,02/09/2025 PM",
        "000123,Nowak,Zoë,R,Oak,/,\\,N,L",
    ])
    week = write("week.csv", [ARBOR_HEADER, "000123,Nowak,Zoë,R,Oak,02/09/2025,PM,L,7", "000123,Nowak,Zoë,R,Oak,03/09/2025,AM,O,"])
    out = tmp_path / "marks.parquet"
    assert run("ingest", grid, week, "-o", out).exit_code == 0
    marks = pl.read_parquet(out)
    assert marks.select(pl.col("date").dt.strftime("%d/%m"), "session", "code").rows() == [
        ("01/09", "AM", "/"), ("01/09", "PM", "\\"), ("02/09", "AM", "N"), ("02/09", "PM", "L"), ("03/09", "AM", "O")]
    assert marks["minutes_late"].to_list() == [None, None, None, 7, None]
    assert run("summary", out, "-f", "csv", "-q").stdout == run("summary", grid, week, "-f", "csv", "-q").stdout


def test_a_pass_without_code_counts_accounts_for_every_row_the_same(write):
    # the rules read the marks themselves, so their pass counts marks per pupil, not per code; the checking
    # and the accounting must not change: rejects, furniture, collapsed duplicates, unmarked, totals
    from attendance_cli.codes import load_code_table
    from attendance_cli.ingest import IngestOptions, open_exports, tally
    from attendance_cli.statistics import pupil_statistics

    autumn = write("autumn.csv", ["Register", ARBOR_HEADER, *session_rows("1", dt.date(2025, 9, 1), ["/", "O", "L", "-"]),
                                  *session_rows("2", dt.date(2025, 9, 1), ["I", "Q9", "\\"]), "Totals,,,,,,,,"])
    overlap = write("overlap.csv", [ARBOR_HEADER, *session_rows("1", dt.date(2025, 9, 2), ["L", "-", "G"])])
    export = open_exports([autumn, overlap], IngestOptions(codes=load_code_table("dfe"), lenient=True))
    full, light = tally(export), tally(export, codes=False)
    for field in ("pupils", "marks", "unmarked", "duplicates_collapsed", "rejected", "furniture", "first_date", "last_date"):
        assert getattr(light.report, field) == getattr(full.report, field), field
    assert (full.report.marks, full.report.duplicates_collapsed, full.report.rejected) == (6, 2, 1)
    assert light.report.rejects.equals(full.report.rejects)
    assert light.counts.group_by("pupil_id").agg(pl.col("sessions").sum()).sort("pupil_id").equals(
        full.counts.group_by("pupil_id").agg(pl.col("sessions").sum()).sort("pupil_id"))
    assert light.report.code_counts is None
    with pytest.raises(ValueError, match="code by code"):
        pupil_statistics(light)


@pytest.mark.parametrize("start", [dt.date(2025, 9, 1), dt.date(2024, 8, 12)])  # one code era, or two
def test_the_spellings_of_a_code_are_counted_as_one_code(write, start):
    # `/`, `/\` and `//` all mean present: one row per pupil and code, in one era or across two
    path = write("spellings.csv", [ARBOR_HEADER, *session_rows("1", start, ["/", "/\\", "//", "N", "N", "/"] * 2)])
    counts = read([path]).counts.group_by("pupil_id", "code").agg(pl.len().alias("rows"), pl.col("sessions").sum())
    assert sorted(counts.rows()) == [("1", "/", 1, 8), ("1", "N", 1, 4)]
