"""The climate-index case (issue 18), registered in bench.py's CASES as `indices`.

30 years (1981-2010) of daily data on a global 1° grid (180 x 360), CMIP6-like: one
NetCDF-4 file per year and variable (30 files each), float32, deflate level 1 +
shuffle, one chunk per day (1, 180, 360), `days since 1850-01-01` in the `noleap`
calendar, CMOR global attributes, in the ESGF DRS layout

    CMIP6/CMIP/CIRRUS/CIRRUS-BENCH-1/historical/r1i1p1f1/day/<var>/gn/v20200101/
        <var>_day_CIRRUS-BENCH-1_historical_r1i1p1f1_gn_<YYYY0101>-<YYYY1231>.nc

for tasmax, tasmin (K: a seasonal cycle by latitude, AR(1) day-to-day noise, tasmin <
tasmax) and pr (kg m-2 s-1: about 40 % dry days, gamma-distributed amounts on wet
days), so that cirrus joins each variable's 30 files into one dataset. Generated once
under $CIRRUS_BENCH_INDICES (default /tmp/cirrus-bench-indices; ~2.3 GB per variable)
and removed at the end of the case unless `--keep` (or CIRRUS_BENCH_KEEP=1).

Timed, for the indices SU, TX (tasmax), CDD, RX5day, PRCPTOT (pr) and DTR (tasmax and
tasmin, two collections) with slice_mode year over the whole 30 years, the files in
the page cache (read once before):

- cirrus (release binary): `POST /processes/climate_index/execution` with
  `Prefer: respond-async`, polling `/jobs/<id>` every 20 ms until it is successful
  (the output file written); the first run of each index on a fresh server, then
  min(repeat, 3) runs (median); before that, SU and CDD once each on a fresh server
  with the variable's files evicted from the page cache (posix_fadvise DONTNEED: a
  real cold read from the disk). The server's CPU time during each job is read from
  /proc.
- xclim: `xr.open_mfdataset(files, chunks=...)`, `xclim.indicators.icclim.<INDEX>(...,
  freq="YS")`, `.to_netcdf()`, dask's default threaded scheduler, in a fresh Python
  process per index (imports excluded; the open is included), once per index and
  chunking. Chunkings (CHUNKINGS): one dask chunk per file (time 365, full grid);
  `chunks={"time": -1, "lat": 30}` (per file: a year by bands of 30 latitudes); whole
  30-year series by bands (`.chunk(time=-1, lat=30)` after opening per file). All are
  tried on SU and the first and last on CDD; the other indices use the fastest on the
  index of the same variable, and every index is reported with its fastest.
- icclim: `icclim.index(index_name=..., in_files=[...], slice_mode="year",
  out_file=...)` (xclim underneath, with icclim's own chunking), once per index.

cirrus's result (the file of its first run) must equal xclim's: the same missing
cells, counts exactly and means and sums within 1e-5 relative, except at most one
cell in 1e5 (a day within a float32 rounding of a threshold may count in one and not
the other), else the case fails. The differences from icclim's are reported (icclim
7 does not define every index as xclim does: its CDD spells run across years).

The I/O floor, per input variable: its stored chunks read (pread) and inflated with
zlib and with libdeflate (the inflater cirrus links; through ctypes), on one thread
and on every core, and netCDF4 reading every value file by file.

Run alone: `benches/.venv/bin/python benches/indices_case.py [REPEAT] [--keep]`.
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
import zlib
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import bench

ROOT = os.environ.get("CIRRUS_BENCH_INDICES") or "/tmp/cirrus-bench-indices"
KEEP = "--keep" in sys.argv or os.environ.get("CIRRUS_BENCH_KEEP") == "1"
YEARS = (1981, 2010)
NLAT, NLON = 180, 360
INSTITUTION, SOURCE, ACTIVITY, EXPERIMENT, MEMBER, GRID, VERSION = (
    "CIRRUS", "CIRRUS-BENCH-1", "CMIP", "historical", "r1i1p1f1", "gn", "v20200101")
TIME_UNITS, CALENDAR = "days since 1850-01-01", "noleap"
FILL = 1e20
VARIABLES = ("tasmax", "tasmin", "pr")
# index, its input variables (the collections), whether its values are counts (compared exactly)
INDICES = [
    ("SU", ("tasmax",), True),
    ("TX", ("tasmax",), False),
    ("CDD", ("pr",), True),
    ("RX5day", ("pr",), False),
    ("PRCPTOT", ("pr",), False),
    ("DTR", ("tasmax", "tasmin"), False),
]
PEER_PYTHON = os.path.join(bench.VENV, "bin", "python")
# xclim's chunkings: one dask chunk per file (a year, the full grid); what
# `open_mfdataset(chunks={"time": -1, "lat": 30})` gives (-1 is per file: a year by
# bands of 30 latitudes, each stored chunk then read once per band); whole 30-year
# series by bands (opened per file, then `.chunk(time=-1, lat=30)`)
CHUNKINGS = {
    "file": {"open": {"time": 365}},
    "file x lat 30": {"open": {"time": -1, "lat": 30}},
    "series x lat 30": {"open": {"time": 365}, "rechunk": {"time": -1, "lat": 30}},
}
# every chunking is timed on these indices ("file x lat 30" reads each chunk six times:
# slowest on SU, and not tried again on CDD, where it takes ~150 s); the other indices
# use the one fastest on the index of the same variable
TRY_CHUNKINGS = {"SU": ["file", "file x lat 30", "series x lat 30"], "CDD": ["file", "series x lat 30"]}
FAMILY = {"TX": "SU", "DTR": "SU", "RX5day": "CDD", "PRCPTOT": "CDD"}
SKIP_ICCLIM = ()
COLD = (("SU", "tasmax"), ("CDD", "pr"))
FLOOR_VARS = ("tasmax", "pr")
FLOOR_INDEX = {"tasmax": "SU", "pr": "CDD"}
CIRRUS_RUNS = 3  # cirrus's timed runs per index after the first: min(repeat, CIRRUS_RUNS)
POLL = 0.02

VAR_ATTRS = {
    "tasmax": {"standard_name": "air_temperature", "long_name": "Daily Maximum Near-Surface Air Temperature",
               "comment": "maximum near-surface (usually, 2 meter) air temperature (add cell_method attribute "
                          "'time: max')",
               "units": "K", "cell_methods": "area: mean time: maximum", "cell_measures": "area: areacella",
               "coordinates": "height"},
    "tasmin": {"standard_name": "air_temperature", "long_name": "Daily Minimum Near-Surface Air Temperature",
               "comment": "minimum near-surface (usually, 2 meter) air temperature (add cell_method attribute "
                          "'time: min')",
               "units": "K", "cell_methods": "area: mean time: minimum", "cell_measures": "area: areacella",
               "coordinates": "height"},
    "pr": {"standard_name": "precipitation_flux", "long_name": "Precipitation",
           "comment": "includes both liquid and solid phases", "units": "kg m-2 s-1",
           "cell_methods": "area: time: mean", "cell_measures": "area: areacella"},
}


# ---------------------------------------------------------------- data


def var_dir(var):
    return os.path.join(ROOT, "data", "CMIP6", ACTIVITY, INSTITUTION, SOURCE, EXPERIMENT, MEMBER, "day", var,
                        GRID, VERSION)


def var_files(var):
    return [os.path.join(var_dir(var), f"{var}_day_{SOURCE}_{EXPERIMENT}_{MEMBER}_{GRID}_{y}0101-{y}1231.nc")
            for y in range(YEARS[0], YEARS[1] + 1)]


def _global_attrs(var, year):
    import numpy as np

    one = np.int32(1)
    return {
        "Conventions": "CF-1.7 CMIP-6.2", "activity_id": ACTIVITY, "branch_method": "standard",
        "creation_date": "2020-01-01T00:00:00Z", "data_specs_version": "01.00.32",
        "experiment": "all-forcing simulation of the recent past", "experiment_id": EXPERIMENT,
        "external_variables": "areacella", "forcing_index": one, "frequency": "day",
        "further_info_url": f"https://furtherinfo.es-doc.org/CMIP6.{INSTITUTION}.{SOURCE}.{EXPERIMENT}.none.{MEMBER}",
        "grid": "regular 1x1 degree latitude-longitude grid", "grid_label": GRID, "initialization_index": one,
        "institution": "cirrus benchmark data (synthetic fields, not model output)",
        "institution_id": INSTITUTION, "license": "CC BY 4.0", "mip_era": "CMIP6", "nominal_resolution": "100 km",
        "parent_activity_id": "CMIP", "parent_experiment_id": "piControl", "parent_mip_era": "CMIP6",
        "parent_source_id": SOURCE, "parent_time_units": TIME_UNITS, "parent_variant_label": MEMBER,
        "physics_index": one, "product": "model-output", "realization_index": one, "realm": "atmos",
        "source": f"{SOURCE} (2020): synthetic fields for the cirrus climate-index benchmark",
        "source_id": SOURCE, "source_type": "AOGCM", "sub_experiment": "none", "sub_experiment_id": "none",
        "table_id": "day", "title": f"{SOURCE} output prepared for CMIP6 (synthetic)", "variable_id": var,
        "variant_label": MEMBER, "member_id": MEMBER,
        "tracking_id": f"hdl:21.14100/cirrus-bench-{var}-{year}",
    }


def _write_year(path, var, data, year):
    import netCDF4
    import numpy as np

    tmp = path + ".tmp"
    nt = data.shape[0]
    lats = -89.5 + np.arange(NLAT)
    lons = 0.5 + np.arange(NLON)
    with netCDF4.Dataset(tmp, "w", format="NETCDF4") as nc:
        nc.createDimension("time", None)
        nc.createDimension("bnds", 2)
        nc.createDimension("lat", NLAT)
        nc.createDimension("lon", NLON)
        t = nc.createVariable("time", "f8", ("time",))
        t.setncatts({"bounds": "time_bnds", "units": TIME_UNITS, "calendar": CALENDAR, "axis": "T",
                     "long_name": "time", "standard_name": "time"})
        start = (year - 1850) * 365.0 + np.arange(nt)
        t[:] = start + 0.5
        tb = nc.createVariable("time_bnds", "f8", ("time", "bnds"))
        tb[:] = np.stack([start, start + 1.0], axis=1)
        for name, vals, units, axis in (("lat", lats, "degrees_north", "Y"), ("lon", lons, "degrees_east", "X")):
            c = nc.createVariable(name, "f8", (name,))
            c.setncatts({"bounds": f"{name}_bnds", "units": units, "axis": axis,
                         "long_name": "Latitude" if name == "lat" else "Longitude",
                         "standard_name": "latitude" if name == "lat" else "longitude"})
            c[:] = vals
            nc.createVariable(f"{name}_bnds", "f8", (name, "bnds"))[:] = np.stack([vals - 0.5, vals + 0.5], axis=1)
        if var != "pr":
            h = nc.createVariable("height", "f8", ())
            h.setncatts({"units": "m", "axis": "Z", "positive": "up", "long_name": "height",
                         "standard_name": "height"})
            h.assignValue(2.0)
        v = nc.createVariable(var, "f4", ("time", "lat", "lon"), zlib=True, complevel=1, shuffle=True,
                              chunksizes=(1, NLAT, NLON), fill_value=np.float32(FILL))
        v.setncatts({**VAR_ATTRS[var], "missing_value": np.float32(FILL)})
        v.set_auto_maskandscale(False)
        v[:] = data
        nc.setncatts(_global_attrs(var, year))
    os.rename(tmp, path)


def _generate(kind):
    """Every year of `kind` ("temperature": tasmax and tasmin; "pr"), in order (the AR(1)
    noise runs on from year to year)."""
    import numpy as np

    rng = np.random.default_rng(18 if kind == "pr" else 81)
    lat = np.deg2rad(-89.5 + np.arange(NLAT))[:, None]
    lon = np.deg2rad(0.5 + np.arange(NLON))[None, :]
    hemi = np.sign(lat)
    frac = (np.arange(365) / 365.0)[:, None, None]
    season = (-np.cos(2 * np.pi * (frac - 0.04)) * hemi).astype("f4")  # +1 in local summer
    noise = rng.normal(0, 3.0, (NLAT, NLON)).astype("f4")
    mean = (302.0 - 0.45 * np.abs(np.rad2deg(lat)) + 2.0 * np.sin(lon) + 1.0 * np.cos(3 * lon)).astype("f4")
    amp = (2.0 + 16.0 * np.abs(np.sin(lat))).astype("f4")
    p_wet = np.clip(0.50 + 0.15 * season + 0.25 * np.cos(lat) ** 4 - 0.1 * np.sin(2 * lon), 0.05, 0.95)
    for year in range(YEARS[0], YEARS[1] + 1):
        if kind == "pr":
            path = var_files("pr")[year - YEARS[0]]
            if os.path.exists(path):
                continue
            wet = rng.random((365, NLAT, NLON), dtype="f4") < p_wet
            amount = rng.gamma(0.8, 8.0, (365, NLAT, NLON)).astype("f4")  # mm/day
            pr = np.where(wet, amount / np.float32(86400.0), np.float32(0.0))
            _write_year(path, "pr", pr, year)
            continue
        paths = [var_files(v)[year - YEARS[0]] for v in ("tasmax", "tasmin")]
        eps = rng.normal(0, 3.0 * np.sqrt(1 - 0.7 ** 2), (365, NLAT, NLON)).astype("f4")
        tas = np.empty((365, NLAT, NLON), "f4")
        for i in range(365):
            noise = np.float32(0.7) * noise + eps[i]
            tas[i] = mean + amp * season[i] + noise
        dtr = (5.0 + 6.0 * np.abs(np.cos(lat)) + np.abs(rng.normal(0, 1.5, (365, NLAT, NLON)))).astype("f4")
        if not os.path.exists(paths[0]):
            _write_year(paths[0], "tasmax", tas + np.float32(0.55) * dtr, year)
        if not os.path.exists(paths[1]):
            _write_year(paths[1], "tasmin", tas - np.float32(0.45) * dtr, year)
    return kind


def ensure_data():
    """The DRS tree (generated once; a file is written under a temporary name and renamed
    when complete, so an interrupted generation resumes)."""
    done = os.path.join(ROOT, ".complete")
    if not os.path.exists(done):
        t0 = time.time()
        for v in VARIABLES:
            os.makedirs(var_dir(v), exist_ok=True)
        with ProcessPoolExecutor(2) as pool:
            list(pool.map(_generate, ["temperature", "pr"]))
        open(done, "w").close()
        print(f"indices: generated {len(VARIABLES)} x 30 files under {ROOT} in {time.time() - t0:.0f} s", flush=True)
    return {v: var_files(v) for v in VARIABLES}


def read_through(files):
    """Read files once (page cache warm); returns bytes and seconds."""
    t0 = time.perf_counter()
    n = 0
    for f in files:
        with open(f, "rb") as fh:
            while b := fh.read(8 << 20):
                n += len(b)
    return n, time.perf_counter() - t0


def evict(files):
    """Drop the files' pages from the page cache (posix_fadvise DONTNEED; no root needed)."""
    for f in files:
        fd = os.open(f, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


# ---------------------------------------------------------------- I/O floor


def chunk_table(path, var):
    """(offset, size) in the file of every stored chunk of `var`."""
    import h5py

    with h5py.File(path, "r") as f:
        d = f[var]
        return [(i.byte_offset, i.size) for i in (d.id.get_chunk_info(k) for k in range(d.id.get_num_chunks()))]


def _libdeflate():
    """libdeflate (the inflater cirrus links) through ctypes, which releases the GIL
    during the call; None when the shared library is not installed."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("deflate")
    if not name:
        return None
    lib = ctypes.CDLL(name)
    lib.libdeflate_alloc_decompressor.restype = ctypes.c_void_p
    lib.libdeflate_free_decompressor.argtypes = [ctypes.c_void_p]
    lib.libdeflate_zlib_decompress.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p,
                                               ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]
    return lib


def _read_inflate(args):
    """pread and inflate the chunks `table` of `path` with `how` ("zlib" or "libdeflate");
    returns the inflated bytes."""
    import ctypes

    path, table, how, chunk_bytes = args
    raw = 0
    fd = os.open(path, os.O_RDONLY)
    lib = _libdeflate() if how == "libdeflate" else None
    d = lib.libdeflate_alloc_decompressor() if lib else None
    out = ctypes.create_string_buffer(chunk_bytes)
    got = ctypes.c_size_t()
    try:
        for off, size in table:
            stored = os.pread(fd, size, off)
            if lib:
                if lib.libdeflate_zlib_decompress(d, stored, size, out, chunk_bytes, ctypes.byref(got)) != 0:
                    raise RuntimeError(f"libdeflate failed on a chunk of {path}")
                raw += got.value
            else:
                raw += len(zlib.decompress(stored))
    finally:
        os.close(fd)
        if d:
            lib.libdeflate_free_decompressor(d)
    return raw


def io_floor(files, var):
    """The I/O floor of reading `var` from `files`: seconds to pread and inflate every
    stored chunk with zlib and with libdeflate, on one thread and on every core (both
    release the GIL; the shuffle is not undone), and for netCDF4 to read every value,
    file by file. Returns ({(how, threads): seconds}, inflated bytes, netCDF4 seconds)."""
    import netCDF4

    tables = [(f, chunk_table(f, var)) for f in files]
    chunk_bytes = NLAT * NLON * 4
    cores = os.cpu_count() or 1
    times, raw = {}, None
    for how in ("zlib", "libdeflate"):
        if how == "libdeflate" and _libdeflate() is None:
            continue
        t0 = time.perf_counter()
        n = sum(_read_inflate((p, t, how, chunk_bytes)) for p, t in tables)
        times[(how, 1)] = time.perf_counter() - t0
        t0 = time.perf_counter()
        with ThreadPoolExecutor(cores) as pool:
            # four tasks per file so the threads stay busy to the end
            parts = [(p, t[i::4], how, chunk_bytes) for p, t in tables for i in range(4)]
            n_all = sum(pool.map(_read_inflate, parts))
        times[(how, cores)] = time.perf_counter() - t0
        if n != n_all or (raw is not None and raw != n):
            raise RuntimeError(f"{how}: inflated {n} and {n_all} bytes")
        raw = n
    t0 = time.perf_counter()
    for f in files:
        with netCDF4.Dataset(f) as nc:
            nc.variables[var].set_auto_maskandscale(False)
            nc.variables[var][:]
    return times, raw, time.perf_counter() - t0


# ---------------------------------------------------------------- cirrus


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def http(url, method="GET", doc=None, headers=None):
    data = json.dumps(doc).encode() if doc is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"content-type": "application/json", **(headers or {})})
    with urllib.request.urlopen(req, timeout=3600) as r:
        return r.status, dict(r.headers), r.read()


class Cirrus:
    """A cirrus release server on the data root with a fresh state directory."""

    def __init__(self, name="cirrus-indices"):
        self.port = bench.free_port()
        self.state = tempfile.mkdtemp(prefix="state-", dir=ROOT)
        self.base = f"http://127.0.0.1:{self.port}"
        argv = [bench.CIRRUS, "serve", "--data", os.path.join(ROOT, "data"), "--listen", f"127.0.0.1:{self.port}",
                "--state", self.state, "--rescan-interval", "0"]
        self.server = bench.Server(name, argv, f"{self.base}/ready")

    def __enter__(self):
        self.server.__enter__()
        return self

    def __exit__(self, *exc):
        self.server.__exit__(*exc)
        shutil.rmtree(self.state, ignore_errors=True)

    def datasets(self):
        doc = json.loads(http(f"{self.base}/datasets")[2])
        return [d["id"] for d in (doc["datasets"] if isinstance(doc, dict) else doc)]

    def run(self, collections, index, download=None):
        """One climate_index job, submitted asynchronously and polled until done: (seconds,
        server CPU seconds, the result file downloaded to `download` or None)."""
        pid = self.server.proc.pid
        inputs = {"collection": ",".join(collections), "index_name": index, "slice_mode": "year"}
        c0 = cpu_seconds(pid)
        t0 = time.perf_counter()
        _, _, body = http(f"{self.base}/processes/climate_index/execution", "POST", {"inputs": inputs},
                          {"Prefer": "respond-async"})
        job = json.loads(body)["jobID"]
        while True:
            st = json.loads(http(f"{self.base}/jobs/{job}")[2])
            if st["status"] in ("successful", "failed", "dismissed"):
                break
            time.sleep(POLL)
        took = time.perf_counter() - t0
        cpu = cpu_seconds(pid) - c0
        if st["status"] != "successful":
            raise RuntimeError(f"cirrus {index} job {st['status']}: {st.get('message')}")
        path = None
        if download:
            files = json.loads(http(f"{self.base}/jobs/{job}/results")[2])["files"]
            if len(files) != 1:
                raise RuntimeError(f"cirrus {index}: {len(files)} result files")
            path = os.path.join(download, files[0]["title"])
            with urllib.request.urlopen(files[0]["href"], timeout=600) as r, open(path, "wb") as fh:
                shutil.copyfileobj(r, fh)
        http(f"{self.base}/jobs/{job}", "DELETE")
        return took, cpu, path


# ---------------------------------------------------------------- peers

PEER_SCRIPT = r"""
import json, os, resource, sys, time, warnings
warnings.filterwarnings("ignore")
t0 = time.perf_counter()
import dask, xarray as xr, xclim, icclim
from xclim.indicators import icclim as ic
imported = time.perf_counter() - t0
spec = json.loads(sys.argv[1])
out = []
for run in spec["runs"]:
    path = run["out"]
    if os.path.exists(path):
        os.remove(path)
    c0, t = time.process_time(), time.perf_counter()
    if run["tool"] == "xclim":
        args = {}
        opened = []
        for var, files in run["inputs"].items():
            ds = xr.open_mfdataset(files, chunks=run["chunks"]["open"], combine="by_coords", data_vars="minimal",
                                   coords="minimal", compat="override", parallel=False)
            opened.append(ds)
            da = ds[var]
            if run["chunks"].get("rechunk"):
                da = da.chunk(run["chunks"]["rechunk"])
            args[var] = da
        res = getattr(ic, run["index"])(**args, freq="YS")
        res.to_netcdf(path)
        for ds in opened:
            ds.close()
    else:
        files = [f for fs in run["inputs"].values() for f in fs]
        ds = icclim.index(index_name=run["index"], in_files=files, slice_mode="year", out_file=path,
                          logs_verbosity="SILENT")
        ds.close()
    out.append({"seconds": time.perf_counter() - t, "cpu": time.process_time() - c0})
print(json.dumps({"runs": out, "import": imported, "xclim": xclim.__version__, "icclim": icclim.__version__,
                  "dask": dask.__version__, "xarray": xr.__version__,
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_peer(runs):
    """Run the peers' computations in one fresh Python process (imports excluded from the times)."""
    proc = subprocess.run([PEER_PYTHON, "-c", PEER_SCRIPT, json.dumps({"runs": runs})], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"peer run failed: {proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- checks


def values(path, name):
    import netCDF4
    import numpy as np

    with netCDF4.Dataset(path) as nc:
        v = nc.variables[name]
        return np.ma.filled(v[:].astype("f8"), np.nan), getattr(v, "units", "")


def compare(mine, theirs, name, exact, strict=True):
    """(max relative difference, cells that differ, cells, units of each, cells where
    theirs is larger) of two results. Raises, when `strict`, if the shapes or the
    missing cells differ, or more than one cell in 1e5 differs beyond the tolerance
    (counts exactly; sums and means within 1e-5 relative: a day whose value sits within
    a float32 rounding of a threshold may count in one and not the other)."""
    import numpy as np

    a, ua = values(mine, name)
    b, ub = values(theirs, name)
    a, b = np.squeeze(a), np.squeeze(b)
    if ua == "K" and ub in ("°C", "degC", "degree_Celsius", "celsius") and name != "DTR":
        b = b + 273.15  # icclim gives mean temperatures in °C
    if a.shape != b.shape:
        raise RuntimeError(f"{name}: shapes {a.shape} and {b.shape}")
    if not np.array_equal(np.isnan(a), np.isnan(b)) and strict:
        raise RuntimeError(f"{name}: missing cells differ ({np.isnan(a).sum()} and {np.isnan(b).sum()})")
    ok = ~np.isnan(a) & ~np.isnan(b)
    diff = np.abs(a[ok] - b[ok])
    rel = float(np.max(diff / np.maximum(np.abs(b[ok]), 1e-12))) if diff.size else 0.0
    bad = diff > (0 if exact else 1e-5 * np.maximum(np.abs(b[ok]), 1e-6))
    ndiff = int(np.count_nonzero(bad))
    larger = int(np.count_nonzero(bad & (b[ok] > a[ok])))
    if strict and ndiff > a.size // 100000:
        raise RuntimeError(f"{name}: {ndiff} of {a.size} cells differ (max rel {rel:.2e}; units {ua} / {ub})")
    return rel, ndiff, a.size, ua, ub, larger


# ---------------------------------------------------------------- the case


def case_indices(rows, repeat):
    files = ensure_data()
    work = tempfile.mkdtemp(prefix="work-", dir=ROOT)
    detail = {}
    try:
        _case(rows, repeat, files, work, detail)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if not KEEP:
            shutil.rmtree(ROOT, ignore_errors=True)
            print(f"indices: removed {ROOT} (--keep or CIRRUS_BENCH_KEEP=1 keeps it)", flush=True)
    return detail


def _case(rows, repeat, files, work, detail):
    sizes = {v: sum(os.path.getsize(f) for f in fs) for v, fs in files.items()}
    for v, fs in files.items():
        n, s = read_through(fs)
        print(f"indices: {v}: {len(fs)} files, {n / 1e9:.2f} GB stored, read in {s:.1f} s ({n / s / 1e6:.0f} MB/s)",
              flush=True)
    mine = os.path.join(work, "cirrus")
    os.makedirs(mine)
    n_cirrus = max(1, min(repeat, CIRRUS_RUNS))

    # cirrus cold: the variable's files evicted from the page cache, a fresh server
    cold = {}
    with Cirrus("cirrus-indices") as c:
        ids = c.datasets()
        by_var = {}
        for v in VARIABLES:
            hit = [i for i in ids if f".day.{v}." in i]
            if len(hit) != 1:
                raise RuntimeError(f"expected one {v} dataset, the server lists {ids}")
            by_var[v] = hit[0]
        if len(ids) != len(VARIABLES):
            raise RuntimeError(f"expected one dataset per variable, the server lists {ids}")
        print(f"indices: cirrus lists {len(ids)} datasets: {', '.join(ids)}", flush=True)
        for index, var in COLD:
            evict(files[var])
            t, cpu, _ = c.run([by_var[var]], index)
            cold[index] = {"seconds": t, "cpu": cpu}
            read_through(files[var])
            print(f"indices: cirrus {index} cold (files evicted from the page cache): {t:.2f} s, CPU {cpu:.1f} s",
                  flush=True)
    for v in VARIABLES:
        read_through(files[v])

    def peer_run(tool, index, vars_, chunking=None):
        tag = "-" + chunking.replace(" ", "") if chunking else ""
        r = {"tool": tool, "index": index, "inputs": {v: files[v] for v in vars_},
             "out": os.path.join(work, f"{tool}-{index}{tag}.nc")}
        if chunking:
            r["chunks"] = CHUNKINGS[chunking]
            r["chunking"] = chunking
        return r

    # per index, interleaved: cirrus (first run, then warm runs), xclim, icclim
    results, best_of = {}, {}
    with Cirrus("cirrus-indices") as c:
        for index, vars_, exact in INDICES:
            first = c.run([by_var[v] for v in vars_], index, download=mine)
            runs = [c.run([by_var[v] for v in vars_], index) for _ in range(n_cirrus)]
            mc = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            print(f"indices: cirrus {index}: first {first[0]:.2f} s, median {mc:.2f} s of "
                  f"{[round(r[0], 2) for r in runs]}, CPU {cpu:.1f} s ({cpu / mc:.2f} cores)", flush=True)
            # xclim: every chunking tried on the indices of TRY_CHUNKINGS, else the chunking
            # fastest on the index of the same variable
            chunkings = TRY_CHUNKINGS.get(index) or [best_of[FAMILY[index]]]
            peer = [peer_run("xclim", index, vars_, ch) for ch in chunkings]
            if index not in SKIP_ICCLIM:
                peer.append(peer_run("icclim", index, vars_))
            res = run_peer(peer)
            xc = {s["chunking"]: r for s, r in zip(peer, res["runs"]) if s["tool"] == "xclim"}
            best = min(xc, key=lambda k: xc[k]["seconds"])
            best_of[index] = best
            icc = next((r for s, r in zip(peer, res["runs"]) if s["tool"] == "icclim"), None)
            # the same computation: cirrus's result against xclim's (fastest chunking) and icclim's
            checks = {"xclim": compare(first[2], next(s["out"] for s in peer if s.get("chunking") == best), index,
                                       exact)}
            if icc:
                # reported, not required: icclim's own definitions may differ from xclim's
                checks["icclim"] = compare(first[2], next(s["out"] for s in peer if s["tool"] == "icclim"), index,
                                           exact, strict=False)
            for s in peer:
                if os.path.exists(s["out"]):
                    os.remove(s["out"])
            results[index] = {
                "vars": vars_, "cirrus_first": first[:2], "cirrus_runs": [r[:2] for r in runs], "cirrus": mc,
                "cirrus_cpu": cpu, "xclim": xc, "xclim_best": best, "icclim": icc, "checks": checks,
                "peer_maxrss_mb": res["maxrss_mb"],
                "versions": {k: res[k] for k in ("xclim", "icclim", "dask", "xarray")},
            }
            print(f"indices: {index}: xclim "
                  + ", ".join(f"'{k}' {r['seconds']:.1f} s (CPU {r['cpu']:.1f} s)" for k, r in xc.items())
                  + (f"; icclim {icc['seconds']:.1f} s (CPU {icc['cpu']:.1f} s)" if icc else "")
                  + "; vs cirrus: "
                  + "; ".join(f"{t} max rel diff {c_[0]:.1e}, {c_[1]} of {c_[2]} cells differ ({c_[5]} larger in "
                              f"{t}), units {c_[3]!r}/{c_[4]!r}" for t, c_ in checks.items()), flush=True)
            os.remove(first[2])

    # the I/O floor of each input variable
    floors = {}
    for v in FLOOR_VARS:
        times, raw, ncread = io_floor(files[v], v)
        floors[v] = {"times": {f"{h} {n}": t for (h, n), t in times.items()}, "raw": raw, "netcdf4": ncread}
        print(f"indices: I/O floor {v}: {sizes[v] / 1e9:.2f} GB stored -> {raw / 1e9:.2f} GB; pread+inflate "
              + ", ".join(f"{h} {n} thread(s) {t:.2f} s ({raw / t / 1e6:.0f} MB/s)" for (h, n), t in times.items())
              + f"; netCDF4 reads every value in {ncread:.2f} s", flush=True)

    # rows
    for index, vars_, _ in INDICES:
        r = results[index]
        size = sum(sizes[v] for v in vars_)
        label = f"{index} ({'+'.join(vars_)}, 30 y)"
        mx = r["xclim"][r["xclim_best"]]["seconds"]
        rows.append(("index vs xclim", f"{label} chunks '{r['xclim_best']}' (5x)", size, r["cirrus"], mx,
                     mx / r["cirrus"]))
        if r["icclim"]:
            mi = r["icclim"]["seconds"]
            rows.append(("index vs icclim", f"{label} (5x)", size, r["cirrus"], mi, mi / r["cirrus"]))
    for index, chunkings in TRY_CHUNKINGS.items():
        for ch in chunkings:
            r = results[index]
            mx = r["xclim"][ch]["seconds"]
            rows.append(("xclim chunkings", f"{index} chunks '{ch}'", sum(sizes[v] for v in r["vars"]), r["cirrus"],
                         mx, mx / r["cirrus"]))
    for index, var in COLD:
        r = results[index]
        rows.append(("index cold (disk)", f"{index}: files evicted; peer col = warm", sizes[var],
                     cold[index]["seconds"], r["cirrus"], r["cirrus"] / cold[index]["seconds"]))
        rows.append(("index first run", f"{index}: fresh server; peer col = warm", sizes[var], r["cirrus_first"][0],
                     r["cirrus"], r["cirrus"] / r["cirrus_first"][0]))
    cores = os.cpu_count() or 1
    for v, f in floors.items():
        index = FLOOR_INDEX[v]
        mc = results[index]["cirrus"]
        for key, t in f["times"].items():
            if key.endswith(f" {cores}"):
                rows.append(("index vs floor", f"{index} vs {key.split()[0]} read+inflate {v}, {cores} thr", f["raw"],
                             mc, t, t / mc))
        rows.append(("index vs floor", f"{index} vs netCDF4 read of {v}", f["raw"], mc, f["netcdf4"],
                     f["netcdf4"] / mc))
    detail.update({"results": results, "cold": cold, "floors": floors, "sizes": sizes, "cirrus_runs": n_cirrus,
                   "cores": cores})
    out = os.path.join(bench.BENCH, "results")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, f"indices-{time.strftime('%Y%m%dT%H%M%S')}.json"), "w") as f:
        json.dump(detail, f, indent=1, default=str)


if __name__ == "__main__":
    rows = []
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    case_indices(rows, int(args[0]) if args else 3)
    print(bench.table(rows))
