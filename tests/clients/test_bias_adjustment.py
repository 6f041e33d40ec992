"""The `bias_adjustment` process (empirical quantile mapping) compared with xsdba's
`EmpiricalQuantileMapping` (train on the calibration period, adjust the model's
period; nquantiles 20, group "time", interp nearest, extrapolation constant) run on
the same float64 input.

Data: the synthetic CMIP6 models of climate_data.py. The reference is model A
(gregorian calendar, descending latitudes, missing days in one cell); the model to
adjust, "CIRRUS-CI-D", is model A's files transformed (a warm, stretched temperature;
a wetter precipitation, with its dry days kept dry) and written under its own DRS
path, so both are on the same grid and calendar, as EQM needs.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from climate_data import dataset_dir, dataset_id, write_climate_root, write_transformed
import proc_util
from proc_util import CFT, execute, fetch_files, join_time, open_nc, problem, run_ok, sel_time

PROCESS = "bias_adjustment"
REF, MODEL = "CIRRUS-CI-A", "CIRRUS-CI-D"
OTHER_GRID = "CIRRUS-CI-F"  # model D's tas on a grid shifted by a third of a cell
CALIBRATION = "1998-01-01/2003-12-31"
PERIOD = "2004-01-01/2009-12-31"
RTOL = 1e-5


def _biased(var: str, values: np.ndarray) -> np.ndarray:
    """Model D's field from model A's: a different distribution, not a constant shift."""
    if var == "pr":
        return values * 1.4 + (values > 0) * 2e-6
    return 1.15 * (values - 285.0) + 287.5


def _write_other_grid(root: Path, files: dict) -> dict:
    """Model D's tas interpolated (linearly, with xarray) onto a grid whose latitudes and
    longitudes are shifted from model A's, written as model F."""
    out = {}
    for path in files[dataset_id(MODEL, "tas")]:
        with xr.open_dataset(path, decode_times=False) as ds:
            ds = ds.load()
        lat = ds["lat"].values + 4.0
        lon = ds["lon"].values + 10.0
        new = ds.interp(lat=lat, lon=lon, method="linear", kwargs={"fill_value": None})
        new = new.drop_vars([v for v in ("lat_bnds", "lon_bnds") if v in new])
        for c in ("lat", "lon"):
            new[c].attrs = {k: v for k, v in ds[c].attrs.items() if k != "bounds"}
        new["tas"].attrs = ds["tas"].attrs
        new.attrs = {k: str(v).replace(MODEL, OTHER_GRID) if isinstance(v, str) else v for k, v in ds.attrs.items()}
        dest = root / dataset_dir(OTHER_GRID, "tas") / path.name.replace(MODEL, OTHER_GRID)
        dest.parent.mkdir(parents=True, exist_ok=True)
        new["tas"] = new["tas"].astype("f4")
        new.to_netcdf(dest, format="NETCDF4", encoding={"tas": {"_FillValue": np.float32(1e20)}})
        out.setdefault(dataset_id(OTHER_GRID, "tas"), []).append(dest)
    return out


@pytest.fixture(scope="module")
def bias(start_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("bias-data")
    files = write_climate_root(root)
    files.update(write_transformed(root, files, REF, MODEL, ("tas", "pr"), _biased))
    files.update(_write_other_grid(root, files))
    srv = start_server([root], name="bias")
    limited = start_server([root], name="bias-limited", extra_args=["--max-job-input-bytes", "500000"])
    listed = {d["id"] for d in srv.json("/datasets?limit=100")["datasets"]}
    for var in ("tas", "pr"):
        assert dataset_id(MODEL, var) in listed and dataset_id(REF, var) in listed, sorted(listed)
    return srv, files, limited


def series(files: dict, dsid: str, var: str) -> xr.DataArray:
    parts = [xr.open_dataset(f, decode_times=CFT, decode_timedelta=False) for f in files[dsid]]
    da = join_time(parts)[var].load()
    f = da.astype("f8")
    f.attrs = dict(da.attrs)
    return f


def xsdba_eqm(files: dict, var: str, kind: str, nquantiles: int = 20, interp: str = "nearest") -> xr.DataArray:
    import xsdba

    ref = sel_time(series(files, dataset_id(REF, var), var).to_dataset(), CALIBRATION)[var]
    model = series(files, dataset_id(MODEL, var), var)
    hist = sel_time(model.to_dataset(), CALIBRATION)[var]
    sim = sel_time(model.to_dataset(), PERIOD)[var]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eqm = xsdba.EmpiricalQuantileMapping.train(ref, hist, nquantiles=nquantiles, group="time", kind=kind)
        return eqm.adjust(sim, interp=interp, extrapolation="constant").load()


def adjusted(srv, tmp_path: Path, var: str, **extra) -> xr.Dataset:
    inputs = {"collection": dataset_id(MODEL, var), "reference": dataset_id(REF, var),
              "calibration_period": CALIBRATION, "time": PERIOD, **extra}
    doc = run_ok(srv, PROCESS, inputs)
    [path] = fetch_files(doc, tmp_path)
    return open_nc(path)


def assert_close(got: xr.DataArray, want: xr.DataArray, what: str):
    proc_util.assert_close(got, want, what, RTOL, 1e-12, "xsdba")


@pytest.mark.parametrize("var, kind, extra", [
    ("tas", "+", {}),
    ("pr", "*", {}),
    ("tas", "+", {"nquantiles": "50", "interp": "linear"}),
], ids=["tas-additive", "pr-multiplicative-default", "tas-50-linear"])
def test_eqm_equals_xsdba(bias, tmp_path, var, kind, extra):
    srv, files, _ = bias
    got = adjusted(srv, tmp_path, var, **extra)
    want = xsdba_eqm(files, var, kind, int(extra.get("nquantiles", 20)), extra.get("interp", "nearest"))
    assert_close(got[var], want, f"{var} {kind} {extra}")
    # the adjusted period, and the record of what was done
    assert str(got["time"].values[0])[:10] == "2004-01-01" and str(got["time"].values[-1])[:10] == "2009-12-31"
    note = got[var].attrs["bias_adjustment"]
    assert "empirical quantile mapping" in note and dataset_id(REF, var) in note and "1998-01-01/2003-12-31" in note
    assert ("multiplicative" if kind == "*" else "additive") in note
    assert got.attrs["bias_adjustment_calibration_period"] == CALIBRATION
    # the adjustment moves the model towards the reference
    ref = sel_time(series(files, dataset_id(REF, var), var).to_dataset(), PERIOD)[var]
    raw = sel_time(series(files, dataset_id(MODEL, var), var).to_dataset(), PERIOD)[var]
    assert abs(float(got[var].mean()) - float(ref.mean())) < abs(float(raw.mean()) - float(ref.mean())) / 3


def test_area_subset(bias, tmp_path):
    srv, files, _ = bias
    got = adjusted(srv, tmp_path, "tas", area="0,-40,100,50")
    want = xsdba_eqm(files, "tas", "+")
    want = want.sel(lat=got["lat"].values, lon=got["lon"].values)
    assert got["tas"].shape[1:] != (6, 8)
    assert_close(got["tas"], want, "tas area")


def test_errors(bias):
    srv, _, _ = bias
    base = {"collection": dataset_id(MODEL, "tas"), "reference": dataset_id(REF, "tas"),
            "calibration_period": CALIBRATION}
    r = execute(srv, PROCESS, {k: v for k, v in base.items() if k != "calibration_period"})
    assert r.status_code == 400 and "calibration_period" in problem(r)["detail"], r.text
    r = execute(srv, PROCESS, {**base, "reference": "no.such.dataset"})
    assert r.status_code in (400, 404) and "no.such.dataset" in r.text, r.text
    r = execute(srv, PROCESS, {**base, "kind": "^"})
    assert r.status_code == 400 and "kind" in r.text, r.text
    # a reference in other units: the job fails with the reason
    r = execute(srv, PROCESS, {**base, "reference": dataset_id(REF, "pr")})
    assert r.status_code >= 400 and "units" in r.text, r.text


def test_model_on_another_grid_is_regridded_first(bias, tmp_path):
    """A model on another grid is regridded (bilinear) onto the reference's grid, then
    adjusted: equal to xsdba's EQM on the model as cirrus's `regrid` process puts it
    on the reference grid (grid=<reference id>, bilinear)."""
    import xsdba

    srv, files, _ = bias
    got = adjusted(srv, tmp_path / "eqm", "tas", collection=dataset_id(OTHER_GRID, "tas"))
    doc = run_ok(srv, "regrid", {"collection": dataset_id(OTHER_GRID, "tas"), "grid": dataset_id(REF, "tas"),
                                 "method": "bilinear"})
    paths = fetch_files(doc, tmp_path / "regrid")
    model = join_time([xr.open_dataset(p, decode_times=CFT) for p in sorted(paths)])["tas"].astype("f8")
    model.attrs["units"] = "K"
    ref = sel_time(series(files, dataset_id(REF, "tas"), "tas").to_dataset(), CALIBRATION)["tas"]
    model = model.assign_coords(lat=ref["lat"].values, lon=ref["lon"].values) if model.sizes["lat"] == ref.sizes["lat"] else model
    hist = sel_time(model.to_dataset(), CALIBRATION)["tas"]
    sim = sel_time(model.to_dataset(), PERIOD)["tas"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = xsdba.EmpiricalQuantileMapping.train(ref, hist, nquantiles=20, group="time", kind="+").adjust(
            sim, interp="nearest", extrapolation="constant").load()
    assert got["tas"].shape == want.transpose(*got["tas"].dims).shape
    assert list(got["lat"].values) == list(ref["lat"].values)
    assert_close(got["tas"], want, "regridded then adjusted")


def test_size_estimate_counts_the_reference_and_calibration(bias):
    """The job's size estimate includes what the adjustment reads besides the adjusted
    period (the reference and the model over the calibration period): over the limit,
    a 413 with the estimate before anything runs."""
    _, _, limited = bias
    inputs = {"collection": dataset_id(MODEL, "tas"), "reference": dataset_id(REF, "tas"),
              "calibration_period": CALIBRATION, "time": "2009-12-01/2009-12-31"}
    r = execute(limited, PROCESS, inputs)
    detail = problem(r)["detail"]
    assert r.status_code == 413 and "500000" in detail, (r.status_code, detail)
    # the adjusted month alone is small
    r = execute(limited, PROCESS, {**inputs, "calibration_period": "2009-11-01/2009-11-30"})
    assert r.status_code == 200, r.text
