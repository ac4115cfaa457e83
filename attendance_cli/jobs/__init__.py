"""The library layer: one function per job, each taking a data set (`Dataset`) and plain options,
and returning a result object. The CLI turns its options into these, calls the job and prints the
result; anything a program wants from the toolkit, it gets the same way::

    from attendance_cli import jobs
    from attendance_cli.codes import load_code_table
    from attendance_cli.dataset import Dataset
    from attendance_cli.ingest import IngestOptions

    data = Dataset.open([Path("register.csv")], IngestOptions(load_code_table("dfe")))
    result = jobs.summary(data, jobs.SummaryOptions(jobs.WindowChoice("ytd"), by=("form",)))
    result.table  # the figures `attendance summary --window ytd --by form` prints

Importing this package is cheap: each job imports the pipeline it needs when it runs.
"""

from attendance_cli.jobs.history import HistoryOptions, history
from attendance_cli.jobs.ingest import IngestResult, ingest
from attendance_cli.jobs.letters import LettersOptions, LettersRun, letters
from attendance_cli.jobs.reports import (DigestOptions, DigestResult, ReportOptions, ReportResult, SlipsOptions,
                                         SlipsResult, digest, report, slips)
from attendance_cli.jobs.requests import RequestsFound, RequestsOptions, decide_requests, letters_due, requests
from attendance_cli.jobs.send import SendOptions, send_digests, send_letters
from attendance_cli.jobs.summary import Summary, SummaryOptions, summary
from attendance_cli.jobs.triggers import TriggersOptions, TriggersResult, triggers
from attendance_cli.calendar.windows import WindowChoice

__all__ = ["DigestOptions", "DigestResult", "HistoryOptions", "IngestResult", "LettersOptions", "LettersRun",
           "ReportOptions", "ReportResult", "RequestsFound", "RequestsOptions", "SendOptions", "SlipsOptions", "SlipsResult",
           "Summary", "SummaryOptions", "TriggersOptions", "TriggersResult", "WindowChoice", "decide_requests", "digest",
           "history", "ingest", "letters", "letters_due", "report", "requests", "send_digests", "send_letters", "slips",
           "summary", "triggers"]
