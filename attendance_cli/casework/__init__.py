"""Casework: what the school does with the week's trigger events.

The cases stage of the pipeline: rules (policy) → events → **cases** → letters. A *case* is a pupil
on a ladder. `decide` takes the new events of a run and the ledger's history of each case (its
stage this school year, its letters, the school's recorded actions) and says, per event, what
happens: a letter, recorded without one, held for next run, or listed for staff. `actions` reads
and checks what the school records it did (`attendance case record`, `case import`).
"""

from attendance_cli.casework.decide import DECISIONS, RECORDED, Decisions, decide

__all__ = ["DECISIONS", "RECORDED", "Decisions", "decide"]
