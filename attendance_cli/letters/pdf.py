"""Typst documents to PDF, on every core when there are many.

Typst's compiler is inside the `typst` wheel (no system libraries); it sees only the shipped font
(Atkinson Hyperlegible, attendance_cli/fonts) and Typst's own embedded fonts, never the
machine's, so a letter comes out the same everywhere. This module imports nothing heavy: it is
what each worker process loads.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from attendance_cli.letters.printfile import PrintFile
from attendance_cli.resources import fonts_folder

T = TypeVar("T")
R = TypeVar("R")
_compiler: dict = {}
#: Below this many jobs a pool of processes costs more than it saves.
PARALLEL_FROM = 2


def _typst():
    if "compiler" not in _compiler:
        import typst

        fonts = typst.Fonts(include_system_fonts=False, include_embedded_fonts=True, font_paths=[str(fonts_folder())])
        _compiler["compiler"] = typst.Compiler(font_paths=fonts, ignore_system_fonts=True)
        _compiler["error"] = typst.TypstError
    return _compiler["compiler"], _compiler["error"]


def compile_one(job: tuple[str, bool, str]) -> tuple[bytes | None, str | None]:
    """(PDF, None) or (None, the compiler's message). `job`: source, tagged (accessible structure,
    which doubles the time a letter with a table takes), ISO date for the timestamp."""
    source, tagged, day = job
    compiler, error_type = _typst()
    timestamp = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(8, 0), tzinfo=dt.UTC)
    try:
        return compiler.compile(input=source.encode("utf-8"), format="pdf", timestamp=timestamp, pdf_tags=tagged), None
    except error_type as error:
        return None, str(getattr(error, "message", error))


def typeset(preambles: str | Sequence[str], pages: Sequence[str], when: dt.date, duplex: bool = True
            ) -> tuple[list[bytes], bytes | None, str | None]:
    """Documents (slips) typeset one by one, each a tagged PDF (accessible structure, the
    document's language and title, so a screen reader reads each file as a document of its own),
    and joined into one print file, tagged too (`PrintFile` keeps each document's structure).
    `preambles`: one for all, or one per page (each letter's title is its own). (Letters are
    typeset by `typeset_each`, and joined as their batches come.)
    Returns (the PDFs, the print file, an error).

    One by one, not one document split at its bookmarks: a split PDF loses its tags (the structure
    tree belongs to the whole), and Typst's fixed cost per document is less than the split's.
    `duplex`: a document with an odd number of pages is followed by a blank page in the print file,
    so on a duplex printer each starts on a new sheet."""
    out, message = typeset_each(preambles, pages, when)
    return out, joined(out, duplex) if out else None, message


def typeset_each(preambles: str | Sequence[str], pages: Sequence[str], when: dt.date) -> tuple[list[bytes], str | None]:
    """Each document typeset on its own as a tagged PDF (see `typeset`), not joined: (the PDFs, None),
    or ([], the compiler's message) at the first that does not compile."""
    day = when.isoformat()
    out = []
    for number, page in enumerate(pages):
        preamble = preambles if isinstance(preambles, str) else preambles[number]
        data, message = compile_one((preamble + "\n" + page, True, day))
        if message or data is None:
            return [], message
        out.append(data)
    return out, None


def joined(pdfs: Sequence[bytes], duplex: bool = True) -> bytes:
    """`pdfs` as one print file (padded for duplex printing, see `PrintFile`)."""
    import io

    merged = PrintFile(duplex)
    for data in pdfs:
        merged.add(data)
    buffer = io.BytesIO()
    merged.save(buffer)
    return buffer.getvalue()


class Workers:
    """Worker processes for typesetting, one per core (none on a single core), started by `start()`
    before the letters are gathered, so they load Typst and Jinja meanwhile.

    Started with spawn, not fork: the parent runs Polars' thread pool, which must not be forked
    mid-flight. The functions they run live in modules that import nothing heavy. Each worker
    exits as soon as the parent does, even if the parent is killed. Ctrl-C is the parent's to
    handle: the workers never see it (no traceback from each of them), and finish or drop their
    batch when the parent shuts the pool down."""

    def __init__(self) -> None:
        self.count = min(os.cpu_count() or 1, 8)
        self._pool = None

    def start(self) -> Workers:
        if self._pool is None and self.count > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(self.count, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_worker_started)
            # one thread each: Typst would otherwise start a thread per core in every worker
            saved = os.environ.get("RAYON_NUM_THREADS")
            os.environ["RAYON_NUM_THREADS"] = "1"
            try:
                with _interrupts_held():  # the workers are spawned here, by the submissions
                    for _ in range(self.count):
                        self._pool.submit(_warm)
            finally:
                if saved is None:
                    del os.environ["RAYON_NUM_THREADS"]
                else:
                    os.environ["RAYON_NUM_THREADS"] = saved
        return self

    def map(self, function: Callable[[T], R], jobs: Sequence[T]) -> Iterator[R]:
        """`function` over `jobs`, results in order as they come (here, if the workers were not started)."""
        if self._pool is None or len(jobs) < PARALLEL_FROM:
            return map(function, jobs)
        return self._settled(self._pool.map(function, jobs))

    def _settled(self, results: Iterator[R]) -> Iterator[R]:
        """`results`, but when the run stops while they come (Ctrl-C, an error), the workers finish
        or drop their batches first, so no worker writes a file after the run has cleaned up."""
        try:
            yield from results
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._pool is not None:
            with _interrupts_ignored():
                self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """Block SIGINT while worker processes are spawned: they inherit the blocked signal, so a
    Ctrl-C while they are still starting Python (before `_worker_started` runs) gives no
    traceback from each of them. The parent gets its Ctrl-C as soon as it is unblocked, so none is
    lost. (As Python's own multiprocessing resource tracker is started.)"""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def _interrupts_ignored() -> Iterator[None]:
    """Ctrl-C ignored while the pool shuts down (a moment, while the workers finish a batch): the
    run is ending either way, and an interrupt there would report a run that wrote its letters as
    stopped."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _worker_started() -> None:
    """In a worker: ignore Ctrl-C (the parent handles it and shuts the pool down), and exit with the
    parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _watch_parent()


def _watch_parent() -> None:
    """In a worker: exit the moment the parent process ends (a killed run leaves no workers behind)."""
    import multiprocessing
    import threading
    from multiprocessing.connection import wait

    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _warm() -> None:
    import jinja2.sandbox  # noqa: F401

    _typst()


def concatenate(pdfs: Sequence[bytes | os.PathLike], path, duplex: bool = True) -> None:
    """`pdfs` (their bytes, or their files) as one print file at `path` (see `PrintFile`)."""
    merged = PrintFile(duplex)
    for data in pdfs:
        merged.add(data)
    merged.save(path)
