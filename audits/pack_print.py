"""The pack's HTML printed by WeasyPrint in two halves at once, assembled into one PDF.

WeasyPrint lays a document out in one thread; the machine has more than one CPU. So the pack
is cut in two at a chapter (or a framework of chapter 2) where the halves weigh about the same,
and the second half is printed by a forked copy of this process while this one prints the
first. The halves cannot know each other's page numbers, so they print everything but them:

- each half prints its pages with their running headers and the bottom-left footer, but not
  "Page X of Y" (the bottom-right box);
- then a frame is printed, in this process, with the page count known: the cover, the table of
  contents with every chapter's page number filled in, and an empty page of the right size
  for each page of the halves, which carries only "Page X of Y". WeasyPrint writes the
  frame's document-wide parts: outline (the halves' bookmarks, on their pages), named
  destinations (the halves' anchors), metadata, identifier and attached files;
- each page of a half is then drawn onto its frame page as a form XObject, under the page
  number, with its link annotations (an internal link names its destination, which the
  frame's name tree resolves, whichever half holds it).

The result is one PDF, as if printed at once but for a framework that begins a half starting
on a new page. A half that cannot be forked (or fails) is printed in this process instead.
"""

from __future__ import annotations

import io
import os
import pickle
import re
import select
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Where the pack may be cut: before a chapter (a <section> after the contents) or before a
# framework of chapter 2. The template's sections are top-level and never nested.
SECTION = re.compile(r"(?=<section )")
FRAMEWORK = re.compile(r'(?=<h2 id="fw-)')
H1 = re.compile(r"<h1[^>]*>(.*?)</h1>", re.S)
COVER_STRINGS = re.compile(r'<section class="cover" data-scope="([^"]*)" data-pack="([^"]*)"')
TOC_LINK = re.compile(r'<a class="toc-a" href="#([^"]+)"')
# How long the forked copy may take beyond its sibling's time, as a multiple plus a margin.
CHILD_FACTOR = 4
CHILD_GRACE_SECONDS = 30.0
# A half prints no page number: the frame does.
HALF_CSS = "@page { @bottom-right { content: none; } }"
# The frame's empty pages carry only the page number.
FRAME_CSS = """
@page blank { @top-left { content: none; } @top-right { content: none; }
  @bottom-left { content: none; } }
@page blank-wide { size: A4 landscape; margin: 20mm 16mm 18mm 16mm;
  @top-left { content: none; } @top-right { content: none; } @bottom-left { content: none; } }
.blank { page: blank; break-before: page; }
.blank-wide { page: blank-wide; break-before: page; }
"""


@dataclass
class Half:
    """A half as printed: its PDF, and per page its size, anchors and bookmarks."""

    pdf: bytes
    sizes: list[tuple[float, float]] = field(default_factory=list)
    anchors: list[dict[str, Any]] = field(default_factory=list)
    bookmarks: list[list[Any]] = field(default_factory=list)


@dataclass
class Split:
    head: str  # up to and with <body>
    cover: str
    toc: str
    halves: tuple[str, str]


def split(html: str) -> Split | None:
    """The pack's HTML cut into cover, contents and two halves of about the same weight; None
    for HTML that is not a pack's (no cover, contents and two chapters)."""
    if "<body>" not in html:
        return None
    head, body = html.split("<body>", 1)
    body = body.rsplit("</body>", 1)[0]
    sections = [s for s in SECTION.split(body) if s.strip()]
    if len(sections) < 4 or 'class="cover"' not in sections[0] or 'class="toc"' not in sections[1]:
        return None
    cover, toc, chapters = sections[0], sections[1], sections[2:]
    # cut points: (chunks before, chunks after), each chunk a piece of HTML
    pieces: list[tuple[str, str | None]] = []  # (html, chapter title if it continues one)
    for chapter in chapters:
        parts = FRAMEWORK.split(chapter)
        if len(parts) > 1:
            title = H1.search(parts[0])
            pieces.append((parts[0], None))
            for part in parts[1:]:
                pieces.append((part, title.group(1) if title else ""))
        else:
            pieces.append((chapter, None))
    total = sum(len(p) for p, _ in pieces)
    best, cut, weight = total, 1, 0
    for index in range(1, len(pieces)):
        weight += len(pieces[index - 1][0])
        if abs(total - 2 * weight) < best:
            best, cut = abs(total - 2 * weight), index
    first = "".join(p for p, _ in pieces[:cut])
    second_pieces = pieces[cut:]
    second = "".join(p for p, _ in second_pieces)
    continued = second_pieces[0][1]
    if continued is not None:  # a chapter cut at a framework: close it, open it again
        first += "</section>"
        second = '<section class="chapter">' + second
    # Each half's first section sets the running header's strings the cover sets (and the
    # chapter's title, when it continues one).
    strings = COVER_STRINGS.search(cover)
    scope, pack = strings.groups() if strings else ("", "")
    return Split(
        head=head + "<body>",
        cover=cover,
        toc=toc,
        halves=(_with_strings(first, scope, pack), _with_strings(second, scope, pack, continued)),
    )


def _with_strings(half: str, scope: str, pack: str, chapter: str | None = None) -> str:
    sets = "scope attr(data-scope), pack attr(data-pack)"
    attributes = f'data-scope="{scope}" data-pack="{pack}"'
    if chapter is not None:
        sets += ", chapter attr(data-chapter)"
        attributes += f' data-chapter="{chapter}"'
    return half.replace("<section ", f'<section {attributes} style="string-set: {sets}" ', 1)


def _print_half(render: Callable[..., Any], head: str, body: str) -> Half:
    """One half printed: its PDF without page numbers, and what the frame needs of its pages."""
    document = render(head + body + "</body></html>", extra_css=HALF_CSS)
    own = {name for page in document.pages for name in page.anchors}
    foreign = {
        target
        for page in document.pages
        for kind, target, *_ in page.links
        if kind == "internal" and target not in own
    }
    half = Half(
        pdf=b"",
        sizes=[(page.width, page.height) for page in document.pages],
        anchors=[dict(page.anchors) for page in document.pages],
        bookmarks=[list(page.bookmarks) for page in document.pages],
    )
    # A link to the other half is kept (WeasyPrint drops a link to an anchor it has not
    # laid out): a stand-in anchor lets it through; the frame's name tree, which ends up in
    # the PDF, holds the real one.
    if foreign and document.pages:
        first = document.pages[0]
        for name in foreign:
            first.anchors[name] = (0, 0, 0, 0)
    for page in document.pages:
        page.bookmarks = []
    half.pdf = document.write_pdf()
    return half


def _forked(work: Callable[[], Half]) -> Callable[[float], Half]:
    """`work` started in a forked copy of this process; returns how to wait for its result, at
    most `seconds` (then the copy is killed), and `work` is run here instead when the fork
    failed, the copy failed or it did not finish in time. A fork taken while another thread
    held a lock can leave the copy waiting for ever: the bound keeps that from holding the
    job."""
    try:
        reader, writer = os.pipe()
        pid = os.fork()
    except OSError:
        return lambda _seconds: work()
    if pid == 0:  # the child: print, hand the result over, leave without cleaning up
        os.close(reader)
        status = 1
        try:
            data = pickle.dumps(work())
            with os.fdopen(writer, "wb") as out:
                out.write(data)
            status = 0
        finally:
            os._exit(status)
    os.close(writer)

    def result(seconds: float) -> Half:
        chunks: list[bytes] = []
        deadline = time.monotonic() + seconds
        with os.fdopen(reader, "rb", buffering=0) as handle:
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([handle], [], [], left)[0]:
                    os.kill(pid, signal.SIGKILL)  # ours, by its PID
                    os.waitpid(pid, 0)
                    return work()
                chunk = handle.read(1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
        _, status = os.waitpid(pid, 0)
        if status != 0 or not chunks:
            return work()  # the copy failed: print it here
        half: Half = pickle.loads(b"".join(chunks))
        return half

    return result


def _toc_with_pages(toc: str, pages: dict[str, int]) -> str:
    """The contents with each entry's page number (the anchors' pages, 1-based)."""

    def numbered(match: re.Match[str]) -> str:
        page = pages.get(match.group(1))
        return match.group(0) + (f' data-page="{page}"' if page else "")

    return TOC_LINK.sub(numbered, toc)


def print_halves(
    html: str,
    *,
    render: Callable[..., Any],
    write: Callable[[Any], bytes],
    parallel: bool = True,
) -> bytes:
    """The pack's HTML printed in two halves at once (see the module), as one PDF.

    `render(html, extra_css=...)` lays HTML out (a WeasyPrint Document), `write(document)`
    writes the frame's PDF with the pack's identifier and attachments."""
    cut = split(html)
    if cut is None:
        return write(render(html, extra_css=""))

    def print_second() -> Half:
        return _print_half(render, cut.head, cut.halves[1])

    second = _forked(print_second) if parallel else (lambda _seconds: print_second())
    started = time.monotonic()
    first = _print_half(render, cut.head, cut.halves[0])
    # The halves weigh about the same: the copy is given its sibling's time several times over.
    halves = [first, second(CHILD_GRACE_SECONDS + CHILD_FACTOR * (time.monotonic() - started))]
    return _assemble(cut, halves, render=render, write=write)


def _frame_html(cut: Split, halves: list[Half], toc_pages: int) -> str:
    first_page = 1 + toc_pages + 1  # after the cover and the contents
    pages: dict[str, int] = {}
    blanks = []
    number = first_page
    for half in halves:
        for (width, height), anchors in zip(half.sizes, half.anchors, strict=True):
            for name in anchors:
                pages.setdefault(name, number)
            blanks.append(
                '<div class="blank-wide"></div>' if width > height else '<div class="blank"></div>'
            )
            number += 1
    return (
        cut.head + cut.cover + _toc_with_pages(cut.toc, pages) + "".join(blanks) + "</body></html>"
    )


def _assemble(
    cut: Split,
    halves: list[Half],
    *,
    render: Callable[..., Any],
    write: Callable[[Any], bytes],
) -> bytes:
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.reader import PdfFileReader

    count = sum(len(half.sizes) for half in halves)
    toc_pages = 1
    for _ in range(3):  # the contents' length sets the numbers it prints: settle it
        frame = render(_frame_html(cut, halves, toc_pages), extra_css=FRAME_CSS)
        found = len(frame.pages) - 1 - count
        if found == toc_pages:
            break
        toc_pages = found
    # The halves' anchors and bookmarks on the frame's pages, which WeasyPrint writes out.
    offset = 1 + toc_pages
    index = offset
    for half in halves:
        for anchors, bookmarks in zip(half.anchors, half.bookmarks, strict=True):
            frame.pages[index].anchors.update(anchors)
            frame.pages[index].bookmarks.extend(bookmarks)
            index += 1
    pdf = write(frame)

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    frame_pages = _page_refs(writer.root)
    resources = frame_pages[0].get_object()["/Resources"]  # WeasyPrint's, shared by its pages
    forms = generic.DictionaryObject()
    target = offset
    for number, half in enumerate(halves):
        reader = PdfFileReader(io.BytesIO(half.pdf))
        imported: dict[Any, Any] = {}
        for page_ix, page_ref in enumerate(_page_refs(reader.root)):
            page = page_ref.get_object()
            name = generic.pdf_name(f"/PackHalf{number}p{page_ix}")
            forms[name] = writer.add_object(
                _form(page, _import(writer, reader, page.raw_get("/Resources"), imported))
            )
            frame_page_ref = frame_pages[target]
            frame_page = frame_page_ref.get_object()
            # the half's page first, the page number over it
            draw = writer.add_object(
                generic.StreamObject(stream_data=b"q " + name.encode() + b" Do Q")
            )
            contents = frame_page.raw_get("/Contents")
            frame_page[generic.pdf_name("/Contents")] = generic.ArrayObject(
                [draw, *(contents if isinstance(contents, generic.ArrayObject) else [contents])]
            )
            annotations = generic.ArrayObject(frame_page.get("/Annots", []))
            for annotation in page.get("/Annots", []):
                annotation = annotation.get_object()
                copied = generic.DictionaryObject(
                    {
                        key: _import(writer, reader, value, imported)
                        for key, value in annotation.items()
                        if key != "/P"
                    }
                )
                annotations.append(writer.add_object(copied))
            if annotations:
                frame_page[generic.pdf_name("/Annots")] = annotations
            writer.update_container(frame_page)
            target += 1
    resources = resources.get_object() if hasattr(resources, "get_object") else resources
    xobjects = resources.get("/XObject")
    if isinstance(xobjects, generic.IndirectObject):
        xobjects.get_object().update(forms)
        writer.update_container(xobjects.get_object())
    else:
        merged = generic.DictionaryObject(xobjects or {})
        merged.update(forms)
        resources[generic.pdf_name("/XObject")] = merged
        writer.update_container(resources)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _page_refs(root: Any) -> list[Any]:
    """The page objects' references, in order (WeasyPrint writes a flat tree; nested is read
    too)."""
    found: list[Any] = []
    nodes = [root.raw_get("/Pages")]
    while nodes:
        node = nodes.pop()
        kids = node.get_object().get("/Kids")
        if kids is None:
            found.append(node)
        else:
            nodes.extend(reversed(list(kids.raw_get(i) for i in range(len(kids)))))
    return found


def _form(page: Any, resources: Any) -> Any:
    """A page as a form XObject: its content stream as it is encoded, its resources."""
    from pyhanko.pdf_utils import generic

    content = page["/Contents"]
    streams = list(content) if isinstance(content, generic.ArrayObject) else [content]
    entries = {
        generic.pdf_name("/Type"): generic.pdf_name("/XObject"),
        generic.pdf_name("/Subtype"): generic.pdf_name("/Form"),
        generic.pdf_name("/BBox"): generic.ArrayObject(page["/MediaBox"]),
        generic.pdf_name("/Resources"): resources,
    }
    if len(streams) == 1 and "/Filter" in streams[0].get_object():
        stream = streams[0].get_object()
        entries[generic.pdf_name("/Filter")] = stream["/Filter"]
        return generic.StreamObject(entries, encoded_data=stream.encoded_data)
    form = generic.StreamObject(entries, stream_data=b"".join(s.get_object().data for s in streams))
    form.compress()
    return form


def _import(writer: Any, reader: Any, value: Any, imported: dict[Any, Any]) -> Any:
    """`value` of `reader` copied into `writer`, each indirect object once per half."""
    from pyhanko.pdf_utils.writer import _ObjectImporter

    importer = _ObjectImporter(
        source=reader, target=writer, reference_map=imported, obj_stream=None
    )
    return importer.import_object(value)
