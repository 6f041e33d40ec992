"""The `climate_index` process (icclim's indices, OGC API - Processes, WPS 1.0.0 and
the CDS API)
compared with xclim 0.62 (`xclim.indicators.icclim.<INDEX>`) run on the same input.

Reference side (written from xclim's and icclim's documentation, never from server
code): the source files of a dataset are opened with xarray (cftime dates), joined
along time, cut with the same `time`/`area` selection as the subset process
(proc_util's oracle), cast to float64 (the stored float32 values, exact arithmetic:
thresholds such as 17 degC are not rounded to float32) and given to the indicator
with the `freq` of the slice mode:

| slice_mode             | freq (periods kept)                                         |
|------------------------|-------------------------------------------------------------|
| year / month           | YS / MS                                                     |
| DJF, MAM, JJA, SON     | QS-DEC (periods starting in month 12, 3, 6, 9)              |
| ONDJFM / AMJJAS        | 2QS-OCT / 2QS-APR (periods starting in October / April)     |
| season:m1,...,mk       | k=1: MS; k=3: QS-<m1>; k=6: 2QS-<m1>; k=12: YS-<m1>;       |
|                        | other k dividing 12: kMS (periods starting in month m1)     |

pandas anchors a multiple of a quarter (2QS-OCT) at the first quarter start on or
before the first time step, so with data starting in January 2QS-OCT gives Jan/Jul
half-years. The reference therefore pads the input in front with missing days back to
the start of the block (k months, aligned on m1) that holds the first day; the padded
days make only that first, incomplete, period missing, which it is anyway.

xclim's default missing check ("any": a period not fully covered or with any missing
day is missing) is the contract, so NaN positions are compared too. Counts must be
equal, other values within 1e-5 relative (temperatures in K), after converting the
output with its `units` attribute.

Data: the CORDEX NAM-22 daily precipitation sample of $CIRRUS_SHARED_DATA (365_day,
rotated pole, two 5-year files) and three synthetic CMIP6 models (climate_data.py:
gregorian with missing days and mixed time units, noleap, 360_day), served by one
cirrus server on both roots.

The percentile indices (TX90p, TN10p, TG90p, R95p, R99p, WSDI, CSDI): day-of-year
percentiles of the base period (taken from the whole series, whatever the request's
`time`) with a 5-day window (xclim's `percentile_doy`, Hyndman & Fan type 8) for the
temperature ones, with `bootstrap=True` when the studied period overlaps the base
period (what icclim does); the 95th/99th percentile (type 8) of the wet days
(>= 1 mm/day) of the base period for R95p/R99p. cirrus bootstraps in blocks of twelve
months starting with the first month of the slice mode's periods; for the 3-month
seasons the reference therefore uses QS-<first month> instead of QS-DEC (xclim's
blocks follow the anchor of `freq`). Bootstrapped counts are means of counts, so they
are compared within 1e-5 relative.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import sys
import warnings
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import cftime
import numpy as np
import pytest
import requests
import xarray as xr

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import xclim
    from xclim.core.calendar import percentile_doy
    from xclim.core.units import convert_units_to, units2pint
    from xclim.indicators import icclim as xic

from climate_data import MODELS, dataset_id, write_climate_root
from conftest import shared_data
from proc_util import (CFT, HADGEM, add_months, execute, fetch_files, isotimes, join_time, open_nc, problem,
                       run_ok, sel_area_2d, sel_area_rect, sel_time, wait_job)

PROCESS = "climate_index"
CDS_COLLECTION = "sis-extreme-indices-cmip6"
CDS_KEY = "secret-ci"
NAM22 = "cordex.output.NAM-22.OURANOS.NOAA-GFDL-GFDL-ESM2M.rcp45.r1i1p1.OURANOS-CRCM5.v1.day.pr.v20200831"
NAM22_DIR = "cordex/output/NAM-22/OURANOS/NOAA-GFDL-GFDL-ESM2M/rcp45/r1i1p1/OURANOS-CRCM5/v1/day/pr/v20200831"
SOURCES = {"A": "CIRRUS-CI-A", "B": "CIRRUS-CI-B", "C": "CIRRUS-CI-C"}
ML = "{urn:ietf:params:xml:ns:metalink}"
INPUT_NAMES = {"collection", "index_name", "slice_mode", "time", "area", "out_unit", "base_period_time_range"}

TEMP = ["TG", "TX", "TN", "DTR", "SU", "TR", "FD", "ID", "GD4", "HD17", "CSU", "CFD"]
PRECIP = ["CDD", "CWD", "RR1", "R10mm", "R20mm", "SDII", "PRCPTOT", "RX1day", "RX5day"]
PERCENTILE = ["TX90p", "TN10p", "TG90p", "R95p", "R99p", "WSDI", "CSDI"]
DOY_PERCENTILE = {"TX90p", "TN10p", "TG90p", "WSDI", "CSDI"}
# index -> the variables xclim takes (in the order of its parameters)
VARS = {
    "TG": ("tas",), "TX": ("tasmax",), "TN": ("tasmin",), "DTR": ("tasmin", "tasmax"), "SU": ("tasmax",),
    "TR": ("tasmin",), "FD": ("tasmin",), "ID": ("tasmax",), "GD4": ("tas",), "HD17": ("tas",),
    "CSU": ("tasmax",), "CFD": ("tasmin",), **{p: ("pr",) for p in PRECIP},
    "TX90p": ("tasmax",), "TN10p": ("tasmin",), "TG90p": ("tas",), "R95p": ("pr",), "R99p": ("pr",),
    "WSDI": ("tasmax",), "CSDI": ("tasmin",),
}
COUNTS = {"SU", "TR", "FD", "ID", "CSU", "CFD", "CDD", "CWD", "RR1", "R10mm", "R20mm",
          "TX90p", "TN10p", "TG90p", "R95p", "R99p", "WSDI", "CSDI"}
CANONICAL = {n.lower(): n for n in VARS}

MON = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
SEASONS = {"DJF": (12, 3), "MAM": (3, 3), "JJA": (6, 3), "SON": (9, 3), "ONDJFM": (10, 6), "AMJJAS": (4, 6)}
RTOL = 1e-5


# --------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    src: str  # "NAM22" or a key of SOURCES
    index: str  # as requested (index_name)
    mode: str = "year"
    time: str | None = None
    area: str | None = None
    out_unit: str | None = None
    base: str | None = None  # base_period_time_range
    collection: tuple | None = None  # explicit collection value (else the index's datasets)

    @property
    def name(self) -> str:  # the canonical index name (the output variable)
        return CANONICAL[self.index.lower()]

    @property
    def label(self) -> str:
        mode = self.mode.replace("season:", "season").replace(",", "-")
        parts = [self.src, self.index, "season7-6" if mode == "season7-8-9-10-11-12-1-2-3-4-5-6" else mode]
        if self.time:
            parts.append("time")
        if self.area:
            parts.append("area" + ("X0" if self.area.startswith("-") and self.src != "NAM22" else ""))
        if self.out_unit:
            parts.append(self.out_unit.replace("/", "per"))
        return "-".join(parts)


def _cases() -> list[Case]:
    c: list[Case] = []
    # 1. CORDEX NAM-22 precipitation (365_day, rotated pole, two files)
    for mode in ["year", "month", "DJF", "JJA", "ONDJFM", "season:11,12,1"]:
        c += [Case("NAM22", i, mode) for i in PRECIP]
    c += [Case("NAM22", i, "year", time="2052-07-15/2059-03-10") for i in PRECIP]
    for mode in ["month", "DJF", "ONDJFM"]:
        c += [Case("NAM22", i, mode, time="2052-07-15/2059-03-10") for i in ("CDD", "RX5day")]
    c += [Case("NAM22", i, "year", area="-130,25,-80,62") for i in ("PRCPTOT", "RX5day", "CWD")]
    c.append(Case("NAM22", "RX1day", "JJA", out_unit="mm/day"))
    c.append(Case("NAM22", "CDD", "ONDJFM", time="2052-07-15/2059-03-10", area="-130,25,-80,62"))
    # 2. synthetic CMIP6: every index by year on each calendar
    for s in SOURCES:
        c += [Case(s, i, "year") for i in TEMP + PRECIP]
    c += [Case("A", i, "month") for i in TEMP + PRECIP]
    for s in ("B", "C"):
        c += [Case(s, i, "month") for i in ("TG", "SU", "CDD", "RX5day")]
    # every slice mode on the gregorian model, the ones that cross a year or span two
    # quarters on the others
    for mode in SEASONS:
        c += [Case("A", i, mode) for i in ("TG", "SU", "CFD", "CDD", "RX5day")]
    for s in ("B", "C"):
        for mode in ("DJF", "ONDJFM", "AMJJAS"):
            c += [Case(s, i, mode) for i in ("TG", "CFD", "RX5day")]
        c += [Case(s, "SU", mode) for mode in ("MAM", "JJA", "SON")]
    c += [Case("A", "DTR", mode) for mode in SEASONS]
    for mode in ["season:6,7,8,9", "season:12,1", "season:11,12,1"]:
        c += [Case("B", i, mode) for i in ("TG", "CSU", "RX5day")]
    # a July-June year, and a one-month season (February of 30 days in 360_day)
    c += [Case("B", i, "season:7,8,9,10,11,12,1,2,3,4,5,6") for i in ("PRCPTOT", "CDD")]
    c += [Case("C", i, "season:2") for i in ("TG", "FD")]
    for s in ("A", "C"):
        c += [Case(s, i, "year", out_unit="degC") for i in ("TG", "TX", "TN")]
    c.append(Case("A", "TG", "month", out_unit="degC"))
    c += [Case("A", i, "year", area="60,-25,250,50") for i in ("TG", "SU", "PRCPTOT", "DTR")]
    c += [Case("A", i, "JJA", area="-60,10,60,75") for i in ("TG", "RX5day")]
    for mode in ("year", "DJF"):
        c += [Case("C", i, mode, time="2000-03-15/2007-10-20") for i in ("SU", "CDD", "RX5day")]
    # across CIRRUS-CI-A's tasmax files with different time units
    c.append(Case("A", "SU", "month", time="2001-11-20/2002-02-10"))
    c.append(Case("A", "CSU", "year", time="2000-01-01/2003-12-31"))
    # open-ended time ranges
    c.append(Case("C", "RX1day", "month", time="/1999-02-15"))
    c.append(Case("B", "ID", "DJF", time="2006-12-10/"))
    # index_name is case-insensitive; DTR with its collections in either order and as a comma list
    c.append(Case("B", "su", "year"))
    c.append(Case("B", "dtr", "year", collection=(dataset_id("CIRRUS-CI-B", "tasmin"),
                                                  dataset_id("CIRRUS-CI-B", "tasmax"))))
    c.append(Case("C", "DTR", "month", collection=(",".join([dataset_id("CIRRUS-CI-C", "tasmax"),
                                                             dataset_id("CIRRUS-CI-C", "tasmin")]),)))
    return c


CASES = _cases()
PCT_CASES = [Case("B", i, "year", base="1998-01-01/2003-12-31") for i in ("TX90p", "TN10p", "TG90p", "WSDI", "CSDI")]
PCT_CASES += [Case("NAM22", i, "year", base="2051-01-01/2055-12-31") for i in ("R95p", "R99p")]
PCT_CASES += [Case("C", "TX90p", "JJA", base="1999-01-01/2004-12-30")]
PCT_CASES += [
    # standard calendar: day 366 of the base period's leap year (2000), missing days
    Case("A", "TX90p", base="1998-01-01/2003-12-31"),
    Case("A", "TN10p", "month", base="1999-01-01/2004-12-31"),
    Case("A", "WSDI", base="2000-01-01/2004-12-31"),
    Case("A", "CSDI", "DJF", base="1998-01-01/2003-12-31"),
    Case("A", "TG90p", "season:4,5,6,7,8,9", base="1998-01-01/2003-12-31"),
    # a studied period outside the base period: no bootstrap
    Case("B", "TX90p", time="2004-01-01/2009-12-31", base="1998-01-01/2003-12-31"),
    Case("NAM22", "R95p", "JJA", base="2051-01-01/2055-12-31"),
]


def collection_of(case: Case):
    if case.collection is not None:
        return case.collection[0] if len(case.collection) == 1 else list(case.collection)
    if case.src == "NAM22":
        return NAM22
    ids = [dataset_id(SOURCES[case.src], v) for v in VARS[case.name]]
    return ids[0] if len(ids) == 1 else ids[::-1]  # DTR: [tasmax, tasmin]


def inputs_of(case: Case) -> dict:
    inputs = {"collection": collection_of(case), "index_name": case.index}
    if case.mode != "year" or case.src == "B":  # the default slice_mode, sent or not
        inputs["slice_mode"] = case.mode
    for key, val in (("time", case.time), ("area", case.area), ("out_unit", case.out_unit),
                     ("base_period_time_range", case.base)):
        if val is not None:
            inputs[key] = val
    return inputs


# --------------------------------------------------------------------------- the server


@dataclass
class Env:
    srv: object
    files: dict  # dataset id -> [local files in time order]
    tmp: Path
    results: dict = field(default_factory=dict)  # case -> (path, dataset)
    pending: dict = field(default_factory=dict)  # case -> Future of the downloaded path
    sources: dict = field(default_factory=dict)  # (dataset id, time, area) -> xr.Dataset
    refs: dict = field(default_factory=dict)  # case -> reference DataArray


def selected_cases(request) -> list[Case]:
    """The cases of this module's selected tests, in run order."""
    out = []
    for item in request.session.items:
        cs = getattr(item, "callspec", None)
        if item.module is sys.modules[__name__] and cs is not None and isinstance(cs.params.get("case"), Case):
            out.append(cs.params["case"])
    return list(dict.fromkeys(out))


@pytest.fixture(scope="module")
def climate(request, start_server, tmp_path_factory) -> Env:
    root = tmp_path_factory.mktemp("climate-data")
    files = write_climate_root(root)
    esgf = shared_data() / "esgf"
    nam = sorted((esgf / NAM22_DIR).glob("*.nc"))
    assert len(nam) == 2, f"the NAM-22 pr sample (two files) is not under {esgf / NAM22_DIR}"
    files[NAM22] = nam
    srv = start_server([root, esgf], name="climate", env={"CIRRUS_API_KEYS": f"alice:{CDS_KEY}"})
    procs = {p["id"] for p in srv.json("/processes")["processes"]}
    if PROCESS not in procs:
        pytest.fail(f"{srv.url}/processes does not offer {PROCESS!r} (it has {sorted(procs)})", pytrace=False)
    listed = {d["id"] for d in srv.json("/datasets")["datasets"]}
    missing = sorted(set(files) - listed)
    assert not missing, f"datasets not served: {missing}"
    env = Env(srv, files, tmp_path_factory.mktemp("climate-results"))
    # The selected cases are executed (synchronous requests, two at a time) in the
    # background while the tests compute their xclim references; each test waits for
    # its own download and opens it (netCDF4 only ever in the main thread).
    pool = ThreadPoolExecutor(max_workers=2)
    for case in selected_cases(request):
        env.pending[case] = pool.submit(download_case, srv, case, result_dir(env, case))
    yield env
    pool.shutdown(wait=True, cancel_futures=True)


# --------------------------------------------------------------------------- reference (xclim)


def source(env: Env, dsid: str, time: str | None, area: str | None) -> xr.Dataset:
    """The dataset's files joined along time, with the request's time and area."""
    key = (dsid, time, area)
    if key not in env.sources:
        parts = [xr.open_dataset(f, decode_times=CFT, decode_timedelta=False) for f in env.files[dsid]]
        ds = join_time(parts).load()
        if time:
            ds = sel_time(ds, time)
        if area:
            if ds["lat"].ndim == 1:
                ds = sel_area_rect(ds, area)
            else:
                ds = sel_area_2d(ds, area, "lat", "lon", False)
        env.sources[key] = ds
    return env.sources[key]


def source_vars(env: Env, case: Case) -> dict[str, xr.DataArray]:
    """variable -> float64 DataArray of the case's input."""
    out = {}
    if case.src == "NAM22":
        ids = {"pr": NAM22}
    else:
        ids = {v: dataset_id(SOURCES[case.src], v) for v in VARS[case.name]}
    for var, dsid in ids.items():
        da = source(env, dsid, case.time, case.area)[var]
        f = da.astype("f8")
        f.attrs = dict(da.attrs)
        out[var] = f
    return out


def parse_mode(mode: str):
    """(first month, number of months) of a season, or None for year/month."""
    if mode in ("year", "month"):
        return None
    if mode in SEASONS:
        return SEASONS[mode]
    months = [int(x) for x in mode.removeprefix("season:").split(",")]
    return months[0], len(months)


def plan(mode: str) -> tuple[str, int | None, int, bool]:
    """(freq, month the kept periods start in or None, months per period, pad)."""
    if mode == "year":
        return "YS", None, 12, False
    if mode == "month":
        return "MS", None, 1, False
    m1, k = parse_mode(mode)
    if k == 3:
        return f"QS-{MON[m1 - 1]}", m1, 3, False
    if k == 12:
        return f"YS-{MON[m1 - 1]}", m1, 12, False
    if k == 1:
        return "MS", m1, 1, False
    if k == 6:
        return f"2QS-{MON[m1 - 1]}", m1, 6, True
    assert 12 % k == 0, f"test setup: no reference for a {k}-month season"
    return f"{k}MS", m1, k, True


def pad_front(da: xr.DataArray, m1: int, k: int) -> xr.DataArray:
    """Missing days in front, back to the first day of the k-month block (aligned on
    month m1) that holds the first time step."""
    t0 = da["time"].values[0]
    y, m = t0.year, t0.month
    while (m - m1) % k:
        m -= 1
        if m == 0:
            y, m = y - 1, 12
    start = type(t0)(y, m, 1, t0.hour, t0.minute, t0.second, calendar=t0.calendar)
    n = (t0 - start).days
    if n <= 0:
        return da
    pad = [start + timedelta(days=i) for i in range(n)]
    out = da.reindex(time=np.concatenate([np.array(pad, dtype=object), da["time"].values]))
    out.attrs = dict(da.attrs)
    return out


def percentiles(env: Env, case: Case) -> dict:
    """The percentiles of the base period, from the whole series (not limited by the
    request's `time`)."""
    arrays = source_vars(env, dataclasses.replace(case, time=None))
    b0, b1 = case.base.split("/")
    name = case.name
    if name in ("R95p", "R99p"):
        pr = arrays["pr"]
        base = pr.sel(time=slice(b0, b1))
        wet = float(convert_units_to("1 mm/d", pr, context="hydro"))
        q = 0.95 if name == "R95p" else 0.99
        per = base.where(base >= wet).quantile(q, dim="time", method="median_unbiased").drop_vars("quantile")
        per.attrs["units"] = pr.attrs["units"]
        return {"pr_per": per}
    var = VARS[name][0]
    p = 10 if name in ("TN10p", "CSDI") else 90
    per = percentile_doy(arrays[var].sel(time=slice(b0, b1)), window=5, per=p).sel(percentiles=p)
    return {f"{var}_per": per}


def reference(env: Env, case: Case) -> xr.DataArray:
    if case in env.refs:
        return env.refs[case]
    arrays = source_vars(env, case)
    freq, m1, k, pad = plan(case.mode)
    kwargs = dict(arrays)
    if case.base:
        kwargs.update(percentiles(env, case))
        if case.name in DOY_PERCENTILE and case.time is None:
            # years of the studied period inside the base period are bootstrapped (as
            # icclim does), in blocks of twelve months starting with the period's
            # first month (cirrus's blocks; xclim's follow `freq`'s anchor)
            kwargs["bootstrap"] = True
            if m1 is not None and k == 3:
                freq = f"QS-{MON[m1 - 1]}"

    if pad:
        for v in arrays:
            kwargs[v] = pad_front(arrays[v], m1, k)
    opts = {"data_validation": "log", "cf_compliance": "log", "run_length_ufunc": True}
    with warnings.catch_warnings(), xclim.set_options(**opts):
        warnings.simplefilter("ignore")
        out = getattr(xic, case.name)(**kwargs, freq=freq)
    if m1 is not None:
        out = out.isel(time=np.nonzero(out["time"].dt.month.values == m1)[0])
    if case.out_unit:
        out = convert_units_to(out, case.out_unit)
    env.refs[case] = out
    return out


# --------------------------------------------------------------------------- the server's answer


_DIRS = itertools.count()


def result_dir(env: Env, case: Case) -> Path:
    safe = re.sub(r"[^\w.-]", "_", case.label)
    return env.tmp / f"{next(_DIRS):03d}-{safe}"


def download_case(srv, case: Case, dest: Path) -> Path:
    doc = run_ok(srv, PROCESS, inputs_of(case))
    assert len(doc["files"]) == 1, [f["title"] for f in doc["files"]]
    [path] = fetch_files(doc, dest)
    return path


def result(env: Env, case: Case) -> tuple[Path, xr.Dataset]:
    if case not in env.results:
        fut = env.pending.pop(case, None)
        path = fut.result() if fut is not None else download_case(env.srv, case, result_dir(env, case))
        env.results[case] = (path, open_nc(path))
    return env.results[case]


# --------------------------------------------------------------------------- comparison


def is_temperature(units: str) -> bool:
    return units2pint(units).dimensionality == units2pint("K").dimensionality and units not in ("K", "kelvin")


def values_in(da: xr.DataArray, units: str) -> np.ndarray:
    """da's values in `units` (float64); temperatures in K."""
    if "units" not in da.attrs:
        raise AssertionError(f"{da.name}: no units attribute")
    out = convert_units_to(da.astype("f8"), units, context="hydro")
    return np.asarray(out.values, dtype="f8")


def cell_text(want: xr.DataArray, idx: tuple) -> str:
    t = want["time"].values[idx[0]].isoformat()
    cell = dict(zip(want.dims[1:], (int(i) for i in idx[1:])))
    where = []
    for c in ("lat", "lon"):
        if c in want.coords:
            sel = {d: i for d, i in cell.items() if d in want[c].dims}
            where.append(f"{c}={float(want[c].isel(sel)):.2f}")
    return f"period {t}, cell {cell} ({', '.join(where)})"


def compare(got_ds: xr.Dataset, want: xr.DataArray, case: Case):
    name = case.name
    what = f"{case.label} [{name}, slice_mode={case.mode}, {case.src}]"
    assert name in got_ds.data_vars, f"{what}: no variable {name!r} in the output ({sorted(got_ds.data_vars)})"
    got = got_ds[name]
    assert got.dims == want.dims, f"{what}: dims {got.dims} != xclim's {want.dims}"
    gt, wt = isotimes(got_ds["time"]), isotimes(want["time"])
    if gt != wt:
        first = next((i for i, (a, b) in enumerate(zip(gt, wt)) if a != b), min(len(gt), len(wt)))
        pytest.fail(f"{what}: periods differ: {len(gt)} periods {gt[:1]}..{gt[-1:]} vs xclim's {len(wt)} "
                    f"{wt[:1]}..{wt[-1:]}; first difference at #{first}: "
                    f"{gt[first] if first < len(gt) else '-'} vs {wt[first] if first < len(wt) else '-'}")
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    units = want.attrs["units"]
    if is_temperature(units):
        units = "K"
    g = values_in(got, units)
    w = values_in(want, units)
    problems = []
    ng, nw = np.isnan(g), np.isnan(w)
    if (ng != nw).any():
        bad = np.argwhere(ng != nw)
        i = tuple(bad[0])
        problems.append(f"missing values differ at {len(bad)} points (cirrus NaN: {int(ng.sum())}, xclim NaN: "
                        f"{int(nw.sum())}); first: {cell_text(want, i)}: cirrus {g[i]!r}, xclim {w[i]!r}")
    both = ~ng & ~nw
    # bootstrapped counts are means of counts: continuous values
    if name in COUNTS and not (case.base and name in DOY_PERCENTILE):
        diff = both & (g != w)
    else:
        diff = both & ~np.isclose(g, w, rtol=RTOL, atol=0.0)
    if diff.any():
        bad = np.argwhere(diff)
        i = tuple(bad[0])
        ad = np.abs(g - w)[diff]
        rd = (np.abs(g - w) / np.maximum(np.abs(w), 1e-300))[diff]
        problems.append(f"{len(bad)} of {int(both.sum())} values differ (max abs diff {ad.max():.6g} {units}, "
                        f"max rel diff {rd.max():.3g}); first: {cell_text(want, i)}: cirrus {g[i]!r}, xclim {w[i]!r}")
    assert not problems, f"{what}:\n  " + "\n  ".join(problems)


def period_months(case: Case) -> int:
    return plan(case.mode)[2]


def check_time_bounds(got_ds: xr.Dataset, case: Case):
    t = got_ds["time"]
    bname = t.attrs.get("bounds") or t.encoding.get("bounds")
    assert bname and bname in got_ds.variables, f"{case.label}: time has no bounds ({dict(t.attrs)})"
    b = got_ds[bname].values
    starts = list(t.values)
    assert b.shape == (len(starts), 2), b.shape
    assert isotimes(b[:, 0]) == [s.isoformat() for s in starts], f"{case.label}: lower time bounds != period starts"
    n = period_months(case)
    assert isotimes(b[:, 1]) == [add_months(s, n).isoformat() for s in starts], (
        f"{case.label}: upper time bounds != starts of the next periods")


def check_grid(env: Env, got_ds: xr.Dataset, case: Case):
    dsid = NAM22 if case.src == "NAM22" else dataset_id(SOURCES[case.src], VARS[case.name][0])
    src = source(env, dsid, case.time, case.area)
    names = ["rlat", "rlon", "lat", "lon"] if case.src == "NAM22" else ["lat", "lon"]
    for n in names:
        assert n in got_ds.variables, f"{case.label}: {n} missing from the output ({sorted(got_ds.variables)})"
        np.testing.assert_allclose(got_ds[n].values, src[n].values, rtol=0, atol=1e-9, err_msg=f"{case.label}: {n}")


# --------------------------------------------------------------------------- values vs xclim


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
def test_index_equals_xclim(climate, case):
    want = reference(climate, case)
    _path, got = result(climate, case)
    compare(got, want, case)
    check_time_bounds(got, case)
    check_grid(climate, got, case)


@pytest.mark.parametrize("case", PCT_CASES, ids=[c.label for c in PCT_CASES])
def test_percentile_index_equals_xclim(climate, case):
    want = reference(climate, case)
    _path, got = result(climate, case)
    compare(got, want, case)
    check_time_bounds(got, case)


def test_references_are_not_trivial(climate):
    """The cases exercise something: counts that are nonzero somewhere, periods that
    are missing because of missing days or incomplete coverage, wet days >= 20 mm."""
    for case in (Case("A", "SU"), Case("A", "FD"), Case("A", "ID"), Case("A", "TR"), Case("A", "CSU"),
                 Case("A", "CFD"), Case("B", "R20mm"), Case("NAM22", "R10mm"), Case("C", "HD17")):
        ref = reference(climate, case)
        assert float(ref.max()) > 0, case.label
    a = reference(climate, Case("A", "TG", "month"))
    assert int(a.isnull().sum()) == 2, "CIRRUS-CI-A's missing days make 2 monthly TG values missing"
    djf = reference(climate, Case("NAM22", "CDD", "DJF"))
    assert bool(djf.isel(time=0).isnull().all()) and bool(djf.isel(time=-1).isnull().all())


# --------------------------------------------------------------------------- output metadata

META_CASES = [Case("A", "SU"), Case("A", "GD4", "month"), Case("B", "TG", "DJF"), Case("C", "PRCPTOT"),
              Case("C", "DTR", "ONDJFM"), Case("NAM22", "RX5day", "DJF"), Case("NAM22", "SDII"),
              Case("A", "TX", out_unit="degC")]


def same_units(a: str, b: str) -> bool:
    pa, pb = units2pint(a), units2pint(b)
    if pa.dimensionality != pb.dimensionality:
        return False
    if is_temperature(a) or is_temperature(b):
        return str(pa) == str(pb)
    return abs((1 * pa).to(pb).magnitude - 1) < 1e-12


def calendar_alias(c: str) -> str:
    c = (c or "standard").lower()
    return {"gregorian": "standard", "365_day": "noleap", "366_day": "all_leap"}.get(c, c)


@pytest.mark.parametrize("case", META_CASES, ids=[c.label for c in META_CASES])
def test_output_metadata(climate, case):
    path, got = result(climate, case)
    want = reference(climate, case)
    name = case.name
    raw = xr.open_dataset(path, decode_times=False, mask_and_scale=False)
    v = raw[name]
    assert v.dtype == np.float32, v.dtype
    assert "_FillValue" in v.attrs or "_FillValue" in v.encoding, dict(v.attrs)
    grid_dims = ("rlat", "rlon") if case.src == "NAM22" else ("lat", "lon")
    assert v.dims == ("time", *grid_dims), v.dims
    # units and long_name as xclim's
    assert same_units(v.attrs.get("units", ""), want.attrs["units"]), (v.attrs.get("units"), want.attrs["units"])
    assert v.attrs.get("long_name", "").lower() == want.attrs["long_name"].lower(), (
        v.attrs.get("long_name"), want.attrs["long_name"])
    cm = v.attrs.get("cell_methods", "")
    assert re.search(r"\btime: \w+", cm), f"cell_methods {cm!r}"
    # time in the input's units (the earliest file's) and calendar
    dsid = NAM22 if case.src == "NAM22" else dataset_id(SOURCES[case.src], VARS[name][-1])
    first = xr.open_dataset(climate.files[dsid][0], decode_times=False)["time"]
    cal = first.attrs.get("calendar", "standard")
    units = raw["time"].attrs.get("units", "")
    assert [d.isoformat() for d in cftime.num2date([0.0, 1.0], units, cal)] == [
        d.isoformat() for d in cftime.num2date([0.0, 1.0], first.attrs["units"], cal)], (units, first.attrs["units"])
    assert calendar_alias(raw["time"].attrs.get("calendar")) == calendar_alias(first.attrs.get("calendar")), (
        raw["time"].attrs.get("calendar"), first.attrs.get("calendar"))
    check_time_bounds(got, case)
    if case.src == "NAM22":
        assert v.attrs.get("grid_mapping") == "rotated_pole", v.attrs
        assert "rotated_pole" in raw.variables
        assert raw["rotated_pole"].attrs.get("grid_mapping_name") == "rotated_latitude_longitude"
        coords = set(v.attrs.get("coordinates", "").split()) | set(v.encoding.get("coordinates", "").split())
        assert {"lat", "lon"} <= coords | set(got[name].coords), (v.attrs, list(got[name].coords))
    else:
        lat = got["lat"].values
        assert (np.diff(lat) < 0).all() if MODELS[SOURCES[case.src]]["lat_desc"] else (np.diff(lat) > 0).all(), lat


def test_async_job(climate, tmp_path):
    """OGC API - Processes asynchronous execution: 201, job polled, results."""
    case = Case("C", "CWD", "SON")
    r = execute(climate.srv, PROCESS, inputs_of(case), asynchronous=True)
    assert r.status_code == 201, r.text[:500]
    job = r.json()["jobID"]
    st = wait_job(climate.srv, job, timeout=300)
    assert st["status"] == "successful", st
    res = requests.get(f"{climate.srv.url}/jobs/{job}/results", timeout=60)
    assert res.status_code == 200, res.text[:500]
    paths = fetch_files(res.json(), tmp_path)
    assert len(paths) == 1, paths
    got = open_nc(paths[0])
    compare(got, reference(climate, case), case)
    check_time_bounds(got, case)


# --------------------------------------------------------------------------- process descriptions, WPS


def test_ogc_process_description(climate):
    srv = climate.srv
    listed = {p["id"]: p for p in srv.json("/processes")["processes"]}
    assert PROCESS in listed
    desc = srv.json(f"/processes/{PROCESS}")
    assert desc["id"] == PROCESS
    inputs = desc["inputs"]
    names = set(inputs) if isinstance(inputs, dict) else {i["id"] for i in inputs}
    assert INPUT_NAMES <= names, f"inputs {sorted(names)} lack {sorted(INPUT_NAMES - names)}"


def test_wps_capabilities_and_describe(climate):
    from owslib.wps import WebProcessingService

    wps = WebProcessingService(climate.srv.url + "/wps", version="1.0.0")
    assert PROCESS in {p.identifier for p in wps.processes}
    p = wps.describeprocess(PROCESS)
    inputs = {i.identifier: i for i in p.dataInputs}
    assert INPUT_NAMES <= set(inputs), sorted(inputs)
    assert inputs["collection"].minOccurs == 1 and inputs["collection"].maxOccurs > 1
    assert inputs["index_name"].minOccurs == 1
    assert {o.identifier for o in p.processOutputs} >= {"output"}


def test_wps_execute_dtr_two_collections(climate, tmp_path):
    """WPS 1.0.0 Execute (OWSLib, asynchronous) with `collection` given twice."""
    from owslib.wps import ASYNC, WebProcessingService, monitorExecution

    case = Case("B", "DTR", "JJA")
    wps = WebProcessingService(climate.srv.url + "/wps", version="1.0.0")
    inputs = [("collection", dataset_id("CIRRUS-CI-B", "tasmax")), ("collection", dataset_id("CIRRUS-CI-B", "tasmin")),
              ("index_name", "DTR"), ("slice_mode", "JJA")]
    execution = wps.execute(PROCESS, inputs=inputs, output=[("output", True)], mode=ASYNC)
    monitorExecution(execution, sleepSecs=0.2)
    assert execution.status == "ProcessSucceeded", [e.text for e in execution.errors]
    refs = {o.identifier: o.reference for o in execution.processOutputs}
    meta = ET.fromstring(requests.get(refs["output"], timeout=60).content)
    urls = [f.findtext(f"{ML}metaurl") for f in meta.iter(f"{ML}file")]
    assert len(urls) == 1, urls
    p = tmp_path / "dtr.nc"
    p.write_bytes(requests.get(urls[0], timeout=120, headers={"Accept-Encoding": "identity"}).content)
    compare(open_nc(p), reference(climate, case), case)


# --------------------------------------------------------------------------- errors


def detail_of(r: requests.Response) -> str:
    assert r.status_code == 400, f"{r.status_code}: {r.text[:500]}"
    p = problem(r)
    return p.get("detail", "") + " " + p.get("title", "")


def test_unknown_index_lists_the_valid_ones(climate):
    r = execute(climate.srv, PROCESS, {"collection": NAM22, "index_name": "XYZ99"})
    d = detail_of(r)
    assert "XYZ99" in d and "index_name" in d, d
    for valid in ("TG", "SU", "CDD", "RX5day", "PRCPTOT"):
        assert re.search(rf"\b{valid}\b", d, re.I), f"{valid} is not named in: {d}"


@pytest.mark.parametrize("var, missing", [("tasmax", "tasmin"), ("tasmin", "tasmax")])
def test_dtr_with_one_collection(climate, var, missing):
    r = execute(climate.srv, PROCESS, {"collection": dataset_id("CIRRUS-CI-B", var), "index_name": "DTR"})
    d = detail_of(r)
    assert missing in d, d


def test_wrong_variable_for_the_index(climate):
    r = execute(climate.srv, PROCESS, {"collection": NAM22, "index_name": "SU"})
    d = detail_of(r)
    assert "tasmax" in d, d


def test_monthly_data_is_refused(climate):
    ids = {d["id"] for d in climate.srv.json("/datasets")["datasets"]}
    assert HADGEM in ids
    r = execute(climate.srv, PROCESS, {"collection": HADGEM, "index_name": "TG"})
    d = detail_of(r)
    assert "daily" in d.lower(), d


@pytest.mark.parametrize("mode", ["fortnight", "season:1,3", "season:13", "season:", "DJFM"])
def test_bad_slice_mode(climate, mode):
    r = execute(climate.srv, PROCESS, {"collection": NAM22, "index_name": "RX1day", "slice_mode": mode})
    d = detail_of(r)
    assert "slice_mode" in d, d


def test_incompatible_out_unit(climate):
    r = execute(climate.srv, PROCESS, {"collection": NAM22, "index_name": "PRCPTOT", "out_unit": "degC"})
    d = detail_of(r)
    assert "out_unit" in d or "degC" in d, d


# --------------------------------------------------------------------------- CDS API


@pytest.mark.parametrize("request_, case", [
    ({"variable": "summer_days", "temporal_aggregation": "summer", "model": "cirrus_ci_b"}, Case("B", "SU", "JJA")),
    ({"variable": "diurnal_temperature_range", "model": "cirrus_ci_a"}, Case("A", "DTR")),
    ({"variable": "RX5day", "temporal_aggregation": "monthly", "model": "cirrus_ci_c",
      "start_year": "2000", "end_year": "2003"}, Case("C", "RX5day", "month", time="2000/2003")),
    ({"variable": "warm_days", "base_period": "1998-2003", "model": "cirrus_ci_b"},
     Case("B", "TX90p", base="1998-01-01/2003-12-31")),
], ids=["SU-summer", "DTR-two-datasets", "RX5day-monthly-years", "TX90p-base-period"])
def test_cds_api_climate_index_equals_xclim(climate, tmp_path, request_, case):
    """cdsapi, unmodified, asks the CDS collection of indices for an index of a generated
    model: one NetCDF file whose values equal xclim's (DTR reads the tasmax and the
    tasmin dataset the request selects)."""
    import cdsapi
    c = cdsapi.Client(url=climate.srv.url + "/api", key=CDS_KEY, progress=False, sleep_max=1, quiet=True)
    target = tmp_path / "index.nc"
    c.retrieve(CDS_COLLECTION, {"experiment": "historical", "format": "netcdf", **request_}, str(target))
    got = open_nc(target)
    assert case.name in got.variables, list(got.variables)
    compare(got, reference(climate, case), case)


def test_cds_api_climate_index_errors(climate):
    """Unknown index words list the valid ones; an index whose variable the request's
    datasets do not hold, or several datasets for one variable, are clear 400s."""
    from ecmwf.datastores import Client
    c = Client(url=climate.srv.url + "/api", key=CDS_KEY, progress=False, maximum_tries=1, retry_after=1, sleep_max=1)
    with pytest.raises(requests.HTTPError) as e:
        c.submit(CDS_COLLECTION, {"variable": "summer", "experiment": "historical", "model": "cirrus_ci_a"})
    assert e.value.response.status_code == 400 and "summer_days" in str(e.value), str(e.value)
    with pytest.raises(requests.HTTPError) as e:
        c.submit(CDS_COLLECTION, {"variable": "summer_days", "experiment": "historical",
                                  "model": ["cirrus_ci_a", "cirrus_ci_b"]})
    assert e.value.response.status_code == 400 and "choose one model" in str(e.value), str(e.value)
    with pytest.raises(requests.HTTPError) as e:
        c.submit(CDS_COLLECTION, {"variable": "warm_days", "experiment": "historical", "model": "cirrus_ci_a"})
    assert e.value.response.status_code == 400 and "base_period" in str(e.value), str(e.value)
    cons = requests.post(f"{climate.srv.url}/api/retrieve/v1/processes/{CDS_COLLECTION}/constraints",
                         json={"inputs": {"model": "cirrus_ci_a"}}, headers={"PRIVATE-TOKEN": CDS_KEY}, timeout=30)
    assert cons.status_code == 200, cons.text
    words = cons.json()
    assert {"summer_days", "diurnal_temperature_range", "maximum_5_day_precipitation"} <= set(words["variable"])
    assert "winter" in words["temporal_aggregation"]
