"""The EDR case (issue 16), registered in bench.py's CASES as `edr`.

A 100-year daily 1° CMIP6-like tas dataset (36500 x 180 x 360 float32, ten files of
ten years, one chunk per day, deflate 1 + shuffle, values rounded to 12 mantissa bits)
served by cirrus; the EDR position query of the whole series at one point:

- without a time-chunked copy: cold (a fresh server: empty chunk cache; the files in
  the page cache) and warm (the same query again);
- the copy built (`POST /admin/timeseries/<id>`, a job): build time and size;
- with the copy: cold (a fresh server) and warm;
- the same query on pygeoapi's xarray EDR provider and on xpublish-edr (benches/.venv-edr)
  serving the same files with xarray, in the same run.

All answers must hold the same 36500 values. The data are generated once under
$CIRRUS_BENCH_CENTURY (default benches/data/century_1deg, about 2.1 GB; 8 minutes).

Run alone: `benches/.venv/bin/python benches/edr_case.py`.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import bench

POINT = (2.35, 48.85)


def ensure_century():
    out = os.environ.get("CIRRUS_BENCH_CENTURY") or os.path.join(bench.DATA, "century_1deg")
    if not os.path.isdir(out):
        tmp = out + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run([bench.TESTDATA, "cmip6-daily", "--out", tmp, "--years", "100", "--res", "1",
                        "--deflate", "1", "--years-per-file", "10", "--bit-round", "12"],
                       check=True, stdout=subprocess.DEVNULL)
        os.rename(tmp, out)
    files = sorted(os.path.join(dp, f) for dp, _, fs in os.walk(out) for f in fs if f.endswith(".nc"))
    return out, files


def get(url, method="GET"):
    req = urllib.request.Request(url, method=method)
    t = time.perf_counter()
    with urllib.request.urlopen(req, timeout=600) as r:
        body = r.read()
        headers = dict(r.headers)
    return time.perf_counter() - t, body, headers


def series(body):
    """The values and times of a CoverageJSON PointSeries."""
    cov = json.loads(body)
    if cov.get("type") == "CoverageCollection":
        cov = cov["coverages"][0]
    (name, rng), = cov["ranges"].items()
    return rng["values"], cov["domain"]["axes"]["t"]["values"]


class Cirrus:
    def __init__(self, root, state):
        self.port = bench.free_port()
        argv = [bench.CIRRUS, "serve", "--data", root, "--listen", f"127.0.0.1:{self.port}", "--state", state,
                "--rescan-interval", "0"]
        self.base = f"http://127.0.0.1:{self.port}"
        self.server = bench.Server("cirrus-edr", argv, f"{self.base}/ready")

    def __enter__(self):
        self.server.__enter__()
        return self

    def __exit__(self, *exc):
        self.server.__exit__(*exc)

    def dataset(self):
        return json.loads(get(f"{self.base}/edr/collections")[1])["collections"][0]["id"]

    def position(self, cid):
        lon, lat = POINT
        return f"{self.base}/edr/collections/{cid}/position?coords=POINT({lon}%20{lat})"


def build_copy(c, cid):
    t = time.perf_counter()
    _, body, headers = get(f"{c.base}/admin/timeseries/{cid}", method="POST")
    job = headers.get("Location") or headers.get("location")
    while True:
        st = json.loads(get(job)[1])
        if st["status"] in ("successful", "failed", "dismissed"):
            break
        time.sleep(0.5)
    took = time.perf_counter() - t
    if st["status"] != "successful":
        raise RuntimeError(f"copy job {st['status']}: {st.get('message')}")
    copies = json.loads(get(f"{c.base}/admin/timeseries")[1])
    return took, copies["bytes"], copies["copies"][0]["chunks"]


def case_edr(rows, repeat):
    root, files = ensure_century()
    size = sum(os.path.getsize(f) for f in files)
    state = tempfile.mkdtemp(prefix="cirrus-edr-bench-")
    try:
        with Cirrus(root, state) as c:
            cid = c.dataset()
            url = c.position(cid)
            cold, body, _ = get(url)
            ref, times = series(body)
            if len(ref) != 36500:
                raise RuntimeError(f"the series has {len(ref)} values, not 36500")
            warm = statistics.median(get(url)[0] for _ in range(max(1, repeat // 2)))
            build, copy_bytes, chunks = build_copy(c, cid)
        with Cirrus(root, state) as c:
            cold_copy, body, _ = get(c.position(cid))
            if series(body) != (ref, times):
                raise RuntimeError("the series read from the copy differs from the source's")
            warm_copy = statistics.median(get(c.position(cid))[0] for _ in range(repeat))
    finally:
        shutil.rmtree(state, ignore_errors=True)
    peers = {}
    try:
        import edr_peers
        for name, make in (("pygeoapi", edr_peers.pygeoapi_server), ("xpublish-edr", edr_peers.xpublish_edr_server)):
            port = bench.free_port()
            try:
                argv, env, probe, position_url = make(files, port)
            except Exception as e:  # a peer that cannot serve this dataset is reported, not fatal
                print(f"edr: {name} not run: {e}", flush=True)
                continue
            srv = bench.Server(name, argv, probe)
            if env:
                os.environ.update(env)
            with srv:
                purl = position_url(*POINT)
                t, body, _ = get(purl)  # warm-up; the values must be the file's
                got = series(body)[0]
                if len(got) != len(ref) or any(abs(a - b) > 1e-3 * max(1.0, abs(b)) for a, b in zip(got, ref)):
                    raise RuntimeError(f"{name}'s series differs from cirrus's")
                peers[name] = statistics.median(get(purl)[0] for _ in range(repeat))
    except ImportError:
        print("edr: benches/edr_peers.py missing: no peer", flush=True)
    label = "position, 100 y daily (36500 steps), 1 point"
    rows.append(("EDR no copy, cold", label, size, cold, None, None))
    rows.append(("EDR no copy, warm", label, size, warm, None, None))
    rows.append(("EDR copy, cold (s)", label + " (target 1 s)", copy_bytes, cold_copy, 1.0, 1.0 / cold_copy))
    rows.append(("EDR copy, warm", label, copy_bytes, warm_copy, cold, cold / warm_copy))
    rows.append(("EDR copy build (s)", f"POST /admin/timeseries, chunks {chunks}", copy_bytes, build, None, None))
    for name, t in peers.items():
        rows.append((f"EDR vs {name}", label + " (target 20x)", size, warm_copy, t, t / warm_copy))
    print(f"edr: no copy {cold:.2f} s cold / {warm:.2f} s warm; copy built in {build:.0f} s "
          f"({copy_bytes / 1e6:.0f} MB, chunks {chunks}); with the copy {cold_copy:.3f} s cold / "
          f"{warm_copy:.3f} s warm; peers {peers}", flush=True)


if __name__ == "__main__":
    rows = []
    case_edr(rows, int(sys.argv[1]) if len(sys.argv) > 1 else 3)
    print(bench.table(rows))
