"""Every variable of every dataset through pydap: xarray.open_dataset(url,
engine="pydap") with default decoding must equal xarray's decoding of the local
files (joined along time); plus pydap-native reads of Grid members and maps."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from pydap.client import open_url

from cirrus_ref import find_remote_name
from conftest import remote_var_name, short_id

_REMOTE: dict = {}


def remote(server, dataset_id) -> xr.Dataset:
    if dataset_id not in _REMOTE:
        try:
            _REMOTE[dataset_id] = xr.open_dataset(server.dap_url(dataset_id), engine="pydap")
        except Exception as e:
            _REMOTE[dataset_id] = e
    r = _REMOTE[dataset_id]
    if isinstance(r, Exception):
        raise AssertionError(
            f"xarray.open_dataset({server.dap_url(dataset_id)!r}, engine='pydap') failed: {r!r}"
        )
    return r


def local_var(ref, name) -> xr.DataArray:
    if "/" in name:
        group, base = name.rsplit("/", 1)
        return ref.xarray(group=group)[base]
    return ref.xarray()[name]


def _texts(values) -> list[str]:
    out = []
    for x in np.asarray(values, dtype=object).ravel():
        if isinstance(x, bytes):
            x = x.decode("utf-8")
        out.append(str(x).rstrip("\0 "))
    return out


def _ascii_runs(texts):
    """Contiguous index ranges of pure-ASCII strings.

    pydap (3.5) decodes DAP2 String data as ASCII and raises on UTF-8 text, so
    elements holding non-ASCII text are read through the other clients only
    (test_dap2_netcdf4.py::test_raw_values compares them byte for byte)."""
    runs, start = [], None
    for i, t in enumerate(texts + [None]):
        ok = t is not None and t.isascii()
        if ok and start is None:
            start = i
        if not ok and start is not None:
            runs.append((start, i))
            start = None
    return runs


def test_xarray_pydap(server, dap2_var):
    dsid, name = dap2_var
    ref = server.reference(dsid)
    lv = ref.variables()[name]
    what = f"{short_id(dsid)}:{name}"
    loc = local_var(ref, name)
    rds = remote(server, dsid)
    rv = rds[remote_var_name(name, rds.variables.keys())]

    # dimensions and shape as xarray sees them
    # DAP2 has no groups: dimensions of group variables are flattened (g1/y -> g1_y)
    exp_dims = tuple(find_remote_name(d, rv.dims) or next((r for r in rv.dims if r.endswith("_" + d)), d) for d in loc.dims)
    assert rv.dims == exp_dims, f"{what}: dims {rv.dims}, expected {loc.dims}"
    assert rv.shape == loc.shape, f"{what}: shape {rv.shape}, expected {loc.shape}"

    if lv.is_char or lv.is_string:
        exp = _texts(loc.values)
        if rv.ndim == 0:
            got = _texts(rv.values)
        else:
            got = [None] * len(exp)
            for a, b in _ascii_runs(exp):
                got[a:b] = _texts(rv[a:b].values)
            exp = [e if e.isascii() else None for e in exp]
        assert got == exp, f"{what}: text differs"
        return

    got = rv.values
    exp = loc.values
    if exp.dtype.kind in "OMm" or got.dtype.kind in "OMm":
        # decoded times (cftime objects or datetime64)
        assert got.dtype.kind == exp.dtype.kind, f"{what}: times decoded as {got.dtype}, expected {exp.dtype}"
        assert np.array_equal(got, exp), f"{what}: decoded times differ"
        return
    if got.dtype == exp.dtype:
        same = (got == exp) | ((got != got) & (exp != exp)) if exp.dtype.kind == "f" else (got == exp)
        if not np.all(same):
            idx = tuple(int(i[0]) for i in np.nonzero(~same))
            raise AssertionError(
                f"{what}: {int((~same).sum())} values differ; first at {idx}: got {got[idx]!r}, expected {exp[idx]!r}"
            )
    else:
        # pydap hands scale_factor/add_offset to xarray as Python floats, so a packed
        # variable decodes to float64 remotely and float32 locally: equal within float32
        assert exp.dtype.kind == "f" and got.dtype.kind == "f", (
            f"{what}: decoded as {got.dtype}, expected {exp.dtype}"
        )
        np.testing.assert_allclose(got, exp, rtol=2e-7 if exp.dtype == np.float32 else 0,
                                   atol=0, equal_nan=True, err_msg=what)


def test_xarray_pydap_coords_and_time(server, dataset_id):
    """The dataset as a whole: same variables (DAP2-representable), same index
    coordinates, same decoded time axis (calendar included)."""
    ref = server.reference(dataset_id)
    rds = remote(server, dataset_id)
    loc = ref.xarray()
    for name in loc.variables:
        if loc[name].dtype in (np.dtype("int64"), np.dtype("uint64")) and name not in rds.variables:
            continue
        remote_var_name(name, rds.variables.keys())
    for idx in loc.indexes:
        assert idx in rds.indexes, f"index coordinate {idx} missing remotely"
        assert rds.indexes[idx].equals(loc.indexes[idx]), f"index {idx} differs"
    if ref.time_dim is not None and ref.time_dim in loc:
        enc_l = loc[ref.time_dim].encoding
        enc_r = rds[ref.time_dim].encoding
        assert enc_r.get("calendar") == enc_l.get("calendar")
        assert enc_r.get("units") == enc_l.get("units")


# --------------------------------------------------------------------------- pydap native

HADGEM = "cmip5.output1.MOHC.HadGEM2-ES.rcp85.mon.atmos.Amon.r1i1p1.latest.tas"
EUR11 = "cordex.output.EUR-11.IPSL.IPSL-IPSL-CM5A-MR.rcp85.r1i1p1.IPSL-WRF381P.v1.day.zg500.v20190919"


@pytest.mark.parametrize("dsid,var", [(HADGEM, "tas"), (EUR11, "zg500")], ids=["HadGEM2-ES", "EUR-11"])
def test_pydap_grid_members(server, dsid, var):
    import pydap.model as M

    ref = server.reference(dsid)
    ds = open_url(server.dap_url(dsid))
    g = ds[var]
    assert isinstance(g, M.GridType), f"{var} should be a DAP2 Grid, is {type(g).__name__}"
    lv = ref.variables()[var]
    assert list(g.maps) == list(lv.dimensions), f"maps {list(g.maps)}, expected {lv.dimensions}"
    full = ref.read(var)
    b = ref.file_boundaries()[0]
    cases = [
        (slice(b - 3, b + 3), slice(None), slice(None)),
        (slice(b - 6, b + 7, 3), 0, slice(None)),
        (slice(0, 10), slice(1, None), slice(0, 1)),
        (slice(ref.n_records - 2, ref.n_records), slice(None, None, 2), 1),
    ]
    for key in cases:
        got = np.asarray(g[var][key].data)  # Grid member (?var.var[..])
        exp = full[key]
        # pydap keeps an integer index as a dimension of length 1
        assert got.size == exp.size and np.array_equal(got.reshape(exp.shape), exp), f"{var}.{var}{key}"
        got2 = np.asarray(g[key].data)  # the Grid itself, sliced
        assert np.array_equal(got2.reshape(exp.shape), exp), f"{var}{key}"
    for dim in lv.dimensions:
        m = np.asarray(g.maps[dim][:].data)
        assert np.array_equal(m, ref.read(dim)), f"map {dim} differs"
        sl = slice(1, None, 2)
        assert np.array_equal(np.asarray(g[dim][sl].data), ref.read(dim)[sl]), f"map {dim}[1::2] differs"
    # a top-level coordinate array, across the boundary
    t = np.asarray(ds[ref.time_dim][b - 2:b + 2].data)
    assert np.array_equal(t, ref.read(ref.time_dim)[b - 2:b + 2])


def test_pydap_name_with_space(server):
    """A variable named `surface pressure` is served (escaped in the DDS) and reads."""
    ds = open_url(server.dap_url("misc/all_types.nc"))
    name = remote_var_name("surface pressure", list(ds.keys()))
    ref = server.reference("misc/all_types.nc")
    got = np.asarray(ds[name][:].data)
    if got.dtype.names:  # a Grid read as a whole
        got = np.asarray(ds[name].array[:].data)
    assert np.array_equal(got.ravel(), ref.read("surface pressure").ravel())
    assert ds[name].attributes.get("units") == "Pa"
