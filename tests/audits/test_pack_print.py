"""The pack printed in two halves at once (audits/pack_print.py) reads as one document: page
numbers, contents, outline and links are those of the whole, and it prints what the halves
printed one after the other in one process print."""

from __future__ import annotations

import io
import os
import re
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from audits import evidence, pack_print
from tests.audits.estate import build_assessed
from tests.audits.test_pack_render import _context


def _pages(pdf: bytes, tmp_path: Path) -> list[str]:
    path = tmp_path / f"{uuid.uuid4()}.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    return text.split("\f")[:-1]


def _page_index(reader: PdfFileReader) -> dict[int, int]:
    return {ref.idnum: index for index, ref in enumerate(pack_print._page_refs(reader.root))}


def _dests(reader: PdfFileReader) -> dict[str, int]:
    """The named destinations: name -> page index."""
    pages = _page_index(reader)
    found: dict[str, int] = {}
    nodes = [reader.root["/Names"]["/Dests"]]
    while nodes:
        node = nodes.pop()
        nodes.extend(kid.get_object() for kid in node.get("/Kids", []))
        names = node.get("/Names", [])
        for index in range(0, len(names), 2):
            found[str(names[index])] = pages[names.raw_get(index + 1).get_object().raw_get(0).idnum]
    return found


def _outline(reader: PdfFileReader) -> list[tuple[str, int]]:
    pages = _page_index(reader)
    found: list[tuple[str, int]] = []

    def walk(item: Any) -> None:
        while item is not None:
            item = item.get_object()
            found.append((str(item["/Title"]), pages[item["/Dest"].raw_get(0).idnum]))
            if "/First" in item:
                walk(item["/First"])
            item = item.get("/Next")

    walk(reader.root["/Outlines"]["/First"])
    return found


@pytest.fixture()
def printed(make_user: Any) -> tuple[dict[str, Any], str]:
    # the services and the changes attached: a frame with files
    _, context = _context(build_assessed(make_user), attach_over=10)
    assert context["attachments"]
    return context, evidence.pack_html(context)


def test_the_halves_print_one_document_numbered_throughout(
    printed: tuple[dict[str, Any], str], tmp_path: Path
) -> None:
    context, html = printed
    cut = pack_print.split(html)
    assert cut is not None and all(cut.halves)
    pdf = evidence.print_pdf(html, pack_uuid=context["pack_uuid"])
    pages = _pages(pdf, tmp_path)
    total = len(pages)
    assert total > 5
    # Every page after the cover says which it is, of how many; the cover says nothing.
    assert "Page 1 of" not in pages[0]
    for number, text in enumerate(pages[1:], start=2):
        assert re.findall(r"Page (\d+) of (\d+)", text) == [(str(number), str(total))], number
        # the halves' running headers: the scope on every page
        assert context["scope_label"] in " ".join(text.split()), number
    # The contents give each chapter's page: the page whose text opens with its title.
    reader = PdfFileReader(io.BytesIO(pdf))
    dests = _dests(reader)
    entries = re.findall(
        r"^\s*((?:\d|[A-F])[\d.]* [^.\n]+?)\s*(?:\. )+\.?\s*(\d+)\s*$", pages[1], re.M
    )
    assert len(entries) >= 8, pages[1]
    for title, number in entries:
        assert " ".join(title.split()) in " ".join(pages[int(number) - 1].split()), title
    # Its links lead there too, through the name tree, whichever half holds the anchor (a
    # link an entry: its text and its leader each have one).
    toc_page = pack_print._page_refs(reader.root)[1].get_object()
    targets = {dests[str(a.get_object()["/Dest"])] + 1 for a in toc_page["/Annots"]}
    assert targets == {int(n) for _, n in entries}
    # A link of the summary to a control lands on the control's page, in the other half too.
    links = 0
    for ref in pack_print._page_refs(reader.root)[2:]:
        for annotation in ref.get_object().get("/Annots", []):
            name = str(annotation.get_object().get("/Dest", ""))
            if name.startswith("c-"):
                links += 1
                assert name in dests, name
    assert links > 0


def test_printed_at_once_or_in_one_process_the_pack_is_the_same(
    printed: tuple[dict[str, Any], str], tmp_path: Path
) -> None:
    context, html = printed
    at_once = evidence.print_pdf(
        html, pack_uuid=context["pack_uuid"], attachments=context["attachments"]
    )
    one_process = evidence.print_pdf(
        html, pack_uuid=context["pack_uuid"], attachments=context["attachments"], parallel=False
    )
    assert _pages(at_once, tmp_path) == _pages(one_process, tmp_path)
    files = PdfFileReader(io.BytesIO(at_once)).root["/Names"]["/EmbeddedFiles"]["/Names"]
    names = [str(files[index]) for index in range(0, len(files), 2)]
    assert names == [a.name for a in context["attachments"]]


def test_the_halves_bookmarks_make_one_outline_on_their_pages(tmp_path: Path) -> None:
    # The pack's stylesheets give its headings no bookmark (it has no outline); one
    # that did would have the halves' bookmarks in one outline, each on its page.
    bookmark = "bookmark-level: 1; bookmark-label: content(text)"
    chapters = "".join(
        f'<section id="ch{n}" class="chapter"><h1 style="{bookmark}">Chapter {n}</h1>'
        + "<p>text</p>" * (40 * n)
        + "</section>"
        for n in range(1, 5)
    )
    html = (
        "<html><head></head><body>"
        '<section class="cover" data-scope="s" data-pack="p"><p>cover</p></section>'
        '<section class="toc"><a class="toc-a" href="#ch1">1</a></section>'
        f"{chapters}</body></html>"
    )
    pdf = evidence.print_pdf(html, pack_uuid="x")
    pages = _pages(pdf, tmp_path)
    outline = _outline(PdfFileReader(io.BytesIO(pdf)))
    assert [title for title, _ in outline] == [f"Chapter {n}" for n in range(1, 5)]
    for title, page in outline:
        assert pages[page].lstrip().split("\n")[1].strip() == title or title in pages[page]
    assert [page for _, page in outline] == sorted({page for _, page in outline})
    assert outline[-1][1] > outline[0][1] + 3


def test_html_that_is_not_a_pack_prints_at_once(tmp_path: Path) -> None:
    pdf = evidence.print_pdf("<p>x</p>", pack_uuid="x")
    (page,) = _pages(pdf, tmp_path)
    assert "x" in page.split() and "Page 1 of 1" in page


def _here_or_hang(parent: int, *, fail: bool = False) -> pack_print.Half:
    """In the forked copy: hang (a fork that inherited a held lock) or fail; here: a result."""
    if os.getpid() != parent:
        if fail:
            raise RuntimeError("the copy failed")
        time.sleep(60)
    return pack_print.Half(pdf=b"printed here")


@pytest.mark.parametrize("fail", [False, True], ids=["hung", "failed"])
def test_a_copy_that_hangs_or_fails_is_replaced_by_printing_here(fail: bool) -> None:
    parent = os.getpid()
    started = time.monotonic()
    half = pack_print._forked(lambda: _here_or_hang(parent, fail=fail))(1.0)
    assert half.pdf == b"printed here"
    assert time.monotonic() - started < 10  # the hung copy was killed at its bound
