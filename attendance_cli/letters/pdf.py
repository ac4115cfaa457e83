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
    """Documents (slips, digests) typeset one by one, each a tagged PDF (accessible structure, the
    document's language and title, so a screen reader reads each file as a document of its own),
    and joined into one print file, tagged too (`PrintFile` keeps each document's structure).
    `preambles`: one for all, or one per page (each letter's title is its own).
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
    try:
        for data in pdfs:
            merged.add(data)
        buffer = io.BytesIO()
        merged.save(buffer)
    finally:
        merged.close()
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
    import pikepdf  # noqa: F401

    _typst()


class PrintFile:
    """The merged print file, built as letters arrive, one pass over each letter's PDF. (qpdf, through
    pikepdf: copying finished pages is several times quicker than having Typst lay out every letter
    again.)

    Tagged, as each letter is: every letter's structure tree is kept, each a Part of one Document,
    with the pages' and links' keys into the parent tree renumbered so they stay unique; the
    language is the first letter's. (A PDF with no structure tree makes the whole file untagged.)

    `duplex`: each letter (a PDF added with `letters=1`) with an odd number of pages is followed by
    a blank page of its last page's size, so on a duplex printer no two families' letters share a
    sheet. A PDF of several letters (a batch, joined already) is added as it is.

    A letter added as a file is read where it lies (mapped, not read through Python: several times
    quicker), so the file stays open, and must stay in place, until the print file is saved or
    `close`d."""

    def __init__(self, duplex: bool = True) -> None:
        import pikepdf

        self._pikepdf = pikepdf
        self._merged = pikepdf.Pdf.new()
        self._sources: list = []  # kept open until saved: the copied pages refer to them
        self._files = 0  # of the sources, those read from their file where it lies
        self.duplex = duplex
        self.letters = 0
        self._parts: list = []  # each letter's top structure element (a Part), copied
        self._parents: list = []  # the parent tree's entries, renumbered: key, value, key, value...
        self._next_key = 0
        self._roles: dict = {}
        self._lang = None
        self._tagged = True

    def add(self, data: bytes | os.PathLike, letters: int = 1) -> None:
        """Append every page of `data`, a PDF of `letters` letters: its bytes, or its file."""
        source = self._open(data)
        self._sources.append(source)
        structure = self._structure(source)
        self._merged.pages.extend(source.pages)
        if structure is not None:  # after the pages: their copies are the ones the structure points to
            parts, parents = structure
            # one copy of it all: the parts, and the parent tree's entries (most inside the parts)
            bundle = self._merged.copy_foreign(source.make_indirect(
                self._pikepdf.Array([*parts, *(value for _, value in parents)])))
            self._parts.extend(bundle[:len(parts)])
            for (key, _), value in zip(parents, bundle[len(parts):]):
                self._parents.extend([key, value])
        if self.duplex and letters == 1 and len(source.pages) % 2:
            box = [float(v) for v in source.pages[-1].mediabox]
            self._merged.add_blank_page(page_size=(box[2] - box[0], box[3] - box[1]))
        self.letters += letters

    def _open(self, data: bytes | os.PathLike):
        import io

        pdf = self._pikepdf.Pdf
        if isinstance(data, bytes | bytearray):
            return pdf.open(io.BytesIO(data))
        if self._files < files_allowed():
            self._files += 1
            return pdf.open(data)
        with open(data, "rb") as file:  # too many open already: read into memory (slower, but no file kept open)
            return pdf.open(io.BytesIO(file.read()))

    def _structure(self, source) -> tuple[list, list] | None:
        """`source`'s top structure elements (as Parts) and parent tree, its keys moved past those
        already taken (changed in `source`, before its pages are copied), or None if untagged."""
        pikepdf = self._pikepdf
        root = source.Root
        tree = root.get("/StructTreeRoot")
        if not self._tagged or tree is None or "/ParentTree" not in tree:
            self._tagged = False
            return None
        if self._lang is None and "/Lang" in root:
            self._lang = root.Lang
        for name, role in tree.get("/RoleMap", {}).items():
            self._roles.setdefault(name, role)
        offset = self._next_key
        nums = tree.ParentTree.get("/Nums") if "/Kids" not in tree.ParentTree else None
        pairs = zip(nums[::2], nums[1::2]) if nums is not None else pikepdf.NumberTree(tree.ParentTree).items()
        parents = [(int(key) + offset, value) for key, value in pairs]
        self._next_key = max([int(tree.get("/ParentTreeNextKey", 0)) + offset] + [key + 1 for key, _ in parents])
        for page in source.pages:
            if "/StructParents" in page.obj:
                page.obj.StructParents = int(page.obj.StructParents) + offset
            for annotation in page.obj.get("/Annots", []):
                if "/StructParent" in annotation:
                    annotation.StructParent = int(annotation.StructParent) + offset
        kids = tree.get("/K")
        kids = [] if kids is None else list(kids) if isinstance(kids, pikepdf.Array) else [kids]
        parts = []
        for kid in kids:
            # a print file added whole (a batch): its Document's Parts; a letter: its Document, as a Part
            inner = kid.get("/K") if kid.get("/S") == pikepdf.Name.Document else None
            inner = [] if inner is None else list(inner) if isinstance(inner, pikepdf.Array) else [inner]
            if inner and all(isinstance(k, pikepdf.Dictionary) and k.get("/S") == pikepdf.Name.Part for k in inner):
                parts.extend(inner)
            else:
                if kid.get("/S") == pikepdf.Name.Document:
                    kid.S = pikepdf.Name.Part
                parts.append(kid)
        for part in parts:
            del part["/P"]  # set to the merged Document when saved; never copy the source's tree
        return parts, parents

    def save(self, path) -> None:
        pikepdf = self._pikepdf
        if self._tagged and self._parts:
            tree = self._merged.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.StructTreeRoot))
            document = self._merged.make_indirect(pikepdf.Dictionary(
                Type=pikepdf.Name.StructElem, S=pikepdf.Name.Document, P=tree, K=pikepdf.Array(self._parts)))
            for part in self._parts:
                part.P = document
            tree.K = pikepdf.Array([document])
            tree.ParentTree = self._merged.make_indirect(pikepdf.Dictionary(Nums=pikepdf.Array(self._parents)))
            tree.ParentTreeNextKey = self._next_key
            if self._roles:
                tree.RoleMap = pikepdf.Dictionary(self._roles)
            self._merged.Root.StructTreeRoot = tree
            self._merged.Root.MarkInfo = pikepdf.Dictionary(Marked=True)
            if self._lang is not None:
                self._merged.Root.Lang = self._lang
        self._merged.save(path, deterministic_id=True)

    def close(self) -> None:
        """Let go of the letters' files (and the print file's copy of them). Nothing can be added or saved after."""
        for source in self._sources:
            source.close()
        self._sources.clear()
        self._merged.close()


_allowed: list[int] = []


def files_allowed() -> int:
    """How many letters' files a print file keeps open at once: half of what the process may open,
    the limit raised first (to 8,192 where the system allows) when it is lower, as it often is (1,024
    on Linux, 256 on macOS)."""
    if not _allowed:
        try:
            import resource
        except ImportError:  # Windows: the C runtime opens 8,192 files
            _allowed.append(4096)
            return _allowed[0]
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = 8192 if hard == resource.RLIM_INFINITY else min(8192, hard)
        if soft != resource.RLIM_INFINITY and soft < wanted:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
                soft = wanted
            except (ValueError, OSError):
                pass
        _allowed.append(4096 if soft == resource.RLIM_INFINITY else soft // 2)
    return _allowed[0]


def concatenate(pdfs: Sequence[bytes | os.PathLike], path, duplex: bool = True) -> None:
    """`pdfs` (their bytes, or their files) as one print file at `path` (see `PrintFile`)."""
    merged = PrintFile(duplex)
    try:
        for data in pdfs:
            merged.add(data)
        merged.save(path)
    finally:
        merged.close()
