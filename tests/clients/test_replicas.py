"""Two cirrus replicas sharing a PostgreSQL job store and a results directory.

PostgreSQL comes from Debian's package and is started by the test itself
(pg_server.py). A job is submitted through one replica and polled and downloaded
through the other; the replica running it is SIGKILLed mid-job, and the job must
finish on the survivor (its lease runs out, the survivor claims it again) with a
result byte-identical to a clean run of the same request on a fresh single server.
Timestamps written into outputs are pinned with SOURCE_DATE_EPOCH so bytes compare.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import time
from urllib.parse import urlsplit

import netCDF4
import pytest
import requests

import conftest
from conftest import CirrusServer, session_tmp
from pg_server import PostgresServer

EPOCH = "1767225600"  # 2026-01-01T00:00:00Z
REQUEST = {"dims": "time"}


@pytest.fixture(scope="module")
def daily_root():
    """One year of daily 2° tas (NetCDF-4, deflate): a job on it runs for seconds."""
    gen = conftest.testdata_bin()
    if gen is None:
        pytest.fail("the cirrus-testdata binary is needed (cargo build -p cirrus-testdata)", pytrace=False)
    root = session_tmp() / "replicas-data"
    if not root.exists():
        subprocess.run([str(gen), "cmip6-daily", "--out", str(root), "--years", "1", "--res", "2"],
                       check=True, capture_output=True, timeout=600)
    return root


@pytest.fixture(scope="module")
def pg():
    with PostgresServer() as server:
        yield server


@pytest.fixture
def pinned_time(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)


def replica(root, pg, results, name):
    args = ["--jobs", pg.url, "--results-dir", str(results), "--job-lease", "3", "--workers", "1"]
    return CirrusServer([root], session_tmp() / name, extra_args=args, name=name)


def submit(srv, dataset_id):
    r = srv.post("/processes/average/execution", json={"inputs": {"collection": dataset_id, **REQUEST}},
                 headers={"Prefer": "respond-async"})
    assert r.status_code == 201, r.text
    return r.json()["jobID"]


def wait(srv, job_id, until, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        j = srv.json(f"/jobs/{job_id}")
        if until(j):
            return j
        time.sleep(0.05)
    pytest.fail(f"job {job_id} did not reach the expected state in {timeout} s: {j}")


def starts(job):
    """(pid, worker) of each 'job started on host:pid:tag#n' log line."""
    out = []
    for entry in job["log"]:
        m = re.match(r"job started on [^:]+:(\d+):\S+", entry["message"])
        if m:
            out.append(int(m.group(1)))
    return out


def download(srv, job_id):
    res = srv.json(f"/jobs/{job_id}/results")
    (f,) = [f for f in res["files"] if f["title"].endswith(".nc")]
    r = srv.get(urlsplit(f["href"]).path)
    assert r.status_code == 200, r.text[:300]
    assert len(r.content) == f["file:size"]
    return f["title"], r.content


def test_job_survives_the_death_of_its_replica(daily_root, pg, pinned_time):
    results = session_tmp() / "replicas-results"
    a = replica(daily_root, pg, results, "replica-a").start()
    b = replica(daily_root, pg, results, "replica-b").start()
    try:
        (ds,) = [d["id"] for d in b.json("/datasets")["datasets"]]
        job_id = submit(a, ds)
        # any replica answers for any job
        assert b.json(f"/jobs/{job_id}")["jobID"] == job_id
        running = wait(b, job_id, lambda j: j["status"] == "running" and starts(j))
        (pid,) = starts(running)
        victim, survivor = (a, b) if pid == a.pid else (b, a)
        assert pid == victim.pid, f"job runs on pid {pid}, replicas are {a.pid} and {b.pid}"
        os.kill(victim.pid, signal.SIGKILL)
        victim.proc.wait(10)
        assert survivor.json(f"/jobs/{job_id}")["status"] == "running", "the job ended before the kill"

        done = wait(survivor, job_id, lambda j: j["status"] in ("successful", "failed"))
        assert done["status"] == "successful", done
        assert starts(done) == [victim.pid, survivor.pid], done["log"]
        name, data = download(survivor, job_id)
    finally:
        a.stop()
        b.stop()

    clean = CirrusServer([daily_root], session_tmp() / "replica-clean", name="replica-clean").start()
    try:
        clean_id = submit(clean, ds)
        assert wait(clean, clean_id, lambda j: j["status"] in ("successful", "failed"))["status"] == "successful"
        clean_name, clean_data = download(clean, clean_id)
    finally:
        clean.stop()
    assert name == clean_name
    assert hashlib.sha256(data).hexdigest() == hashlib.sha256(clean_data).hexdigest(), (
        "the result of the re-run job differs from a clean run"
    )


def test_jobs_are_shared_by_replicas(daily_root, pg):
    """Several jobs submitted to one replica are run by both, each exactly once."""
    results = session_tmp() / "replicas-results-2"
    a = replica(daily_root, pg, results, "replica-c").start()
    b = replica(daily_root, pg, results, "replica-d").start()
    try:
        (ds,) = [d["id"] for d in a.json("/datasets")["datasets"]]
        ids = [submit(a, ds) for _ in range(4)]
        done = [wait(b, i, lambda j: j["status"] in ("successful", "failed")) for i in ids]
        assert all(j["status"] == "successful" for j in done), done
        runners = [starts(j) for j in done]
        assert all(len(r) == 1 for r in runners), runners
        assert {r[0] for r in runners} == {a.pid, b.pid}, f"one replica ran every job: {runners}"
        n = int(pg.sql(f"SELECT count(*) FROM jobs WHERE id IN ({','.join(repr(i) for i in ids)})"))
        assert n == 4
    finally:
        a.stop()
        b.stop()


def test_unreachable_job_store_is_a_clear_start_up_error(daily_root):
    srv = CirrusServer([daily_root], session_tmp() / "replica-nodb", name="replica-nodb",
                       extra_args=["--jobs", "postgres://cirrus@127.0.0.1:1/cirrus"])
    srv.workdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [*map(str, [conftest.cirrus_bin(), "serve", "--data", daily_root, "--listen", "127.0.0.1:0",
                    "--state", srv.state]), *srv.extra_args],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode != 0
    assert "cannot open the job store" in proc.stderr and "127.0.0.1:1" in proc.stderr, proc.stderr[-2000:]


def test_catalog_index_shared_by_replicas(pg, tmp_path):
    """With the catalog index in PostgreSQL (by default the job store's), one replica
    indexes and the other follows: a rescan asked of the follower is seen by both, and
    when the indexer dies the follower takes over and indexes new files."""
    import shutil

    src = next((conftest.shared_data() / "esgf").rglob("rlds_Amon_INM-CM5-0_*.nc"))
    root = tmp_path / "shared-root"
    (root / "a").mkdir(parents=True)
    shutil.copy(src, root / "a" / "one.nc")
    old = time.time() - 60
    os.utime(root / "a" / "one.nc", (old, old))

    def ids(srv):
        return sorted(d["id"] for d in srv.json("/datasets")["datasets"])

    def eventually(srv, want, what):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if ids(srv) == want:
                return
            time.sleep(0.2)
        pytest.fail(f"{what}: {ids(srv)} after 60 s, expected {want}\n{srv.log_tail()}")

    def cat_replica(name):
        return CirrusServer([root], session_tmp() / name, extra_args=["--jobs", pg.url], name=name)

    a = cat_replica("catalog-a").start()
    b = cat_replica("catalog-b").start()
    try:
        assert ids(a) == ["a/one.nc"] and ids(b) == ["a/one.nc"]
        assert b.json("/admin/catalog")["files_opened"] == 0, "the follower read files itself"
        # a rescan asked of the follower indexes for both
        (root / "b").mkdir()
        shutil.copy(src, root / "b" / "two.nc")
        r = b.post("/admin/rescan?path=b")
        assert r.status_code == 200 and r.json()["files_read"] == 1, r.text
        eventually(a, ["a/one.nc", "b/two.nc"], "the indexer after the follower's rescan")
        eventually(b, ["a/one.nc", "b/two.nc"], "the follower after its rescan")
        # the indexer dies: the follower takes the lock and indexes from now on
        leader, follower = (a, b) if "this replica indexes" not in b.log_tail(400) else (b, a)
        os.kill(leader.pid, signal.SIGKILL)
        leader.proc.wait(10)
        shutil.copy(src, root / "b" / "three.nc")
        r = follower.post("/admin/rescan")
        assert r.status_code == 200, r.text
        eventually(follower, ["a/one.nc", "b/three.nc", "b/two.nc"], "the survivor")
        with netCDF4.Dataset(follower.dap_url("b/three.nc")) as nc:
            assert nc["rlds"].shape[0] > 0
    finally:
        a.stop()
        b.stop()
