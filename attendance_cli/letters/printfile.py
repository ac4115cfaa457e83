"""The print file: many PDFs (letters, slips) joined into one by copying their objects' bytes.

Typst writes each document as a plain PDF: numbered objects, one cross-reference table, no object
streams, nothing encrypted. Such files join without a PDF library's object model. Every object a
document's pages and structure reach is copied as it is, its stream (compressed once, by Typst)
byte for byte, renumbered after the objects of the documents before it. Only the objects that tie
a document together are read and written anew: each page (its parent, and its key into the parent
tree), each document's Document structure element (now a Part of the print file's one Document),
and the catalog, page tree, structure tree root and parent tree, one of each for the whole file.
The rest of a document (its catalog, outline, metadata) is left behind, as nothing kept refers to
it. A PDF in any other form (object streams, an update appended, encryption) is first rewritten
plain by qpdf (pikepdf), so any PDF joins.

Copying through qpdf's object model instead (pikepdf) parses, copies, writes and frees every object
of every letter: several times the work, all of it in the one process that joins while the others
typeset. This module imports nothing heavy: its work is done with `re` on bytes.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

#: A reference `12 0 R` in a PDF object's text: after whitespace or a delimiter (a digit after
#: anything else belongs to a name or a number), and ending a token.
_REFERENCE = rb"(?<![^\s\[\]<>(){}])(\d+)\s+(\d+)\s+R(?![^\s\[\]<>/(){}%])"
_REFERENCES = re.compile(_REFERENCE)
#: What stops a scan of an object's text: a string (whose text is not PDF syntax), a comment, a
#: reference, or the keyword that begins the stream's data.
_SCAN = re.compile(rb"\(|%|stream(?=\r?\n)|" + _REFERENCE)
_STRING_STOP = re.compile(rb"[()\\]")
_LINE_END = re.compile(rb"[\r\n]")
#: The next token of an object's text (after whitespace and comments): a reference (number,
#: generation), or anything else (a delimiter, a name, a hexadecimal string, the opening of a
#: literal string, a number or keyword).
_NEXT = re.compile(rb"(?:\s|%[^\r\n]*)*(?:(\d+)\s+(\d+)\s+R(?![^\s\[\]<>/(){}%])|"
                   rb"(<<|>>|\[|\]|/[^\s\[\]<>/(){}%]*|<[0-9A-Fa-f\s]*>|\(|[^\s\[\]<>/(){}%]+))")
_OBJECT = re.compile(rb"\s*(\d+)\s+(\d+)\s+obj")
_VERSION = re.compile(rb"%PDF-(\d\.\d)\s")
#: Page attributes a page takes from the page tree above it when it has none of its own.
_INHERITED = (b"/Resources", b"/MediaBox", b"/CropBox", b"/Rotate")
#: The print file's own objects numbered before its documents': the page tree, and the Document
#: structure element the documents' Parts belong to (known when the documents are copied).
_PAGES, _DOCUMENT, _FIRST = 1, 2, 3


class NotPlain(ValueError):
    """A PDF not in the plain form this module copies (see the module's docstring)."""


class Ref:
    """A reference to an object of the document being copied, by its number there."""

    __slots__ = ("number",)

    def __init__(self, number: int) -> None:
        self.number = number


class Own(int):
    """A reference to one of the print file's own objects, by its number in the print file."""


def _string_end(data: bytes, start: int) -> int:
    """Where the literal string opening at `start` ends (just after its closing parenthesis):
    parentheses nest, and a backslash escapes the character after it."""
    depth = 0
    position = start
    while True:
        found = _STRING_STOP.search(data, position)
        if found is None:
            raise NotPlain("a string is not closed")
        at = found.start()
        character = data[at]
        if character == 0x5C:  # backslash
            position = at + 2
            continue
        depth += 1 if character == 0x28 else -1
        position = at + 1
        if depth == 0:
            return position


def _value(data: bytes, position: int) -> tuple[Any, int]:
    """The PDF object written at `position`, and where it ends. Dictionaries are dicts (keys are
    names, as bytes), arrays lists, references `Ref`s; everything else is its text, as bytes
    (a name `/Part`, a number `595.28`, a string `(en-GB)`, `true`, `null`)."""
    token = _NEXT.match(data, position)
    if token is None:
        raise NotPlain(f"unreadable at byte {position}")
    end = token.end()
    if token.group(1) is not None:  # a reference
        if token.group(2) != b"0":
            raise NotPlain("an object of a later generation")
        return Ref(int(token.group(1))), end
    text = token.group(3)
    if text == b"<<":
        entries: dict[bytes, Any] = {}
        while True:
            key = _NEXT.match(data, end)
            if key is None:
                raise NotPlain(f"a dictionary is not closed at byte {end}")
            name = key.group(3)
            if name == b">>":
                return entries, key.end()
            if name is None or not name.startswith(b"/"):
                raise NotPlain(f"a dictionary's key is not a name at byte {end}")
            entries[name], end = _value(data, key.end())
            if entries[name] is _CLOSE:
                raise NotPlain(f"a dictionary's value is missing at byte {end}")
    if text == b"[":
        items = []
        while True:
            item, after = _value(data, end)
            if item is _CLOSE:
                return items, after
            items.append(item)
            end = after
    if text == b"(":
        end = _string_end(data, token.start(3))
        return data[token.start(3):end], end
    if text == b"]":
        return _CLOSE, end
    if text == b">>":
        raise NotPlain(f"unexpected >> at byte {position}")
    return text, end


#: What `_value` reads at the end of an array.
_CLOSE = object()


def dump(value: Any, numbers: dict[int, int]) -> bytes:
    """`value` (as `_value` reads it) written again, its references renumbered by `numbers`."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, Ref):
        return b"%d 0 R" % numbers[value.number]
    if isinstance(value, Own):
        return b"%d 0 R" % value
    if isinstance(value, dict):
        return b"<<" + b"".join(key + b" " + dump(item, numbers) for key, item in value.items()) + b">>"
    return b"[" + b" ".join(dump(item, numbers) for item in value) + b"]"


def _references(value: Any) -> Iterator[int]:
    """The numbers of the objects `value` refers to (in the document being copied)."""
    if isinstance(value, Ref):
        yield value.number
    elif isinstance(value, dict):
        for item in value.values():
            yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


class Plain:
    """A PDF in plain form, read: where each object is, and its trailer. Raises NotPlain if it is not."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        version = _VERSION.match(data)
        if version is None:
            raise NotPlain("no PDF header")
        self.version = version.group(1)
        mark = data.rfind(b"startxref")
        table = int(data[mark + 9:mark + 40].split()[0]) if mark >= 0 else -1
        if table < 0 or not data.startswith(b"xref", table):
            raise NotPlain("no cross-reference table (a cross-reference stream?)")
        end = data.find(b"trailer", table)
        if end < 0:
            raise NotPlain("no trailer")
        fields = data[table + 4:end].split()
        starts: list[tuple[int, int]] = []
        index = 0
        while index < len(fields):
            first, count = int(fields[index]), int(fields[index + 1])
            index += 2
            for number in range(first, first + count):
                offset, generation, kind = fields[index:index + 3]
                index += 3
                if kind == b"n":
                    if generation != b"00000" or not 0 < int(offset) < table:
                        raise NotPlain("an object of a later generation, or out of place")
                    starts.append((int(offset), number))
        self.trailer, _ = _value(data, end + 7)
        if not isinstance(self.trailer, dict) or {b"/Prev", b"/Encrypt", b"/XRefStm"} & set(self.trailer):
            raise NotPlain("updated, or encrypted")
        starts.sort()
        #: number -> (where its text begins, where the next object, or the table, begins)
        self.places = {number: (offset, following) for (offset, number), (following, _) in
                       zip(starts, [*starts[1:], (table, 0)])}
        self._parsed: dict[int, Any] = {}

    def _body(self, number: int) -> int:
        """Where the text of object `number` begins, after `N 0 obj`."""
        place = self.places.get(number)
        if place is None:
            raise NotPlain(f"object {number} is missing")
        written = b"%d 0 obj" % number
        if self.data.startswith(written, place[0]):  # as Typst and qpdf write it
            return place[0] + len(written)
        heading = _OBJECT.match(self.data, place[0])
        if heading is None or int(heading.group(1)) != number or heading.group(2) != b"0":
            raise NotPlain(f"object {number} is not where the table says")
        return heading.end()

    def parse(self, number: int) -> Any:
        """Object `number`, read (see `_value`) once: changes made to it are kept, to write it anew."""
        if number not in self._parsed:
            self._parsed[number] = _value(self.data, self._body(number))[0]
        return self._parsed[number]

    def resolve(self, value: Any) -> Any:
        return self.parse(value.number) if isinstance(value, Ref) else value

    def pieces(self, number: int) -> tuple[list, int]:
        """Object `number`'s text up to its stream's data (or its end) in pieces: text, number,
        generation, text, ... (the references' numbers and generations, as bytes, between the
        text around them); and where the rest (the stream's data, `endobj`) begins."""
        data = self.data
        start = self._body(number)
        end = self.places[number][1]
        keyword = data.find(b"stream", start, end)
        head = end if keyword < 0 else keyword
        if (data.find(b"(", start, head) < 0 and data.find(b"%", start, head) < 0
                and (keyword < 0 or (data[keyword - 1] in b" \t\r\n>" and data[keyword + 6] in b"\r\n"))):
            return _REFERENCES.split(data[start:head]), head
        # a string or a comment (whose text may look like a reference, or the keyword) on the way
        pieces: list = []
        last = position = start
        head = end
        while True:
            found = _SCAN.search(data, position, end)
            if found is None:
                break
            text = found.group()
            if text == b"(":
                position = _string_end(data, found.start())
            elif text == b"%":
                line = _LINE_END.search(data, found.end(), end)
                position = end if line is None else line.end()
            elif text == b"stream":
                if data[found.start() - 1] in b" \t\r\n>":
                    head = found.start()
                    break
                position = found.end()
            else:
                pieces += [data[last:found.start()], found.group(1), found.group(2)]
                last = position = found.end()
        pieces.append(data[last:head])
        return pieces, head


def _list(value: Any) -> list:
    return [] if value is None else value if isinstance(value, list) else [value]


class PrintFile:
    """The merged print file, built as documents (letters, slips) are added, one pass over each.

    Tagged, as each document is: every document's structure tree is kept, each a Part of one
    Document, with its pages' and links' keys into the parent tree renumbered so they stay unique;
    the language is the first document's. (A PDF with no structure tree makes the whole file
    untagged.)

    `duplex`: each document with an odd number of pages is followed by a blank page of its last
    page's size, so on a duplex printer no two families' letters share a sheet."""

    def __init__(self, duplex: bool = True) -> None:
        self.duplex = duplex
        self.letters = 0
        self._chunks: list[bytes] = []  # the documents' objects, as written
        self._offsets: list[int] = []  # where each object from _FIRST on begins, in order of number
        self._size = 0  # bytes written (after the header)
        self._version = b"1.7"
        self._pages: list[int] = []
        self._parts: list[int] = []
        self._parents: list[bytes] = []  # the parent tree's entries: key, value, key, value...
        self._next_key = 0
        self._roles: dict[bytes, bytes] = {}
        self._lang: bytes | None = None
        self._tagged = True

    def add(self, data: bytes | os.PathLike) -> None:
        """Append every page of `data`, a PDF (its bytes, or its file), and its structure."""
        if not isinstance(data, bytes | bytearray):
            with open(data, "rb") as file:
                data = file.read()
        try:
            self._add(Plain(bytes(data)))
        except (ValueError, IndexError, KeyError):  # not plain (NotPlain), or not as it says it is
            self._add(Plain(_plain(bytes(data))))
        self.letters += 1

    def _add(self, source: Plain) -> None:
        """Append `source`'s pages, and its structure. Nothing is changed until all of it has been read."""
        catalog = source.resolve(source.trailer.get(b"/Root"))
        if not isinstance(catalog, dict) or not isinstance(catalog.get(b"/Pages"), Ref):
            raise NotPlain("no catalog, or no page tree")
        pages = list(self._leaves(source, catalog[b"/Pages"], {}))
        rewritten: dict[int, Any] = dict(pages)  # objects written anew (parsed and changed), by number
        structure = self._structure(source, catalog, rewritten) if self._tagged else None
        if structure is None:
            self._tagged = False
            parts, entries, next_key = [], [], self._next_key
        else:
            parts, entries, next_key = structure
        # every object the kept ones reach, in the order they appear in the file
        roots = [number for number, _ in pages] + parts + [n for _, value in entries for n in _references(value)]
        pieces: dict[int, tuple[list, int]] = {}
        kept: set[int] = set()
        while roots:
            number = roots.pop()
            if number in kept:
                continue
            kept.add(number)
            if number in rewritten:
                roots.extend(_references(rewritten[number]))
            else:
                pieces[number] = found = source.pieces(number)
                generations = found[0][2::3]
                if generations.count(b"0") != len(generations):
                    raise NotPlain("a reference to a later generation")
                roots.extend(map(int, found[0][1::3]))
        order = sorted(kept, key=lambda n: source.places[n][0])
        first = _FIRST + len(self._offsets)
        numbers = {number: first + index for index, number in enumerate(order)}
        out = []
        size = self._size
        offsets = []
        data = source.data
        for number in order:
            offsets.append(size)
            if number in rewritten:
                text = b"%d 0 obj\n%s\nendobj\n" % (numbers[number], dump(rewritten[number], numbers))
                out.append(text)
                size += len(text)
                continue
            split, rest = pieces[number]
            references = split[1::3]
            split[1::3] = [b"%d 0 R" % numbers[int(n)] for n in references]
            split[2::3] = [b""] * len(references)
            text = b"%d 0 obj%s%s" % (numbers[number], b"".join(split), data[rest:source.places[number][1]])
            out.append(text)
            size += len(text)
        new_pages = [numbers[number] for number, _ in pages]
        if self.duplex and len(pages) % 2:
            offsets.append(size)
            box = dump(pages[-1][1].get(b"/MediaBox", b"[0 0 595.28 841.89]"), numbers)
            text = b"%d 0 obj\n<</Type/Page/Parent %d 0 R/MediaBox %s/Resources<<>>>>\nendobj\n" % (
                first + len(order), _PAGES, box)
            out.append(text)
            size += len(text)
            new_pages.append(first + len(order))
        # all read and written: the print file takes it
        self._chunks.append(b"".join(out))
        self._offsets += offsets
        self._size = size
        self._pages += new_pages
        self._parts += [numbers[number] for number in parts]
        for key, value in entries:
            self._parents += [b"%d" % key, dump(value, numbers)]
        self._next_key = next_key
        self._version = max(self._version, source.version)

    def _leaves(self, source: Plain, node: Ref, inherited: dict) -> Iterator[tuple[int, dict]]:
        """The pages under `node` of `source`'s page tree, in order (number, page), each given what
        it inherits, and its parent the print file's page tree."""
        tree = source.parse(node.number)
        if not isinstance(tree, dict):
            raise NotPlain("a page tree node is not a dictionary")
        if tree.get(b"/Type") == b"/Pages" or b"/Kids" in tree:
            inherited = {**inherited, **{key: tree[key] for key in _INHERITED if key in tree}}
            for kid in _list(source.resolve(tree.get(b"/Kids"))):
                if not isinstance(kid, Ref):
                    raise NotPlain("a page that is not an object of its own")
                yield from self._leaves(source, kid, inherited)
            return
        for key, value in inherited.items():
            tree.setdefault(key, value)
        tree[b"/Parent"] = Own(_PAGES)
        yield node.number, tree

    def _structure(self, source: Plain, catalog: dict, rewritten: dict) -> tuple[list, list, int] | None:
        """`source`'s top structure elements (its Document made a Part of the print file's), its
        parent tree's entries with their keys moved past those already taken (and the pages' and
        annotations' keys with them), and the next free key; or None if `source` is untagged."""
        tree = source.resolve(catalog.get(b"/StructTreeRoot"))
        if not isinstance(tree, dict) or b"/ParentTree" not in tree:
            return None
        offset = self._next_key
        entries = [(key + offset, value) for key, value in self._numbers(source, tree[b"/ParentTree"])]
        next_key = max([int(source.resolve(tree.get(b"/ParentTreeNextKey", b"0"))) + offset]
                       + [key + 1 for key, _ in entries])
        for number, page in list(rewritten.items()):
            if b"/StructParents" in page:
                page[b"/StructParents"] = b"%d" % (int(source.resolve(page[b"/StructParents"])) + offset)
            annotations = page.get(b"/Annots")
            if isinstance(annotations, Ref):  # the array an object of its own: written anew too
                annotations = rewritten[annotations.number] = source.parse(annotations.number)
            for annotation in _list(annotations):
                target = source.resolve(annotation)
                if isinstance(target, dict) and b"/StructParent" in target:
                    target[b"/StructParent"] = b"%d" % (int(source.resolve(target[b"/StructParent"])) + offset)
                    if isinstance(annotation, Ref):
                        rewritten[annotation.number] = target
        parts = []
        for kid in _list(source.resolve(tree.get(b"/K"))):
            element = source.resolve(kid)
            if not isinstance(kid, Ref) or not isinstance(element, dict):
                raise NotPlain("a structure element that is not an object of its own")
            if element.get(b"/S") == b"/Document":
                element[b"/S"] = b"/Part"
            parts.append(kid.number)
        for number in parts:
            part = rewritten[number] = source.parse(number)
            part[b"/P"] = Own(_DOCUMENT)  # never the document's own tree
        if self._lang is None and b"/Lang" in catalog:
            self._lang = source.resolve(catalog[b"/Lang"])
        roles = source.resolve(tree.get(b"/RoleMap"))
        if isinstance(roles, dict):
            for name, role in roles.items():
                if isinstance(role, bytes):
                    self._roles.setdefault(name, role)
        return parts, entries, next_key

    def _numbers(self, source: Plain, node: Any) -> Iterator[tuple[int, Any]]:
        """The entries (key, value) of the number tree at `node`."""
        node = source.resolve(node)
        if not isinstance(node, dict):
            raise NotPlain("a number tree node is not a dictionary")
        numbers = _list(source.resolve(node.get(b"/Nums")))
        for key, value in zip(numbers[::2], numbers[1::2]):
            yield int(source.resolve(key)), value
        for kid in _list(source.resolve(node.get(b"/Kids"))):
            yield from self._numbers(source, kid)

    def save(self, path: os.PathLike | str | BinaryIO) -> None:
        """Write the print file to `path` (a file's path, or a binary stream)."""
        header = b"%PDF-" + self._version + b"\n%\xe2\xe3\xcf\xd3\n"
        number = _FIRST + len(self._offsets)
        tail: list[bytes] = []
        offsets = {}
        size = len(header) + self._size

        def write(own: int, text: bytes) -> None:
            nonlocal size
            chunk = b"%d 0 obj\n%s\nendobj\n" % (own, text)
            offsets[own] = size
            tail.append(chunk)
            size += len(chunk)

        kids = b" ".join(b"%d 0 R" % page for page in self._pages)
        write(_PAGES, b"<</Type/Pages/Count %d/Kids[%s]>>" % (len(self._pages), kids))
        catalog = b"/Type/Catalog/Pages %d 0 R" % _PAGES
        tagged = self._tagged and self._parts
        if tagged:
            tree, parents, root = number, number + 1, number + 2
            write(_DOCUMENT, b"<</Type/StructElem/S/Document/P %d 0 R/K[%s]>>" % (
                tree, b" ".join(b"%d 0 R" % part for part in self._parts)))
            roles = b"".join(name + b" " + role for name, role in self._roles.items())
            write(tree, b"<</Type/StructTreeRoot/K[%d 0 R]/ParentTree %d 0 R/ParentTreeNextKey %d%s>>" % (
                _DOCUMENT, parents, self._next_key, b"/RoleMap<<" + roles + b">>" if roles else b""))
            write(parents, b"<</Nums[%s]>>" % b" ".join(self._parents))
            catalog += b"/StructTreeRoot %d 0 R/MarkInfo<</Marked true>>" % tree
            if isinstance(self._lang, bytes):
                catalog += b"/Lang" + (b"" if self._lang[:1] in b"(<" else b" ") + self._lang
        else:
            root = number
            write(_DOCUMENT, b"null")  # no structure: an empty place, so every number is taken
        write(root, b"<<" + catalog + b">>")
        digest = hashlib.md5(header)
        for chunk in self._chunks:
            digest.update(chunk)
        for chunk in tail:
            digest.update(chunk)
        count = root + 1
        table = [b"xref\n0 %d\n0000000000 65535 f \n" % count]
        starts = {**{_FIRST + index: offset + len(header) for index, offset in enumerate(self._offsets)}, **offsets}
        table += [b"%010d 00000 n \n" % starts[own] for own in range(1, count)]
        identifier = digest.hexdigest().encode()
        table.append(b"trailer\n<</Size %d/Root %d 0 R/ID[<%s><%s>]>>\nstartxref\n%d\n%%%%EOF\n" % (
            count, root, identifier, identifier, size))
        if hasattr(path, "write"):
            _write(path, header, self._chunks, tail, table)
            return
        with open(path, "wb") as file:
            try:
                _write(file, header, self._chunks, tail, table)
            except OSError as error:  # a full disk names no file: name the print file, for the message
                if error.filename is not None:
                    raise
                raise OSError(error.errno, error.strerror, str(path)) from error


def _write(file: BinaryIO, header: bytes, *parts: list[bytes]) -> None:
    file.write(header)
    for part in parts:
        file.writelines(part)


def _plain(data: bytes) -> bytes:
    """`data`, a PDF, rewritten by qpdf in the plain form (no object streams, no update, no
    encryption), every object of the first generation."""
    import io

    import pikepdf

    with pikepdf.open(io.BytesIO(data)) as pdf:
        buffer = io.BytesIO()
        pdf.save(buffer, object_stream_mode=pikepdf.ObjectStreamMode.disable, encryption=False)
    return buffer.getvalue()
