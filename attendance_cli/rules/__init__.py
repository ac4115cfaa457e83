"""Policies and triggers: a school's thresholds as data, evaluated over the marks and the calendar."""

from attendance_cli.rules.engine import Evaluation, LedgerState, evaluate
from attendance_cli.rules.marks import Marks, marks_from, school_days
from attendance_cli.rules.policy import Policy, list_presets, load_policy

__all__ = ["Evaluation", "LedgerState", "Marks", "Policy", "evaluate", "list_presets", "load_policy", "marks_from",
           "school_days"]
