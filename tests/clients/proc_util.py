"""Helpers of the processing tests (test_processing_*.py).

- OGC API - Processes calls (`execute`, `run_ok`, `wait_job`) and result downloads;
- the independent oracle: the same operations done with xarray on the *local* files
  (joined in time order, repeated times dropped, as cirrus_ref.Reference does), written
  from the issue and the rook/clisops behaviour notes, never from server code;
- the clisops reference: clisops (PyPI) run on the same local files in a Python that has
  it (clisops pins xarray < 2025.11, which conflicts with this venv's xarray pin, so it
  runs in its own interpreter: $CIRRUS_CLISOPS_PYTHON, else benches/.venv/bin/python,
  else this interpreter if it can import clisops).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import cftime
import numpy as np
import requests
import xarray as xr

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CFT = xr.coders.CFDatetimeCoder(use_cftime=True)

# datasets of ../shared/data/esgf and of `cirrus samples`
MIROC = "CMIP6.ScenarioMIP.MIROC.MIROC6.ssp119.r1i1p1f1.day.tas.gn.v20191016"
HADGEM = "cmip5.output1.MOHC.HadGEM2-ES.rcp85.mon.atmos.Amon.r1i1p1.latest.tas"
EUR22 = "cordex.output.EUR-22.GERICS.MPI-M-MPI-ESM-LR.rcp85.r1i1p1.GERICS-REMO2015.v1.mon.tas.v20191029"
EUR11 = "cordex.output.EUR-11.IPSL.IPSL-IPSL-CM5A-MR.rcp85.r1i1p1.IPSL-WRF381P.v1.day.zg500.v20190919"
CNRM = "CMIP6.ScenarioMIP.CNRM-CERFACS.CNRM-CM6-1.ssp245.r1i1p1f2.Omon.tos.gn.v20190219"
CANESM = "CMIP6.CMIP.CCCma.CanESM5.historical.r1i1p1f1.SImon.siconc.gn.latest"
MPI_O3 = "CMIP6.CMIP.MPI-M.MPI-ESM1-2-LR.historical.r1i1p1f1.AERmon.o3.gn.v20190710"
CESM_CL = "CMIP6.CMIP.NCAR.CESM2.amip.r1i1p1f1.Amon.cl.gn.v20190319"
INM = "CMIP6.ScenarioMIP.INM.INM-CM5-0.ssp245.r1i1p1f1.Amon.rlds.gr1.v20190619"
SYN_DAY = "CMIP6.ScenarioMIP.CIRRUS.CIRRUS-SYN-1.ssp245.r1i1p1f1.day.tas.gn.v20250101"  # noleap
DESC_LAT = "misc/classic_desc_lat.nc"

MONTHS = {m: i + 1 for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])}


# --------------------------------------------------------------------------- HTTP


def execute(srv, process: str, inputs: dict, asynchronous: bool = False, timeout: float = 600) -> requests.Response:
    headers = {"Prefer": "respond-async"} if asynchronous else {}
    return requests.post(f"{srv.url}/processes/{process}/execution", json={"inputs": inputs},
                         headers=headers, timeout=timeout)


def run_ok(srv, process: str, inputs: dict) -> dict:
    """Synchronous execution; the results document."""
    r = execute(srv, process, inputs)
    assert r.status_code == 200, f"{process} {inputs} -> {r.status_code}: {r.text[:800]}"
    doc = r.json()
    assert doc["files"], doc
    return doc


def problem(r: requests.Response) -> dict:
    assert r.headers.get("content-type", "").startswith("application/problem+json"), (
        r.status_code, r.headers.get("content-type"), r.text[:300])
    p = r.json()
    assert p["status"] == r.status_code and p.get("type") and p.get("title"), p
    return p


def wait_job(srv, job_id: str, timeout: float = 300, poll: float = 0.1, seen: list | None = None) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        r = requests.get(f"{srv.url}/jobs/{job_id}", timeout=30)
        assert r.status_code == 200, r.text
        st = r.json()
        if seen is not None:
            seen.append((st["status"], st.get("progress")))
        if st["status"] not in ("accepted", "running"):
            return st
        assert time.monotonic() < deadline, f"job {job_id} still {st['status']} after {timeout} s"
        time.sleep(poll)


def download(url: str, dest: Path) -> Path:
    # identity: the length check below is on the file itself (test_processing_jobs
    # checks what a client that accepts gzip gets)
    r = requests.get(url, timeout=300, headers={"Accept-Encoding": "identity"})
    assert r.status_code == 200, f"{url}: {r.status_code} {r.text[:300]}"
    assert int(r.headers["content-length"]) == len(r.content)
    dest.write_bytes(r.content)
    return dest


def fetch_files(doc: dict, dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for f in doc["files"]:
        p = download(f["href"], dest / f["title"])
        assert p.stat().st_size == f["file:size"], f
        out.append(p)
    return out


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------- opening


def open_nc(path) -> xr.Dataset:
    return xr.open_dataset(path, decode_times=CFT, decode_timedelta=False).load()


def join_time(parts: list[xr.Dataset], tdim: str = "time") -> xr.Dataset:
    if len(parts) == 1:
        return parts[0]
    return xr.concat(parts, dim=tdim, data_vars="minimal", coords="minimal", compat="override",
                     join="override", combine_attrs="override")


def open_out(paths: list[Path]) -> xr.Dataset:
    """Result files (split along time when several) as one dataset."""
    return join_time([open_nc(p) for p in paths])


_LOCAL: dict = {}


def local_ds(server, dsid: str) -> xr.Dataset:
    """The dataset as the local files hold it: files in time order, a record whose
    time is not after the last one already taken dropped (cirrus_ref.Reference)."""
    if dsid not in _LOCAL:
        ref = server.reference(dsid)
        parts = []
        for f, keep in zip(ref.files, ref.kept):
            ds = xr.open_dataset(f, decode_times=CFT, decode_timedelta=False)
            if ref.time_dim is not None and len(ref.files) > 1:
                ds = ds.isel({ref.time_dim: keep})
            parts.append(ds)
        _LOCAL[dsid] = join_time(parts, ref.time_dim or "time").load()
    return _LOCAL[dsid]


def isotimes(da) -> list[str]:
    return [t.isoformat() for t in np.atleast_1d(getattr(da, "values", da))]


# --------------------------------------------------------------------------- xarray oracle


def calendar_of(ds: xr.Dataset, tname: str = "time") -> str:
    return ds[tname].encoding.get("calendar", "standard")


def parse_instant(s: str, cal: str):
    f = [int(float(x)) for x in re.split(r"[-T: ]", s.strip().rstrip("Z")) if x]
    f += [1, 1, 0, 0, 0][len(f) - 1:]
    return cftime.datetime(*f[:6], calendar=cal)


def sel_time(ds: xr.Dataset, time_spec: str, tname: str = "time") -> xr.Dataset:
    """`start/end` (partial dates cover their whole period, open ends allowed) by
    xarray's partial-string slicing; `t1,t2` by exact time steps."""
    if "/" in time_spec:
        a, b = (x.strip() or None for x in time_spec.split("/"))
        return ds.sel({tname: slice(a, b)})
    cal = calendar_of(ds, tname)
    wanted = [parse_instant(s, cal) for s in time_spec.split(",")]
    return ds.sel({tname: sorted(set(wanted))})


def sel_components(ds: xr.Dataset, spec: str, tname: str = "time") -> xr.Dataset:
    keep = np.ones(ds.sizes[tname], bool)
    for part in spec.split("|"):
        key, vals = part.split(":")
        nums = [MONTHS[v.strip().lower()[:3]] if key == "month" and not v.strip().isdigit() else int(v)
                for v in vals.split(",")]
        keep &= np.isin(getattr(ds[tname].dt, key).values, nums)
    return ds.isel({tname: np.nonzero(keep)[0]})


def _bbox(area: str):
    w, s, e, n = (float(x) for x in area.split(","))
    return min(w, e), min(s, n), max(w, e), max(s, n)


def to_frame(x, west_edge: float):
    """clisops' per-value frame change: into [-180, 180] (x > 180 -> x - 360) or
    [0, 360] (x < 0 -> x + 360)."""
    x = np.asarray(x, dtype="f8")
    return np.where(x > 180, x - 360, x) if west_edge < 0 else np.where(x < 0, x + 360, x)


def sel_area_rect(ds: xr.Dataset, area: str, lat: str = "lat", lon: str = "lon") -> xr.Dataset:
    """Rectilinear: latitudes in [S, N] in their own order; longitudes in [W, E] in the
    data's frame when the request fits it, else in the request's frame (-180..180 when
    W < 0, else 0..360), sorted ascending, with their bounds re-expressed."""
    w, s, e, n = _bbox(area)
    lats = ds[lat].values
    yi = np.nonzero((lats >= s) & (lats <= n))[0]
    lons = ds[lon].values.astype("f8")
    fits = lons.min() - 0.5 <= w and e <= lons.max() + 0.5
    conv = lons if fits else to_frame(lons, w)
    xi = np.nonzero((conv >= w) & (conv <= e))[0]
    xi = xi[np.argsort(conv[xi], kind="stable")]
    out = ds.isel({ds[lat].dims[0]: yi, ds[lon].dims[0]: xi})
    if not fits:
        out = out.assign_coords({lon: (ds[lon].dims, conv[xi], ds[lon].attrs)})
        b = ds[lon].attrs.get("bounds")
        if b and b in out:
            out[b] = (out[b].dims, to_frame(out[b].values, w), out[b].attrs)
    return out


def inside_2d(lats, lons, area: str):
    w, s, e, n = _bbox(area)
    lon_ok = (w + np.mod(lons - w, 360.0)) <= e if e - w < 360 else np.ones(lons.shape, bool)
    return (lats >= s) & (lats <= n) & lon_ok


def sel_area_2d(ds: xr.Dataset, area: str, lat: str, lon: str, mask: bool, data_vars=()) -> xr.Dataset:
    """2-D latitude/longitude (rotated pole, curvilinear): the smallest index box that
    holds every point inside the area; with `mask`, the points of `data_vars` outside
    the area are missing."""
    la, lo = ds[lat].values, ds[lon].values
    inside = inside_2d(la, lo, area)
    ys, xs = np.nonzero(inside)
    assert len(ys), f"oracle: no point inside {area}"
    ydim, xdim = ds[lat].dims
    box = {ydim: slice(ys.min(), ys.max() + 1), xdim: slice(xs.min(), xs.max() + 1)}
    out = ds.isel(box)
    if mask:
        ins = xr.DataArray(inside[box[ydim], box[xdim]], dims=(ydim, xdim))
        for v in data_vars:
            out[v] = out[v].where(ins)
    return out


def sel_level(ds: xr.Dataset, spec: str, zname: str) -> xr.Dataset:
    z = ds[zname].values
    tol = 1e-6 * np.maximum(np.abs(z), 1.0)
    if "/" in spec:
        a, b = (x.strip() for x in spec.split("/"))
        lo = float(a) if a else -np.inf
        hi = float(b) if b else np.inf
        lo, hi = min(lo, hi), max(lo, hi)
        idx = np.nonzero((z >= lo - tol) & (z <= hi + tol))[0]
    else:
        vals = [float(x) for x in spec.split(",")]
        idx = np.nonzero([any(abs(zz - v) <= t for v in vals) for zz, t in zip(z, tol)])[0]
    return ds.isel({ds[zname].dims[0]: idx})


# --------------------------------------------------------------------------- comparisons


def assert_same_values(got: xr.DataArray, want: xr.DataArray, what: str = "", exact: bool = True):
    g = np.asarray(got.values)
    w = np.asarray(want.values)
    assert got.dims == want.dims, f"{what}: dims {got.dims} != {want.dims}"
    assert g.shape == w.shape, f"{what}: shape {g.shape} != {w.shape}"
    if g.dtype.kind == "O":  # cftime
        assert [x.isoformat() for x in g.ravel()] == [x.isoformat() for x in w.ravel()], what
    elif exact:
        np.testing.assert_array_equal(g, w, err_msg=what)
    else:
        np.testing.assert_allclose(g.astype("f8"), w.astype("f8"), rtol=2e-6, atol=0, err_msg=what)


def assert_subset_equal(got: xr.Dataset, want: xr.Dataset, names):
    """Variables `names` (data, coordinates, bounds) equal, with time steps."""
    for name in names:
        assert name in got.variables, f"{name} missing from the output ({sorted(got.variables)})"
        assert_same_values(got[name], want[name], name)


# --------------------------------------------------------------------------- clisops


def clisops_python() -> str | None:
    """An interpreter that can `import clisops`, or None."""
    cands = [os.environ.get("CIRRUS_CLISOPS_PYTHON"), str(REPO / "benches" / ".venv" / "bin" / "python"),
             sys.executable]
    for c in cands:
        if not c or not Path(c).exists():
            continue
        probe = subprocess.run([c, "-c", "import clisops, h5netcdf; print(clisops.__version__)"],
                               capture_output=True, text=True, timeout=120)
        if probe.returncode == 0:
            return c
    return None


def run_clisops(python: str, cases: list[dict], workdir: Path, timeout: float = 600) -> dict:
    """Runs clisops_runner.py on `cases` ([{name, op, files, params}]); returns
    {name: {"files": [paths]} or {"error": text}}."""
    workdir.mkdir(parents=True, exist_ok=True)
    spec = workdir / "cases.json"
    spec.write_text(json.dumps({"out": str(workdir), "cases": cases}))
    proc = subprocess.run([python, str(HERE / "clisops_runner.py"), str(spec)], capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, f"clisops runner failed: {proc.stderr[-3000:]}"
    return json.loads((workdir / "results.json").read_text())


def add_months(d, n: int):
    m = d.month - 1 + n
    return cftime.datetime(d.year + m // 12, m % 12 + 1, 1, calendar=d.calendar)


def finite_float(x) -> bool:
    return isinstance(x, float) and math.isfinite(x)


def assert_close(got: xr.DataArray, want: xr.DataArray, what: str, rtol: float, atol: float, ref: str):
    """`got` equals the reference `want` (named `ref` in messages; any dimension order)
    within rtol/atol, with the same missing values."""
    g, w = got.values.astype("f8"), want.transpose(*got.dims).values.astype("f8")
    assert g.shape == w.shape, (what, g.shape, w.shape)
    ng, nw = np.isnan(g), np.isnan(w)
    assert (ng == nw).all(), f"{what}: missing values differ at {int((ng != nw).sum())} points"
    both = ~ng
    bad = both & ~np.isclose(g, w, rtol=rtol, atol=atol)
    if bad.any():
        i = tuple(np.argwhere(bad)[0])
        raise AssertionError(f"{what}: {int(bad.sum())} of {int(both.sum())} values differ; first at {i}: "
                             f"cirrus {g[i]!r}, {ref} {w[i]!r}")
