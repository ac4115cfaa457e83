"""Letters written and recorded together: never twice, never half.

1. Every letter is rendered (any template error stops the run here; nothing is written).
2. Files go to a hidden staging folder inside the output folder (`.attendance-staging-<token>`).
3. One ledger transaction records the new trigger events, the letters and the letter run (state
   'moving'). An event another run recorded meanwhile is skipped with its letters; the merged
   print file and the manifest are made inside the transaction from the letters recorded.
4. The files are moved from staging into the folder and the run is marked 'done'.

A run killed before step 3 commits leaves nothing recorded and only a staging folder, which the
next run removes. A run killed during step 4 is finished by the next run (its letters are
recorded, so their files are moved into place). So every file in the folder is recorded, and
every recorded letter's file is in the folder once any later run has started.

A recording run holds the letters folder's lock and the ledger's lock (`attendance_cli.locks`) from
before it recovers until its run is marked done, so the staging folder a recovery finds is never
that of a run still going.

The ledger keeps the folder's absolute path, as the next run may start in another working
directory. A recorded run is marked 'done' only once its files are in the folder: if its staging
folder cannot be found, the next run stops with an error saying where it was expected, rather
than leave recorded letters that no one will send.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from attendance_cli.errors import AttendanceError
from attendance_cli.formatting import plural
from attendance_cli.letters.model import Letter
from attendance_cli.letters.render import EXTENSION, Rendered, file_format, produce

STAGING_PREFIX = ".attendance-staging-"
#: Columns of the manifest CSV (and of --dry-run), in order.
MANIFEST = ("pupil_id", "surname", "forename", "year_group", "form", "letter", "rule_id", "stage", "first_met_on",
            "letter_date", "channel", "recipient", "relationship", "address", "email", "file", "event_id", "decision",
            "reason")


class StagingMissing(AttendanceError):
    """A recorded letters run was stopped while moving its files, and its staging folder is not there.

    Its letters are in the ledger, so they will never be written again: marking the run done would
    lose them without a word. The run stays unfinished, and `attendance letters` stops, until the
    folder is found (or put back)."""


@dataclass(frozen=True)
class Written:
    folder: Path
    letters: int
    events: int
    skipped: int  # events (and their letters) another run had recorded meanwhile
    files: list[str]
    merged: str | None
    manifest: str | None
    rendered: list[Rendered]  # the letters written (recorded)
    event_ids: dict[int, int] = field(default_factory=dict)  # event key -> ledger event id, recorded events only


def manifest_frame(rendered: Sequence[Rendered], event_ids: dict[int, int] | None = None) -> pl.DataFrame:
    rows = []
    for item in rendered:
        c = item.letter.context
        rows.append({
            "pupil_id": item.letter.pupil_id, "surname": c["pupil"]["surname"], "forename": c["pupil"]["forename"],
            "year_group": c["pupil"]["year_group"], "form": c["pupil"]["form"], "letter": item.letter.letter,
            "rule_id": item.letter.rule_id, "stage": item.letter.stage, "first_met_on": c["event"]["first_met_on"],
            "letter_date": c["date"], "channel": item.letter.channel, "recipient": item.letter.recipient,
            "relationship": c["recipient"]["relationship"], "address": ", ".join(item.letter.address),
            "email": item.letter.email or "", "file": item.filename,
            "event_id": (event_ids or {}).get(item.letter.key), "decision": "letter", "reason": ""})
    schema = {"pupil_id": pl.String, "surname": pl.String, "forename": pl.String, "year_group": pl.String,
              "form": pl.String, "letter": pl.String, "rule_id": pl.String, "stage": pl.Int64, "first_met_on": pl.Date,
              "letter_date": pl.Date, "channel": pl.String, "recipient": pl.String, "relationship": pl.String,
              "address": pl.String, "email": pl.String, "file": pl.String, "event_id": pl.Int64,
              "decision": pl.String, "reason": pl.String}
    return pl.DataFrame(rows, schema=schema, orient="row").select(MANIFEST)


def other_rows(others: pl.DataFrame | None, event_ids: dict[int, int], letter_date) -> pl.DataFrame:
    """Manifest rows for the run's events that get no letter (held, superseded, for staff, ...): the
    event id only where the event was recorded."""
    schema = dict(manifest_frame([]).schema)
    if others is None or not others.height:
        return pl.DataFrame(schema=schema)
    ids = pl.col("key").replace_strict(event_ids, default=None, return_dtype=pl.Int64)
    return others.with_columns(
        pl.lit(letter_date, dtype=pl.Date).alias("letter_date"), *[pl.lit("").alias(c) for c in
                                                                   ("channel", "recipient", "relationship", "address",
                                                                    "email", "file")],
        pl.when(pl.col("record")).then(ids).alias("event_id")).select(
        [pl.col(name).cast(dtype) for name, dtype in schema.items()])


def recover(folder: Path, ledger_path: Path, wait: float, abandon: bool = False) -> list[str]:
    """Finish runs a killed process left half-moved, and remove staging folders nothing recorded.
    Returns notes for the user. Raises StagingMissing if a recorded run's staging folder cannot be
    found (the run is left unfinished)."""
    notes: list[str] = []
    stagings = sorted(folder.glob(STAGING_PREFIX + "*")) if folder.is_dir() else []
    if not ledger_path.exists():
        for staging in stagings:
            shutil.rmtree(staging, ignore_errors=True)
            notes.append(f"Removed {staging.name}: letters from a run that was stopped before recording anything.")
        return notes
    from attendance_cli.ledger import Ledger

    with Ledger(ledger_path, wait=wait) as ledger:
        # decision letters on absence requests (requests/decisions.py) are staged the same way
        kinds = ((ledger.unfinished_letter_runs, ledger.letter_run_files, ledger.finish_letter_run,
                  ledger.abandon_letter_run, "their events"),
                 (ledger.unfinished_decision_runs, ledger.decision_run_files, ledger.finish_decision_run,
                  ledger.abandon_decision_run, "the decisions stay"))
        for unfinished, files_of, finish, give_up, what in kinds:
            for letter_run_id, run_folder, staging_name in unfinished():
                places = _staging_places(run_folder, staging_name, folder, ledger_path)
                try:
                    notes.append(_finish_run(files_of(letter_run_id), lambda run=letter_run_id: finish(run), places,
                                             ledger.path))
                except StagingMissing:
                    if not abandon:
                        raise
                    # the run's letters already moved into its folder go too: this run writes them again, once
                    names = files_of(letter_run_id)
                    removed = 0
                    for home in dict.fromkeys(place.parent for place in places):
                        for name in names:
                            if (home / name).is_file():
                                (home / name).unlink()
                                removed += 1
                    count = give_up(letter_run_id)
                    notes.append(f"Abandoned an interrupted letters run whose staging folder is lost: its "
                                 f"{plural(count, 'letter')} ({what}) were taken out of the ledger"
                                 + (f", and the {plural(removed, 'file')} of them already moved into the folder "
                                    "removed" if removed else "") + ", so they are written again.")
        known = ledger.known_staging()
    for staging in stagings:
        if staging.name not in known and staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
            notes.append(f"Removed {staging.name}: letters from a run that was stopped before recording anything.")
    return notes


def _staging_places(run_folder: str, staging_name: str, out: Path, ledger_path: Path) -> list[Path]:
    """Where a recorded run's staging folder may be, most likely first.

    The ledger holds the folder's absolute path; an earlier version stored it as typed, relative
    to a working directory we cannot know: then the places are this working directory and the
    ledger's folder (the default ledger is in the working directory). The folder given with --out
    now is always tried too: the staging name is unique (time and random token), so a folder of
    that name anywhere is the run's, even if the letters folder was moved or mounted elsewhere."""
    stored = Path(run_folder)
    folders = [stored] if stored.is_absolute() else [Path.cwd() / stored, ledger_path.resolve().parent / stored]
    places: list[Path] = []
    for candidate in (*folders, out):
        place = candidate.resolve() / staging_name
        if place not in places:
            places.append(place)
    return places


def _finish_run(files: list[str], finish: Callable[[], None], places: list[Path], ledger_path: Path) -> str:
    """Move a recorded run's files (`files`: its letters) out of its staging folder (the first of
    `places` that exists) into the folder holding it, then mark the run done (`finish`). A note for
    the user."""
    staging = next((place for place in places if place.is_dir()), None)
    if staging is None:
        # killed after the last move but before the run was marked done: every letter is in place
        home = next((place.parent for place in places if all((place.parent / name).is_file() for name in files)), None)
        if home is None:
            expected = " or ".join(str(place) for place in places)
            raise StagingMissing(
                f"An interrupted letters run recorded {plural(len(files), 'letter')} in {ledger_path}, but its staging "
                f"folder is not where it was expected: {expected}.",
                fix="Put the folder back there, or give --out the folder that holds it, and run attendance letters "
                    "again to move the letters into place. Until then the run stays unfinished, so that no recorded "
                    "letter is lost. If the folder is lost for good, run again with --abandon-unfinished: the run's "
                    "letters are taken out of the ledger and written again.")
        finish()
        return f"Finished an interrupted letters run: its {plural(len(files), 'recorded letter')} were already in {home}."
    moved = _move_all(staging, staging.parent)
    staging.rmdir()
    finish()
    return f"Finished an interrupted letters run: moved {moved} recorded files into {staging.parent}."


def _move_all(staging: Path, folder: Path) -> int:
    moved = 0
    for path in sorted(staging.iterdir()):
        os.replace(path, folder / path.name)
        moved += 1
    return moved


def _unique(folder: Path, name: str, taken: set[str]) -> str:
    """`name`, or name-2, name-3 ... if a file of that name is already in the folder."""
    stem, dot, ext = name.rpartition(".")
    candidate, number = name, 2
    while candidate in taken or (folder / candidate).exists():
        candidate = f"{stem}-{number}{dot}{ext}"
        number += 1
    taken.add(candidate)
    return candidate


def write_letters(letters: Sequence[Letter], fmt: str, folder: Path, evaluation, events: pl.DataFrame,
                  ledger_path: Path, wait: float, *, templates: str | None = None, school_email: str = "",
                  workers=None, tick: Callable[[int], None] | None = None, fail_at: str | None = None,
                  others: pl.DataFrame | None = None, held: pl.DataFrame | None = None, queue: bool = False,
                  duplex: bool = True) -> Written:
    """Stage the files, record the events and letters in one transaction, move the files into place.

    `letters`: in pupil order, rendered (on `workers`, with the `templates` folder) as they are staged.
    `events`: the evaluation's new events to record: those the letters are for, and the lower
    stages they supersede (recorded without a letter); only these are recorded, so an excluded
    pupil's event stays new. `others`: the run's events that get no letter, for the manifest (see
    `casework.plan.Plan.not_written`). `queue`: the e-mailed letters are queued for sending in the
    same transaction (`attendance_cli.mail`), so none is left unsent if the run stops before it sends.
    `duplex`: the print file pads each letter to an even number of pages (see `pdf.PrintFile`). `fail_at` ("staged", "recorded", "moving"): stop the process
    there as a kill would, for tests of what a kill leaves behind.
    """
    from attendance_cli.ledger import LETTERS_IN, Ledger, LetterRun
    from attendance_cli.letters.pdf import PrintFile

    fail_at = fail_at or os.environ.get("ATTENDANCE_TEST_KILL_AT")  # the kill tests set it in a child process
    as_of = evaluation.as_of
    created, token, staging = _open_staging(folder)
    taken: set[str] = set()
    rendered: list[Rendered] = []
    file_names = [_unique(folder, f"{letter.stem}.{EXTENSION[file_format(fmt, letter.channel)]}", taken) for letter in letters]
    names: dict[int, str] = {}
    extras: dict[str, str | None] = {"merged": None, "manifest": None}
    try:
        printed = None
        # the workers write each letter into staging; the print file grows here from their files as
        # batches arrive
        for batch in produce(letters, file_names, staging, templates, fmt, school_email, workers):
            for item in batch.items:
                names[id(item)] = file_names[len(rendered)]
                rendered.append(item)
                if item.format == "pdf":
                    printed = printed or PrintFile(duplex)
                    printed.add(staging / names[id(item)])
            if tick:
                tick(len(batch.items))
        _maybe_fail(fail_at, "staged")
        rows = [{"key": item.letter.key, "pupil_id": item.letter.pupil_id, "letter": item.letter.letter,
                 "guardian": item.letter.guardian, "recipient": item.letter.recipient, "channel": item.letter.channel,
                 "email": item.letter.email, "file": names[id(item)], "letter_date": item.letter.context["date"]}
                for item in rendered]
        letters = pl.DataFrame(rows, schema=LETTERS_IN, orient="row")

        def before_commit(result) -> None:
            if queue and result.letter_run_id is not None:
                ledger.queue_letters(result.letter_run_id)
            recorded = [item for item in rendered if item.letter.key in result.event_ids]
            for item in rendered:
                if item.letter.key not in result.event_ids:  # another run recorded the event meanwhile
                    (staging / names[id(item)]).unlink(missing_ok=True)
            kept = [staging / names[id(item)] for item in recorded if item.format == "pdf"]
            if kept:
                from attendance_cli.letters.pdf import concatenate

                name = _unique(folder, f"print-{as_of:%Y-%m-%d}.pdf", taken)
                if printed is not None and len(kept) == printed.letters:
                    printed.save(staging / name)
                else:  # some letters' events were recorded by another run meanwhile: join the rest
                    concatenate(kept, staging / name, duplex)
                extras["merged"] = name
            if recorded:
                from attendance_cli.outputs import write_frame

                name = _unique(folder, f"manifest-{as_of:%Y-%m-%d}.csv", taken)
                frame = manifest_frame(recorded, result.event_ids).with_columns(
                    pl.Series("file", [names[id(i)] for i in recorded], dtype=pl.String))
                frame = pl.concat([frame, other_rows(others, result.event_ids, recorded[0].letter.context["date"])])
                write_frame(frame, "csv", staging / name)
                extras["manifest"] = name
            _maybe_fail(fail_at, "recorded")

        evidence = evaluation.evidence.join(events.select("key"), on="key", how="semi")
        with Ledger(ledger_path, wait=wait) as ledger:
            result = ledger.record(evaluation.policy.name, as_of, events, evidence, evaluation.left,
                                   letters, LetterRun(str(folder.resolve()), token), before_commit, mode="letters",
                                   held=held)
            # recorded: from here on the files belong in the folder (a later run finishes this if we are stopped)
            for number, path in enumerate(sorted(staging.iterdir())):
                if number == 1:
                    _maybe_fail(fail_at, "moving")
                os.replace(path, folder / path.name)
            staging.rmdir()
            ledger.finish_letter_run(result.letter_run_id)
    except BaseException:
        _abandon(staging, folder, created, ledger_path, token)
        raise
    kept_items = [i for i in rendered if i.letter.key in result.event_ids]
    return Written(folder, result.letters, result.recorded, result.skipped, [names[id(i)] for i in kept_items],
                   extras["merged"], extras["manifest"], kept_items, result.event_ids)


def _open_staging(folder: Path) -> tuple[bool, str, Path]:
    """A new hidden staging folder inside `folder` (made if need be): (folder was made, token, staging)."""
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    token = f"{STAGING_PREFIX}{dt.datetime.now():%Y%m%d%H%M%S}-{secrets.token_hex(4)}"
    staging = folder / token
    staging.mkdir()
    return created, token, staging


def _abandon(staging: Path, folder: Path, created: bool, ledger_path: Path, token: str) -> None:
    """After a failure: a staging folder nothing recorded is removed (and the letters folder, if this run
    made it and it is empty); one whose run was recorded is kept for the next run to move into place."""
    if staging.exists() and not _recorded(ledger_path, token):
        shutil.rmtree(staging, ignore_errors=True)
        if created and not any(folder.iterdir()):
            folder.rmdir()
    try:  # a ledger this run began to create and could not (0 bytes): no ledger, not an empty one
        if ledger_path.exists() and ledger_path.stat().st_size == 0:
            ledger_path.unlink()
    except OSError:
        pass


def _recorded(ledger_path: Path, token: str) -> bool:
    """Whether a staging folder's run was recorded (then its files must be kept for the next run to move)."""
    from attendance_cli.ledger import Ledger

    if not ledger_path.exists():
        return False
    if ledger_path.stat().st_size == 0:  # the run could not even create the ledger (a full disk): nothing recorded
        return False
    try:
        with Ledger(ledger_path, wait=1.0, create=False) as ledger:
            return token in ledger.known_staging()
    except Exception:  # cannot tell: keep the files, the next run decides
        return True


def _maybe_fail(fail_at: str | None, step: str) -> None:
    if fail_at == step:
        os._exit(137)  # as if killed: no clean-up, no exception handlers
    from attendance_cli.locks import checkpoint

    checkpoint(step)  # ATTENDANCE_TEST_PAUSE_AT: the concurrency tests pause or interrupt the run here


def write_preview(letters: Sequence[Letter], fmt: str, folder: Path, *, templates: str | None = None,
                  school_email: str = "", workers=None) -> list[str]:
    """The letters a run would write, into `folder` to read before the real run: nothing is recorded,
    and the files are written next to each other as the real run would name them (a file already there
    is not overwritten: the name gets -2, -3)."""
    folder.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    names = [_unique(folder, f"{letter.stem}.{EXTENSION[file_format(fmt, letter.channel)]}", taken) for letter in letters]
    for _ in produce(letters, names, folder, templates, fmt, school_email, workers):
        pass
    return names


# -- letters on decisions about absence requests ----------------------------------------------------

#: Columns of a decision letters run's manifest, in order.
DECISION_MANIFEST = ("pupil_id", "surname", "forename", "year_group", "form", "request_id", "type", "decision",
                     "letter", "asked_sessions", "granted_sessions", "granted_from", "granted_to", "code",
                     "declined_code", "letter_date", "channel", "recipient", "relationship", "address", "email", "file")


def decision_manifest(rendered: Sequence[Rendered], names: dict[int, str] | None = None) -> pl.DataFrame:
    rows = []
    for item in rendered:
        c, r = item.letter.context, item.letter.context["request"]
        rows.append({"pupil_id": item.letter.pupil_id, "surname": c["pupil"]["surname"], "forename": c["pupil"]["forename"],
                     "year_group": c["pupil"]["year_group"], "form": c["pupil"]["form"], "request_id": r["id"],
                     "type": r["type"], "decision": r["decision"], "letter": item.letter.letter,
                     "asked_sessions": r["asked_sessions"], "granted_sessions": r["granted_sessions"],
                     "granted_from": r["granted_from"], "granted_to": r["granted_to"], "code": r["code"],
                     "declined_code": r["declined_code"], "letter_date": c["date"], "channel": item.letter.channel,
                     "recipient": item.letter.recipient, "relationship": c["recipient"]["relationship"],
                     "address": ", ".join(item.letter.address), "email": item.letter.email or "",
                     "file": (names or {}).get(id(item), item.filename)})
    schema = {"pupil_id": pl.String, "surname": pl.String, "forename": pl.String, "year_group": pl.String,
              "form": pl.String, "request_id": pl.String, "type": pl.String, "decision": pl.String,
              "letter": pl.String, "asked_sessions": pl.Int64, "granted_sessions": pl.Int64, "granted_from": pl.Date,
              "granted_to": pl.Date, "code": pl.String, "declined_code": pl.String, "letter_date": pl.Date,
              "channel": pl.String, "recipient": pl.String, "relationship": pl.String, "address": pl.String,
              "email": pl.String, "file": pl.String}
    return pl.DataFrame(rows, schema=schema, orient="row").select(DECISION_MANIFEST)


@dataclass(frozen=True)
class DecisionsWritten:
    folder: Path
    files: list[str]
    merged: str | None
    manifest: str | None
    rendered: list[Rendered]


def write_decision_letters(letters: Sequence[Letter], fmt: str, folder: Path, ledger_path: Path, wait: float, *,
                           templates: str | None = None, school_email: str = "", workers=None,
                           fail_at: str | None = None) -> DecisionsWritten:
    """The letters on request decisions, written as trigger letters are: staged, recorded with their run
    in one transaction (a letter another run recorded meanwhile is dropped), moved into place, the run
    marked done. Never twice: the ledger holds one letter per request and recipient."""
    from attendance_cli.ledger import Ledger
    from attendance_cli.letters.pdf import concatenate

    fail_at = fail_at or os.environ.get("ATTENDANCE_TEST_KILL_AT")
    day = letters[0].context["date"]
    created, token, staging = _open_staging(folder)
    taken: set[str] = set()
    file_names = [_unique(folder, f"{letter.stem}.{EXTENSION[file_format(fmt, letter.channel)]}", taken)
                  for letter in letters]
    rendered: list[Rendered] = []
    names: dict[int, str] = {}
    extras: dict[str, str | None] = {"merged": None, "manifest": None}
    try:
        for batch in produce(letters, file_names, staging, templates, fmt, school_email, workers):
            for item in batch.items:
                names[id(item)] = file_names[len(rendered)]
                rendered.append(item)
        _maybe_fail(fail_at, "staged")
        frame = pl.DataFrame([{"request_id": i.letter.context["request"]["id"], "pupil_id": i.letter.pupil_id,
                               "letter": i.letter.letter, "guardian": i.letter.guardian, "recipient": i.letter.recipient,
                               "channel": i.letter.channel, "email": i.letter.email, "file": names[id(i)],
                               "letter_date": i.letter.context["date"]} for i in rendered],
                             schema={"request_id": pl.String, "pupil_id": pl.String, "letter": pl.String,
                                     "guardian": pl.Int64, "recipient": pl.String, "channel": pl.String,
                                     "email": pl.String, "file": pl.String, "letter_date": pl.Date}, orient="row")
        kept_items: list[Rendered] = []

        def before_commit(kept: set[tuple[str, int]]) -> None:
            for item in rendered:
                if (item.letter.context["request"]["id"], item.letter.guardian) in kept:
                    kept_items.append(item)
                else:  # another run wrote this letter meanwhile
                    (staging / names[id(item)]).unlink(missing_ok=True)
            pdfs = [staging / names[id(item)] for item in kept_items if item.format == "pdf"]
            if pdfs:
                name = _unique(folder, f"print-decisions-{day:%Y-%m-%d}.pdf", taken)
                concatenate(pdfs, staging / name)
                extras["merged"] = name
            if kept_items:
                from attendance_cli.outputs import write_frame

                name = _unique(folder, f"manifest-decisions-{day:%Y-%m-%d}.csv", taken)
                write_frame(decision_manifest(kept_items, names), "csv", staging / name)
                extras["manifest"] = name
            _maybe_fail(fail_at, "recorded")

        with Ledger(ledger_path, wait=wait) as ledger:
            run_id, _ = ledger.record_decision_letters(frame, str(folder.resolve()), token, before_commit)
            for number, path in enumerate(sorted(staging.iterdir())):
                if number == 1:
                    _maybe_fail(fail_at, "moving")
                os.replace(path, folder / path.name)
            staging.rmdir()
            ledger.finish_decision_run(run_id)
    except BaseException:
        _abandon(staging, folder, created, ledger_path, token)
        raise
    return DecisionsWritten(folder, [names[id(i)] for i in kept_items], extras["merged"], extras["manifest"], kept_items)
