#!/usr/bin/env python3
"""cirrus benchmarks against peers, interleaved in one run; prints a table of ratios.

Each case starts cirrus and the peer on the same input files, checks that both return
the same data, then alternates timed requests (curl to /dev/null) and reports medians
and the ratio peer/cirrus (> 1 means cirrus is faster).
"""

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(REPO, "benches")
DATA = os.path.join(BENCH, "data")
VENV = os.path.join(BENCH, ".venv")
CIRRUS = os.path.join(REPO, "target", "release", "cirrus")
TESTDATA = os.path.join(REPO, "target", "release", "cirrus-testdata")


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
        self.log = open(os.path.join(BENCH, f"{self.name}.log"), "w")
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
    return Server("cirrus", argv, f"http://127.0.0.1:{port}/health"), f"http://127.0.0.1:{port}/opendap"


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
            rows.append(("DAP2 vs pydap", label, size, mc, mp, mp / mc if mp else None))


CASES = {"dap2-pydap": case_dap2_pydap}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", choices=sorted(CASES), help="run one case")
    ap.add_argument("--repeat", type=int, default=5, help="timed repetitions per request and server")
    ap.add_argument("--quick", action="store_true", help="2 repetitions")
    args = ap.parse_args()
    os.makedirs(DATA, exist_ok=True)
    repeat = 2 if args.quick else args.repeat
    rows = []
    for name, fn in CASES.items():
        if args.only and name != args.only:
            continue
        fn(rows, repeat)
    print(f"\n{'case':<16} {'request':<30} {'bytes':>12} {'cirrus s':>10} {'peer s':>10} {'peer/cirrus':>12}")
    for case, label, size, mc, mp, ratio in rows:
        if mp is None:
            print(f"{case:<16} {label:<30} {size:>12} {mc:>10.4f} {'fails':>10} {'-':>12}")
        else:
            print(f"{case:<16} {label:<30} {size:>12} {mc:>10.4f} {mp:>10.4f} {ratio:>11.1f}x")


if __name__ == "__main__":
    sys.exit(main())
