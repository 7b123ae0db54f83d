"""Sources a user can shape: `tracker sources add` with ignore patterns, keywords, a key
and a title (or a readable key and title derived from the place and URL); `tracker
sources disable|enable KEY` for shipped sources too, kept in the operator's own file;
`shipped_sources = false` turns every shipped source off."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Templates, use_loaded_copy
from tests.support.pages import PageServer
from tracker.paths import jurisdictions_dir

STATUTE = (Path(__file__).resolve().parent / "data" / "pages" / "statute.html").read_text()
SHIPPED = "us-ri-gen-laws-21-28.12-5"


@pytest.fixture
def site(templates: Templates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    use_loaded_copy(
        templates, tmp_path, monkeypatch, allow_loopback="1", host_delay="0", fetch_retries="0"
    )
    with PageServer() as s:
        s.page("/Statutes/TITLE21/21-28.12/21-28.12-5.htm", STATUTE)
        yield s


def _sources(cli: Any) -> dict[str, Any]:
    listed = cli("sources", "--json")
    assert listed.code == 0, listed.err
    return json.loads(listed.out)


def test_add_derives_a_readable_key_and_title(cli: Any, site: PageServer, tmp_path: Path) -> None:
    url = site.url("/Statutes/TITLE21/21-28.12/21-28.12-5.htm")
    added = cli("sources", "add", "US-RI", url)
    assert added.code == 0, added.err
    assert "added us-ri-21-28.12-5 " in added.out
    assert "title: 21-28.12-5.htm (127.0.0.1)" in added.out
    other = cli("sources", "add", "US-TX", url)  # same page, another place: a new key
    assert other.code == 0 and "added us-tx-21-28.12-5 " in other.out
    home = cli("sources", "add", "TH", site.url("/"), "--kind", "html")
    assert home.code == 0 and "added th-127.0.0.1 " in home.out


def test_add_with_ignore_keywords_key_and_title(cli: Any, site: PageServer, tmp_path: Path) -> None:
    url = site.url("/Statutes/TITLE21/21-28.12/21-28.12-5.htm")
    added = cli(
        "sources", "add", "US-RI", url, "--key", "ri-kratom-act", "--title", "R.I. Kratom Act",
        "--ignore", r"Last updated .*", "--keyword", "license fee", "--select", "main",
    )  # fmt: skip
    assert added.code == 0, added.err
    (entry,) = yaml.safe_load((tmp_path / "data" / "sources.yaml").read_text())["sources"]
    assert entry["key"] == "ri-kratom-act" and entry["title"] == "R.I. Kratom Act"
    assert entry["ignore"] == ["Last updated .*"] and entry["keywords"] == ["license fee"]
    assert cli("check", "ri-kratom-act").code == 0
    # A change naming only the source's own keyword is relevant.
    site.page(
        "/Statutes/TITLE21/21-28.12/21-28.12-5.htm",
        STATUTE.replace("The license fee shall be set", "The license fee shall be fixed"),
    )
    (result,) = json.loads(cli("check", "ri-kratom-act", "--json").out)["results"]
    assert result["importance"] == "relevant" and result["keywords"] == ["license fee"]


@pytest.mark.usefixtures("shipped_on")
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--ignore", "(unclosed"), "invalid"),
        (("--key", "Bad Key!"), "invalid --key"),
        (("--key", SHIPPED), "already used"),
    ],
)
def test_add_bad_input_writes_nothing(
    cli: Any, site: PageServer, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = cli("sources", "add", "US-RI", site.url("/x"), *args)
    assert result.code == 2 and message in result.err, result.err
    assert not (tmp_path / "data" / "sources.yaml").exists()


@pytest.mark.usefixtures("shipped_on")
def test_disable_and_enable_a_shipped_source(cli: Any, site: PageServer, tmp_path: Path) -> None:
    shipped = (jurisdictions_dir() / "sources" / "us.yaml").read_text()
    assert SHIPPED in {s["key"] for s in _sources(cli)["sources"]}
    off = cli("sources", "disable", SHIPPED)
    assert off.code == 0 and f"{SHIPPED} disabled" in off.out
    listed = _sources(cli)
    assert SHIPPED not in {s["key"] for s in listed["sources"]}
    assert listed["disabled"] == [SHIPPED]
    assert "disabled (1)" in cli("sources").out
    assert "already disabled" in cli("sources", "disable", SHIPPED).out
    # Kept in the operator's file, never in the shipped data.
    assert (jurisdictions_dir() / "sources" / "us.yaml").read_text() == shipped
    mine = yaml.safe_load((tmp_path / "data" / "sources.yaml").read_text())
    assert mine["disabled"] == [SHIPPED]
    # `sources add` still appends under `sources:` after a `disabled:` line.
    assert cli("sources", "add", "US-RI", site.url("/x"), "--key", "mine").code == 0
    mine = yaml.safe_load((tmp_path / "data" / "sources.yaml").read_text())
    assert [e["key"] for e in mine["sources"]] == ["mine"] and mine["disabled"] == [SHIPPED]
    assert cli("sources", "disable", "mine").code == 0
    assert sorted(_sources(cli)["disabled"]) == ["mine", SHIPPED]

    on = cli("sources", "enable", SHIPPED)
    assert on.code == 0 and f"{SHIPPED} enabled" in on.out
    keys = {s["key"] for s in _sources(cli)["sources"]}
    assert SHIPPED in keys and "mine" not in keys
    unknown = cli("sources", "disable", "no-such-source")
    assert unknown.code == 2 and "no source 'no-such-source'" in unknown.err


@pytest.mark.usefixtures("shipped_on")
def test_shipped_sources_setting_turns_them_all_off(
    cli: Any, site: PageServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert len(_sources(cli)["sources"]) >= 10
    monkeypatch.setenv("TRACKER_SHIPPED_SOURCES", "false")
    assert _sources(cli)["sources"] == []
    assert "shipped sources are off" in cli("sources").out
    assert cli("sources", "add", "US-RI", site.url("/x"), "--key", "mine").code == 0
    assert [s["key"] for s in _sources(cli)["sources"]] == ["mine"]
    checked = json.loads(cli("check", "--json").out)["results"]
    assert [r["key"] for r in checked] == ["mine"]  # no shipped page is fetched
    monkeypatch.setenv("TRACKER_SHIPPED_SOURCES", "true")
    assert len(_sources(cli)["sources"]) >= 11
