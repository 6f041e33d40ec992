#!/usr/bin/env python3
"""cirrus benchmarks against peers, interleaved in one run; prints a table of ratios.

Each case starts cirrus and the peer on the same input files, checks that both return
the same data, then alternates timed requests (curl to /dev/null) and reports medians
and the ratio peer/cirrus (> 1 means cirrus is faster). Where there is no peer program
the peer column holds the target (a ratio >= 1 meets it) or "-".

Cases (CASES; `--only CASE`, repeatable): dap2-pydap, processing (here), dap2-ncks,
latency, load, memory (perf_cases.py), regrid, geotiff, wms (geo_cases.py), scale
(scale_case.py: catalog index, listings and capabilities at 100k files), zarr
(zarr_case.py: xr.open_zarr from cirrus and xpublish, netCDF4 locally), edr
(edr_case.py: a century point series with and without a time-chunked copy, pygeoapi
and xpublish-edr), s3 (s3_case.py: DAP2 and Zarr reads of the one-year file from a
local root and from an S3 root on s3s-fs, cold and warm, with the GETs it answered),
indices (indices_case.py: the climate_index process on 30 years of daily 1° data
against xclim and icclim, with the read+inflate floor). See README.md. The table and
the rows as JSON also go to benches/results/.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

# perf_cases.py and geo_cases.py `import bench`: let them find this module when it runs as a script
sys.modules.setdefault("bench", sys.modules[__name__])

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(REPO, "benches")
DATA = os.path.join(BENCH, "data")
VENV = os.path.join(BENCH, ".venv")
# CIRRUS_BENCH_BIN: another cirrus binary (e.g. an earlier commit's, for before/after tables)
CIRRUS = os.environ.get("CIRRUS_BENCH_BIN") or os.path.join(REPO, "target", "release", "cirrus")
TESTDATA = os.path.join(REPO, "target", "release", "cirrus-testdata")
# server logs (every request is logged at INFO: hundreds of MB under load) go to tmpfs
# when there is one, not to a disk that other jobs share
LOGS = "/dev/shm/cirrus-bench-logs" if os.path.isdir("/dev/shm") else BENCH


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url, proc, timeout=120):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            urllib.request.urlopen(url, timeout=5).read()
            return
        except Exception:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


class Server:
    def __init__(self, name, argv, probe):
        self.name, self.argv, self.probe = name, argv, probe

    def __enter__(self):
        os.makedirs(LOGS, exist_ok=True)
        self.log = open(os.path.join(LOGS, f"{self.name}.log"), "w")
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_up(self.probe, self.proc)
        return self

    def __exit__(self, *exc):
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()


def cirrus(data_dir):
    port = free_port()
    state = os.path.join(BENCH, "state")
    argv = [CIRRUS, "serve", "--data", data_dir, "--listen", f"127.0.0.1:{port}", "--state", state, "--rescan-interval", "0"]
    return Server("cirrus", argv, f"http://127.0.0.1:{port}/ready"), f"http://127.0.0.1:{port}/opendap"


def pydap(data_dir, first_file):
    port = free_port()
    argv = [os.path.join(VENV, "bin", "pydap"), "--data", data_dir, "--port", str(port), "--workers", "2"]
    return Server("pydap", argv, f"http://127.0.0.1:{port}/{first_file}.dds"), f"http://127.0.0.1:{port}"


def fetch(url):
    """Time one GET with curl (body to /dev/null); returns (seconds, bytes)."""
    out = subprocess.run(
        ["curl", "-s", "-g", "-o", "/dev/null", "-w", "%{time_total} %{size_download} %{http_code}", url],
        check=True, capture_output=True, text=True,
    ).stdout.split()
    if out[2] != "200":
        raise RuntimeError(f"{url} answered {out[2]}")
    return float(out[0]), int(out[1])


def body(url):
    return urllib.request.urlopen(url, timeout=600).read()


def data_part(b):
    return b[b.index(b"\nData:\n") + 7:]


def ensure_daily(years, res):
    """A CMIP6-like daily tas file (deflate 4 + shuffle, chunks 1 x lat x lon)."""
    out = os.path.join(DATA, f"daily_{years}y_{res}deg")
    if not os.path.isdir(out):
        tmp = out + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run([TESTDATA, "cmip6-daily", "--out", tmp, "--years", str(years), "--res", str(res),
                        "--years-per-file", str(years)], check=True, stdout=subprocess.DEVNULL)
        os.rename(tmp, out)
    files = [os.path.join(dp, f) for dp, _, fs in os.walk(out) for f in fs if f.endswith(".nc")]
    flat = os.path.join(DATA, f"flat_{years}y_{res}deg")
    os.makedirs(flat, exist_ok=True)
    name = "tas.nc"
    if not os.path.exists(os.path.join(flat, name)):
        os.symlink(files[0], os.path.join(flat, name))
    return flat, name


def try_body(url):
    """The body, or None when the server fails (pydap's server answers 200 and then
    aborts the stream for any hyperslab of a NetCDF variable)."""
    try:
        return body(url)
    except Exception:
        return None


def case_dap2_pydap(rows, repeat):
    """DAP2 .dods of the same compressed NetCDF-4 file from cirrus and pydap's server."""
    flat, name = ensure_daily(1, 1.0)
    requests = {
        "dds": ".dds",
        "das": ".das",
        "full field (365x180x360)": ".dods?tas",
        "whole dataset": ".dods",
        "one time step (1x180x360)": ".dods?tas[0:1:0][0:1:179][0:1:359]",
        "one-year region (365x40x60)": ".dods?tas[0:1:364][100:1:139][0:1:59]",
    }
    s1, c_url = cirrus(flat)
    s2, p_url = pydap(flat, name)
    with s1, s2:
        for label, q in requests.items():
            a, b = body(f"{c_url}/{name}{q}"), try_body(f"{p_url}/{name}{q}")
            # cirrus sends a Grid (the array, then its maps), pydap the bare array
            if b is not None and q.startswith(".dods") and not data_part(a).startswith(data_part(b)):
                raise RuntimeError(f"cirrus and pydap disagree on {q}")
            tc, tp = [], []
            size = 0
            for _ in range(repeat):
                t, size = fetch(f"{c_url}/{name}{q}")
                tc.append(t)
                if b is not None:
                    tp.append(fetch(f"{p_url}/{name}{q}")[0])
            mc = statistics.median(tc)
            mp = statistics.median(tp) if tp else None
            rows.append(("DAP2 vs pydap", label, size, mc, mp if tp else "fails", mp / mc if mp else None))


# --------------------------------------------------------------------------- processing

CLISOPS_SCRIPT = r"""
import json, os, shutil, sys, time, warnings
warnings.filterwarnings("ignore")
t0 = time.perf_counter()
from clisops.ops.average import average_over_dims
from clisops.ops.subset import subset
import clisops
imported = time.perf_counter() - t0
spec = json.loads(sys.argv[1])
ops = {"subset": subset, "average": average_over_dims}
times, outs = [], []
for i in range(spec["repeat"]):
    out = os.path.join(spec["out"], str(i))
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    t = time.perf_counter()
    outs = ops[spec["op"]](ds=spec["file"], output_dir=out, output_type="nc", **spec["params"])
    times.append(time.perf_counter() - t)
print(json.dumps({"times": times, "files": [str(o) for o in outs], "import": imported,
                  "version": clisops.__version__}))
"""


def ensure_daily_drs(years, res):
    """The DRS tree of a CMIP6-like daily tas file (one file of `years` years) and its file."""
    ensure_daily(years, res)
    out = os.path.join(DATA, f"daily_{years}y_{res}deg")
    files = [os.path.join(dp, f) for dp, _, fs in os.walk(out) for f in fs if f.endswith(".nc")]
    return out, files[0]


def cirrus_processing(data_dir):
    port = free_port()
    state = os.path.join(BENCH, "state", "processing")
    argv = [CIRRUS, "serve", "--data", data_dir, "--listen", f"127.0.0.1:{port}", "--state", state,
            "--rescan-interval", "0"]
    return Server("cirrus-processing", argv, f"http://127.0.0.1:{port}/ready"), f"http://127.0.0.1:{port}"


def post_json(url, doc):
    req = urllib.request.Request(url, data=json.dumps(doc).encode(), headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=3600) as r:
        return json.loads(r.read())


def cirrus_execute(base, process, inputs, keep_dir=None):
    """One synchronous OGC API - Processes execution including the download of every
    result file; returns (seconds, bytes, local files kept or [])."""
    t = time.perf_counter()
    doc = post_json(f"{base}/processes/{process}/execution", {"inputs": inputs})
    size, kept = 0, []
    for f in doc["files"]:
        with urllib.request.urlopen(f["href"], timeout=3600) as r:
            data = r.read()
        size += len(data)
        if keep_dir:
            path = os.path.join(keep_dir, f["title"])
            with open(path, "wb") as fh:
                fh.write(data)
            kept.append(path)
    elapsed = time.perf_counter() - t
    job = doc["output"]["href"].rstrip("/").split("/")[-2]
    urllib.request.urlopen(urllib.request.Request(f"{base}/jobs/{job}", method="DELETE"), timeout=60).read()
    return elapsed, size, kept


def run_clisops(op, path, params, repeat, out_dir):
    spec = {"op": op, "file": path, "params": params, "repeat": repeat, "out": out_dir}
    proc = subprocess.run([os.path.join(VENV, "bin", "python"), "-c", CLISOPS_SCRIPT, json.dumps(spec)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"clisops {op} failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_cdo(args, out, repeat):
    times = []
    for _ in range(repeat):
        if os.path.exists(out):
            os.remove(out)
        t = time.perf_counter()
        subprocess.run(["cdo", "-s", "-f", "nc4", "-z", "zip_1", *args, out], check=True)
        times.append(time.perf_counter() - t)
    return times


def nc_values(path, var):
    import netCDF4
    import numpy as np
    with netCDF4.Dataset(path) as nc:
        return np.ma.filled(nc.variables[var][:].astype("f8"), np.nan)


def same(a, b, exact):
    import numpy as np
    a, b = np.squeeze(a), np.squeeze(b)
    if a.shape != b.shape:
        return False
    if exact:
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.allclose(a, b, rtol=1e-5, atol=1e-4, equal_nan=True))


def case_processing(rows, repeat):
    """subset (time + area) and averages (time; latitude+longitude) of 5 years of daily
    1-degree tas: cirrus (OGC API - Processes, synchronous, result downloaded) against
    clisops (PyPI, in a Python subprocess; the operation timed in-process, imports
    excluded, output written as NetCDF) and CDO on the same file."""
    root, path = ensure_daily_drs(5, 1.0)
    work = os.path.join(DATA, "processing-out")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    requests = [
        # label, cirrus process + inputs, clisops op + params, cdo operators, values equal exactly
        ("subset 3 y, 60x40 deg", "subset",
         {"time": "2016-01-01/2018-12-31", "area": "0,30,60,70"},
         ("subset", {"time": "2016-01-01/2018-12-31", "area": "0,30,60,70"}),
         ["-sellonlatbox,0,60,30,70", "-seldate,2016-01-01,2018-12-31"], True),
        ("average time (5 y)", "average", {"dims": ["time"]},
         ("average", {"dims": ["time"]}), ["-timmean"], False),
        ("average lat+lon (5 y)", "average", {"dims": ["latitude", "longitude"]},
         ("average", {"dims": ["latitude", "longitude"]}), ["-fldmean"], False),
    ]
    server, base = cirrus_processing(root)
    with server:
        dsid = json.loads(urllib.request.urlopen(f"{base}/datasets", timeout=60).read())["datasets"][0]["id"]
        for label, process, inputs, (cop, cparams), cdo_ops, exact in requests:
            inputs = {"collection": dsid, **inputs}
            keep = os.path.join(work, "cirrus-" + process + str(len(os.listdir(work))))
            os.makedirs(keep)
            _, size, mine = cirrus_execute(base, process, inputs, keep)  # warm-up and the values
            tc = [cirrus_execute(base, process, inputs)[0] for _ in range(repeat)]
            cl = run_clisops(cop, path, cparams, repeat, os.path.join(work, "clisops-" + label.split()[0]))
            cdo_out = os.path.join(work, "cdo-" + "".join(c for c in label if c.isalnum()) + ".nc")
            td = run_cdo([*cdo_ops, path], cdo_out, repeat)
            # the same data: clisops exactly as the issue asks; CDO's fldmean weights by cell area
            # (cirrus's and clisops's lat+lon average is unweighted), so only its shape is compared there
            a = nc_values(mine[0], "tas")
            if not same(a, nc_values(cl["files"][0], "tas"), exact):
                raise RuntimeError(f"cirrus and clisops disagree on {label}")
            if "fldmean" not in cdo_ops[0] and not same(a, nc_values(cdo_out, "tas"), exact):
                raise RuntimeError(f"cirrus and CDO disagree on {label}")
            mc = statistics.median(tc)
            mp = statistics.median(cl["times"])
            rows.append(("proc vs clisops", label, size, mc, mp, mp / mc))
            md = statistics.median(td)
            rows.append(("proc vs CDO", label, size, mc, md, md / mc))
        print(f"clisops {cl['version']}: import of clisops takes {cl['import']:.1f} s per process, not counted")


import edr_case  # noqa: E402  (after the helpers they use)
import geo_cases  # noqa: E402
import indices_case  # noqa: E402
import perf_cases  # noqa: E402
import s3_case  # noqa: E402
import scale_case  # noqa: E402
import zarr_case  # noqa: E402

CASES = {
    "dap2-pydap": case_dap2_pydap,
    "dap2-ncks": perf_cases.case_dap2_ncks,
    "latency": perf_cases.case_latency,
    "load": perf_cases.case_load,
    "memory": perf_cases.case_memory,
    "processing": case_processing,
    "regrid": geo_cases.case_regrid,
    "geotiff": geo_cases.case_geotiff,
    "wms": geo_cases.case_wms,
    "scale": scale_case.case_scale,
    "zarr": zarr_case.case_zarr,
    "edr": edr_case.case_edr,
    "s3": s3_case.case_s3,
    "indices": indices_case.case_indices,
}


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def fmt(x, unit=""):
    if isinstance(x, str):
        return x
    if x is None:
        return "-"
    return f"{x:.4f}" if abs(x) < 100 else f"{x:.1f}"


def table(rows):
    lines = [f"{'case':<16} {'request':<48} {'bytes':>12} {'cirrus':>10} {'peer':>10} {'peer/cirrus':>12}"]
    for case, label, size, mc, mp, ratio in rows:
        r = "-" if ratio is None else f"{ratio:.2f}x"
        lines.append(f"{case:<16} {label:<48} {size:>12} {fmt(mc):>10} {fmt(mp):>10} {r:>12}")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", choices=sorted(CASES), action="append",
                    help="run this case only (repeatable; default: every case)")
    ap.add_argument("--repeat", type=int, default=5, help="timed repetitions per request and server")
    ap.add_argument("--quick", action="store_true",
                    help="2 repetitions and the short/small variants of the load, memory and latency cases")
    ap.add_argument("--keep", action="store_true",
                    help="keep the generated data of the indices case (under /tmp) for the next run")
    args = ap.parse_args()
    indices_case.KEEP = indices_case.KEEP or args.keep
    os.makedirs(DATA, exist_ok=True)
    repeat = 2 if args.quick else args.repeat
    perf_cases.QUICK = geo_cases.QUICK = args.quick
    rows, failed, timing = [], [], []
    t_all = time.time()
    for name, fn in CASES.items():
        if args.only and name not in args.only:
            continue
        la0, t0 = loadavg(), time.time()
        print(f"==> {name} (load average {la0})", flush=True)
        n = len(rows)
        try:
            fn(rows, repeat)
        except Exception as e:  # one broken case must not hide the others
            import traceback
            traceback.print_exc()
            failed.append((name, f"{type(e).__name__}: {e}"))
        timing.append((name, time.time() - t0, la0, loadavg()))
        print(f"<== {name}: {time.time() - t0:.0f} s, {len(rows) - n} rows, load average {la0} -> {loadavg()}",
              flush=True)
    out = table(rows)
    print("\n" + out)
    print("\ncirrus, peer: seconds (median of the repetitions) unless the request names another unit; peer/cirrus > 1 "
          "means cirrus is faster (or, against a target, meets it)")
    for name, secs, la0, la1 in timing:
        print(f"  {name:<12} {secs:6.0f} s   load average {la0} -> {la1}")
    print(f"total {time.time() - t_all:.0f} s on {os.cpu_count()} cores")
    for name, why in failed:
        print(f"FAILED {name}: {why}")
    res = os.path.join(BENCH, "results")
    os.makedirs(res, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    with open(os.path.join(res, f"bench-{stamp}.json"), "w") as f:
        json.dump({"argv": sys.argv[1:], "rows": rows, "failed": failed, "timing": timing}, f, indent=1)
    with open(os.path.join(res, f"bench-{stamp}.txt"), "w") as f:
        f.write(out + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
