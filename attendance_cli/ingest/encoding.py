"""Work out a file's text encoding and hand Polars UTF-8.

Exports arrive as UTF-8 (with or without a byte-order mark), as UTF-16 from Excel's "Unicode
text", or as Windows-1252 from Excel's "CSV" save. Names such as `Zoë`, `O’Brien` and `Łukasz`
must survive exactly, so a file whose encoding cannot be told is refused with the `--encoding`
to try, never decoded with replacement characters.

UTF-8 files are read by Polars straight from disk (no copy); only the sample at the top is
checked here, and Polars' own strict UTF-8 check covers the rest. Other encodings are
transcoded: in memory when the file is small, else a chunk at a time into a temporary UTF-8 file
that is removed when the command ends.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from attendance_cli.errors import InputError

SAMPLE_BYTES = 256 * 1024
HEAD_ROWS = 60

_ENCODING_NAMES = {
    "utf8": "utf-8", "utf-8": "utf-8", "utf-8-sig": "utf-8-sig", "utf8-sig": "utf-8-sig",
    "utf16": "utf-16", "utf-16": "utf-16", "utf-16le": "utf-16-le", "utf-16-le": "utf-16-le",
    "utf-16be": "utf-16-be", "utf-16-be": "utf-16-be", "cp1252": "cp1252", "windows-1252": "cp1252",
    "latin-1": "latin-1", "latin1": "latin-1", "iso-8859-1": "latin-1", "mac-roman": "mac-roman",
}

_TRY_HINT = ("If the file was saved from Excel as 'CSV', try --encoding cp1252; as 'Unicode text', "
             "--encoding utf-16; if it came straight from the MIS, --encoding utf-8.")


@dataclass
class Decoded:
    """A file ready for Polars: `data` is a path (UTF-8 on disk) or UTF-8 bytes."""

    path: Path
    encoding: str
    data: Path | bytes
    head: list[list[str]]  # first rows, parsed as CSV, for header detection
    head_lines: list[int]  # physical line (0-based) on which each head row starts
    note: str | None = None
    workbook: bool = False  # converted from a spreadsheet workbook (dates may be serial numbers)
    separator: str = ","  # "\t" for Excel's "Unicode text" and other tab-separated saves


def open_text(path: Path, forced: str | None = None) -> Decoded:
    """Decide the encoding of `path` (or use `forced`) and parse its first rows. A spreadsheet
    workbook is turned into CSV text first (`workbook.py`); its encoding is its own business."""
    from attendance_cli.ingest.workbook import is_workbook, workbook_text

    if path.is_dir():
        raise InputError(f"{path}: a folder, not a file.", fix="Give the file itself.")
    if path.exists() and not path.is_file():  # a named pipe or a device: a read could wait for ever
        raise InputError(f"{path}: not a file but a pipe or a device; it is read more than once, so it must be a file.",
                         fix="Save it to a file first, and give that.")
    with path.open("rb") as handle:
        magic = handle.read(4096)
    _refuse_non_text(path, magic)
    if is_workbook(path, magic[:8]):
        text, sheet = workbook_text(path)
        head, lines, _ = _head_rows(text[:SAMPLE_BYTES])
        return Decoded(path, "workbook", text.encode("utf-8"), head, lines, f"read from the workbook's sheet {sheet!r}",
                       workbook=True)
    raw = path.read_bytes() if _small(path) else _read_head(path)
    whole = _small(path)
    if forced:
        encoding = _ENCODING_NAMES.get(forced.lower().replace("_", "-"))
        if encoding is None:
            raise InputError(f"--encoding {forced!r} is not an encoding this tool reads.",
                             fix="Use utf-8, utf-8-sig, utf-16, cp1252 or latin-1.")
        return _decoded(path, raw, whole, encoding, note=f"read as {encoding} (--encoding)")
    if raw.startswith(codecs.BOM_UTF8):
        return _decoded(path, raw, whole, "utf-8-sig")
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _decoded(path, raw, whole, "utf-16", note="UTF-16 (Excel 'Unicode text')")
    nul_even = raw[0:2000:2].count(0)
    nul_odd = raw[1:2000:2].count(0)
    if nul_odd > 10 * (nul_even + 1):
        return _decoded(path, raw, whole, "utf-16-le", note="UTF-16 without a byte-order mark")
    if nul_even > 10 * (nul_odd + 1):
        return _decoded(path, raw, whole, "utf-16-be", note="UTF-16 without a byte-order mark")
    sample = raw[:SAMPLE_BYTES] if not whole else raw
    if _is_utf8(sample, final=whole):
        return _decoded(path, raw, whole, "utf-8")
    if _has_utf8_multibyte(sample):
        offset = _first_bad_utf8(sample)
        line = sample[:offset].count(b"\n") + 1
        raise InputError(
            f"{path}: cannot tell the text encoding. It is mostly UTF-8 but byte {offset:,} "
            f"(line {line}) is not, so names could be corrupted.",
            fix="Re-export the file from the MIS, or if you know the encoding pass it with --encoding. " + _TRY_HINT,
        )
    def not_cp1252(byte: int, offset: int, line: int) -> InputError:
        return InputError(
            f"{path}: cannot tell the text encoding (not UTF-8, and byte 0x{byte:02X} at offset "
            f"{offset:,}, line {line}, is not Windows-1252 either).",
            fix="Pass the encoding with --encoding (for example --encoding latin-1). " + _TRY_HINT)

    note = "Windows-1252 (Excel 'CSV' save); converted to UTF-8"
    if not whole:
        return _transcoded(path, "cp1252", note, not_cp1252)
    try:
        raw.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise not_cp1252(raw[exc.start], exc.start, raw[:exc.start].count(b"\n") + 1) from None
    return _decoded(path, raw, True, "cp1252", note=note)


#: What a file that is not an export usually is, by its first bytes.
_KINDS = ((b"%PDF", "a PDF document", "Give the CSV or workbook the MIS exported."),
          (b"\x1f\x8b", "a gzip archive", "Unpack it first (gunzip, or 7-Zip on Windows) and give the file inside."),
          (b"BZh", "a bzip2 archive", "Unpack it first and give the file inside."),
          (b"7z\xbc\xaf", "a 7-Zip archive", "Unpack it first and give the file inside."),
          (b"\x89PNG", "a PNG image", "Give the CSV or workbook the MIS exported."),
          (b"\xff\xd8\xff", "a JPEG image", "Give the CSV or workbook the MIS exported."),
          (b"SQLite format 3", "an SQLite database (a ledger?)", "Give the CSV or workbook the MIS exported; a "
                                                                  "ledger goes with --db."),
          (b"PAR1", "a Parquet file", "Name it .parquet if `attendance ingest -o` wrote it."))


def _refuse_non_text(path: Path, head: bytes) -> None:
    """A file that is plainly not an export (a PDF, an archive, an image, random bytes; an HTML page or
    a CSV named as a workbook) is named as what it is, not described by its encoding."""
    from attendance_cli.ingest.workbook import SUFFIXES, _MAGIC

    for magic, kind, fix in _KINDS:
        if head.startswith(magic):
            raise InputError(f"{path}: this is {kind}, not a register export.", fix=fix)
    if head.startswith(_MAGIC):
        return
    if path.suffix.lower() in SUFFIXES:
        text = head.lstrip(codecs.BOM_UTF8).lstrip().lower()
        what = "an HTML page" if text.startswith((b"<!doctype html", b"<html", b"<table")) else "text"
        raise InputError(f"{path}: named {path.suffix} but it is {what}, not a spreadsheet workbook.",
                         fix=("Open it in Excel and save it as .xlsx or CSV (some MIS reports are web pages named "
                              ".xls)." if what != "text" else "If it is a CSV, rename it .csv."))
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or not head:
        return
    controls = sum(1 for byte in head if byte < 32 and byte not in (9, 10, 13))
    nul_pairs = head[0::2].count(0) + head[1::2].count(0)
    if controls > len(head) // 20 and nul_pairs < len(head) // 4:  # UTF-16 text has NULs, but no other controls
        raise InputError(f"{path}: this is not a text file (binary data: {controls} control bytes in its first "
                         f"{len(head):,}), so not a register export.",
                         fix="Give the CSV or workbook the MIS exported; check the file was not damaged in copying.")


def settings_text(path: Path, what: str) -> str:
    """A small text file the user wrote (a calendar, code table, policy or school settings file), as
    text: UTF-8 (with or without a byte-order mark), UTF-16 with one (Notepad's "Unicode"), or else
    Windows-1252 (Notepad's "ANSI" and Excel's CSV save write an en dash or a £ that way). Anything
    else, or a file with NUL bytes, is refused naming the file: never read with replacement
    characters. `what`: the file's part, for the message ("Calendar", "Code table")."""
    from attendance_cli.errors import ConfigError

    raw = path.read_bytes()
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            pass
    elif b"\x00" not in raw:
        for encoding in ("utf-8-sig", "cp1252"):
            try:
                return raw.decode(encoding)
            except UnicodeDecodeError:
                continue
    raise ConfigError(f"{what} {path} is not a text file this program can read (not UTF-8, UTF-16 or Windows-1252 "
                      "text).", fix="Open it in a text editor and save it as UTF-8.")


def _small(path: Path) -> bool:
    return path.stat().st_size <= 32 * 1024 * 1024


def _read_head(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(SAMPLE_BYTES)


def _is_utf8(data: bytes, final: bool) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(data, final=final)
    except UnicodeDecodeError:
        return False
    return True


def _has_utf8_multibyte(data: bytes) -> bool:
    """True if the bytes contain at least one well-formed multi-byte UTF-8 character."""
    text = data.decode("utf-8", errors="ignore")
    return any(ord(ch) > 127 for ch in text)


def _first_bad_utf8(data: bytes) -> int:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start
    return len(data)


def _decoded(path: Path, raw: bytes, whole: bool, encoding: str, note: str | None = None) -> Decoded:
    # UTF-8 is read from disk as it is; Polars skips a byte-order mark with the header line
    if encoding in ("utf-8", "utf-8-sig") and not _needs_newline_fix(raw):
        text = raw[:SAMPLE_BYTES].decode("utf-8", errors="ignore")
        head, lines, separator = _head_rows(text)
        return Decoded(path, encoding, path, head, lines, _tab_note(note, separator), separator=separator)
    if not whole and not _needs_newline_fix(raw):
        def invalid(byte: int, offset: int, line: int) -> InputError:
            return InputError(f"{path}: byte 0x{byte:02X} on line {line} is not valid {encoding}.",
                              fix="Check the encoding the file was saved with. " + _TRY_HINT)

        return _transcoded(path, encoding, note, invalid)
    if not whole:
        raw = path.read_bytes()
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{path}: byte 0x{raw[exc.start]:02X} on line {line} is not valid {encoding}.",
            fix="Check the encoding the file was saved with. " + _TRY_HINT,
        ) from None
    text = text.lstrip("\ufeff")
    if _needs_newline_fix(raw):
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        note = (note + "; " if note else "") + "old Mac line endings (CR) converted"
    head, lines, separator = _head_rows(text[: SAMPLE_BYTES])
    return Decoded(path, encoding, text.encode("utf-8"), head, lines, _tab_note(note, separator), separator=separator)


#: Large files in another encoding are converted to UTF-8 this many bytes at a time.
CHUNK_BYTES = 16 * 1024 * 1024


def _transcoded(path: Path, encoding: str, note: str | None,
                invalid: Callable[[int, int, int], InputError]) -> Decoded:
    """A large export in another encoding, converted to UTF-8 in a temporary file a chunk at a time
    (bounded memory), which is removed when the command ends. `invalid(byte, offset, line)` is the
    error for a byte the encoding does not define. Each chunk is written while the next is converted."""
    from concurrent.futures import ThreadPoolExecutor

    handle, target = temporary_file("utf8", ".csv")
    convert = _single_byte_converter(encoding, path, invalid) or _decoder_converter(encoding, path, invalid)
    offset = 0
    with path.open("rb") as source, os.fdopen(handle, "wb") as out, ThreadPoolExecutor(1) as writer:
        pending = None
        while chunk := source.read(CHUNK_BYTES):
            converted = convert(chunk, offset, False)
            if offset == 0:
                converted = converted.removeprefix(codecs.BOM_UTF8)
            if pending is not None:
                pending.result()
            pending = writer.submit(out.write, converted)
            offset += len(chunk)
        if pending is not None:
            pending.result()
        out.write(convert(b"", offset, True))
    with target.open("rb") as converted_file:
        head, starts, separator = _head_rows(converted_file.read(SAMPLE_BYTES).decode("utf-8", errors="ignore"))
    return Decoded(path, encoding, target, head, starts, _tab_note(note, separator), separator=separator)


Converter = Callable[[bytes, int, bool], bytes]


def _line_at(path: Path, offset: int) -> int:
    """The 1-based line holding byte `offset` of the file (for an error: read again only then)."""
    lines = 1
    with path.open("rb") as source:
        while offset > 0 and (chunk := source.read(min(CHUNK_BYTES, offset))):
            lines += chunk.count(b"\n")
            offset -= len(chunk)
    return lines


def _decoder_converter(encoding: str, path: Path, invalid: Callable[[int, int, int], InputError]) -> Converter:
    """Any encoding, through Python's incremental decoder (a character may span two chunks)."""
    decoder = codecs.getincrementaldecoder(encoding)()

    def convert(chunk: bytes, offset: int, final: bool) -> bytes:
        try:
            return decoder.decode(chunk, final=final).encode("utf-8")
        except UnicodeDecodeError as exc:
            at = offset + exc.start
            raise invalid(chunk[exc.start] if exc.start < len(chunk) else 0, at, _line_at(path, at)) from None

    return convert


_ASCII = bytes(range(128))


def _single_byte_converter(encoding: str, path: Path, invalid: Callable[[int, int, int], InputError]) -> Converter | None:
    """Windows-1252 and Latin-1, whose bytes are each one character and ASCII as itself: a chunk keeps
    its ASCII bytes and has each other byte value it holds replaced by that character's UTF-8 (an
    export holds a handful: `ë`, `’`), several times faster than decoding to text and back.

    The replacements run in an order in which none writes a byte that a later one replaces (`’`
    becomes E2 80 99, so `â`, byte E2, goes first); a chunk whose bytes allow no such order is
    decoded instead. A byte the encoding leaves undefined is an error at its first place. None for
    encodings other than these."""
    if codecs.lookup(encoding).name not in ("cp1252", "latin-1", "iso8859-1"):
        return None
    import graphlib

    utf8: dict[int, bytes] = {}
    for byte in range(128, 256):
        try:
            utf8[byte] = bytes([byte]).decode(encoding).encode("utf-8")
        except UnicodeDecodeError:
            pass

    def convert(chunk: bytes, offset: int, final: bool) -> bytes:
        if chunk.isascii():
            return chunk
        present = set(chunk.translate(None, _ASCII))
        undefined = present - utf8.keys()
        if undefined:
            at = min(chunk.index(bytes([byte])) for byte in undefined)
            raise invalid(chunk[at], offset + at, _line_at(path, offset + at))
        # a byte that another's UTF-8 holds is replaced before that one
        order = graphlib.TopologicalSorter({byte: set(utf8[byte]) & present - {byte} for byte in present})
        try:
            replacements = list(order.static_order())
        except graphlib.CycleError:
            return chunk.decode(encoding).encode("utf-8")
        for byte in replacements:
            chunk = chunk.replace(bytes([byte]), utf8[byte])
        return chunk

    return convert


_TEMPORARY: list[Path] = []


def temporary_file(kind: str, suffix: str) -> tuple[int, Path]:
    """A new temporary file (descriptor and path) for a copy of pupils' data, named with this
    process's id: removed when the process ends, however it ends normally; one left by a process
    that was killed is removed by the next command that makes one."""
    _sweep(kind, suffix)
    handle, name = tempfile.mkstemp(prefix=f"attendance-{kind}-{os.getpid()}-", suffix=suffix)
    remove_at_exit(Path(name))
    return handle, Path(name)


def remove_at_exit(path: Path) -> None:
    """Temporary copies hold pupils' data: removed when the process ends, however it ends normally."""
    if not _TEMPORARY:
        import atexit

        atexit.register(lambda: [p.unlink(missing_ok=True) for p in _TEMPORARY])
    _TEMPORARY.append(path)


def _sweep(kind: str, suffix: str) -> None:
    """Remove this kind's temporary files whose process no longer runs (it was killed)."""
    if os.name != "posix":  # (no cheap test of a process id elsewhere: removed at exit only)
        return
    for path in Path(tempfile.gettempdir()).glob(f"attendance-{kind}-*{suffix}"):
        pid = path.name.split("-")[2]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            path.unlink(missing_ok=True)
        except OSError:  # another user's process, or not ours to test: left alone
            continue


def _needs_newline_fix(raw: bytes) -> bool:
    sample = raw[:SAMPLE_BYTES]
    return b"\r" in sample and b"\n" not in sample


def _separator(text: str) -> str:
    """Tab for Excel's 'Unicode text' and other tab-separated saves, else comma: told from the first
    line with two or more of either (the header, or a title line padded with separators), so tabs
    inside later cells (a note) do not count."""
    for line in text.splitlines()[:HEAD_ROWS]:
        tabs, commas = line.count("\t"), line.count(",")
        if max(tabs, commas) >= 2:
            return "\t" if tabs > commas else ","
    return ","


def _tab_note(note: str | None, separator: str) -> str | None:
    if separator != "\t":
        return note
    return (note + "; " if note else "") + "tab-separated"


def _head_rows(text: str) -> tuple[list[list[str]], list[int], str]:
    """First rows parsed as CSV, the 0-based physical line each starts on, and the separator.

    `csv` is used with no escape character, so `\\` stays a mark.
    """
    text = text.lstrip("\ufeff")
    separator = _separator(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator, strict=False)
    rows: list[list[str]] = []
    starts: list[int] = []
    line = 0
    try:
        for row in reader:
            starts.append(line)
            rows.append(row)
            line = reader.line_num
            if len(rows) >= HEAD_ROWS:
                break
    except csv.Error:
        pass
    return rows, starts, separator
