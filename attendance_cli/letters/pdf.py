"""Typst documents to PDF, on every core when there are many.

Typst's compiler is inside the `typst` wheel (no system libraries); it sees only the shipped font
(Atkinson Hyperlegible, attendance_cli/fonts) and Typst's own embedded fonts, never the
machine's, so a letter comes out the same everywhere. This module imports nothing heavy: it is
what each worker process loads.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Sequence

from attendance_cli.resources import fonts_folder

_compiler = {}
#: Below this many documents a pool costs more than it saves.
PARALLEL_FROM = 40


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


def compile_all(jobs: Sequence[tuple[str, bool]], when: dt.date, tick: Callable[[], None] | None = None
                ) -> list[tuple[bytes | None, str | None]]:
    """Every document, in order; on several processes when there are many."""
    day = when.isoformat()
    full = [(source, tagged, day) for source, tagged in jobs]
    workers = min(os.cpu_count() or 1, 8)
    if len(full) < PARALLEL_FROM or workers < 2:
        results = []
        for job in full:
            results.append(compile_one(job))
            if tick:
                tick()
        return results
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: the parent runs Polars' thread pool, which must not be forked mid-flight
    context = multiprocessing.get_context("spawn")
    results: list[tuple[bytes | None, str | None]] = []
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        for result in pool.map(compile_one, full, chunksize=16):
            results.append(result)
            if tick:
                tick()
    return results


def concatenate(pdfs: Sequence[bytes]) -> bytes:
    """One PDF of every page of `pdfs`, in order: the print file. (qpdf, through pikepdf: copying
    finished pages is several times quicker than having Typst lay out every letter again.)"""
    import io

    import pikepdf

    merged = pikepdf.Pdf.new()
    for data in pdfs:
        merged.pages.extend(pikepdf.Pdf.open(io.BytesIO(data)).pages)
    out = io.BytesIO()
    merged.save(out, deterministic_id=True)
    return out.getvalue()
