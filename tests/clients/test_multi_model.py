"""The `multi_model_statistics` process compared with xclim's ensemble functions
(`create_ensemble`, `ensemble_mean_std_max_min`, `ensemble_percentiles` with the
default linear method) on the same float64 input.

Data: the synthetic CMIP6 models of climate_data.py. Model A (gregorian, missing days
in one cell) and two models made from it on its grid and calendar: D (warmer,
stretched) and E (colder, only from 2002 on, so the common time axis is 2002-2009).
Model B (noleap) is another calendar: combining it is refused. With `grid`, the
statistics are those of the datasets regridded by cirrus's own `regrid` process.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

from climate_data import dataset_id, write_climate_root, write_transformed
import proc_util
from proc_util import CFT, execute, fetch_files, join_time, open_nc, problem, run_ok, sel_time

PROCESS = "multi_model_statistics"
MODELS = ["CIRRUS-CI-A", "CIRRUS-CI-D", "CIRRUS-CI-E"]
RTOL = 1e-5


@pytest.fixture(scope="module")
def ensemble(start_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("ensemble-data")
    files = write_climate_root(root)
    files.update(write_transformed(root, files, "CIRRUS-CI-A", "CIRRUS-CI-D", ("tas",),
                                   lambda v, x: 1.1 * (x - 285.0) + 288.0))
    files.update(write_transformed(root, files, "CIRRUS-CI-A", "CIRRUS-CI-E", ("tas",),
                                   lambda v, x: x - 1.5 + 0.5 * np.sin(x), first_year=2002))
    srv = start_server([root], name="ensemble")
    listed = {d["id"] for d in srv.json("/datasets?limit=100")["datasets"]}
    assert {dataset_id(m, "tas") for m in MODELS} <= listed, sorted(listed)
    return srv, files


def members(files: dict, time: str | None = None) -> list[xr.Dataset]:
    out = []
    for m in MODELS:
        parts = [xr.open_dataset(f, decode_times=CFT, decode_timedelta=False) for f in files[dataset_id(m, "tas")]]
        ds = join_time(parts)[["tas"]].load()
        ds["tas"] = ds["tas"].astype("f8")
        ds = sel_time(ds, time or "2002-01-01/2009-12-31")
        out.append(ds)
    return out


def result(srv, tmp_path, **inputs) -> xr.Dataset:
    doc = run_ok(srv, PROCESS, {"collection": [dataset_id(m, "tas") for m in MODELS], **inputs})
    [path] = fetch_files(doc, tmp_path)
    return open_nc(path)


def assert_close(got: xr.DataArray, want: xr.DataArray, what: str):
    proc_util.assert_close(got, want, what, RTOL, 1e-9, "xclim")


def test_statistics_equal_xclim(ensemble, tmp_path):
    from xclim import ensembles

    srv, files = ensemble
    got = result(srv, tmp_path, statistics="mean,stdev,min,max,median,p10,p90")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ens = ensembles.create_ensemble(members(files))
        mm = ensembles.ensemble_mean_std_max_min(ens)
        pc = ensembles.ensemble_percentiles(ens, values=[10, 50, 90], split=True)
    # the common time steps: 2002-2009, the days model E has
    assert str(got["time"].values[0])[:10] == "2002-01-01" and str(got["time"].values[-1])[:10] == "2009-12-31"
    assert got.sizes["time"] == mm.sizes["time"]
    for name, want in [("tas_mean", mm.tas_mean), ("tas_stdev", mm.tas_stdev), ("tas_min", mm.tas_min),
                       ("tas_max", mm.tas_max), ("tas_median", pc.tas_p50), ("tas_p10", pc.tas_p10),
                       ("tas_p90", pc.tas_p90)]:
        assert_close(got[name], want, name)
        assert "realization:" in got[name].attrs["cell_methods"], got[name].attrs
        assert got[name].attrs["units"] == "K"
    assert all(dataset_id(m, "tas") in got.attrs["multi_model_statistics"] for m in MODELS)


def test_time_and_area(ensemble, tmp_path):
    srv, files = ensemble
    got = result(srv, tmp_path, statistics="mean", time="2005-03-01/2006-02-28", area="0,-40,100,50")
    ds = xr.concat([m.sel(lat=got["lat"].values, lon=got["lon"].values)["tas"]
                    for m in members(files, "2005-03-01/2006-02-28")], dim="m")
    assert got["tas_mean"].shape[1:] != (6, 8) and got.sizes["time"] == 365
    assert_close(got["tas_mean"], ds.mean("m", skipna=True), "mean over time and area")


def test_common_grid_is_the_mean_of_the_regridded_datasets(ensemble, tmp_path):
    """With grid=, each dataset is regridded onto it: the mean equals the mean of the
    regrid process's outputs (bilinear) of each dataset."""
    srv, _ = ensemble
    got = result(srv, tmp_path / "ens", statistics="mean,max", grid="10deg", method="bilinear",
                 time="2003-01-01/2003-01-31")
    regridded = []
    for m in MODELS:
        doc = run_ok(srv, "regrid", {"collection": dataset_id(m, "tas"), "grid": "10deg", "method": "bilinear"})
        paths = fetch_files(doc, tmp_path / m)
        ds = xr.concat([open_nc(p) for p in paths], dim="time") if len(paths) > 1 else open_nc(paths[0])
        regridded.append(ds["tas"].sel(time=slice("2003-01-01", "2003-01-31")).astype("f8"))
    stack = xr.concat([r.drop_vars([c for c in r.coords if c not in ("time", "lat", "lon")]) for r in regridded], dim="m")
    assert got.sizes["lat"] == 18 and got.sizes["lon"] == 36, dict(got.sizes)
    want = stack.mean("m", skipna=True)
    assert_close(got["tas_mean"], want, "regridded mean")
    assert_close(got["tas_max"], stack.max("m", skipna=True), "regridded max")


def test_errors(ensemble):
    srv, _ = ensemble
    one = {"collection": dataset_id("CIRRUS-CI-A", "tas")}
    r = execute(srv, PROCESS, one)
    assert r.status_code == 400 and "at least two" in problem(r)["detail"], r.text
    r = execute(srv, PROCESS, {"collection": [dataset_id(m, "tas") for m in MODELS[:2]], "statistics": "mode"})
    assert r.status_code == 400 and "mode" in r.text, r.text
    # another calendar: refused with the calendars named
    r = execute(srv, PROCESS, {"collection": [dataset_id("CIRRUS-CI-A", "tas"), dataset_id("CIRRUS-CI-B", "tas")]})
    assert r.status_code >= 400 and "calendar" in r.text and "noleap" in r.text, r.text
    # datasets of different variables
    r = execute(srv, PROCESS, {"collection": [dataset_id("CIRRUS-CI-A", "tas"), dataset_id("CIRRUS-CI-A", "pr")]})
    assert r.status_code >= 400 and "no variable 'tas'" in r.text, r.text
