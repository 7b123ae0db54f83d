"""PDF page furniture: running headers, footers and page numbers are dropped and the text
reflowed, so a longer sentence that moves a page break diffs as that sentence alone.
The PDFs are made here with fpdf2: a municipal code chapter over several pages."""

from __future__ import annotations

import difflib
import warnings

import pytest
from fpdf import FPDF
from pypdf import PdfReader

from tracker.watch.extract import Page, Selectors, extract
from tracker.watch.extract.pdf import drop_furniture, reflow

SECTIONS = [
    ("52.3301", "Purpose.", "This division regulates the sale of kratom products within the "
     "City in order to protect the public health, safety and welfare of its residents."),
    ("52.3302", "Definitions.", "For the purposes of this division, kratom means any part of "
     "the leaf of the plant Mitragyna speciosa, whether or not it has been processed."),
    ("52.3303", "Sale to minors prohibited.", "No person shall sell, give or otherwise furnish "
     "a kratom product to any person under twenty-one years of age."),
    ("52.3304", "Labelling.", "Every kratom product offered for sale shall bear a label that "
     "lists its ingredients, the amount of mitragynine per serving and the name of its maker."),
    ("52.3305", "Concentrated products.", "No person shall sell a product in which the level "
     "of 7-hydroxymitragynine exceeds two percent of the total alkaloid composition."),
    ("52.3306", "Enforcement.", "The City Attorney may bring a civil action to enjoin any "
     "violation of this division and to recover a penalty for each day it continues."),
    ("52.3307", "Severability.", "If any provision of this division is held invalid, the "
     "remaining provisions shall continue in full force and effect without it."),
    ("52.3308", "Effective date.", "This division shall take effect on the thirtieth day "
     "after its final passage by the Council and its approval by the Mayor."),
]  # fmt: skip
LONGER = (
    " A retailer shall verify the age of every purchaser by inspecting a valid government "
    "issued photographic identification before completing any sale of a kratom product."
)


class _Chapter(FPDF):
    def header(self) -> None:
        self.set_font("Helvetica", size=8)
        self.cell(0, 6, "San Diego Municipal Code, Chapter 5: Public Safety, Morals and Welfare")
        self.ln(9)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font("Helvetica", size=8)
        self.cell(0, 6, f"Page {self.page_no()} of {{nb}}", align="C")


def chapter(extra: str = "") -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pdf = _Chapter(format=(90, 130))  # small pages: several from a short chapter
    pdf.alias_nb_pages()
    pdf.set_auto_page_break(True, margin=18)
    pdf.add_page()
    for number, heading, text in SECTIONS:
        pdf.set_font("Helvetica", "B", 9)
        pdf.multi_cell(0, 5, f"{number} {heading}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=9)
        text += extra if number == "52.3303" else ""
        pdf.multi_cell(0, 5, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    return bytes(pdf.output())


def _pages(body: bytes) -> list[list[str]]:
    import io

    return [p.extract_text().splitlines() for p in PdfReader(io.BytesIO(body)).pages]


def test_a_longer_sentence_that_moves_a_page_break_diffs_as_that_sentence_alone() -> None:
    before, after = chapter(), chapter(LONGER)
    old_pages, new_pages = _pages(before), _pages(after)
    assert len(old_pages) >= 2
    # The page breaks really moved: some page starts with a different body line.
    assert [p[1] for p in old_pages] != [p[1] for p in new_pages[: len(old_pages)]]
    raw = difflib.unified_diff(
        [x for p in old_pages for x in p], [x for p in new_pages for x in p], lineterm="", n=0
    )
    raw_changed = [x for x in raw if x[:1] in "+-" and x[:3] not in ("+++", "---")]
    assert any("Page " in x for x in raw_changed)  # without the rule, furniture moves too

    old = extract("pdf", Page(before, "application/pdf"))
    new = extract("pdf", Page(after, "application/pdf"))
    diff = [x for x in difflib.ndiff(old, new) if x[:2] in ("+ ", "- ")]
    assert diff == ["+ " + LONGER.strip()]
    assert not any("Page " in x or "Municipal Code, Chapter 5" in x for x in new)
    assert "52.3302 Definitions." in new
    assert (
        "For the purposes of this division, kratom means any part of the leaf of the plant "
        "Mitragyna speciosa, whether or not it has been processed." in new
    )


def test_keep_furniture_keeps_headers_and_page_numbers() -> None:
    lines = extract("pdf", Page(chapter(), "application/pdf"), Selectors(keep_furniture=True))
    assert any(x.startswith("Page 1 of") for x in lines)


@pytest.mark.parametrize(
    ("pages", "kept"),
    [
        # A header with the page's own number, a bare page number, a footer.
        (
            [["Code 1", "Sec. 1 text.", "more.", "end."], ["Code 2", "Sec. 2 text.", "x.", "y."]],
            [["Sec. 1 text.", "more.", "end."], ["Sec. 2 text.", "x.", "y."]],
        ),
        ([["Sec. 1 text.", "- 1 -"]], [["Sec. 1 text."]]),
        # A line that repeats inside the body (not at an edge) stays.
        (
            [["Head", "a.", "b", "c.", "Foot"], ["Head", "d.", "b", "e.", "Foot"]],
            [["a.", "b", "c."], ["d.", "b", "e."]],
        ),
        # Section numbers differ from page to page: never mistaken for a header.
        (
            [["52.3301 Purpose."], ["52.3302 Definitions."]],
            [["52.3301 Purpose."], ["52.3302 Definitions."]],
        ),
    ],
)
def test_what_counts_as_furniture(pages: list[list[str]], kept: list[list[str]]) -> None:
    assert drop_furniture(pages) == kept


def test_reflow_joins_paragraphs_and_cuts_sentences() -> None:
    lines = [
        "R.I. Gen. Laws § 21-28.12-5 provides that no person shall sell a kratom pro-",
        "duct to a minor. It also limits 7-OH.",
        "Article 2",
    ]
    assert reflow(lines) == [
        "R.I. Gen. Laws § 21-28.12-5 provides that no person shall sell a kratom product to "
        "a minor.",
        "It also limits 7-OH.",
        "Article 2",
    ]
