"""Processing results (OGC API - Processes, synchronous) equal the same operation done
with xarray on the local files (proc_util's oracle) and, for the cases clisops
supports, with clisops run on the same files: subset (rectilinear across lon 0 and
180, descending latitudes, rotated pole EUR-22/EUR-11, curvilinear CNRM tos and CanESM5
siconc, multi-file 360_day HadGEM2-ES, levels, time components, instants, variables),
average (lat/lon unweighted and weighted, time), average_time (month/year/season),
orchestrate; then the output files themselves (CF-1.7, compression, no _FillValue on
coordinates, history, ESGF names, provenance, splitting along time)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from proc_util import (CANESM, CESM_CL, CNRM, DESC_LAT, EUR11, EUR22, HADGEM, INM, MIROC, MPI_O3, SYN_DAY,
                       add_months, assert_same_values, clisops_python, execute, fetch_files, isotimes,
                       local_ds, open_nc, open_out, problem, run_clisops, run_ok, sel_area_2d, sel_area_rect,
                       sel_components, sel_level, sel_time, sha256)

# --------------------------------------------------------------------------- subset cases
# name -> (dataset, inputs besides collection, main variable, level coordinate,
#          clisops parameters or None when clisops has no equivalent)
SUBSETS = {
    "rect_cross_lon0": (MIROC, {"area": "-10,40,10,50"}, "tas", None, {"area": "-10,40,10,50"}),
    "rect_cross_180": (MIROC, {"area": "170,-10,190,10"}, "tas", None, {"area": "170,-10,190,10"}),
    "rect_reversed_bounds": (MIROC, {"area": "50,60,20,30"}, "tas", None, {"area": "50,60,20,30"}),
    "desc_lat": (DESC_LAT, {"area": "20,-30,60,30", "time": "2000-03/2000-08"}, "tas", None,
                 {"area": "20,-30,60,30", "time": "2000-03-01/2000-08-31"}),
    "eur22_box": (EUR22, {"area": "-10,40,10,55"}, "tas", None, None),
    "eur22_mask": (EUR22, {"area": "-10,40,10,55", "mask_outside": True}, "tas", None, {"area": "-10,40,10,55"}),
    "eur11_box_files": (EUR11, {"area": "-10,35,10,50", "time": "2075-12-20/2076-01-10"}, "zg500", None, None),
    "eur11_mask_files": (EUR11, {"area": "-10,35,10,50", "time": "2075-12-20/2076-01-10", "mask_outside": True},
                         "zg500", None, {"area": "-10,35,10,50", "time": "2075-12-20/2076-01-10"}),
    "cnrm_tos": (CNRM, {"area": "-40,20,0,50"}, "tos", None, None),
    "cnrm_tos_mask": (CNRM, {"area": "-40,20,0,50", "mask_outside": True}, "tos", None, {"area": "-40,20,0,50"}),
    "canesm_siconc": (CANESM, {"area": "0,-35,200,40", "time_components": "month:jan,jul", "mask_outside": True},
                      "siconc", None, {"area": "0,-35,200,40", "time_components": "month:jan,jul"}),
    "hadgem_file_boundary": (HADGEM, {"time": "2030-06-01/2031-06-30"}, "tas", None,
                             {"time": "2030-06-01/2031-06-30"}),
    "hadgem_overlap": (HADGEM, {"time": "2099-06/2100-06"}, "tas", None, {"time": "2099-06-01/2100-06-30"}),
    "hadgem_feb30": (HADGEM, {"time": "2015-02-30/2015-06-30"}, "tas", None, {"time": "2015-02-30/2015-06-30"}),
    "hadgem_open_start": (HADGEM, {"time": "/2006-02"}, "tas", None, None),
    "hadgem_open_end": (HADGEM, {"time": "2299-06/"}, "tas", None, None),
    "hadgem_components": (HADGEM, {"time_components": "year:2015,2016|month:jan,feb,12"}, "tas", None,
                          {"time_components": "year:2015,2016|month:jan,feb,12"}),
    "eur11_components": (EUR11, {"time_components": "year:2071,2076|month:jan,feb,12|day:01,15|hour:12"}, "zg500",
                         None, {"time_components": "year:2071,2076|month:jan,feb,12|day:01,15|hour:12"}),
    "hadgem_instants": (HADGEM, {"time": "2015-01-16,2015-03-16,2200-12-16"}, "tas", None,
                        {"time": "2015-01-16,2015-03-16,2200-12-16"}),
    "eur11_instants": (EUR11, {"time": "2071-01-01T12:00:00,2076-01-01T12:00:00"}, "zg500", None,
                       {"time": "2071-01-01T12:00:00,2076-01-01T12:00:00"}),
    # clisops snaps a bound that is not a level outwards on descending axes: it is given
    # the exact levels that the interval holds
    "o3_level_interval": (MPI_O3, {"level": "0.97/1.0"}, "o3", "lev",
                          {"level": "0.9826499819755554/0.9961499869823456"}),
    "o3_level_list": (MPI_O3, {"level": "0.9961499869823456,0.9589555908567136"}, "o3", "lev", None),
    "cl_level_interval": (CESM_CL, {"level": "-500/-100", "time": "2000/2000"}, "cl", "lev",
                          {"level": "-445.992574095726/-103.31712663173676", "time": "2000-01-01/2000-12-31"}),
    "cl_level_area": (CESM_CL, {"level": "-100/-500", "area": "100,-10,260,10", "time": "1950-01/1950-02"}, "cl", "lev",
                      None),
    "o3_variables": (MPI_O3, {"variables": "ps", "area": "0,-20,30,20"}, "ps", None, None),
}


def lat_lon_names(ds: xr.Dataset):
    lat = next(n for n in ds.variables if ds[n].attrs.get("standard_name") == "latitude")
    lon = next(n for n in ds.variables if ds[n].attrs.get("standard_name") == "longitude")
    return lat, lon


def oracle_subset(server, dsid: str, inputs: dict, var: str, zname: str | None) -> xr.Dataset:
    ds = local_ds(server, dsid)
    if "time" in inputs:
        ds = sel_time(ds, inputs["time"])
    if "time_components" in inputs:
        ds = sel_components(ds, inputs["time_components"])
    if "area" in inputs:
        lat, lon = lat_lon_names(ds)
        if ds[lat].ndim == 1:
            ds = sel_area_rect(ds, inputs["area"], lat, lon)
        else:
            ds = sel_area_2d(ds, inputs["area"], lat, lon, bool(inputs.get("mask_outside")), [var])
    if "level" in inputs:
        ds = sel_level(ds, inputs["level"], zname)
    return ds


_DONE: dict = {}


def run_cached(server, tmp_path_factory, key: str, process: str, inputs: dict):
    """(results document, downloaded files, dataset) of a request, run once per session."""
    if key not in _DONE:
        doc = run_ok(server, process, inputs)
        paths = fetch_files(doc, tmp_path_factory.mktemp(re.sub(r"\W", "_", key)))
        _DONE[key] = (doc, paths, open_out(paths))
    return _DONE[key]


def subset_result(server, tmp_path_factory, name: str):
    dsid, inputs, *_ = SUBSETS[name]
    return run_cached(server, tmp_path_factory, name, "subset", {"collection": dsid, **inputs})


@pytest.fixture(scope="module")
def clisops_results(server, tmp_path_factory):
    """Every clisops case of this module, run at once (one interpreter start)."""
    py = clisops_python()
    if py is None:
        pytest.fail("clisops is not installed: set CIRRUS_CLISOPS_PYTHON or run scripts/test (it installs "
                    "clisops into benches/.venv)")
    cases = []
    for name, (dsid, _inputs, _var, _z, params) in SUBSETS.items():
        if params is not None:
            cases.append({"name": name, "op": "subset", "files": [str(f) for f in server.reference(dsid).files],
                          "params": params})
    hf = [str(f) for f in server.reference(HADGEM).files]
    mf = [str(f) for f in server.reference(MIROC).files]
    cases += [
        {"name": "avg_latlon", "op": "average", "files": mf, "params": {"dims": ["latitude", "longitude"]}},
        {"name": "avg_time", "op": "average", "files": hf, "params": {"dims": ["time"]}},
        {"name": "avgtime_year", "op": "average_time", "files": hf, "params": {"freq": "year"}},
    ]
    return run_clisops(py, cases, tmp_path_factory.mktemp("clisops"))


def clisops_out(clisops_results, name: str) -> xr.Dataset:
    r = clisops_results[name]
    if "error" in r:
        pytest.fail(f"clisops failed on this case: {r['error'][:300]}")
    return open_out([Path(p) for p in r["files"]])


# --------------------------------------------------------------------------- subset vs xarray


@pytest.mark.parametrize("name", list(SUBSETS))
def test_subset_equals_xarray(server, tmp_path_factory, name):
    dsid, inputs, var, zname, _ = SUBSETS[name]
    _doc, _paths, got = subset_result(server, tmp_path_factory, name)
    want = oracle_subset(server, dsid, inputs, var, zname)
    assert got[var].dims == want[var].dims, (got[var].dims, want[var].dims)
    assert_same_values(got[var], want[var], var)
    for cname in want[var].dims:
        if cname in want.variables:
            assert_same_values(got[cname], want[cname], cname)
    # coordinates, bounds, grid mapping and auxiliary variables come along
    expected = set(want.variables)
    if "variables" in inputs:
        keep = {var, *want[var].dims, *want[var].attrs.get("coordinates", "").split()}
        for n in list(keep):
            if n in want.variables:
                keep |= {want[n].attrs.get("bounds")} - {None}
        keep.add(want[var].attrs.get("grid_mapping"))
        expected = {n for n in expected if n in keep}
        assert set(got.data_vars) - {v for v in got.data_vars if v in keep} == set(), (
            f"variables={inputs['variables']!r} but the output has {sorted(got.data_vars)}")
    missing = expected - set(got.variables)
    assert not missing, f"the output lacks {sorted(missing)}"
    for n in sorted(expected):
        if got[n].dtype.kind in "SU" or n == "time" or want[n].dtype.kind == "S":
            continue
        assert_same_values(got[n], want[n], n)
    if "time" in want[var].dims:
        assert isotimes(got["time"]) == isotimes(want["time"])


def test_lon_frames(server, tmp_path_factory):
    """Output longitudes are in the request's frame, ascending, with bounds to match."""
    got = subset_result(server, tmp_path_factory, "rect_cross_lon0")[2]
    lon = got["lon"].values
    assert lon.min() >= -10 and lon.max() <= 10 and (lon < 0).any() and (lon >= 0).any(), lon
    assert np.all(np.diff(lon) > 0), lon
    b = got["lon_bnds"].values
    assert np.all(b[:, 0] < lon) and np.all(lon < b[:, 1]), b
    got = subset_result(server, tmp_path_factory, "rect_cross_180")[2]
    lon = got["lon"].values
    assert lon.min() >= 170 and lon.max() <= 190 and lon.min() < 180 < lon.max() and np.all(np.diff(lon) > 0), lon


def test_descending_latitudes_kept(server, tmp_path_factory):
    got = subset_result(server, tmp_path_factory, "desc_lat")[2]
    lat = got["lat"].values
    assert len(lat) > 2 and np.all(np.diff(lat) < 0) and lat.max() <= 30 and lat.min() >= -30, lat


def test_rotated_pole_box_and_mask(server, tmp_path_factory):
    """The smallest rlat/rlon box holding every point inside; with mask_outside the
    points of the box outside the area are missing, the others are the data."""
    box = subset_result(server, tmp_path_factory, "eur22_box")[2]
    masked = subset_result(server, tmp_path_factory, "eur22_mask")[2]
    local = local_ds(server, EUR22)
    inside = (box["lat"] >= 40) & (box["lat"] <= 55) & (((box["lon"] + 10) % 360) <= 20)
    assert bool(inside.any()) and not bool(inside.all())
    assert box.sizes["rlat"] < local.sizes["rlat"] and box.sizes["rlon"] < local.sizes["rlon"]
    # every edge row/column of the box holds a point inside
    ins = inside.values
    assert ins[0].any() and ins[-1].any() and ins[:, 0].any() and ins[:, -1].any()
    assert not np.isnan(box["tas"].values).any()
    m = masked["tas"].isel(time=0).values
    assert np.isnan(m[~ins]).all() and not np.isnan(m[ins]).any()
    np.testing.assert_array_equal(m[ins], box["tas"].isel(time=0).values[ins])
    assert masked["tas"].attrs.get("grid_mapping") == "rotated_latitude_longitude"
    assert "rotated_latitude_longitude" in masked.variables
    # the EUR-11 sample: 5x5 points, the area -10,35,10,50 holds 3 of a 2x2 box
    eur11 = subset_result(server, tmp_path_factory, "eur11_mask_files")[2]
    assert (eur11.sizes["rlat"], eur11.sizes["rlon"]) == (2, 2)
    assert int(np.isnan(eur11["zg500"].values).sum()) == eur11.sizes["time"]


def test_eur11_time_across_files(server, tmp_path_factory):
    got = subset_result(server, tmp_path_factory, "eur11_box_files")[2]
    t = isotimes(got["time"])
    assert t[0] == "2075-12-20T12:00:00" and t[-1] == "2076-01-10T12:00:00" and len(t) == 22, t


def test_360_day_dates(server, tmp_path_factory):
    """2015-02-30 exists in 360_day; the selection across HadGEM2-ES file boundaries
    (and the month both 2080-2099 files hold) has each month once."""
    t = isotimes(subset_result(server, tmp_path_factory, "hadgem_feb30")[2]["time"])
    assert t == [f"2015-{m:02d}-16T00:00:00" for m in range(3, 7)], t
    t = isotimes(subset_result(server, tmp_path_factory, "hadgem_overlap")[2]["time"])
    assert t == [f"2099-{m:02d}-16T00:00:00" for m in range(6, 13)] + \
        [f"2100-{m:02d}-16T00:00:00" for m in range(1, 7)], t
    t = isotimes(subset_result(server, tmp_path_factory, "hadgem_file_boundary")[2]["time"])
    assert len(t) == 13 and t[0] == "2030-06-16T00:00:00" and t[-1] == "2031-06-16T00:00:00", t


@pytest.mark.parametrize("dsid, time_spec, date", [
    (EUR11, "2071-02-30/2071-03-10", "2071-02-30"),  # standard calendar
    (SYN_DAY, "2015-02-29/2015-03-10", "2015-02-29"),  # noleap
])
def test_date_not_in_calendar_is_400(server, dsid, time_spec, date):
    r = execute(server, "subset", {"collection": dsid, "time": time_spec})
    assert r.status_code == 400, r.text
    detail = problem(r)["detail"]
    assert date in detail and "calendar" in detail, detail


@pytest.mark.parametrize("inputs, words", [
    ({"collection": MIROC, "area": "0.1,0.1,0.2,0.2"}, ["area"]),  # between grid points
    ({"collection": EUR11, "area": "100,10,110,20"}, ["area"]),
    ({"collection": HADGEM, "time": "1800/1801"}, ["time"]),
    ({"collection": HADGEM, "time_components": "year:1900"}, ["time"]),
    ({"collection": HADGEM, "time": "2015-01-01"}, ["2015-01-01"]),  # not a time step
    ({"collection": MPI_O3, "level": "2/3"}, ["level"]),
])
def test_empty_selection_is_400(server, inputs, words):
    r = execute(server, "subset", inputs)
    assert r.status_code == 400, r.text[:500]
    detail = problem(r)["detail"]
    assert all(w in detail for w in words), detail


def test_collection_comma_list(server, tmp_path):
    doc = run_ok(server, "subset", {"collection": f"{HADGEM},{INM}", "time": "2015-01/2015-03"})
    names = [f["title"] for f in doc["files"]]
    assert len(names) == 2 and names[0].startswith("tas_Amon_HadGEM2-ES") and names[1].startswith("rlds_Amon_INM"), names
    for p, (dsid, var) in zip(fetch_files(doc, tmp_path), [(HADGEM, "tas"), (INM, "rlds")]):
        got = open_nc(p)
        want = sel_time(local_ds(server, dsid), "2015-01/2015-03")
        assert_same_values(got[var], want[var], var)


# --------------------------------------------------------------------------- subset vs clisops


@pytest.mark.parametrize("name", [n for n, c in SUBSETS.items() if c[4] is not None])
def test_subset_equals_clisops(server, tmp_path_factory, clisops_results, name):
    dsid, inputs, var, zname, _ = SUBSETS[name]
    got = subset_result(server, tmp_path_factory, name)[2]
    ref = clisops_out(clisops_results, name)
    if name == "cnrm_tos_mask":
        return clisops_agrees_where_it_answers(got, ref, var)
    # clisops masks 2-D grids always (cirrus on mask_outside=true, which these cases set)
    assert_same_values(got[var], ref[var], var)
    for c in got[var].dims:
        if c in ref.variables and c in got.variables:
            assert_same_values(got[c], ref[c], c)
    lat, lon = lat_lon_names(ref)
    np.testing.assert_allclose(got[lat].values, ref[lat].values, rtol=0, atol=1e-9, err_msg=lat)
    if got[lon].ndim == 1:
        np.testing.assert_allclose(got[lon].values, ref[lon].values, rtol=0, atol=1e-9, err_msg=lon)
    else:
        # on 2-D grids clisops re-expresses lon in the request's frame, cirrus keeps the
        # stored values: equal modulo 360
        d = np.mod(got[lon].values - ref[lon].values + 180.0, 360.0) - 180.0
        np.testing.assert_allclose(d, 0, atol=1e-4, err_msg=lon)
    if "time" in got[var].dims:
        assert isotimes(got["time"]) == isotimes(ref["time"])


def clisops_agrees_where_it_answers(got, ref, var):
    """CNRM tos: its y/x dimensions have no coordinate variables and clisops 0.18.1
    then returns a box one row and one column short that loses points inside the area
    (cirrus equals the xarray oracle, test_subset_equals_xarray[cnrm_tos_mask]). Every
    point clisops does return must have the same value in cirrus's output."""
    key = lambda la, lo: (round(float(la), 5), round(float(lo), 5))  # noqa: E731
    mine = {key(la, lo): v for la, lo, v in zip(got["lat"].values.ravel(), got["lon"].values.ravel(),
                                                 got[var].isel(time=0).values.ravel())}
    theirs = [(key(la, lo), v) for la, lo, v in zip(ref["lat"].values.ravel(), ref["lon"].values.ravel(),
                                                     ref[var].isel(time=0).values.ravel()) if not np.isnan(v)]
    assert theirs
    for k, v in theirs:
        assert k in mine and mine[k] == v, (k, v, mine.get(k))
    assert int(np.isfinite(got[var].values).sum()) > len(theirs)


# --------------------------------------------------------------------------- averages


def test_average_latlon_unweighted(server, tmp_path_factory, clisops_results):
    _doc, _p, got = run_cached(server, tmp_path_factory, "avg_latlon", "average",
                               {"collection": MIROC, "dims": ["latitude", "longitude"]})
    local = local_ds(server, MIROC)
    want = local["tas"].astype("f8").mean(("lat", "lon"))
    assert got["tas"].dims == ("time",)
    assert_same_values(got["tas"], want, "tas", exact=False)
    # averaged coordinates become scalar coordinates with bounds
    for c in ("lat", "lon"):
        assert got[c].ndim == 0, got[c]
        b = got[got[c].attrs["bounds"]].values
        lb = local[local[c].attrs["bounds"]].values
        assert b.shape == (2,) and b[0] == lb.min() and b[1] == lb.max(), (c, b)
        assert b[0] <= float(got[c]) <= b[1], (c, float(got[c]), b)
    cm = got["tas"].attrs.get("cell_methods", "")
    assert re.search(r"\b(lat|latitude): (lon|longitude): mean|area: mean", cm), cm
    ref = clisops_out(clisops_results, "avg_latlon")
    assert_same_values(got["tas"], ref["tas"].astype("f8"), "tas vs clisops", exact=False)


def test_average_latlon_weighted(server, tmp_path_factory):
    local = local_ds(server, MIROC)
    w = np.cos(np.deg2rad(local["lat"]))
    want = local["tas"].astype("f8").weighted(w).mean(("lat", "lon"))
    unweighted = local["tas"].astype("f8").mean(("lat", "lon"))
    assert abs(float(want[0] - unweighted[0])) > 0.1  # the weights matter on this field
    for key, process, inputs in [
        ("avg_weighted", "average", {"collection": MIROC, "dims": ["latitude", "longitude"], "weighted": True}),
        ("weighted_average", "weighted_average", {"collection": MIROC}),
    ]:
        got = run_cached(server, tmp_path_factory, key, process, inputs)[2]
        assert got["tas"].dims == ("time",), process
        assert_same_values(got["tas"], want, f"{process} tas", exact=False)


def test_average_time_and_latitude_keeps_longitude(server, tmp_path_factory):
    """The outputs are split among threads along the outermost kept axis; here it is
    the last one (longitude), with latitude weights on an averaged axis."""
    local = local_ds(server, MIROC)
    w = np.cos(np.deg2rad(local["lat"]))
    for weighted in (False, True):
        got = run_cached(server, tmp_path_factory, f"avg_time_lat_{weighted}", "average",
                         {"collection": MIROC, "dims": ["time", "latitude"], "weighted": weighted})[2]
        tas = local["tas"].astype("f8")
        want = (tas.weighted(w) if weighted else tas).mean(("time", "lat"))
        assert got["tas"].dims == ("lon",)
        assert_same_values(got["tas"], want, f"tas weighted={weighted}", exact=False)


def test_average_time(server, tmp_path_factory, clisops_results):
    _doc, _p, got = run_cached(server, tmp_path_factory, "avg_time", "average",
                               {"collection": HADGEM, "dims": ["time"]})
    local = local_ds(server, HADGEM)
    want = local["tas"].astype("f8").mean("time")
    assert got["tas"].dims == ("lat", "lon")
    assert_same_values(got["tas"], want, "tas", exact=False)
    assert "time: mean" in got["tas"].attrs.get("cell_methods", "")
    # time is a scalar coordinate whose bounds span the whole input
    assert got["time"].ndim == 0
    b = got[got["time"].attrs["bounds"]].values
    assert isotimes(b[0:1]) + isotimes(b[1:2]) == [local["time_bnds"].values[0, 0].isoformat(),
                                                   local["time_bnds"].values[-1, 1].isoformat()]
    ref = clisops_out(clisops_results, "avg_time")
    assert_same_values(got["tas"], ref["tas"].astype("f8"), "tas vs clisops", exact=False)


@pytest.mark.parametrize("freq, rule, months", [("month", "MS", 1), ("year", "YS", 12), ("season", "QS-DEC", 3)])
def test_average_time_freq(server, tmp_path_factory, clisops_results, freq, rule, months):
    """360_day HadGEM2-ES: each period labelled by its start, bounds [start, next
    start), values the mean of the months in it (December in the next year's DJF)."""
    _doc, _p, got = run_cached(server, tmp_path_factory, f"avgtime_{freq}", "average_time",
                               {"collection": HADGEM, "freq": freq})
    local = local_ds(server, HADGEM)
    want = local["tas"].astype("f8").resample(time=rule).mean()
    assert isotimes(got["time"]) == isotimes(want["time"])
    assert_same_values(got["tas"], want, "tas", exact=False)
    bnds = got[got["time"].attrs["bounds"]].values
    starts = list(want["time"].values)
    assert isotimes(bnds[:, 0]) == [s.isoformat() for s in starts]
    assert isotimes(bnds[:, 1]) == [add_months(s, months).isoformat() for s in starts]
    assert "time: mean" in got["tas"].attrs.get("cell_methods", "")
    if freq == "season":
        assert isotimes(got["time"])[:2] == ["2005-12-01T00:00:00", "2006-03-01T00:00:00"]
    elif freq == "year":  # (clisops takes ~25 s for freq=month over these 3529 months)
        ref = clisops_out(clisops_results, f"avgtime_{freq}")
        assert_same_values(got["tas"], ref["tas"].astype("f8"), "tas vs clisops", exact=False)
        assert isotimes(got["time"]) == isotimes(ref["time"])


def test_orchestrate_subset_then_average(server, tmp_path_factory):
    workflow = {
        "doc": "subset then average",
        "inputs": {"ds": [EUR11]},
        "outputs": {"output": "avg/output"},
        "steps": {
            "sub": {"run": "subset", "in": {"collection": "inputs/ds", "time": "2072-03-01/2072-05-31",
                                            "area": "-10,35,10,50"}},
            "avg": {"run": "average", "in": {"collection": "sub/output", "dims": ["time"]}},
        },
    }
    got = run_cached(server, tmp_path_factory, "orchestrate", "orchestrate", {"workflow": workflow})[2]
    local = local_ds(server, EUR11)
    sub = sel_area_2d(sel_time(local, "2072-03-01/2072-05-31"), "-10,35,10,50", "lat", "lon", False)
    want = sub["zg500"].astype("f8").mean("time")
    assert got["zg500"].dims == ("rlat", "rlon")
    assert_same_values(got["zg500"], want, "zg500", exact=False)
    assert "time: mean" in got["zg500"].attrs.get("cell_methods", "")


# --------------------------------------------------------------------------- the output files

OUTPUTS = {  # key -> (process, inputs)
    "rect_cross_lon0": ("subset", {"collection": MIROC, "area": "-10,40,10,50"}),
    "eur22_mask": ("subset", {"collection": EUR22, "area": "-10,40,10,55", "mask_outside": True}),
    "eur11_box_files": ("subset", {"collection": EUR11, "area": "-10,35,10,50", "time": "2075-12-20/2076-01-10"}),
    "cnrm_tos": ("subset", {"collection": CNRM, "area": "-40,20,0,50"}),
    "hadgem_file_boundary": ("subset", {"collection": HADGEM, "time": "2030-06-01/2031-06-30"}),
    "avg_latlon": ("average", {"collection": MIROC, "dims": ["latitude", "longitude"]}),
    "avg_time": ("average", {"collection": HADGEM, "dims": ["time"]}),
    "avgtime_season": ("average_time", {"collection": HADGEM, "freq": "season"}),
}


def ncdump_hs(path: Path) -> dict[str, dict[str, str]]:
    """Variable -> {attribute: value text} from `ncdump -hs`."""
    text = subprocess.run(["ncdump", "-hs", str(path)], capture_output=True, text=True, check=True).stdout
    out, cur = {}, None
    for line in text.splitlines():
        m = re.match(r"^\t(?:\w+) (\w+)(?:\(.*\))? ;$", line)
        if m:
            cur = m.group(1)
            out[cur] = {}
            continue
        m = re.match(r"^\t\t(\w+):(\w+) = (.*) ;$", line)
        if m and m.group(1) == cur:
            out[cur][m.group(2)] = m.group(3)
        if line.startswith("// global"):
            cur = None
    return out


def coordinate_like(ds: xr.Dataset) -> set[str]:
    names = {n for n in ds.variables if ds[n].dims == (n,) or ds[n].ndim == 0 and n in ds.coords}
    for v in ds.variables.values():
        names |= set(v.attrs.get("coordinates", "").split()) | set(v.encoding.get("coordinates", "").split())
    for n in list(names) + list(ds.variables):
        b = ds[n].attrs.get("bounds") if n in ds.variables else None
        if b:
            names.add(b)
    return {n for n in names if n in ds.variables}


def expected_prefix(server, dsid: str) -> str:
    """The ESGF file name of the source without its time range."""
    name = Path(server.reference(dsid).files[0]).name
    return re.sub(r"_\d{4,14}(-\d{4,14})?\.nc$", "", name)


@pytest.mark.parametrize("key", list(OUTPUTS))
def test_output_file_conventions(server, tmp_path_factory, key):
    process, inputs = OUTPUTS[key]
    _doc, paths, _ = run_cached(server, tmp_path_factory, key, process, inputs)
    dsid = inputs["collection"]
    for p in paths:
        raw = xr.open_dataset(p, decode_times=False, mask_and_scale=False)
        assert "CF-1.7" in raw.attrs.get("Conventions", ""), raw.attrs.get("Conventions")
        hist = raw.attrs.get("history", "")
        first = hist.splitlines()[0] if hist else ""
        assert "cirrus" in first and process in first, hist[:300]
        hs = ncdump_hs(p)
        coords = coordinate_like(raw)
        data_vars = [n for n in raw.data_vars if n not in coords and raw[n].ndim >= 1]
        assert data_vars, sorted(raw.variables)
        for n in data_vars:
            assert hs[n].get("_DeflateLevel") == "1", (n, hs[n])
            assert hs[n].get("_Shuffle") == '"true"', (n, hs[n])
        for n in coords:
            assert "_FillValue" not in hs[n], f"{n} (coordinate/bounds) has a _FillValue: {hs[n]}"
        # ESGF file name: <source file prefix>_<start>-<end>[_<suffix>].nc
        prefix = expected_prefix(server, dsid)
        assert p.name.startswith(prefix + "_"), (p.name, prefix)
        m = re.fullmatch(re.escape(prefix) + r"(?:_(\d{4,14})-(\d{4,14}))?(_[\w-]+)?\.nc", p.name)
        assert m, p.name
        if "time" in raw.dims:
            assert m.group(1), f"{p.name}: no time range"
            t = xr.open_dataset(p, decode_times=xr.coders.CFDatetimeCoder(use_cftime=True))["time"].values
            first_t = t[0].strftime("%Y%m%d%H%M%S")
            last_t = t[-1].strftime("%Y%m%d%H%M%S")
            assert first_t.startswith(m.group(1)) and last_t.startswith(m.group(2)), (p.name, t[0], t[-1])
        if process == "subset":
            assert m.group(3) is None, p.name


def test_provenance(server, tmp_path_factory):
    """PROV-JSON naming the input dataset and its files with their SHA-256, the
    operation and its parameters, the software, and the outputs with their SHA-256."""
    key = "hadgem_file_boundary"
    doc, paths, _ = run_cached(server, tmp_path_factory, key, *OUTPUTS[key])
    r = __import__("requests").get(doc["prov"]["href"], timeout=60)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    prov = r.json()
    for section in ("prefix", "entity", "activity", "agent"):
        assert section in prov, sorted(prov)
    text = json.dumps(prov)
    entities = prov["entity"]
    ds_ent = [e for e in entities.values() if e.get("prov:label") == HADGEM]
    assert len(ds_ent) == 1, list(entities)
    local = {Path(f).name: f for f in server.reference(HADGEM).files}
    listed = [f for e in ds_ent for f in next(v for k, v in e.items() if k.endswith(":files"))]
    assert listed, ds_ent
    names = set()
    for f in listed:
        name = Path(f["name"]).name
        assert name in local, f
        assert f["sha256"] == sha256(Path(local[name])), f
        names.add(name)
    # the two files the time range spans are named
    assert {"tas_Amon_HadGEM2-ES_rcp85_r1i1p1_200512-203011.nc",
            "tas_Amon_HadGEM2-ES_rcp85_r1i1p1_203012-205511.nc"} <= names, names
    # the operation with its parameters
    acts = list(prov["activity"].values())
    assert any(a.get("prov:label") == "subset" for a in acts), acts
    assert any("2030-06-01/2031-06-30" in json.dumps(a) for a in acts), acts
    # the software
    agents = json.dumps(prov["agent"])
    assert "SoftwareAgent" in agents and "cirrus" in agents
    # the outputs, with their checksums
    for p in paths:
        ent = [e for k, e in entities.items() if p.name in k or e.get("prov:label") == p.name]
        assert ent, f"output {p.name} is not an entity: {list(entities)}"
        assert sha256(p) in json.dumps(ent), ent
    assert "wasGeneratedBy" in prov or "wasDerivedFrom" in prov, text[:500]


def test_split_along_time(server, start_server, tmp_path_factory):
    """A small --file-limit splits the output along time into several files whose
    concatenation equals the unsplit result."""
    inputs = {"collection": EUR11, "time": "2071-01-01/2078-12-31"}
    whole = run_cached(server, tmp_path_factory, "eur11_whole", "subset", inputs)
    assert len(whole[0]["files"]) == 1
    small = start_server([server.esgf], extra_args=["--file-limit", "60000", "--workers", "1"], name="split")
    doc = run_ok(small, "subset", inputs)
    paths = fetch_files(doc, tmp_path_factory.mktemp("split"))
    assert len(paths) >= 3, [f["title"] for f in doc["files"]]
    parts = [open_nc(p) for p in paths]
    # time ranges follow each other without overlap; each file's name has its range
    for a, b in zip(parts, parts[1:]):
        assert a["time"].values[-1] < b["time"].values[0]
    joined = open_out(paths)
    got, want = joined, whole[2]
    assert isotimes(got["time"]) == isotimes(want["time"])
    for n in ("zg500", "time_bnds", "lat", "lon"):
        assert_same_values(got[n], want[n], n)
