"""The archive-scale case (issue 14), registered in bench.py's CASES as `scale`.

Makes an archive of CMIP6-like daily files in DRS layout under /tmp: datasets x 10
files each (one year per file, 10° grid, deflate + shuffle), every file a hard link to
one of ten generated templates (one per year; a copy of each per 50,000 datasets,
as a file system limits the links to one file), so the tree has the shape and file count
of a real node while its data stays in the page cache. Then measures, in one run:

- cold indexing (a fresh state directory): seconds until `/ready` (the first
  indexing pass done; the server answers from the start), files/s, against the 3,000
  files/s target;
- RSS after the cold start;
- warm restart from the catalog index: seconds until `/datasets` answers with every
  dataset (against the 5 s target), until `/ready` (the pass that checks the files),
  RSS;
- an unchanged rescan (`POST /admin/rescan`) against the 20 s target;
- `/datasets?variable_id=tas&limit=50` p50/p99 (50 ms target) and a per-dataset WMS
  GetCapabilities (`/wms/<id>`) p50/p99 (20 ms target), sequential requests.

`CIRRUS_SCALE_FILES` sets the number of files (default 100000; a multiple of 10). The
tree is removed afterwards.

Run alone: `benches/.venv/bin/python benches/scale_case.py`.
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import bench

FILES = int(os.environ.get("CIRRUS_SCALE_FILES", "100000"))
PER_DATASET = 10
VARIABLES = ["tas", "pr", "tasmax", "tasmin", "huss", "psl", "uas", "vas", "rsds", "rlds"]


def templates(tmp):
    """Ten one-year files (2015..2024) of a CMIP6-like daily tas on a 10° grid."""
    out = os.path.join(tmp, "templates")
    subprocess.run([bench.TESTDATA, "cmip6-daily", "--out", out, "--years", str(PER_DATASET), "--res", "10",
                    "--years-per-file", "1"], check=True, stdout=subprocess.DEVNULL)
    files = sorted(os.path.join(dp, f) for dp, _, fs in os.walk(out) for f in fs if f.endswith(".nc"))
    assert len(files) == PER_DATASET, files
    for f in files:  # published long ago, as in a real archive (not "being written")
        os.utime(f, (time.time() - 86400, time.time() - 86400))
    return files


def make_archive(tmp, n_files):
    """datasets x 10 hard links in DRS directories; returns (root, number of datasets)."""
    tpl = templates(tmp)
    root = os.path.join(tmp, "archive")
    n_ds = n_files // PER_DATASET
    for i in range(n_ds):
        var = VARIABLES[i % len(VARIABLES)]
        model = f"MODEL-{i // (len(VARIABLES) * 10):04d}"
        member = f"r{(i // len(VARIABLES)) % 10 + 1}i1p1f1"
        d = os.path.join(root, "CMIP6", "ScenarioMIP", "INST", model, "ssp245", member, "day", var, "gn", "v20250101")
        os.makedirs(d)
        if i and i % LINKS_PER_COPY == 0:  # a file system limits the links of one inode
            tpl = [copy(t, i) for t in tpl]
        for k, src in enumerate(tpl):
            y = 2015 + k
            os.link(src, os.path.join(d, f"{var}_day_{model}_ssp245_{member}_gn_{y}0101-{y}1231.nc"))
    return root, n_ds


# Hard links per copy of a template (ext4 allows 65,000 links to one inode).
LINKS_PER_COPY = 50000


def copy(template, i):
    """Another inode with the same bytes and times."""
    out = f"{template}.{i}"
    shutil.copy2(template, out)
    return out


def json_get(url):
    import json

    return json.loads(urllib.request.urlopen(url, timeout=120).read())


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def start(root, state, n_ds):
    """Start a server; returns (process, url, seconds until /datasets lists all n_ds
    datasets, seconds until /ready)."""
    port = bench.free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [bench.CIRRUS, "serve", "--data", root, "--listen", f"127.0.0.1:{port}", "--state", state,
            "--rescan-interval", "0"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    listed = ready = None
    while ready is None:
        if proc.poll() is not None:
            raise RuntimeError("cirrus exited while indexing")
        try:
            if listed is None and json_get(url + "/datasets?limit=1")["total"] == n_ds:
                listed = time.perf_counter() - t0
            urllib.request.urlopen(url + "/ready", timeout=2).read()
            ready = time.perf_counter() - t0
        except OSError:  # not listening yet, or 503 while indexing
            time.sleep(0.05)
    return proc, url, listed if listed is not None else ready, ready


def timed(url, n):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        urllib.request.urlopen(url, timeout=60).read()
        out.append(time.perf_counter() - t)
    out.sort()
    return statistics.median(out), out[min(len(out) - 1, int(len(out) * 0.99))]


def case_scale(rows, repeat):
    tmp = tempfile.mkdtemp(prefix="cirrus-scale-", dir="/tmp")
    try:
        t = time.perf_counter()
        root, n_ds = make_archive(tmp, FILES)
        print(f"scale: {FILES} files in {n_ds} datasets made in {time.perf_counter() - t:.0f} s", flush=True)
        state = os.path.join(tmp, "state")
        subprocess.run(["sync"], check=False)
        proc, url, _, cold = start(root, state, n_ds)
        try:
            cold_rss = rss_mb(proc.pid)
            total = json_get(url + "/datasets?limit=1")["total"]
            if total != n_ds:
                state_doc = json_get(url + "/admin/catalog")
                raise AssertionError(f"{total} of {n_ds} datasets listed after the first pass: "
                                     f"{str(state_doc)[:3000]}")
        finally:
            proc.terminate()
            proc.wait(timeout=60)
        proc, url, warm, warm_ready = start(root, state, n_ds)
        try:
            warm_rss = rss_mb(proc.pid)
            t = time.perf_counter()
            urllib.request.urlopen(urllib.request.Request(url + "/admin/rescan", method="POST"), timeout=600).read()
            rescan = time.perf_counter() - t
            lp50, lp99 = timed(url + "/datasets?variable_id=tas&limit=50", 200)
            ids = [d["id"] for d in json_get(url + "/datasets?variable_id=tas&limit=50")["datasets"]]
            cap = []
            for _round in range(4):
                for i in ids:
                    t = time.perf_counter()
                    urllib.request.urlopen(f"{url}/wms/{i}?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.3.0",
                                           timeout=60).read()
                    cap.append(time.perf_counter() - t)
            cap.sort()
            cp50, cp99 = statistics.median(cap), cap[int(len(cap) * 0.99)]
            after_rss = rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
        rate = FILES / cold
        print(f"scale: cold {cold:.1f} s ({rate:.0f} files/s, RSS {cold_rss:.0f} MB), warm: all listed after "
              f"{warm:.2f} s, ready after {warm_ready:.1f} s "
              f"(RSS {warm_rss:.0f} MB, {after_rss:.0f} MB after the requests), rescan {rescan:.1f} s, "
              f"/datasets p50 {lp50 * 1e3:.1f} ms p99 {lp99 * 1e3:.1f} ms, /wms/<id> capabilities "
              f"p50 {cp50 * 1e3:.1f} ms p99 {cp99 * 1e3:.1f} ms", flush=True)
        label = f"{FILES} files"
        rows.append(("scale/target", f"cold index {label}: files/s", 0, rate, 3000.0, rate / 3000.0))
        rows.append(("scale/target", f"cold start RSS MB {label}", 0, cold_rss, 300.0, 300.0 / cold_rss))
        rows.append(("scale/target", f"warm restart s {label}", 0, warm, 5.0, 5.0 / warm))
        rows.append(("scale/target", f"warm restart, files checked (s) {label}", 0, warm_ready, 20.0,
                     20.0 / warm_ready))
        rows.append(("scale/target", f"warm restart RSS MB {label}", 0, warm_rss, 300.0, 300.0 / warm_rss))
        rows.append(("scale/target", f"unchanged rescan s {label}", 0, rescan, 20.0, 20.0 / rescan))
        rows.append(("scale/target", "/datasets?variable_id=tas&limit=50 p99", 0, lp99, 0.050, 0.050 / lp99))
        rows.append(("scale/target", "/wms/<id> GetCapabilities p99", 0, cp99, 0.020, 0.020 / cp99))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    r = []
    case_scale(r, 1)
    for row in r:
        print(row)
    sys.exit(0)
