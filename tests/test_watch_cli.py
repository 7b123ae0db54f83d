"""The watch commands through the real entry point: sources, sources add/test, check,
changes, diff, and their bad-input cases (exit 2, a message and a hint)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import Templates
from tests.support.pages import PageServer, cli_site
from tracker.paths import jurisdictions_dir
from tracker.watch.sources import load_specs, source_files

STATUTE = (Path(__file__).resolve().parent / "data" / "pages" / "statute.html").read_text()


@pytest.fixture
def site(templates: Templates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with cli_site(templates.sqlite_loaded, tmp_path, monkeypatch, fetch_timeout=1) as s:
        yield s


def _key(out: str) -> str:
    return out.split()[1]


@pytest.mark.usefixtures("shipped_on")
def test_add_test_check_changes_diff(cli: Any, site: PageServer, tmp_path: Path) -> None:
    added = cli("sources", "add", "US-RI", site.url("/law"), "--select", "main", "--every", "6h")
    assert added.code == 0, added.err
    key = _key(added.out)
    assert (tmp_path / "data" / "sources.yaml").is_file()  # the operator's file, not shipped
    assert key not in (jurisdictions_dir() / "sources" / "us.yaml").read_text()

    listed = cli("sources", "US-RI")
    assert key in listed.out and "us-ri-gen-laws-21-28.12-5" in listed.out and "6h" in listed.out

    tested = cli("sources", "test", key)
    assert tested.code == 0, tested.err
    for stage in ("fetch:     HTTP 200", "extract:", "normalize:", "compare:   no version"):
        assert stage in tested.out
    assert "| (b) A retailer shall not sell a kratom product" in tested.out
    db_url = sa.make_url(f"sqlite:///{tmp_path / 'tracker.db'}")
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM page_check")).scalar() == 0

    first = cli("check", key)
    assert first.code == 0 and "1 checked: 1 baseline" in first.out
    site.page("/law", STATUTE.replace("twenty-one (21)", "eighteen (18)"))
    second = cli("check", key)
    assert second.code == 0 and "change #1 (relevant) kratom" in second.out

    changes = cli("changes", "US-RI", "--since", "2020-01-01")
    assert "#1" in changes.out and "relevant" in changes.out and "+1 -1" in changes.out
    assert "no changes" in cli("changes", "TH").out
    assert '"changes": []' in cli("changes", "--since", "2999-01-01", "--json").out

    diff = cli("diff", "1")
    assert "-(b) A retailer" in diff.out and "+(b) A retailer" in diff.out
    assert "<del>twenty-one</del><ins>eighteen</ins>" in cli("diff", "1", "--html").out
    assert "eighteen (18) years" in cli("diff", "1", "--new").out
    engine.dispose()


def test_check_reports_failures_and_goes_on(cli: Any, site: PageServer) -> None:
    good = _key(cli("sources", "add", "US-TX", site.url("/law")).out)
    gone = _key(cli("sources", "add", "US-TX", site.url("/missing")).out)
    result = cli("check", good, gone)
    assert result.code == 1
    assert "HTTP 404 Not Found" in result.out and "1 baseline, 1 error" in result.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("US-RI", "ftp://example.org/x"), "invalid URL"),
        (("US-RI", "http://169.254.169.254/latest/"), "refused address"),
        (("Atlantis", "{url}"), "unknown place"),
        (("US-RI", "{url}", "--select", "main[["), "invalid CSS selector"),
        (("US-RI", "{url}", "--every", "soon"), "invalid interval"),
        (("US-RI", "{url}", "--every", "10s"), "shorter than one minute"),
        (("US-RI", "{url}", "--cron", "61 * * * *"), "invalid cron"),
        (("US-RI", "{url}", "--kind", "spreadsheet"), "unknown kind"),
        (("US-RI", "{url}", "--kind", "pdf", "--select", "main"), "html pages only"),
    ],
)
def test_sources_add_bad_input(
    cli: Any, site: PageServer, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = cli("sources", "add", *(a.format(url=site.url("/law")) for a in args))
    assert result.code == 2 and message in result.err
    assert not (tmp_path / "data" / "sources.yaml").exists()  # nothing half-written


def test_adding_the_same_page_twice_is_refused(cli: Any, site: PageServer) -> None:
    assert cli("sources", "add", "US-RI", site.url("/law")).code == 0
    again = cli("sources", "add", "Rhode Island", site.url("/law"))
    assert again.code == 2 and "already watched" in again.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("check", "no-such-source"), "unknown source(s): no-such-source"),
        (("sources", "test", "no-such-source"), "unknown source(s)"),
        (("diff", "999"), "no change #999"),
        (("diff", "latest"), "invalid change"),
        (("changes", "--since", "last tuesday"), "invalid --since"),
        (("sources", "Atlantis"), "unknown place"),
    ],
)
def test_other_bad_input(cli: Any, site: PageServer, args: tuple[str, ...], message: str) -> None:
    result = cli(*args)
    assert result.code == 2 and message in result.err


@pytest.mark.usefixtures("shipped_on")
def test_shipped_sources_are_valid_and_name_known_places(cli: Any, site: PageServer) -> None:
    specs, problems, _ = load_specs(source_files(jurisdictions_dir(), Path("/nonexistent")))
    assert problems == [] and len(specs) >= 10
    assert {s.kind for s in specs} >= {"html", "pdf", "federal_register"}
    assert all(not s.verified and not s.select for s in specs)  # unseen pages: no guesses
    listed = cli("sources", "--json")
    assert listed.code == 0 and '"problems": []' in listed.out
    for spec in specs:
        assert spec.key in listed.out
