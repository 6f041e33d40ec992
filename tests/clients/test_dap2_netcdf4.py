"""Every variable of every dataset through libnetcdf's own DAP2 client (netCDF4 on
the URL), compared with the local files (joined along time for multi-file
datasets): raw values bit for bit, decoded values, attributes, dimensions,
hyperslabs with strides, slabs across file boundaries."""

from __future__ import annotations

import numpy as np
import netCDF4

from cirrus_ref import parse_dap_error
from conftest import main_server, remote_var_name, short_id

_REMOTE: dict = {}


def remote(server, dataset_id) -> netCDF4.Dataset:
    """One libnetcdf DAP2 connection per dataset (opening fetches DDS and DAS)."""
    if dataset_id not in _REMOTE:
        try:
            _REMOTE[dataset_id] = netCDF4.Dataset(server.dap_url(dataset_id))
        except Exception as e:  # cache the failure: every variable test reports it
            _REMOTE[dataset_id] = e
    r = _REMOTE[dataset_id]
    if isinstance(r, Exception):
        raise AssertionError(f"netCDF4.Dataset({server.dap_url(dataset_id)!r}) failed: {r!r}")
    return r


def remote_var(server, dataset_id, local_name):
    ds = remote(server, dataset_id)
    return ds.variables[remote_var_name(local_name, ds.variables.keys())]


def native(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    return np.ascontiguousarray(a.astype(a.dtype.newbyteorder("="), copy=False))


def char_strings(a: np.ndarray) -> np.ndarray:
    """S1 array (..., n) -> array of bytes strings (...), NUL/space padding removed."""
    a = np.asarray(a)
    if a.ndim == 0:
        return np.array(a.tobytes().rstrip(b"\0 "), dtype=object)
    flat = a.reshape(-1, a.shape[-1])
    rows = [b"".join(bytes(x) for x in row).rstrip(b"\0 ") for row in flat]
    out = np.empty(len(rows), dtype=object)
    out[:] = rows
    return out.reshape(a.shape[:-1])


def assert_same_raw(local: np.ndarray, got: np.ndarray, what: str):
    """Values identical bit for bit, after viewing the client's array as the
    local type (the DAP2 client maps unsigned types to signed ones of the same
    width, and a signed byte arrives as Byte + _Unsigned="false")."""
    local = native(local)
    got = native(got)
    assert got.shape == local.shape, f"{what}: shape {got.shape}, expected {local.shape}"
    assert got.dtype.itemsize == local.dtype.itemsize, (
        f"{what}: client type {got.dtype} does not have the width of the local type {local.dtype}"
    )
    got = got.view(local.dtype)
    if got.tobytes() != local.tobytes():
        neq = np.nonzero(~((got == local) | ((got != got) & (local != local))))
        idx = tuple(int(i[0]) for i in neq) if len(neq) and len(neq[0]) else ()
        n_bad = len(neq[0]) if len(neq) else 0
        raise AssertionError(
            f"{what}: {n_bad} of {local.size} values differ; first at index {idx}: "
            f"got {got[idx]!r}, expected {local[idx]!r}"
        )


# --------------------------------------------------------------------------- values


def test_raw_values(server, dap2_var):
    dsid, name = dap2_var
    ref = server.reference(dsid)
    lv = ref.variables()[name]
    v = remote_var(server, dsid, name)
    v.set_auto_maskandscale(False)
    v.set_auto_chartostring(False)
    got = v[...]
    got = np.ma.getdata(got)
    local = ref.read(name)
    what = f"{short_id(dsid)}:{name}"
    if lv.is_char or lv.is_string:
        if lv.is_char:
            exp = char_strings(local)
        else:
            exp = np.vectorize(lambda s: s.encode("utf-8"), otypes=[object])(local) if local.ndim else \
                np.array(str(local).encode(), dtype=object)
        assert got.dtype == np.dtype("S1"), f"{what}: text arrives as {got.dtype}"
        got_s = char_strings(got)
        assert got_s.shape == exp.shape, f"{what}: shape {got_s.shape}, expected {exp.shape}"
        assert got_s.tolist() == exp.tolist(), what
        return
    assert_same_raw(local, got, what)


def test_decoded_values(server, dap2_num_var):
    """Auto mask/scale on: the client's decoding of the served data and attributes
    equals its decoding of the local file (scale_factor/add_offset, _FillValue,
    missing_value, NaN fill, _Unsigned)."""
    dsid, name = dap2_num_var
    ref = server.reference(dsid)
    v = remote_var(server, dsid, name)
    v.set_auto_maskandscale(True)
    got = v[...]
    exp = ref.read(name, decoded=True)
    what = f"{short_id(dsid)}:{name}"
    got_m = np.ma.getmaskarray(got)
    exp_m = np.ma.getmaskarray(exp)
    assert np.shape(got) == np.shape(exp), what
    assert np.array_equal(got_m, exp_m), (
        f"{what}: masked cells differ ({int(got_m.sum())} masked, expected {int(exp_m.sum())})"
    )
    g = np.asarray(np.ma.getdata(got))[~got_m]
    e = np.asarray(np.ma.getdata(exp))[~exp_m]
    assert g.dtype.kind == e.dtype.kind, f"{what}: decoded dtype {g.dtype}, expected {e.dtype}"
    same = (g == e) | ((g != g) & (e != e)) if e.dtype.kind == "f" else (g == e)
    if not np.all(same):
        i = int(np.nonzero(~same)[0][0])
        raise AssertionError(
            f"{what}: {int((~same).sum())} decoded values differ; first: got {g[i]!r}, expected {e[i]!r}"
        )


# --------------------------------------------------------------------------- attributes

# local numpy type of an attribute -> acceptable numpy types in libnetcdf's DAP2 view
ATTR_TYPES = {
    "int8": {"int16"},  # DAP2 Byte is unsigned: a signed byte attribute becomes Int16
    "uint8": {"int8", "uint8"},
    "int16": {"int16"},
    "uint16": {"int16", "uint16"},
    "int32": {"int32"},
    "uint32": {"int32", "uint32"},
    "float32": {"float32"},
    "float64": {"float64"},
    "int64": {"float64", "str"},  # no 64-bit integers in DAP2
    "uint64": {"float64", "str"},
}


def check_attr(what, local, got):
    if isinstance(local, str):
        assert isinstance(got, str), f"{what}: got {type(got).__name__} {got!r}, expected text {local!r}"
        assert got == local, f"{what}: got {got!r}, expected {local!r}"
        return
    if isinstance(local, (list, tuple)) and all(isinstance(x, str) for x in local):
        # libnetcdf presents a multi-valued DAP String attribute as one text joined by newlines
        ok = got == list(local) or got == "\n".join(local)
        assert ok, f"{what}: got {got!r}, expected the strings {list(local)!r}"
        return
    la = np.atleast_1d(np.asarray(local))
    ga = np.atleast_1d(np.asarray(got)) if not isinstance(got, str) else None
    lt = la.dtype.name
    if ga is None:
        assert "str" in ATTR_TYPES.get(lt, set()), f"{what}: got text {got!r}, expected {lt} {local!r}"
        assert [int(x) for x in got.split()] == [int(x) for x in la], f"{what}: got {got!r}, expected {local!r}"
        return
    assert ga.dtype.name in ATTR_TYPES.get(lt, {lt}), (
        f"{what}: type {ga.dtype.name}, expected one of {sorted(ATTR_TYPES.get(lt, {lt}))} for local {lt}"
    )
    assert ga.shape == la.shape, f"{what}: {ga.shape[0]} values, expected {la.shape[0]}"
    if ga.dtype.itemsize == la.dtype.itemsize and ga.dtype.kind in "iu" and la.dtype.kind in "iu":
        ga = ga.view(la.dtype)
    if la.dtype.kind in "iu" and ga.dtype.kind == "f":
        assert [int(x) for x in ga] == [int(x) for x in la], f"{what}: got {got!r}, expected {local!r}"
        return
    if la.dtype.kind == "f":
        ga = ga.astype(la.dtype)
        same = (ga == la) | (np.isnan(ga) & np.isnan(la))
    else:
        same = ga.astype(np.int64) == la.astype(np.int64)
    assert np.all(same), f"{what}: got {got!r}, expected {local!r}"


def test_attributes(server, dataset_id):
    """Every attribute of every variable and every global attribute, with its value
    and a DAP2 type that keeps it (including multi-line text, quotes, backslashes,
    tabs, non-ASCII, NaN, extreme integers)."""
    ref = server.reference(dataset_id)
    ds = remote(server, dataset_id)
    problems = []

    def compare(prefix, local_attrs, robj):
        remote_names = set(robj.ncattrs())
        for a, lval in local_attrs.items():
            if a not in remote_names:
                problems.append(f"{prefix}: attribute {a!r} missing")
                continue
            try:
                check_attr(f"{prefix}:{a}", lval, robj.getncattr(a))
            except AssertionError as e:
                problems.append(str(e))

    compare("NC_GLOBAL", ref.global_attrs(), ds)
    for name, lv in ref.variables().items():
        if not lv.dap2:
            continue
        rname = remote_var_name(name, ds.variables.keys())
        compare(name, lv.attrs, ds.variables[rname])
        extra = set(ds.variables[rname].ncattrs()) - set(lv.attrs) - {"_Unsigned"}
        if extra:
            problems.append(f"{name}: unexpected attributes {sorted(extra)}")
        if lv.dtype == np.dtype("int8"):
            un = ds.variables[rname].getncattr("_Unsigned") if "_Unsigned" in ds.variables[rname].ncattrs() else None
            if un != "false":
                problems.append(f"{name}: signed byte without _Unsigned = \"false\" (got {un!r})")
    assert not problems, "\n".join(problems)


def test_dimensions(server, dataset_id):
    """The DAP2 view has every dimension used by a DAP2-representable variable
    (char arrays lose their string-length dimension), with its joined length and
    its UNLIMITED flag; each variable has the local dimensions and shape."""
    ref = server.reference(dataset_id)
    ds = remote(server, dataset_id)
    local_dims = ref.dimensions()
    vars_ = ref.variables()
    used = set()
    problems = []
    for name, lv in vars_.items():
        if not lv.dap2:
            continue
        dims = lv.dimensions[:-1] if lv.is_char else lv.dimensions
        used.update(dims)
        rv = ds.variables[remote_var_name(name, ds.variables.keys())]
        rdims = rv.dimensions[:-1] if rv.dtype == np.dtype("S1") and rv.ndim and (lv.is_char or lv.is_string) \
            else rv.dimensions
        exp_shape = lv.shape[:-1] if lv.is_char else lv.shape
        rshape = rv.shape[:len(rdims)]
        if len(rdims) != len(dims) or tuple(rshape) != tuple(exp_shape):
            problems.append(f"{name}: dims {rdims} shape {rshape}, expected {dims} {exp_shape}")
    for d in sorted(used):
        n, unlimited = local_dims[d]
        rname = remote_var_name(d, ds.dimensions.keys())
        rd = ds.dimensions[rname]
        if len(rd) != n or rd.isunlimited() != unlimited:
            problems.append(f"dimension {d}: {len(rd)} unlimited={rd.isunlimited()}, expected {n} unlimited={unlimited}")
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- 64-bit integers


def test_int64_not_in_dap2(server):
    dsid = "misc/all_types.nc"
    ds = remote(server, dsid)
    for name in ("int64_var", "uint64_var"):
        assert name not in ds.variables, f"{name} should be left out of DAP2"
        for suffix in (".dds", ".dods", ".ascii"):
            r = server.get(f"/opendap/{dsid}{suffix}?{name}")
            assert r.status_code == 400, f"{suffix}?{name}: status {r.status_code}, expected 400"
            _, msg = parse_dap_error(r.text)
            assert "DAP4" in msg and name in msg, f"{suffix}?{name}: message {msg!r} should name {name} and DAP4"
    # the other variables of the file are all there
    ref = server.reference(dsid)
    for name, lv in ref.variables().items():
        if lv.dap2:
            remote_var_name(name, ds.variables.keys())


# --------------------------------------------------------------------------- hyperslabs


def _keys_for(shape):
    """Index tuples exercising strides, single indices, last elements."""
    if not shape:
        return []
    keys = []
    keys.append(tuple(slice(0, n, 2) for n in shape))
    keys.append(tuple(slice(1, n, 3) if n > 1 else slice(0, 1) for n in shape))
    keys.append(tuple(n // 2 for n in shape))  # a single element
    keys.append((shape[0] - 1,) + tuple(slice(None) for _ in shape[1:]))  # last record
    keys.append((slice(0, min(shape[0], 7)),) + tuple(slice(n - 1, n) for n in shape[1:]))
    if len(shape) >= 2:
        keys.append((slice(None, None, max(1, shape[0] // 5)),) + (shape[1] - 1,) + tuple(
            slice(0, n, max(1, n - 1)) for n in shape[2:]))
    return keys


def _main_variables():
    srv = main_server()
    out, labels = [], []
    for dsid in [d["id"] for d in srv.datasets()]:
        vars_ = srv.reference(dsid).variables()
        cands = [v for v in vars_.values() if v.dap2 and not v.is_char and not v.is_string and len(v.shape) >= 1]
        if not cands:
            continue
        best = max(cands, key=lambda v: (len(v.shape), v.size))
        out.append((dsid, best.name))
        labels.append(f"{short_id(dsid)}:{best.name}")
    return out, labels


def pytest_generate_tests(metafunc):
    if "slab_var" in metafunc.fixturenames:
        params, labels = _main_variables()
        metafunc.parametrize("slab_var", params, ids=labels)
    if "boundary_case" in metafunc.fixturenames:
        srv = main_server()
        params, labels = [], []
        for d in srv.datasets():
            ref = srv.reference(d["id"])
            if len(ref.files) < 2:
                continue
            for b in ref.file_boundaries():
                params.append((d["id"], b))
                labels.append(f"{short_id(d['id'])}@{b}")
        metafunc.parametrize("boundary_case", params, ids=labels)


def test_hyperslabs(server, slab_var):
    dsid, name = slab_var
    ref = server.reference(dsid)
    lv = ref.variables()[name]
    v = remote_var(server, dsid, name)
    v.set_auto_maskandscale(False)
    full = ref.read(name)
    for key in _keys_for(lv.shape):
        got = np.ma.getdata(v[key])
        assert_same_raw(np.asarray(full[key]), np.asarray(got), f"{short_id(dsid)}:{name}{key}")


def test_file_boundary(server, boundary_case):
    """Slabs across the boundary between two files of a joined dataset (the
    HadGEM2-ES boundary after 2099-12-16 is where a repeated step is dropped)."""
    dsid, b = boundary_case
    ref = server.reference(dsid)
    ds = remote(server, dsid)
    tname = remote_var_name(ref.time_dim, ds.variables.keys())
    n = ref.n_records
    lo, hi = max(0, b - 5), min(n, b + 6)
    tv = ds.variables[tname]
    tv.set_auto_maskandscale(False)
    assert_same_raw(ref.read(ref.time_dim)[lo:hi], np.asarray(tv[lo:hi]), f"time[{lo}:{hi}]")
    t = np.asarray(tv[lo:hi])
    assert np.all(np.diff(t) > 0), f"time is not increasing across the boundary at {b}: {t}"
    for name, lv in ref.variables().items():
        if not lv.dap2 or ref.time_dim not in lv.dimensions or lv.is_char or lv.is_string:
            continue
        ax = lv.dimensions.index(ref.time_dim)
        full = ref.read(name)
        v = ds.variables[remote_var_name(name, ds.variables.keys())]
        v.set_auto_maskandscale(False)
        for sl in (slice(b - 1, b + 1), slice(lo, hi, 2), slice(lo + 1, hi, 3)):
            key = tuple(sl if i == ax else slice(None) for i in range(len(lv.shape)))
            assert_same_raw(full[key], np.ma.getdata(v[key]), f"{name}{key}")
        key = tuple(b if i == ax else 0 for i in range(len(lv.shape)))
        assert_same_raw(np.asarray(full[key]), np.asarray(np.ma.getdata(v[key])), f"{name}{key}")


def test_hadgem_joined_time_axis(server):
    """HadGEM2-ES: 13 files, the repeated 2099-12-16 step counted once."""
    dsid = "cmip5.output1.MOHC.HadGEM2-ES.rcp85.mon.atmos.Amon.r1i1p1.latest.tas"
    ref = server.reference(dsid)
    assert len(ref.files) == 13
    per_file = [len(netCDF4.Dataset(str(f)).dimensions["time"]) for f in ref.files]
    assert ref.n_records == sum(per_file) - 1
    ds = remote(server, dsid)
    tv = ds.variables["time"]
    t = np.asarray(tv[:])
    assert len(t) == ref.n_records
    assert np.all(np.diff(t) > 0), "joined time axis must be strictly increasing"
    dates = netCDF4.num2date(t[[0, -1]], tv.units, tv.calendar)
    assert (dates[0].year, dates[0].month, dates[0].day) == (2005, 12, 16)
    assert (dates[1].year, dates[1].month, dates[1].day) == (2299, 12, 16)
