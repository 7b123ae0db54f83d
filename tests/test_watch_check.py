"""Change detection end to end, on SQLite and PostgreSQL, against a real local server:
baselines, noise, one-word changes, 304s, anti-flap, failures, every bad input."""

from __future__ import annotations

import gzip
import itertools
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.support.pages import Reply, chunks
from tests.support.watching import Env, watching
from tracker.storage import lease
from tracker.storage.engine import Database
from tracker.storage.tables_watch import PAGE_CHANGE, PAGE_CHECK, SNAPSHOT, SOURCE, SOURCE_VERSION
from tracker.timeutil import utcnow
from tracker.watch import snapshots
from tracker.watch.check import check_source
from tracker.watch.fetch import Fetcher
from tracker.watch.watcher import WatchConfig

PAGES = Path(__file__).resolve().parent / "data" / "pages"
STATUTE = (PAGES / "statute.html").read_text()
NOISE = (PAGES / "statute_noise.html").read_text()
MASKED = {"ignore": [r"in \d+\.\d+ seconds"], "masks": ["dates", "times", "counters"]}


@pytest.fixture
def env(empty_db: Database, tmp_path: Path) -> Iterator[Env]:
    fetcher = Fetcher(
        allow_loopback=True, user_agent="t", timeout=0.5, retries=0, max_bytes=1_000_000
    )
    with watching(
        empty_db, tmp_path, fetcher, WatchConfig(host_delay=0, failure_alert_after=2, workers=4)
    ) as found:
        yield found


def test_noise_makes_no_event_and_one_word_makes_exactly_one(env: Env) -> None:
    env.sources({"key": "ri", "path": "/law", **MASKED})
    env.site.page("/law", STATUTE)
    assert env.outcome(env.cycle(), "ri").outcome == "baseline"
    env.site.page("/law", NOISE)  # timestamps, tokens, whitespace, attribute order
    assert env.outcome(env.cycle(), "ri").outcome == "unchanged"
    assert env.events("page_changed") == []

    env.site.page("/law", STATUTE.replace("twenty-one (21)", "eighteen (18)"))
    result = env.outcome(env.cycle(), "ri")
    assert result.outcome == "changed" and result.importance == "relevant"
    (event,) = env.events("page_changed")
    assert event.importance == "relevant" and event.place_code == "US-RI"
    p = event.payload
    assert p["change_id"] == result.change_id and p["keywords"] == ["kratom"]
    assert p["source_url"] == env.site.url("/law") and p["place_name"] == "Rhode Island"
    assert p["too_large"] is False and p["snapshot_old"] != p["snapshot_new"]
    old_line = "(b) A retailer shall not sell a kratom product to an individual under"
    assert f"-{old_line} twenty-one (21) years of age." in p["diff_excerpt"]
    assert f"+{old_line} eighteen (18) years of age." in p["diff_excerpt"]
    with env.db.read() as conn:
        change = conn.execute(sa.select(PAGE_CHANGE)).one()
        assert change.event_id == event.id and change.added == 1 and change.removed == 1
        assert "<del>twenty-one</del><ins>eighteen</ins> (<del>21</del><ins>18</ins>)" in (
            change.html_diff
        )
        assert snapshots.get(conn, change.new_sha) is not None
        assert snapshots.get(conn, change.old_sha) is not None

    # A change with no kratom term in the changed lines is minor.
    env.site.page(
        "/law",
        STATUTE.replace("twenty-one (21)", "eighteen (18)").replace("by rule", "by regulation"),
    )
    minor = env.outcome(env.cycle(), "ri")
    assert minor.outcome == "changed" and minor.importance == "minor"
    assert [e.importance for e in env.events("page_changed")] == ["relevant", "minor"]


def test_conditional_get_gives_304(env: Env) -> None:
    env.sources({"key": "ri", "path": "/law"})
    env.site.page("/law", STATUTE)
    env.cycle()
    assert env.outcome(env.cycle(), "ri").outcome == "not_modified"
    last = env.site.hits("/law")[-1]
    assert last.headers["if-none-match"] == env.source("ri").etag
    with env.db.read() as conn:
        codes = [r.status_code for r in conn.execute(sa.select(PAGE_CHECK.c.status_code))]
    assert sorted(codes) == [200, 304]


def test_a_page_that_flips_back_and_forth_is_reported_once_each_way(env: Env) -> None:
    # Anti-flap: the change is news, its undoing is news once, further flips are not.
    env.sources({"key": "ri", "path": "/law"})
    a, b = STATUTE, STATUTE.replace("by rule", "by the rule in force")
    flips = [(a, "baseline"), (b, "changed"), (a, "reverted"), (b, "reverted"), (a, "reverted")]
    for body, expected in flips:
        env.site.page("/law", body)
        assert env.outcome(env.cycle(), "ri").outcome == expected
    change, undo = env.events("page_changed")
    assert undo.payload["reverts_change_id"] == change.payload["change_id"]
    assert "changed back" in undo.title and undo.importance == change.importance == "minor"


def test_source_failing_is_raised_once_and_cleared_by_recovery(env: Env) -> None:
    env.sources({"key": "ri", "path": "/law"})
    env.site.page("/law", STATUTE)
    env.cycle()
    env.site.route("/law", lambda req: Reply(404, b"", "text/plain"))
    for _ in range(3):
        assert env.outcome(env.cycle(), "ri").error == "HTTP 404 Not Found"
    (event,) = env.events("source_failing")
    assert event.payload["failures"] == 2 and "404" in event.payload["last_error"]
    assert env.source("ri").failing and env.source("ri").failures == 3
    env.site.page("/law", STATUTE)
    env.cycle()
    assert not env.source("ri").failing and env.source("ri").failures == 0
    env.site.route("/law", lambda req: Reply(410, b"", "text/plain"))
    env.cycle()
    env.cycle()
    assert len(env.events("source_failing")) == 2  # a new streak is reported again


BAD: dict[str, Any] = {
    "404": Reply(404, b"", "text/plain"),
    "410": Reply(410, b"", "text/plain"),
    "loop": Reply(302, b"", headers={"Location": "/bad/loop"}),
    "hang": Reply(200, b"<p>late</p>", delay=2.0),
    "huge": Reply(200, content_type="text/html", stream=chunks(50 * 1024 * 1024)),
    "bomb": Reply(
        200, gzip.compress(b"\0" * (50 * 1024 * 1024), 9), headers={"Content-Encoding": "gzip"}
    ),
    "notpdf": Reply(200, b"<html>error page</html>", "application/pdf"),
    "empty": Reply(200, b""),
    "noregion": Reply(200, b"<html><body><p>moved</p></body></html>"),
    "metadata": Reply(302, b"", headers={"Location": "http://169.254.169.254/"}),
}
EXPECTED_ERRORS = {
    "404": "HTTP 404",
    "410": "HTTP 410",
    "loop": "redirect loop",
    "hang": "no answer within",
    "huge": "more than 1,000,000 bytes",
    "bomb": "compression bomb",
    "notpdf": "not a PDF",
    "empty": "empty body",
    "noregion": "matched nothing",
    "metadata": "refused address",
}


def test_every_bad_input_fails_alone_and_loses_nothing(env: Env) -> None:
    good = STATUTE.encode()
    pdf = (PAGES / "ordinance.pdf").read_bytes()
    entries = [
        {
            "key": name,
            "path": f"/bad/{name}",
            "kind": "pdf" if name == "notpdf" else "html",
            **({"select": ["main"]} if name == "noregion" else {}),
        }
        for name in BAD
    ]
    entries += [
        {"key": "good", "path": "/good"},
        {"key": "malformed", "path": "/malformed"},
        {"key": "charset", "path": "/charset"},
        {"key": "oddkind", "path": "/good", "kind": "spreadsheet"},
        {"key": "badcss", "path": "/good", "select": ["main[["]},
    ]
    env.sources(*entries)
    for name in BAD:
        env.site.page(f"/bad/{name}", good)
    env.site.page("/bad/notpdf", pdf, "application/pdf")
    env.site.page("/good", good)
    env.site.page("/malformed", (PAGES / "malformed.html").read_bytes())
    env.site.page("/charset", (PAGES / "wrong_charset.html").read_bytes(), "text/html")
    first = env.cycle()
    assert {r.key: r.outcome for r in first.results} == dict.fromkeys(
        [*BAD, "good", "malformed", "charset"], "baseline"
    )
    problems = "\n".join(map(str, first.problems))
    assert "oddkind: unknown kind 'spreadsheet'" in problems
    assert "badcss: invalid CSS selector 'main[['" in problems
    before = {key: env.source(key).current_sha for key in BAD}

    for name, reply in BAD.items():
        env.site.route(f"/bad/{name}", lambda req, reply=reply: reply)
    second = env.cycle()
    for name, expected in EXPECTED_ERRORS.items():
        result = env.outcome(second, name)
        assert result.outcome == "error" and expected in (result.error or ""), name
        row = env.source(name)
        assert row.current_sha == before[name] and row.failures == 1, name
        with env.db.read() as conn:
            assert snapshots.get(conn, row.current_sha) is not None
    assert env.outcome(second, "good").outcome == "not_modified"
    assert env.events("page_changed") == []
    assert len(second.problems) == 2


def test_too_large_page_is_recorded_with_links_to_both_snapshots(env: Env) -> None:
    env.w.config = replace(env.w.config, diff_max_bytes=500)
    env.sources({"key": "ri", "path": "/law"})
    env.site.page("/law", STATUTE)
    env.cycle()
    env.site.page("/law", STATUTE.replace("by rule", "by kratom rule"))
    result = env.outcome(env.cycle(), "ri")
    (event,) = env.events("page_changed")
    assert event.payload["too_large"] is True and result.importance == "relevant"
    with env.db.read() as conn:
        change = conn.execute(sa.select(PAGE_CHANGE)).one()
    assert change.too_large and change.unified_diff is None
    assert f"/snapshots/{change.old_sha}" in change.html_diff
    assert f"/snapshots/{change.new_sha}" in change.html_diff


def test_retention_keeps_current_recent_and_change_snapshots(env: Env) -> None:
    env.sources({"key": "ri", "path": "/law"})
    for n in range(4):
        env.site.page("/law", STATUTE.replace("by rule", f"by rule {n}"))
        env.cycle()
    with env.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(SNAPSHOT)).scalar() == 4
    later = utcnow() + timedelta(days=400)
    gone = snapshots.prune(env.db, keep_versions=2, keep_days=365, now=later)
    current = env.source("ri").current_sha
    with env.db.read() as conn:
        kept = set(conn.execute(sa.select(SNAPSHOT.c.sha)).scalars())
        versions = set(conn.execute(sa.select(SOURCE_VERSION.c.sha)).scalars())
        diffs = list(conn.execute(sa.select(PAGE_CHANGE.c.unified_diff)).scalars())
    assert gone == 2 and current in kept and kept == versions and len(kept) == 2
    assert len(diffs) == 3 and all(diffs)  # the stored diffs outlive the snapshots


def test_a_result_whose_lease_was_lost_is_dropped(env: Env) -> None:
    env.sources({"key": "ri", "path": "/law"})
    env.site.page("/law", STATUTE)
    env.cycle()  # syncs and baselines
    now = utcnow()
    with env.db.write() as conn:
        conn.execute(SOURCE.update().values(next_check_at=now))
    (row,) = lease.claim(
        env.db, SOURCE, env.w.owner, lease_for=timedelta(seconds=1), due_column="next_check_at"
    )
    lease.claim(
        env.db,
        SOURCE,
        "someone-else",
        lease_for=timedelta(minutes=5),
        due_column="next_check_at",
        now=now + timedelta(seconds=2),
    )
    result = check_source(env.w, row)
    assert result.stored is False
    with env.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(PAGE_CHECK)).scalar() == 1


def test_robots_disallow_and_host_spacing(env: Env) -> None:
    env.w.config = replace(env.w.config, host_delay=0.2)
    env.site.page("/robots.txt", "User-agent: *\nDisallow: /private\n", "text/plain")
    env.sources(
        {"key": "pa", "path": "/a"}, {"key": "pb", "path": "/b"}, {"key": "pp", "path": "/private"}
    )
    for path in ("/a", "/b", "/private"):
        env.site.page(path, STATUTE)
    report = env.cycle()
    assert "robots.txt disallows" in (env.outcome(report, "pp").error or "")
    assert env.site.hits("/private") == []
    assert len(env.site.hits("/robots.txt")) == 1
    times = sorted(r.at for path in ("/a", "/b", "/robots.txt") for r in env.site.hits(path))
    # One request at a time per host, at least host_delay apart (a lower bound only).
    assert all(b - a >= 0.19 for a, b in itertools.pairwise(times))


def test_settings_change_rebaselines_without_an_event(env: Env) -> None:
    env.sources({"key": "ri", "path": "/law"})
    env.site.page("/law", STATUTE)
    env.cycle()
    env.sources({"key": "ri", "path": "/law", "select": ["main"]})
    assert env.outcome(env.cycle(), "ri").outcome == "rebaselined"
    assert env.events("page_changed") == []


def test_group_writer_isolates_a_failing_caller(empty_db: Database) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from tracker.storage.tables_watch import HOST
    from tracker.storage.writer import GroupWriter

    writer = GroupWriter(empty_db, max_batch=8)

    def add(n: int) -> int:
        def fn(conn: Any) -> int:
            conn.execute(HOST.insert().values(name=f"h{n}", next_allowed_at=utcnow()))
            if n == 7:
                raise RuntimeError("caller 7 fails after writing")
            return n

        return writer.run(fn)

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(add, n) for n in range(40)]
    with pytest.raises(RuntimeError, match="caller 7"):
        futures[7].result()
    assert [f.result() for i, f in enumerate(futures) if i != 7] == [n for n in range(40) if n != 7]
    with empty_db.read() as conn:
        names = set(conn.execute(sa.select(HOST.c.name)).scalars())
    assert names == {f"h{n}" for n in range(40) if n != 7}


def test_group_writer_batches_rows_and_charges_a_failing_row_to_its_caller(
    empty_db: Database,
) -> None:
    import time
    from concurrent.futures import ThreadPoolExecutor

    from tracker.storage.tables_watch import HOST
    from tracker.storage.writer import GroupWriter

    writer = GroupWriter(empty_db)
    insert = HOST.insert()

    def add(n: int) -> int:
        def fn(conn: Any) -> int:
            if n == 0:
                time.sleep(0.3)  # the others queue meanwhile: the next batch holds them all
            return n

        # Callers 3 and 5 insert the same unique name: whichever runs second must fail,
        # alone, although both rows are in one executemany.
        name = "dup" if n in (3, 5) else f"h{n}"
        return writer.run(fn, [(insert, {"name": name, "next_allowed_at": utcnow()})])

    with ThreadPoolExecutor(40) as pool:
        futures = [pool.submit(add, 0)]
        time.sleep(0.05)
        futures += [pool.submit(add, n) for n in range(1, 40)]
    failed = [n for n, f in enumerate(futures) if f.exception() is not None]
    assert len(failed) == 1 and failed[0] in (3, 5)
    assert isinstance(futures[failed[0]].exception(), sa.exc.IntegrityError)
    assert [f.result() for n, f in enumerate(futures) if n not in failed] == [
        n for n in range(40) if n not in failed
    ]
    with empty_db.read() as conn:
        names = set(conn.execute(sa.select(HOST.c.name)).scalars())
    assert names == {f"h{n}" for n in range(40) if n not in (3, 5)} | {"dup"}


def test_process_tuning_is_applied_once() -> None:
    import gc
    import platform

    from tracker.service import runtime

    if platform.libc_ver()[0] == "glibc":
        assert runtime.limit_malloc_arenas(runtime.MALLOC_ARENAS)
    runtime.tune_for_checks()
    frozen = gc.get_freeze_count()
    runtime.tune_for_checks(long_running=True)  # a second call changes nothing
    assert gc.get_freeze_count() == frozen
