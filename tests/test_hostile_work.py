"""Hostile pages cannot make one check unbounded (issue 14, items 1-4), against real
local servers: the diff of repetitive pages, slow-drip bodies and headers (robots.txt
too), crowded HTML, masks on hostile lines, the budget of one check, and a `tracker
check` interrupted by a signal. Limits in `no_hang` are far above the normal time: they
turn a hang into a failure, they do not measure speed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.drip import DripServer, body_drip, header_drip
from tests.support.hostile import no_hang, roll_call, roll_call_page
from tests.support.pages import PageServer, Reply
from tests.support.watching import Env, watching
from tracker.errors import SourceError
from tracker.storage.engine import Database
from tracker.storage.tables_watch import HOST, PAGE_CHANGE, SOURCE
from tracker.timeutil import utcnow
from tracker.watch import diff as diff_mod
from tracker.watch.cycle import run_cycle
from tracker.watch.diff import compare
from tracker.watch.extract import Page, extract
from tracker.watch.fetch import Fetcher
from tracker.watch.linediff import Matcher, align
from tracker.watch.normalize import Rules, normalize
from tracker.watch.robots import fetch_robots
from tracker.watch.watcher import WatchConfig

# ---------------------------------------------------------------- item 1: the diff


def test_the_roll_call_reorder_diffs_at_once_and_readably() -> None:
    old, new = roll_call(3000), roll_call(3000, flipped=True)
    with no_hang(60):  # difflib's matcher took 77 s here
        d = compare(old, new, max_bytes=2_000_000)
    assert not d.too_large and d.unified is not None and d.html is not None
    assert len(d.added) == len(d.removed) == 1500
    assert d.unified.splitlines()[:9] == [
        "--- before",
        "+++ after",
        "@@ -1,3000 +1,3000 @@",
        " Representative Member 00000 (District 1)",
        "-Yea",
        "+Nay",
        " Representative Member 00001 (District 2)",
        "-Nay",
        "+Yea",
    ]
    assert '<div class="chg"><del>Yea</del><ins>Nay</ins></div>' in d.html


def test_a_90000_line_page_is_diffed_too() -> None:
    old, new = roll_call(90_000), roll_call(90_000, flipped=True)
    with no_hang(120):
        d = compare(old, new, max_bytes=10_000_000, seconds=100)
    assert not d.too_large and len(d.added) == 45_000


def test_a_diff_past_its_time_is_recorded_as_too_large() -> None:
    # Nothing unique to anchor on, every line changed around: the Myers diff of the
    # gap needs far more than the time given, and gives up.
    old = ["Yea", "Nay"] * 20_000
    new = ["Nay", "Nay", "Yea"] * 13_333
    with no_hang(60):
        d = compare(old, new, max_bytes=10_000_000, seconds=0.05)
    assert d.too_large and d.unified is None and d.html is None
    assert d.added == [] and d.removed == []  # the same lines, only moved


def test_a_large_replaced_block_loses_only_its_word_highlights(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(diff_mod, "WORDS_MAX", 20)
    d = compare(
        ["same", "persons 21 or older may buy kratom"], ["same", "no one may"], max_bytes=10**6
    )
    assert d.html is not None and 'class="chg"' not in d.html
    assert '<div class="del"><del>persons 21 or older may buy kratom</del></div>' in d.html
    assert '<div class="ins"><ins>no one may</ins></div>' in d.html
    assert d.unified is not None and "-persons 21 or older may buy kratom" in d.unified


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from("abcdefgh"), max_size=40),
    st.lists(st.sampled_from("abcdefgh"), max_size=40),
)
def test_every_alignment_rebuilds_the_new_version(old: list[str], new: list[str]) -> None:
    """Anchors, Myers gaps and difflib's opcodes always describe `new` exactly."""
    found = align(old, new, seconds=5)
    assert found.complete
    rebuilt: list[str] = []
    for tag, i1, i2, j1, j2 in Matcher(found.blocks).get_opcodes():
        if tag == "equal":
            assert old[i1:i2] == new[j1:j2]
            rebuilt += old[i1:i2]
        else:
            rebuilt += new[j1:j2]
    assert rebuilt == new


# ---------------------------------------------------------------- item 2: deadlines


def _fetcher(timeout: float = 1.0) -> Fetcher:
    return Fetcher(allow_loopback=True, user_agent="t", timeout=timeout, retries=2, backoff=0)


@pytest.mark.parametrize("drip", [body_drip, header_drip], ids=["body", "headers"])
def test_a_slow_drip_is_cut_at_the_wall_clock_deadline(drip: Any) -> None:
    fast, slow = drip()
    # 8 bytes a second: a whole answer would take days; every read gets its bytes
    # well within the 1 s read timeout, so only the deadline (2 s) can end it.
    with (
        DripServer(fast, slow, every=0.2, step=8) as srv,
        no_hang(60),
        pytest.raises(SourceError, match=r"took longer than 2 s"),
    ):
        _fetcher().get(srv.url("/law"))
    assert len(srv.requests) == 1  # not retried past the deadline


def test_robots_txt_that_drips_is_unreachable_not_a_hang() -> None:
    with DripServer(*header_drip(), every=0.2) as srv, no_hang(60):
        robots = fetch_robots(_fetcher(), srv.base, utcnow())
    assert robots.status == 0 and not robots.allows(srv.url("/law"), "t")


# ---------------------------------------------------------------- item 3: parse, masks


@pytest.mark.parametrize("count", [40_000, 300_000])
def test_an_element_with_thousands_of_attributes_fails_fast(count: int) -> None:
    attrs = " ".join(f"data-attribute-{i}=v" for i in range(count))
    page = Page(f"<html><body><div {attrs}>kratom</div></body></html>".encode(), "text/html")
    with no_hang(20), pytest.raises(SourceError, match="more than 128 attributes") as info:
        extract("html", page)
    assert info.value.stage == "extract"


def test_ordinary_elements_and_many_tags_are_still_read() -> None:
    attrs = " ".join(f'data-a{i}="{i}"' for i in range(100))
    rows = "".join(f"<td>{i}</td>" for i in range(20_000))
    body = f"<html><body><div {attrs}>kratom law</div><table><tr>{rows}</tr></table></body></html>"
    lines = extract("html", Page(body.encode(), "text/html"))
    assert "kratom law" in lines[0] and "19999" in lines[0]


def test_a_page_of_a_million_tags_fails_fast() -> None:
    page = Page(("<html><body>" + "<b>x</b>" * 500_000 + "</body></html>").encode(), "text/html")
    with no_hang(20), pytest.raises(SourceError, match="over the 500,000 this tracker parses"):
        extract("html", page)


def test_masks_on_hostile_lines_run_in_linear_time() -> None:
    rules = Rules((), ["dates", "times", "tokens", "counters"])
    with no_hang(20):  # 9 s for one such line with Python's engine
        for line in ("a-" * 20_000, "1," * 20_000, "9" * 40_000, "ab1-" * 10_000):
            assert normalize([line], rules)
    assert normalize(["id abc123def456ghi789 seen 1,234 views on 2024-05-06"], rules) == [
        "id ‹token› seen ‹n› views on ‹date›"
    ]
    assert normalize(["abcdefghijklmnopqrstuvwxyz"], rules) == ["abcdefghijklmnopqrstuvwxyz"]


def test_ignore_patterns_that_need_backtracking_are_refused() -> None:
    with pytest.raises(ValueError, match="lookaround and backreferences are not supported"):
        Rules([r"(?<=Updated )\d+"])
    with pytest.raises(ValueError, match="invalid ignore pattern"):
        Rules([r"(a)\1"])
    assert normalize(["Updated 5 kratom"], Rules([r"Updated \d+ "])) == ["kratom"]


# ---------------------------------------------------------------- item 4: one check's budget


@pytest.fixture
def env(empty_db: Database, tmp_path: Path) -> Iterator[Env]:
    # A fetch alone may take 10 s (twice the timeout); the check's budget is 2 s.
    fetcher = Fetcher(allow_loopback=True, user_agent="t", timeout=5, retries=0)
    with watching(
        empty_db, tmp_path, fetcher, WatchConfig(host_delay=0, workers=2, check_budget=2)
    ) as found:
        yield found


def _drip(seconds: float = 120) -> Iterator[bytes]:
    yield b"<html><body><p>kratom"
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.2)
        yield b" vote"


def test_a_check_over_its_budget_is_an_error_and_the_host_goes_on(env: Env) -> None:
    env.sources({"key": "drip", "path": "/drip"}, {"key": "law", "path": "/law"})
    env.site.route("/drip", lambda req: Reply(200, stream=_drip()))
    env.site.page("/law", "<html><body><p>Kratom Act</p></body></html>")
    with no_hang(90):
        report = run_cycle(env.w, env.root, env.data)
    by_key = {r.key: r for r in report.results}
    assert by_key["drip"].outcome == "error"
    assert "budget of 2 s (check_budget)" in (by_key["drip"].error or "")
    assert by_key["law"].outcome == "baseline"  # the same host, checked after it
    with env.db.read() as conn:
        assert conn.execute(sa.select(HOST.c.lease_owner)).scalars().all() == [None]
        assert conn.execute(sa.select(SOURCE.c.lease_owner)).scalars().all() == [None, None]


def test_the_roll_call_reorder_is_one_change_of_a_check(env: Env) -> None:
    env.sources({"key": "votes", "path": "/votes"})
    env.site.page("/votes", roll_call_page(3000))
    run_cycle(env.w, env.root, env.data)
    env.site.page("/votes", roll_call_page(3000, flipped=True))
    with no_hang(60):
        (result,) = run_cycle(env.w, env.root, env.data).results
    assert result.outcome == "changed", result.error
    with env.db.read() as conn:
        change = conn.execute(sa.select(PAGE_CHANGE)).one()
    assert not change.too_large and change.added == change.removed == 1500


# ---------------------------------------------------------------- item 2/4: signals


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_check_stops_at_once_and_gives_its_leases_back(
    cli: Any, loaded_sqlite_dir: Path, monkeypatch: pytest.MonkeyPatch, signum: int
) -> None:
    monkeypatch.setenv("TRACKER_DATA_DIR", str(loaded_sqlite_dir))
    monkeypatch.setenv("TRACKER_ALLOW_LOOPBACK", "1")
    monkeypatch.setenv("TRACKER_HOST_DELAY", "0")
    monkeypatch.setenv("TRACKER_FETCH_TIMEOUT", "100")  # only the signal can end the drip
    with PageServer() as site:
        site.route("/drip", lambda req: Reply(200, stream=_drip(300)))
        key = cli("sources", "add", "US-RI", site.url("/drip")).out.split()[1]
        proc = subprocess.Popen(
            [sys.executable, "-m", "tracker", "check", key],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        try:
            deadline = time.monotonic() + 120
            while not site.hits("/drip") and time.monotonic() < deadline:
                time.sleep(0.05)
            assert site.hits("/drip"), "the check never reached the page"
            proc.send_signal(signum)
            out, err = proc.communicate(timeout=60)  # the drip alone would take 300 s
        finally:
            proc.kill()
        assert proc.returncode == 130, (out, err)
        assert "every lease was released" in err
        site.page("/drip", "<html><body><p>Kratom Act</p></body></html>")
        again = cli("check", key)
    assert again.code == 0 and "1 checked: 1 baseline" in again.out, again
