#!/usr/bin/env python3
"""Soak test (not in CI): mixed load on a running cirrus for a while; reports errors
(must be 0), latency percentiles per kind of request, throughput and the server's peak
RSS.

    benches/.venv/bin/python benches/soak.py [--minutes 10] [--clients 48] [--url URL --pid PID]

Without --url it starts the release binary on the ESGF samples (../shared/data/esgf)
and a generated daily dataset (benches/data), with a job store in a temporary state
directory. The mix, per client loop: metadata (.dds/.das/.dmr, /datasets, WPS and WMS
capabilities), small data (one time step of a region, DAP2 and DAP4), large streams
(a full field .dods, a .nc subset), WMS GetMap tiles, and now and then a processing
job (OGC API) polled to its end. Every answer is checked: status 200 and, for data,
the expected length.
"""

import argparse
import collections
import os
import random
import xml.etree.ElementTree as ET
import statistics
import sys
import threading
import time
import urllib.parse

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

SHARED = os.path.abspath(os.path.join(bench.REPO, "..", "shared", "data", "esgf"))


def vm_hwm_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Load:
    def __init__(self, base, datasets):
        self.base = base
        self.lat = collections.defaultdict(list)
        self.errors = collections.Counter()
        self.examples = {}
        self.bytes = 0
        self.lock = threading.Lock()
        self.stop = False
        # the generated daily file (served flat as tas.nc, or in its DRS tree)
        self.daily = [d for d in datasets if "CIRRUS-BENCH" in d["id"] or d["id"] == "tas.nc"]
        self.small = [d for d in datasets if d not in self.daily and "time" in d]
        assert self.daily and self.small, [d["id"] for d in datasets]
        # WMS layers as the capabilities name them (<dataset id>/<variable>)
        caps = requests.get(base + "/wms?service=WMS&request=GetCapabilities&version=1.3.0", timeout=120).text
        ns = {"w": "http://www.opengis.net/wms"}
        root = ET.fromstring(caps)
        self.layers = [n.text for n in root.iterfind(".//w:Layer/w:Name", ns) if n.text and "/" in n.text]
        assert self.layers, "no WMS layers"

    def record(self, kind, t, ok, n, why=""):
        with self.lock:
            self.lat[kind].append(t)
            self.bytes += n
            if not ok:
                self.errors[kind] += 1
                self.examples.setdefault(kind, why)

    def get(self, s, kind, path, expect_len=None, stream=False):
        t0 = time.perf_counter()
        try:
            r = s.get(self.base + path, stream=stream, timeout=300)
            n = 0
            if stream:
                for chunk in r.iter_content(1 << 20):
                    n += len(chunk)
            else:
                n = len(r.content)
            ok = r.status_code == 200 and (expect_len is None or n == expect_len)
            why = f"{r.status_code} {n} bytes (expected {expect_len}) for {path}"
        except Exception as e:  # noqa: BLE001
            ok, n, why = False, 0, f"{type(e).__name__}: {e} for {path}"
        self.record(kind, time.perf_counter() - t0, ok, n, why)

    def job(self, s):
        d = random.choice(self.small)
        t0 = time.perf_counter()
        try:
            r = s.post(self.base + "/processes/average/execution",
                       json={"inputs": {"collection": d["id"], "dims": "time"}},
                       headers={"Prefer": "respond-async"}, timeout=60)
            ok = r.status_code == 201
            why = f"submit {r.status_code}: {r.text[:200]}"
            if ok:
                loc = r.headers["location"]
                while not self.stop:
                    j = s.get(loc, timeout=60).json()
                    if j["status"] in ("successful", "failed", "dismissed"):
                        ok = j["status"] == "successful"
                        why = f"job {j['status']}: {j.get('message')}"
                        break
                    time.sleep(0.5)
        except Exception as e:  # noqa: BLE001
            ok, why = False, f"{type(e).__name__}: {e}"
        self.record("job", time.perf_counter() - t0, ok, 0, why)

    def client(self, seed):
        rnd = random.Random(seed)
        s = requests.Session()
        big = self.daily[0]["id"] if self.daily else None
        while not self.stop:
            x = rnd.random()
            d = rnd.choice(self.small)
            q = urllib.parse.quote
            if x < 0.35:
                ext = rnd.choice([".dds", ".das", ".dmr"])
                self.get(s, "metadata", f"/opendap/{q(d['id'])}{ext}")
            elif x < 0.42:
                self.get(s, "capabilities", rnd.choice([
                    "/datasets", "/wps?service=WPS&request=GetCapabilities",
                    "/wms?service=WMS&request=GetCapabilities&version=1.3.0", "/processes"]))
            elif x < 0.72 and big:
                # one time step of a 40x60 region, DAP2 or DAP4
                t = rnd.randrange(365)
                if rnd.random() < 0.5:
                    self.get(s, "small-data", f"/opendap/{q(big)}.dods?tas[{t}:1:{t}][100:1:139][0:1:59]")
                else:
                    ce = q(f"/tas[{t}:1:{t}][100:1:139][0:1:59]")
                    self.get(s, "small-data", f"/opendap/{q(big)}.dap?dap4.ce={ce}")
            elif x < 0.86:
                layer = q(rnd.choice(self.layers))
                bbox = rnd.choice(["-90,-180,90,180", "30,-30,70,40", "-60,0,0,90"])
                self.get(s, "wms-map", f"/wms?service=WMS&request=GetMap&version=1.3.0&layers={layer}"
                                      f"&styles=&crs=EPSG:4326&bbox={bbox}&width=256&height=256&format=image/png")
            elif x < 0.97 and big:
                if rnd.random() < 0.7:
                    self.get(s, "large-stream", f"/opendap/{q(big)}.dods?tas", stream=True)
                else:
                    self.get(s, "large-stream", f"/opendap/{q(big)}.nc?tas[0:1:89][0:1:179][0:1:359]", stream=True)
            else:
                self.job(s)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--clients", type=int, default=48)
    ap.add_argument("--url", help="a running cirrus (default: start one)")
    ap.add_argument("--pid", type=int, help="its process id, for RSS")
    a = ap.parse_args()

    server = None
    if a.url:
        base, pid = a.url.rstrip("/"), a.pid
    else:
        flat, _ = bench.ensure_daily(1, 1.0)
        port = bench.free_port()
        state = os.path.join(bench.BENCH, "state-soak")
        argv = [bench.CIRRUS, "serve", "--data", SHARED, "--data", flat, "--listen", f"127.0.0.1:{port}",
                "--state", state, "--rescan-interval", "0", "--chunk-cache-bytes", str(256 << 20),
                "--workers", "2", "--queue-limit", "1000"]
        server = bench.Server("cirrus-soak", argv, f"http://127.0.0.1:{port}/ready")
        server.__enter__()
        base, pid = f"http://127.0.0.1:{port}", server.proc.pid

    datasets = requests.get(base + "/datasets", timeout=60).json()["datasets"]
    load = Load(base, datasets)
    threads = [threading.Thread(target=load.client, args=(i,), daemon=True) for i in range(a.clients)]
    t0 = time.time()
    for t in threads:
        t.start()
    peak_rss = 0
    try:
        while time.time() - t0 < a.minutes * 60:
            time.sleep(2)
            if pid:
                peak_rss = max(peak_rss, rss_kb(pid))
    finally:
        load.stop = True
        for t in threads:
            t.join(320)
    elapsed = time.time() - t0
    hwm = vm_hwm_kb(pid) if pid else 0
    if server:
        server.__exit__(None, None, None)

    total = sum(len(v) for v in load.lat.values())
    print(f"\nsoak: {a.clients} clients, {elapsed / 60:.1f} min, {total} requests "
          f"({total / elapsed:.0f}/s), {load.bytes / 1e9:.2f} GB received")
    print(f"{'kind':<14} {'count':>8} {'errors':>7} {'p50 ms':>9} {'p90 ms':>9} {'p99 ms':>9} {'max ms':>9}")
    for kind in sorted(load.lat):
        xs = [x * 1000 for x in load.lat[kind]]
        print(f"{kind:<14} {len(xs):>8} {load.errors[kind]:>7} {statistics.median(xs):>9.1f} "
              f"{pct(xs, 90):>9.1f} {pct(xs, 99):>9.1f} {max(xs):>9.1f}")
    print(f"server peak RSS: {max(peak_rss, hwm) / 1024:.0f} MiB (VmHWM {hwm / 1024:.0f} MiB)")
    errors = sum(load.errors.values())
    for kind, why in load.examples.items():
        print(f"  first {kind} error: {why}")
    print(f"errors: {errors}")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
