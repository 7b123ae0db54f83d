"""Coverage-guided fuzzing of the extractors with atheris (libFuzzer), outside the normal
suite (pytest does not collect this file; `pip install -e '.[fuzz]'` installs atheris):

    .venv/bin/python tests/fuzz/atheris_extract.py KIND [CORPUS_DIR] -max_total_time=300

KIND is html, pdf, json, federal_register or feed. Without CORPUS_DIR the corpus is a
scratch copy of the saved pages of `tests/data/pages`. Any exception other than
`SourceError(stage="extract")` is a crash (libFuzzer saves the input as crash-*); every
input that exposed a bug becomes a fixed case in tests/test_hostile_extract.py. A hang
past libFuzzer's `-timeout` (default 1200 s; give e.g. -timeout=20) is reported as one
too.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from tracker.errors import SourceError
    from tracker.watch.extract import KINDS, Page, Selectors, extract

MEDIA = {
    "html": "text/html",
    "pdf": "application/pdf",
    "json": "application/json",
    "federal_register": "application/json",
    "feed": "application/atom+xml",
}
SELECTORS = [Selectors(), Selectors(("main",)), Selectors(("p",), ("nav",))]


def one(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    selectors = SELECTORS[fdp.ConsumeIntInRange(0, len(SELECTORS) - 1)]
    charset = fdp.PickValueInList([None, "utf-8", "latin-1", "x-bogus", "undefined"])
    body = fdp.ConsumeBytes(fdp.remaining_bytes())
    try:
        lines = extract(
            KIND, Page(body, MEDIA[KIND], charset), selectors if KIND == "html" else Selectors()
        )
    except SourceError as err:
        if err.stage != "extract":
            raise
        return
    if not any(line.strip() for line in lines):
        raise AssertionError("an extractor returned no text instead of raising")


if __name__ == "__main__":
    KIND = sys.argv.pop(1) if len(sys.argv) > 1 and sys.argv[1] in KINDS else "html"
    if len(sys.argv) == 1 or sys.argv[1].startswith("-"):
        # libFuzzer adds what it finds to its first corpus folder: a scratch copy of the
        # saved pages, never the source tree.
        corpus = Path(tempfile.mkdtemp(prefix=f"fuzz-{KIND}-"))
        for seed in (Path(__file__).resolve().parents[1] / "data" / "pages").iterdir():
            shutil.copy(seed, corpus)
        sys.argv.insert(1, str(corpus))
        print(f"corpus: {corpus}", flush=True)
    atheris.Setup(sys.argv, one)
    atheris.Fuzz()
