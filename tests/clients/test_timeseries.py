"""Time-chunked copies for series reads: built by `POST /admin/timeseries/<id>` as a
job (OGC API - Processes status with progress), listed by `GET /admin/timeseries`, then
used by the EDR and DAP2 reads of a few cells over many steps, with the source's
values; kept across kill -9 and restart; dropped when the source files change; built
by themselves after `--timeseries-after` series reads."""

from __future__ import annotations

import shutil
import time

import netCDF4
import numpy as np
import requests

EUR11 = "cordex.output.EUR-11.IPSL.IPSL-IPSL-CM5A-MR.rcp85.r1i1p1.IPSL-WRF381P.v1.day.zg500.v20190919"
SERIES = f"/edr/collections/{EUR11}/position?coords=POINT(8 49)&f=CSV"


def wait_job(location: str, timeout: float = 120) -> dict:
    """Poll a job until it is final; its last status document."""
    deadline = time.monotonic() + timeout
    progress = []
    while time.monotonic() < deadline:
        st = requests.get(location, timeout=30).json()
        progress.append(st["progress"])
        if st["status"] in ("successful", "failed", "dismissed"):
            assert progress == sorted(progress), f"progress went back: {progress}"
            return st
        time.sleep(0.2)
    raise AssertionError(f"job {location} not finished in {timeout} s")


def copies(srv) -> dict:
    return srv.json("/admin/timeseries")


def dap_series(srv, y: int, x: int) -> np.ndarray:
    with netCDF4.Dataset(srv.dap_url(EUR11)) as nc:
        return np.asarray(nc["zg500"][:, y, x])


def build(srv, dataset: str = EUR11) -> dict:
    r = srv.post(f"/admin/timeseries/{dataset}")
    assert r.status_code == 202, r.text
    assert r.json()["processID"] == "timeseries-copy"
    st = wait_job(r.headers["Location"])
    assert st["status"] == "successful", st
    return st


def test_copy_is_used_and_survives_kill(server, start_server):
    srv = start_server([server.esgf], name="ts-admin")
    before = srv.get(SERIES).text
    assert before.count("\n") == 1 + 3653, before[:300]  # 2071-2080 daily, two files joined
    dap_before = dap_series(srv, 2, 3)
    assert copies(srv)["copies"] == []
    build(srv)
    listed = copies(srv)
    (c,) = listed["copies"]
    assert c["dataset"] == EUR11 and c["variable"] == "zg500" and c["bytes"] > 0
    assert c["chunks"][0] == 3653 and listed["bytes"] == c["bytes"]
    hits = listed["reads_from_copies"]
    assert srv.get(SERIES).text == before
    np.testing.assert_array_equal(dap_series(srv, 2, 3), dap_before)
    assert copies(srv)["reads_from_copies"] >= hits + 2, "the series reads did not use the copy"
    # kill -9: the copy is found again at start and used at once
    srv.proc.kill()
    srv.proc.wait()
    srv.start()
    again = copies(srv)
    assert again["copies"] == listed["copies"]
    assert srv.get(SERIES).text == before
    assert copies(srv)["reads_from_copies"] >= 1


def test_copy_goes_when_the_files_change(server, start_server, tmp_path):
    root = tmp_path / "root"
    for rel in server.dataset(EUR11)["files"]:
        dst = root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(server.local_path(rel), dst)
    srv = start_server([root], name="ts-change")
    before = srv.get(SERIES).text
    build(srv)
    assert len(copies(srv)["copies"]) == 1
    # a file rewritten (same values, new modification time): a new version of the dataset
    changed = root / server.dataset(EUR11)["files"][-1]
    data = changed.read_bytes()
    changed.unlink()
    changed.write_bytes(data)
    r = srv.post("/admin/rescan")
    assert r.status_code == 200, r.text
    assert srv.get(SERIES).text == before
    assert copies(srv)["copies"] == [], "a copy of the old files is still listed"


def test_copies_are_built_on_demand(server, start_server):
    srv = start_server([server.esgf], extra_args=["--timeseries-after", "3"], name="ts-auto")
    first = srv.get(SERIES).text
    for _ in range(3):
        assert srv.get(SERIES).text == first
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not copies(srv)["copies"]:
        time.sleep(0.5)
    (c,) = copies(srv)["copies"]
    assert c["dataset"] == EUR11
    jobs = srv.json("/jobs")["jobs"]
    assert any(j["processID"] == "timeseries-copy" and j["status"] == "successful" for j in jobs), jobs
    assert srv.get(SERIES).text == first


def test_bad_copy_requests(server):
    r = server.post("/admin/timeseries/no.such.dataset")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    r = server.post(f"/admin/timeseries/{EUR11}?variable=nosuch")
    assert r.status_code == 400 and "nosuch" in r.json()["detail"]
    r = server.post(f"/admin/timeseries/{EUR11}?colour=blue")
    assert r.status_code == 400
    assert server.healthy()
