"""The Zarr case (issue 15), registered in bench.py's CASES as `zarr`.

The one-year daily 1° CMIP6-like tas file of the DAP2 cases (365 x 180 x 360 float32,
deflate 4 + shuffle, one chunk per day), read whole with
`xr.open_zarr(url).tas.values` from cirrus (`/zarr/<id>`, Zarr v2 consolidated) and
from xpublish (its Zarr plugin serving the same file opened with xarray), in one run,
and with netCDF4 reading the local file; also from cirrus's uncompressed store
(`/zarr-uncompressed/<id>`: whole stored chunks merged into 2 MiB chunks without codecs).
Every store must give the values of the file. The floor of the client: the same read
from a local copy of the uncompressed store (no HTTP, no server). Then 32 clients at
once read every uncompressed chunk three times each: bytes/s and cirrus's peak RSS.
Also reported: the server alone (all chunks fetched, 8 in flight: pass-through chunks
are pread from the file, no decoding), against the page-cache read rate; and the
client's own decoding of those chunks (Python zlib + shuffle), a floor of any xarray
read of this store whatever the server. Each read runs in a fresh Python process (nothing cached in the client; the modules
are imported before the clock starts); the servers are warmed by one read first. Also reported: the compressed bytes of the field per
second of the cirrus read, against the page-cache read rate of the file.

Run alone: `benches/.venv/bin/python benches/zarr_case.py`.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import bench
import perf_cases

READ = r"""
import json, sys, time
import netCDF4, xarray as xr, zarr, fsspec, aiohttp, dask.array  # imports are not part of the read
t = time.perf_counter()
kind, where = sys.argv[1], sys.argv[2]
if kind == "netcdf4":
    with netCDF4.Dataset(where) as nc:
        nc.set_auto_mask(False)
        v = nc["tas"][:]
else:
    v = xr.open_zarr(where, consolidated=True, mask_and_scale=False).tas.values
took = time.perf_counter() - t
import hashlib, numpy as np
print(json.dumps({"seconds": took, "sha": hashlib.sha1(np.ascontiguousarray(v, dtype="<f4").tobytes()).hexdigest(),
                  "shape": list(v.shape)}))
"""

FETCH = r"""
import asyncio, json, sys, time, zlib
import aiohttp, numcodecs
base = sys.argv[1]
async def main():
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{base}/tas/.zarray") as r:
            meta = json.loads(await r.read())
        n = -(-meta["shape"][0] // meta["chunks"][0])
        sem = asyncio.Semaphore(8)
        async def get(i):
            async with sem:
                async with s.get(f"{base}/tas/{i}.0.0") as r:
                    return await r.read()
        t = time.perf_counter()
        chunks = await asyncio.gather(*[get(i) for i in range(n)])
        return chunks, time.perf_counter() - t
chunks, fetch = asyncio.run(main())
t = time.perf_counter()
shuffle = numcodecs.Shuffle(4)
if "uncompressed" not in base:
    for c in chunks:
        shuffle.decode(zlib.decompress(c))
print(json.dumps({"fetch": fetch, "decode": time.perf_counter() - t, "bytes": sum(map(len, chunks)), "n": len(chunks)}))
"""

# 32 clients at once, each reading every chunk of the uncompressed store three times
LOAD = r"""
import asyncio, json, sys, time
import aiohttp
base = sys.argv[1]
async def main():
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as s:
        async with s.get(f"{base}/tas/.zarray") as r:
            meta = json.loads(await r.read())
        n = -(-meta["shape"][0] // meta["chunks"][0])
        async def client(k):
            got = 0
            for i in range(3 * n):
                async with s.get(f"{base}/tas/{(i + k) % n}.0.0") as r:
                    got += len(await r.read())
            return got
        t = time.perf_counter()
        got = await asyncio.gather(*[client(k) for k in range(32)])
        return sum(got), time.perf_counter() - t
got, took = asyncio.run(main())
print(json.dumps({"bytes": got, "seconds": took}))
"""

# a local copy of the uncompressed store (the server's chunks, no network): the floor of
# any xarray read of that store over HTTP, whatever the server
COPY = r"""
import itertools, json, math, os, sys
import fsspec
src, dst = sys.argv[1], sys.argv[2]
store = fsspec.get_mapper(src)
consolidated = store[".zmetadata"]
meta = json.loads(consolidated)["metadata"]
for key, doc in meta.items():
    os.makedirs(os.path.dirname(os.path.join(dst, key)) or dst, exist_ok=True)
    with open(os.path.join(dst, key), "w") as f:
        json.dump(doc, f)
    if key.endswith("/.zarray"):
        var = key[: -len("/.zarray")]
        grid = [range(math.ceil(n / c)) for n, c in zip(doc["shape"], doc["chunks"])] or [range(1)]
        for idx in itertools.product(*grid):
            chunk = f"{var}/" + ".".join(map(str, idx))
            with open(os.path.join(dst, chunk), "wb") as f:
                f.write(store[chunk])
with open(os.path.join(dst, ".zmetadata"), "wb") as f:
    f.write(consolidated)
"""

XPUBLISH = r"""
import sys, xarray as xr, xpublish
ds = xr.open_dataset(sys.argv[1])
xpublish.Rest({"tas": ds}).serve(host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


# xpublish and its client need zarr 3 (benches/requirements-zarr.txt)
PYTHON = os.path.join(bench.BENCH, ".venv-zarr", "bin", "python")


def read(kind, where):
    out = subprocess.run([PYTHON, "-c", READ, kind, where], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def page_cache_rate(path, rounds=5):
    """Bytes per second of reading the (cached) file."""
    size = os.path.getsize(path)
    best = None
    for _ in range(rounds):
        t = time.perf_counter()
        with open(path, "rb") as f:
            while f.read(1 << 20):
                pass
        took = time.perf_counter() - t
        best = took if best is None else min(best, took)
    return size / best


def case_zarr(rows, repeat):
    flat, name = bench.ensure_daily(1, 1.0)
    path = os.path.realpath(os.path.join(flat, name))
    s1, c_url = bench.cirrus(flat)
    s1.probe = c_url.replace("/opendap", "/ready")  # the file indexed
    port = bench.free_port()
    argv = [PYTHON, "-c", XPUBLISH, path, str(port)]
    s2 = bench.Server("xpublish", argv, f"http://127.0.0.1:{port}/datasets")
    z_cirrus = c_url.replace("/opendap", "/zarr") + f"/{name}"
    z_uncompressed = c_url.replace("/opendap", "/zarr-uncompressed") + f"/{name}"
    z_xpublish = f"http://127.0.0.1:{port}/datasets/tas/zarr"
    with s1, s2:
        ref = read("netcdf4", path)
        for label, url in (("cirrus", z_cirrus), ("cirrus uncompressed", z_uncompressed), ("xpublish", z_xpublish)):
            got = read("zarr", url)  # warm-up, and the values must be the file's
            if got["sha"] != ref["sha"]:
                raise RuntimeError(f"{label}'s Zarr store does not give the file's values")
        local = tempfile.mkdtemp(prefix="cirrus-zarr-copy-", dir="/tmp")
        subprocess.run([PYTHON, "-c", COPY, z_uncompressed, local], check=True)
        if read("zarr", local)["sha"] != ref["sha"]:
            raise RuntimeError("the local copy of the uncompressed store does not give the file's values")
        tc, tu, tx, tn, tl = [], [], [], [], []
        for _ in range(repeat):
            tl.append(read("zarr", local)["seconds"])
            tc.append(read("zarr", z_cirrus)["seconds"])
            tu.append(read("zarr", z_uncompressed)["seconds"])
            tx.append(read("zarr", z_xpublish)["seconds"])
            tn.append(read("netcdf4", path)["seconds"])
        # the server alone: every chunk fetched, 8 at a time; and the client's own
        # decoding of those chunks (Python zlib + numcodecs shuffle, one thread)
        def fetch_all(url):
            out = subprocess.run([PYTHON, "-c", FETCH, url], check=True, capture_output=True, text=True).stdout
            return json.loads(out.strip().splitlines()[-1])
        runs = [fetch_all(z_cirrus) for _ in range(repeat)]
        uruns = [fetch_all(z_uncompressed) for _ in range(repeat)]
        out = subprocess.run([PYTHON, "-c", LOAD, z_uncompressed], check=True, capture_output=True, text=True).stdout
        load = json.loads(out.strip().splitlines()[-1])
        peak_mb = perf_cases.Rss(s1.proc.pid).peak_mb()
    mc, mx, mn = statistics.median(tc), statistics.median(tx), statistics.median(tn)
    mu, ml = statistics.median(tu), statistics.median(tl)
    shutil.rmtree(local, ignore_errors=True)
    fetch = statistics.median(r["fetch"] for r in runs)
    decode = statistics.median(r["decode"] for r in runs)
    fetched = runs[0]["bytes"]
    size = os.path.getsize(path)
    rows.append(("Zarr vs xpublish", "open_zarr(url).tas.values, 365x180x360 f4", size, mc, mx, mx / mc))
    rows.append(("Zarr vs netCDF4 local", "netCDF4 reads the local file", size, mc, mn, mn / mc))
    rows.append(("Zarr uncompressed vs xpublish", "/zarr-uncompressed, 2 MiB chunks, no codecs", size, mu, mx, mx / mu))
    rows.append(("Zarr uncompressed vs netCDF4", "netCDF4 reads the local file", size, mu, mn, mn / mu))
    rows.append(("Zarr client floor (s)", "open_zarr of a local copy of the uncompressed store (no HTTP)", size, ml,
                 mx, ml / mx))
    rate = page_cache_rate(path)
    rows.append(("Zarr bytes/s", "compressed bytes of the file / cirrus read time (MB/s)", size, size / mc / 1e6,
                 rate / 1e6, (size / mc) / rate))
    rows.append(("Zarr chunks served (MB/s)", "all 365 chunks, 8 requests in flight, aiohttp", fetched,
                 fetched / fetch / 1e6, rate / 1e6, (fetched / fetch) / rate))
    ufetch = statistics.median(r["fetch"] for r in uruns)
    ubytes = uruns[0]["bytes"]
    rows.append(("Zarr uncompressed served (MB/s)", f"all {uruns[0]['n']} chunks, 8 in flight, aiohttp (decoded bytes)",
                 ubytes, ubytes / ufetch / 1e6, rate / 1e6, (ubytes / ufetch) / rate))
    rows.append(("Zarr uncompressed, 32 clients (MB/s)", "every chunk 3x per client; peak RSS MB of cirrus", load["bytes"],
                 load["bytes"] / load["seconds"] / 1e6, peak_mb, peak_mb))
    print(f"zarr: 32 clients read {load['bytes'] / 1e9:.2f} GB of uncompressed chunks in {load['seconds']:.2f} s; "
          f"cirrus peak RSS {peak_mb:.0f} MB", flush=True)
    rows.append(("Zarr client decode floor (s)", "Python zlib + shuffle of the 365 chunks, one thread", fetched,
                 decode, mc, decode / mc))
    print(f"zarr: chunks served at {fetched / fetch / 1e6:.0f} MB/s ({fetch:.3f} s); the client's decoding alone "
          f"{decode:.3f} s", flush=True)
    print(f"zarr: cirrus {mc:.3f} s (runs {sorted(round(t, 3) for t in tc)}), uncompressed {mu:.3f} s "
          f"(runs {sorted(round(t, 3) for t in tu)}), xpublish {mx:.3f} s (runs {sorted(round(t, 3) for t in tx)}), "
          f"netCDF4 local {mn:.3f} s (runs {sorted(round(t, 3) for t in tn)}), local copy of the uncompressed "
          f"store {ml:.3f} s (runs {sorted(round(t, 3) for t in tl)}); {size / mc / 1e6:.0f} MB/s of file bytes "
          f"vs page cache {rate / 1e6:.0f} MB/s", flush=True)


if __name__ == "__main__":
    r = []
    case_zarr(r, int(sys.argv[1]) if len(sys.argv) > 1 else 5)
    for row in r:
        print(row)
