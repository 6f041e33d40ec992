"""Processing jobs: the OGC API - Processes asynchronous lifecycle (201 + Location,
accepted -> running -> successful with progress, results, Range downloads, dismiss),
the job list, problem+json errors, the queue limit (429 + Retry-After), OWSLib's WPS
1.0.0 execute + monitorExecution for `average`, and a server killed with SIGKILL
during a job and restarted on the same state: the job ends successful (re-run, with
the right values) or failed with a reason, never stuck."""

from __future__ import annotations

import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import requests
import xarray as xr
from owslib.wps import ASYNC, WebProcessingService, monitorExecution

from conftest import _SESSION, CirrusServer, session_tmp
from conftest import testdata_bin as find_testdata_bin
from proc_util import (EUR11, HADGEM, assert_same_values, execute, fetch_files, isotimes, local_ds, open_nc,
                       open_out, problem, run_ok, sel_time, wait_job)

BIG = "CMIP6.ScenarioMIP.CIRRUS.CIRRUS-BENCH-1.ssp245.r1i1p1f1.day.tas.gn.v20250101"
LONG = {"collection": BIG, "time": "2015-01-01/2015-09-30"}  # 273 x 180 x 360 floats: seconds
MEDIUM = {"collection": BIG, "time": "2015-01-01/2015-04-30"}  # 120 x 180 x 360
SHORT = {"collection": BIG, "time": "2015-12-01/2015-12-10", "area": "0,0,20,20"}
ML = "{urn:ietf:params:xml:ns:metalink}"


@pytest.fixture(scope="module")
def big_root(tmp_path_factory) -> Path:
    """A year of daily 1-degree tas (365 x 180 x 360 floats, deflate 1): a subset of
    most of it takes seconds."""
    gen = find_testdata_bin()
    if gen is None:
        pytest.fail("the cirrus-testdata binary is needed (build -p cirrus-testdata)", pytrace=False)
    root = tmp_path_factory.mktemp("bigdata")
    proc = subprocess.run([str(gen), "cmip6-daily", "--out", str(root), "--years", "1", "--res", "1.0",
                           "--deflate", "1"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(list(root.rglob("*.nc"))) == 1
    return root


def big_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.nc"))


def big_local(root: Path) -> xr.Dataset:
    coder = xr.coders.CFDatetimeCoder(use_cftime=True)
    return xr.concat([xr.open_dataset(f, decode_times=coder) for f in big_files(root)], dim="time",
                     data_vars="minimal", coords="minimal", compat="override", join="override")


@pytest.fixture(scope="module")
def jobs_server(start_server, big_root, server):
    return start_server([big_root, server.esgf], extra_args=["--workers", "1"], name="jobs")


def submit(srv, process: str, inputs: dict) -> tuple[str, requests.Response]:
    r = execute(srv, process, inputs, asynchronous=True)
    assert r.status_code == 201, r.text
    job = r.json()["jobID"]
    assert r.headers["location"] == f"{srv.url}/jobs/{job}", r.headers.get("location")
    assert r.json()["status"] in ("accepted", "running"), r.json()
    return job, r


ORDER = {"accepted": 0, "running": 1, "successful": 2, "failed": 2, "dismissed": 2}


# --------------------------------------------------------------------------- lifecycle


def test_async_lifecycle(jobs_server, big_root, tmp_path):
    srv = jobs_server
    long_id, r = submit(srv, "subset", MEDIUM)
    assert r.json()["processID"] == "subset"
    short_id, _ = submit(srv, "subset", SHORT)
    # one worker: the second job waits while the first runs
    first = requests.get(f"{srv.url}/jobs/{short_id}", timeout=30).json()
    assert first["status"] == "accepted", first
    listed = {j["jobID"]: j["status"] for j in srv.json("/jobs")["jobs"]}
    assert {long_id, short_id} <= set(listed), listed
    seen: list = []
    st = wait_job(srv, long_id, timeout=600, poll=0.05, seen=seen)
    assert st["status"] == "successful", st
    statuses = [s for s, _ in seen]
    assert [ORDER[s] for s in statuses] == sorted(ORDER[s] for s in statuses), statuses
    assert "running" in statuses, statuses
    running = [p for s, p in seen if s == "running"]
    assert all(0 <= p <= 100 for p in running) and running == sorted(running), running
    assert any(0 < p < 100 for p in running), f"no progress seen while running: {running}"
    assert st["progress"] == 100
    links = {lk["rel"].rsplit("/", 1)[-1]: lk["href"] for lk in st["links"]}
    assert links["results"] == f"{srv.url}/jobs/{long_id}/results"
    assert wait_job(srv, short_id)["status"] == "successful"

    res = requests.get(links["results"], timeout=30)
    assert res.status_code == 200, res.text
    doc = res.json()
    assert doc["output"]["href"].endswith(f"/results/{long_id}/output.meta4")
    assert doc["prov"]["href"].endswith(f"/results/{long_id}/provenance.json")
    assert doc["files"] and all({"href", "title", "file:size"} <= set(f) for f in doc["files"])
    meta = ET.fromstring(requests.get(doc["output"]["href"], timeout=30).content)
    assert [f.get("name") for f in meta.iter(f"{ML}file")] == [f["title"] for f in doc["files"]]
    assert requests.get(doc["prov"]["href"], timeout=30).json()["entity"]

    # Range download of a result file
    f0 = doc["files"][0]
    head = requests.head(f0["href"], headers={"Accept-Encoding": "identity"}, timeout=30)
    assert head.status_code == 200 and head.headers["accept-ranges"] == "bytes"
    assert int(head.headers["content-length"]) == f0["file:size"]
    part = requests.get(f0["href"], headers={"Range": "bytes=100-1123"}, timeout=30)
    assert part.status_code == 206, part.status_code
    assert part.headers["content-range"] == f"bytes 100-1123/{f0['file:size']}"
    assert len(part.content) == 1024
    paths = fetch_files(doc, tmp_path)
    assert paths[0].read_bytes()[100:1124] == part.content
    tail = requests.get(f0["href"], headers={"Range": "bytes=-10"}, timeout=30)
    assert tail.status_code == 206 and tail.content == paths[0].read_bytes()[-10:]

    # the values
    got = open_out(paths)
    want = sel_time(big_local(big_root), MEDIUM["time"])
    assert isotimes(got["time"]) == isotimes(want["time"])
    for i in (0, 60, len(want["time"]) - 1):
        assert_same_values(got["tas"].isel(time=i), want["tas"].isel(time=i), f"tas[{i}]")

    # dismiss: the job and its results are gone
    d = requests.delete(f"{srv.url}/jobs/{long_id}", timeout=30)
    assert d.status_code == 200, d.text
    assert d.json()["status"] == "dismissed"
    assert requests.get(links["results"], timeout=30).status_code == 404
    assert requests.get(f0["href"], timeout=30).status_code == 404
    assert requests.get(doc["output"]["href"], timeout=30).status_code == 404
    after = requests.get(f"{srv.url}/jobs/{long_id}", timeout=30)
    assert after.status_code == 404 or after.json()["status"] == "dismissed", after.text


def test_result_download_for_gzip_clients(server):
    """What requests, curl --compressed and browsers get: Content-Length and
    Accept-Ranges of the file (it is compressed NetCDF-4 already)."""
    doc = run_ok(server, "subset", {"collection": HADGEM, "time": "2015/2015"})
    f0 = doc["files"][0]
    r = requests.get(f0["href"], timeout=60)  # Accept-Encoding: gzip, deflate
    assert r.status_code == 200
    assert r.headers.get("content-length") == str(f0["file:size"]), dict(r.headers)
    assert r.headers.get("accept-ranges") == "bytes", dict(r.headers)


def test_cancel_running_job(jobs_server):
    srv = jobs_server
    job, _ = submit(srv, "subset", LONG)
    deadline = time.monotonic() + 120
    while requests.get(f"{srv.url}/jobs/{job}", timeout=30).json()["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    d = requests.delete(f"{srv.url}/jobs/{job}", timeout=30)
    assert d.status_code == 200 and d.json()["status"] == "dismissed", d.text
    # the worker is free again soon: a short job runs to the end
    short, _ = submit(srv, "subset", SHORT)
    assert wait_job(srv, short, timeout=120)["status"] == "successful"
    # and the dismissed job stays dismissed (or gone), not failed by its interruption
    r = requests.get(f"{srv.url}/jobs/{job}", timeout=30)
    assert r.status_code == 404 or r.json()["status"] == "dismissed", r.text


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("process, inputs, status, word", [
    ("nope", {"collection": HADGEM}, 404, "nope"),
    ("subset", {"collection": HADGEM, "area": "1,2,3"}, 400, "area"),
    ("subset", {"collection": HADGEM, "colour": "red"}, 400, "colour"),
    ("subset", {"time": "2015/2016"}, 400, "collection"),
    ("subset", {"collection": "CMIP6.no.such.dataset"}, 400, "collection"),
    ("subset", {"collection": HADGEM, "time": "2015-13-01/2016"}, 400, "time"),
    ("subset", {"collection": HADGEM, "level": "a/b"}, 400, "level"),
    ("average", {"collection": HADGEM, "dims": ["height"]}, 400, "dims"),
    ("average_time", {"collection": HADGEM, "freq": "week"}, 400, "freq"),
    ("orchestrate", {"workflow": {"steps": {}}}, 400, "workflow"),
])
def test_execute_errors_are_problem_json(server, process, inputs, status, word):
    r = execute(server, process, inputs)
    assert r.status_code == status, r.text
    p = problem(r)
    assert word in p.get("detail", "") + p.get("title", ""), p


def test_unknown_process_and_job(server):
    p = problem(requests.get(f"{server.url}/processes/nope", timeout=30))
    assert p["status"] == 404
    for method, path in (("get", "/jobs/no-such-job"), ("get", "/jobs/no-such-job/results"),
                         ("delete", "/jobs/no-such-job")):
        r = getattr(requests, method)(server.url + path, timeout=30)
        assert r.status_code == 404, (path, r.status_code)
        assert "no-such-job" in problem(r)["detail"]
    r = requests.post(f"{server.url}/processes/subset/execution", data=b"{not json", timeout=30,
                      headers={"content-type": "application/json"})
    assert r.status_code == 400 and problem(r)


def test_failed_async_job_reports_reason(server):
    job, _ = submit(server, "subset", {"collection": HADGEM, "time": "1800/1801"})
    st = wait_job(server, job, timeout=120)
    assert st["status"] == "failed" and "time" in st["message"], st
    r = requests.get(f"{server.url}/jobs/{job}/results", timeout=30)
    assert r.status_code >= 400 and "time" in problem(r)["detail"]


def test_queue_limit_429(start_server, big_root):
    srv = start_server([big_root], extra_args=["--workers", "1", "--queue-limit", "1"], name="queue")
    job, _ = submit(srv, "subset", LONG)
    r = execute(srv, "subset", SHORT, asynchronous=True)
    assert r.status_code == 429, r.text
    assert int(r.headers["retry-after"]) > 0
    assert "limit" in problem(r)["detail"]
    r = execute(srv, "subset", SHORT)  # synchronous requests count too
    assert r.status_code == 429
    assert requests.delete(f"{srv.url}/jobs/{job}", timeout=30).status_code == 200
    deadline = time.monotonic() + 120
    while True:
        r = execute(srv, "subset", SHORT, asynchronous=True)
        if r.status_code == 201:
            break
        assert r.status_code == 429 and time.monotonic() < deadline, r.text
        time.sleep(0.5)
    assert wait_job(srv, r.json()["jobID"], timeout=120)["status"] == "successful"


# --------------------------------------------------------------------------- WPS 1.0.0 (OWSLib)


def test_owslib_average_async(server, tmp_path):
    wps = WebProcessingService(server.url + "/wps", version="1.0.0")
    inputs = [("collection", EUR11), ("dims", "time")]
    execution = wps.execute("average", inputs=inputs, output=[("output", True), ("prov", True)], mode=ASYNC)
    assert execution.status in ("ProcessAccepted", "ProcessStarted", "ProcessSucceeded"), execution.status
    assert execution.statusLocation
    monitorExecution(execution, sleepSecs=0.2)
    assert execution.status == "ProcessSucceeded", [e.text for e in execution.errors]
    refs = {o.identifier: o.reference for o in execution.processOutputs}
    meta = ET.fromstring(requests.get(refs["output"], timeout=30).content)
    urls = [f.findtext(f"{ML}metaurl") for f in meta.iter(f"{ML}file")]
    assert len(urls) == 1
    p = tmp_path / "avg.nc"
    p.write_bytes(requests.get(urls[0], timeout=60, headers={"Accept-Encoding": "identity"}).content)
    got = open_nc(p)
    want = local_ds(server, EUR11)["zg500"].astype("f8").mean("time")
    assert_same_values(got["zg500"], want, "zg500", exact=False)
    assert "time: mean" in got["zg500"].attrs["cell_methods"]
    assert EUR11 in requests.get(refs["prov"], timeout=30).text


# --------------------------------------------------------------------------- restart


def test_sigkill_during_job_then_restart(big_root, tmp_path):
    """SIGKILL while a job runs; a new server on the same --state finishes it
    (re-run, correct values) or marks it failed with a reason, within a timeout."""
    work = session_tmp() / "restart"
    srv = CirrusServer([big_root], work, extra_args=["--workers", "1"], name="restart")
    _SESSION["servers"].append(srv)
    srv.start()
    job, _ = submit(srv, "subset", LONG)
    deadline = time.monotonic() + 120
    while True:
        st = requests.get(f"{srv.url}/jobs/{job}", timeout=30).json()
        if st["status"] == "running":
            break
        assert st["status"] == "accepted" and time.monotonic() < deadline, st
        time.sleep(0.05)
    time.sleep(1.0)
    st = requests.get(f"{srv.url}/jobs/{job}", timeout=30).json()
    assert st["status"] == "running", f"the job must still run when the server is killed: {st}"
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait(timeout=30)
    srv.stop()

    again = CirrusServer([big_root], work, extra_args=["--workers", "1"], name="restart")
    assert again.state == srv.state
    _SESSION["servers"].append(again)
    again.start()
    seen: list = []
    st = wait_job(again, job, timeout=300, poll=0.2, seen=seen)
    assert st["status"] in ("successful", "failed"), st
    if st["status"] == "failed":
        assert len(st["message"]) > 10, st
        return
    doc = requests.get(f"{again.url}/jobs/{job}/results", timeout=30).json()
    got = open_out(fetch_files(doc, tmp_path))
    want = sel_time(big_local(big_root), LONG["time"])
    assert isotimes(got["time"]) == isotimes(want["time"])
    assert_same_values(got["tas"], want["tas"], "tas")
