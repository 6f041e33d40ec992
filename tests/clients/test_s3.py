"""Data roots on S3 object storage: `cirrus serve --data s3://BUCKET/PREFIX`.

The ESGF samples ($CIRRUS_SHARED_DATA/esgf) are uploaded with boto3 to a real S3 server
(s3s-fs, s3_server.py) under `cmip/esgf/...`, and a cirrus server on
`s3://cmip/esgf` (credentials and endpoint from the standard AWS_* variables) must serve
exactly what a server on the local directory serves, read with the real clients:

- the same dataset ids in /datasets;
- every dataset over DAP2 with netCDF4 (libnetcdf) and with xarray + pydap, every
  variable equal to the local file (raw values bit for bit) and to the local server's
  answer (attributes, dimensions, decoded values);
- DAP4 (netCDF4 `#dap4`) for a few datasets, every variable of every type bit for bit;
- `.nc` downloads (whole datasets and subsets), opened with netCDF4;
- Zarr v2 and v3 stores with `xr.open_zarr`, equal to the local source;
- OGC API - Processes subset and average, WMS GetMap, EDR position: the same values as
  from the local server;
- faults, on servers with `--s3-timeout 3 --s3-retries 1` and no decoded-chunk cache:
  s3s-fs killed (503/504 within timeout x (retries + 1) + 10 s, with a reason; /health
  answers; back when s3s-fs is), a proxy in front of it answering 500 (503), hanging
  (504/503, quickly) or closing connections; wrong credentials (`cirrus serve` exits
  non-zero, says why, never prints the secret); an object deleted after indexing (503
  naming it; the other datasets still served).

The expected values come from the local files (cirrus_ref.Reference, files joined along
time) and from a cirrus server on the local esgf directory, started at collection time
(the tests are parametrized over its datasets).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import warnings
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import requests
import xarray as xr

from cirrus_ref import Reference, find_remote_name, parse_dap_error
from conftest import _SESSION, CirrusServer, _unique, cirrus_bin, free_port, session_tmp, shared_data, short_id
from proc_util import fetch_files, open_out, run_ok
from s3_server import FaultProxy, S3Server

BUCKET = "cmip"
FAULT_BUCKET = "cmip-faults"  # a second copy, for the test that deletes an object
PREFIX = "esgf"
S3_TIMEOUT = 3
S3_RETRIES = 1
FAULT_ARGS = ["--s3-timeout", str(S3_TIMEOUT), "--s3-retries", str(S3_RETRIES), "--chunk-cache-bytes", "0"]
# the longest a request may take when the object store fails (the answer must come by then)
FAULT_BOUND = S3_TIMEOUT * (S3_RETRIES + 1) + 10
REASON_RE = re.compile(r"s3|object|stor|unavailable|unreachable|time|connect|refused|error|fail|5\d\d", re.I)


# --------------------------------------------------------------------------- local reference server

_LOCAL: list = []


def local_server() -> CirrusServer:
    """cirrus on the local esgf directory (started at collection: the tests are
    parametrized over its datasets); stopped at the end of the session."""
    if not _LOCAL:
        srv = CirrusServer([shared_data() / "esgf"], session_tmp() / "s3-local", name="s3-local")
        _LOCAL.append(srv)
        _SESSION["servers"].append(srv)  # stopped (and its log shown on failures) by conftest
        srv.start()
    return _LOCAL[0]


_CATALOG: dict = {}


def local_datasets() -> dict[str, dict]:
    """{id: /datasets entry} of the local server."""
    if not _CATALOG:
        for d in local_server().json("/datasets")["datasets"]:
            _CATALOG[d["id"]] = d
    return _CATALOG


def find_id(*parts) -> str:
    hits = [i for i in local_datasets() if all(p in i for p in parts)]
    assert len(hits) == 1, f"datasets matching {parts}: {hits}"
    return hits[0]


def pytest_generate_tests(metafunc):
    if "s3_dsid" in metafunc.fixturenames:
        ids = sorted(local_datasets())
        metafunc.parametrize("s3_dsid", ids, ids=_unique([short_id(i) for i in ids]))


_REFS: dict = {}


def reference(dsid: str) -> Reference:
    """The dataset as its local files hold it."""
    if dsid not in _REFS:
        esgf = shared_data() / "esgf"
        _REFS[dsid] = Reference.build(dsid, [esgf / f for f in local_datasets()[dsid]["files"]])
    return _REFS[dsid]


def object_key(dsid: str, i: int = 0) -> str:
    return f"{PREFIX}/{local_datasets()[dsid]['files'][i]}"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def s3():
    """s3s-fs with the esgf samples uploaded (boto3) to cmip/esgf/... and cmip-faults/esgf/..."""
    try:
        srv = S3Server()
    except FileNotFoundError as e:
        pytest.fail(str(e), pytrace=False)
    try:
        srv.start()
    except RuntimeError as e:
        srv.close()
        pytest.fail(str(e), pytrace=False)
    try:
        esgf = shared_data() / "esgf"
        for bucket in (BUCKET, FAULT_BUCKET):
            srv.create_bucket(bucket)
            keys = srv.upload_tree(esgf, bucket, PREFIX)
            listed = srv.list_keys(bucket, PREFIX + "/")
            assert listed == {k: f.stat().st_size for k, f in keys.items()}, (
                f"{bucket}: the bucket lists {len(listed)} objects, {len(keys)} were uploaded")
        yield srv
    finally:
        if not srv.alive():
            print(f"--- s3s-fs log ---\n{srv.log_tail()}")
        srv.close()


@pytest.fixture(scope="module")
def local():
    return local_server()


@pytest.fixture(scope="module", autouse=True)
def _close_refs():
    yield
    for r in _REFS.values():
        r.close()
    _REFS.clear()


@pytest.fixture(scope="module")
def s3_cirrus(s3, start_server):
    """cirrus on s3://cmip/esgf (default timeout and retries)."""
    return start_server([f"s3://{BUCKET}/{PREFIX}"], name="s3", env=s3.cirrus_env())


@pytest.fixture(scope="module")
def fault_direct(s3, start_server):
    """cirrus on s3://cmip-faults/esgf, straight to s3s-fs, short timeouts, no chunk cache."""
    return start_server([f"s3://{FAULT_BUCKET}/{PREFIX}"], extra_args=FAULT_ARGS, name="s3-faults",
                        env=s3.cirrus_env())


@pytest.fixture(scope="module")
def proxy(s3):
    p = FaultProxy(s3.port, hang_seconds=120)
    yield p
    p.stop()


@pytest.fixture(scope="module")
def fault_proxied(s3, proxy, start_server):
    """cirrus on s3://cmip/esgf through the fault proxy, short timeouts, no chunk cache."""
    return start_server([f"s3://{BUCKET}/{PREFIX}"], extra_args=FAULT_ARGS, name="s3-proxied",
                        env=s3.cirrus_env(endpoint=proxy.url))


# --------------------------------------------------------------------------- helpers


def native(a) -> np.ndarray:
    a = np.asarray(np.ma.getdata(a))
    return np.ascontiguousarray(a.astype(a.dtype.newbyteorder("="), copy=False))


def assert_same_bits(got, exp, what: str):
    """Same shape and the same bytes (the client's type viewed as the local one: DAP2
    maps unsigned types to signed ones of the same width)."""
    got, exp = native(got), native(exp)
    assert got.shape == exp.shape, f"{what}: shape {got.shape}, expected {exp.shape}"
    assert got.dtype.itemsize == exp.dtype.itemsize, f"{what}: type {got.dtype}, expected {exp.dtype}"
    got = got.view(exp.dtype)
    if got.tobytes() != exp.tobytes():
        bad = np.nonzero(~((got == exp) | ((got != got) & (exp != exp))))
        idx = tuple(int(i[0]) for i in bad) if len(bad) and len(bad[0]) else ()
        raise AssertionError(f"{what}: {len(bad[0]) if len(bad) else '?'} of {exp.size} values differ; first at "
                             f"{idx}: got {got[idx]!r}, expected {exp[idx]!r}")


def char_strings(a) -> list:
    """S1 array (..., n) -> its strings (NUL/space padding removed), as a flat list."""
    a = np.asarray(a)
    if a.ndim == 0:
        return [a.tobytes().rstrip(b"\0 ")]
    flat = a.reshape(-1, a.shape[-1]) if a.shape[-1] else a.reshape(-1, 1)
    return [b"".join(bytes(x) for x in row).rstrip(b"\0 ") for row in flat]


def same_attr(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind in "fiu" and b.dtype.kind in "fiu":
        return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    return a.tolist() == b.tolist()


def close_attr(a, b) -> bool:
    """An attribute as Zarr's JSON carries it (numbers without their NetCDF type)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind in "fiu" and b.dtype.kind in "fiu":
        return a.shape == b.shape and np.allclose(a.astype(float), b.astype(float), rtol=1e-7, equal_nan=True)
    return a.tolist() == b.tolist()


def assert_same_attrs(got: dict, exp: dict, what: str):
    assert set(got) == set(exp), f"{what}: attributes differ: {sorted(set(got) ^ set(exp))}"
    for k in exp:
        assert same_attr(got[k], exp[k]), f"{what}:{k}: {got[k]!r}, expected {exp[k]!r}"


def nc_attrs(obj) -> dict:
    return {a: obj.getncattr(a) for a in obj.ncattrs()}


def nc_var(ds, name):
    g = ds
    parts = name.split("/")
    for p in parts[:-1]:
        g = g.groups[p]
    return g.variables[parts[-1]]


def read_raw(v):
    v.set_auto_maskandscale(False)
    v.set_auto_chartostring(False)
    return v[...] if v.ndim else v.getValue()


def same_decoded(got: np.ndarray, exp: np.ndarray, what: str):
    """xarray's decoding of the served data vs its decoding of the local file (pydap
    hands packed variables to xarray with Python-float scale factors: float64 remotely,
    float32 locally, equal within float32)."""
    assert got.shape == exp.shape, f"{what}: shape {got.shape}, expected {exp.shape}"
    if exp.dtype.kind in "OMm" or got.dtype.kind in "OMm":
        assert got.dtype.kind == exp.dtype.kind, f"{what}: times decoded as {got.dtype}, expected {exp.dtype}"
        assert np.array_equal(got, exp), f"{what}: decoded times differ"
    elif exp.dtype.kind in "SUO" or got.dtype.kind in "SUO":
        assert [str(x) for x in got.ravel().tolist()] == [str(x) for x in exp.ravel().tolist()], what
    elif got.dtype == exp.dtype:
        np.testing.assert_array_equal(got, exp, err_msg=what)
    else:
        assert exp.dtype.kind == "f" and got.dtype.kind == "f", f"{what}: decoded as {got.dtype}, expected {exp.dtype}"
        np.testing.assert_allclose(got, exp, rtol=2e-7 if exp.dtype == np.float32 else 0, atol=0, equal_nan=True,
                                   err_msg=what)


def get_timed(srv, path: str, **kw) -> tuple[requests.Response | None, float, str]:
    """GET with a client timeout beyond FAULT_BOUND: (response or None, seconds, error)."""
    t0 = time.monotonic()
    try:
        r = srv.get(path, timeout=FAULT_BOUND + 20, **kw)
        return r, time.monotonic() - t0, ""
    except requests.RequestException as e:
        return None, time.monotonic() - t0, f"{type(e).__name__}: {e}"


def assert_fault_answer(srv, r, dt, err, path, statuses=(503, 504), dap2=True) -> str:
    """A timely 503/504 with a reason: a DAP2 error body for DAP2 URLs, problem+json
    elsewhere. Returns the reason."""
    assert r is not None, f"GET {path}: no answer after {dt:.1f} s ({err})\n--- {srv.name} log ---\n{srv.log_tail(25)}"
    assert r.status_code in statuses, (
        f"GET {path}: status {r.status_code} after {dt:.1f} s, expected one of {statuses}; body {r.text[:400]!r}\n"
        f"--- {srv.name} log ---\n{srv.log_tail(25)}")
    assert dt <= FAULT_BOUND, f"GET {path}: the {r.status_code} came after {dt:.1f} s (at most {FAULT_BOUND} s)"
    if dap2:
        _code, msg = parse_dap_error(r.text)
    else:
        ctype = r.headers.get("content-type", "")
        assert ctype.startswith("application/problem+json"), f"GET {path}: content-type {ctype!r}: {r.text[:300]!r}"
        p = r.json()
        assert p.get("status") == r.status_code, p
        msg = f"{p.get('title', '')} {p.get('detail', '')}"
    assert msg.strip() and REASON_RE.search(msg), f"GET {path}: no reason in the {r.status_code} answer: {msg!r}"
    return msg


def assert_healthy(srv, when: str):
    r = srv.get("/health", timeout=10)
    assert r.status_code == 200 and r.text.strip() == "ok", f"/health {when}: {r.status_code} {r.text[:200]!r}"
    assert srv.alive(), f"{srv.name} exited {when}:\n{srv.log_tail(30)}"


def assert_same_response(srv, local, path: str, what: str):
    """The S3-backed server answers 200 with the bytes the local server sends."""
    r = srv.get(path)
    assert r.status_code == 200, f"{what}: GET {path} -> {r.status_code}: {r.text[:400]!r}\n{srv.log_tail(20)}"
    exp = local.get(path)
    assert exp.status_code == 200, f"local server: GET {path} -> {exp.status_code}"
    assert r.content == exp.content, f"{what}: GET {path}: {len(r.content)} bytes differ from the local server's " \
                                     f"{len(exp.content)}"


# --------------------------------------------------------------------------- catalog


def test_bucket_holds_the_samples(s3):
    """The upload: every file of the esgf samples is an object of the same size."""
    esgf = shared_data() / "esgf"
    files = {f"{PREFIX}/{p.relative_to(esgf).as_posix()}": p.stat().st_size for p in esgf.rglob("*") if p.is_file()}
    assert s3.list_keys(BUCKET, PREFIX + "/") == files


def test_same_dataset_ids(s3_cirrus, local):
    got = s3_cirrus.json("/datasets")
    exp = local.json("/datasets")
    assert got.get("unavailable", []) == [], got.get("unavailable")
    g = {d["id"]: d for d in got["datasets"]}
    e = {d["id"]: d for d in exp["datasets"]}
    assert sorted(g) == sorted(e), f"only on S3: {sorted(set(g) - set(e))}; only local: {sorted(set(e) - set(g))}"
    for dsid in e:
        names = sorted(f.rsplit("/", 1)[-1] for f in g[dsid]["files"])
        assert names == sorted(f.rsplit("/", 1)[-1] for f in e[dsid]["files"]), f"{dsid}: files {names}"


# --------------------------------------------------------------------------- DAP2


def test_dap2_netcdf4(s3_cirrus, local, s3_dsid):
    """libnetcdf's DAP2 client: every variable's raw values equal the local files, and
    dimensions, variables and attributes equal the local server's."""
    ref = reference(s3_dsid)
    with netCDF4.Dataset(s3_cirrus.dap_url(s3_dsid)) as r, netCDF4.Dataset(local.dap_url(s3_dsid)) as lo:
        assert {k: len(d) for k, d in r.dimensions.items()} == {k: len(d) for k, d in lo.dimensions.items()}
        assert sorted(r.variables) == sorted(lo.variables)
        assert_same_attrs(nc_attrs(r), nc_attrs(lo), "global")
        for name in r.variables:
            assert r[name].dimensions == lo[name].dimensions, name
            assert_same_attrs(nc_attrs(r[name]), nc_attrs(lo[name]), name)
        checked = 0
        for name, lv in ref.variables().items():
            if not lv.dap2:
                continue
            rname = find_remote_name(name, r.variables)
            assert rname is not None, f"{name} not among {sorted(r.variables)}"
            got = read_raw(r[rname])
            what = f"{short_id(s3_dsid)}:{name}"
            if lv.is_char or lv.is_string:
                lgot = read_raw(lo[rname])
                assert char_strings(got) == char_strings(lgot), f"{what}: text differs from the local server's"
                if lv.is_char:
                    assert char_strings(got) == char_strings(ref.read(name)), f"{what}: text differs from the file"
            else:
                assert_same_bits(got, ref.read(name), what)
            checked += 1
        assert checked


def test_dap2_xarray_pydap(s3_cirrus, local, s3_dsid):
    """xarray + pydap: identical to the local server's dataset, and each variable
    decoded like xarray decodes the local files."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = xr.open_dataset(s3_cirrus.dap_url(s3_dsid), engine="pydap").load()
        exp = xr.open_dataset(local.dap_url(s3_dsid), engine="pydap").load()
    xr.testing.assert_identical(got, exp)
    loc = reference(s3_dsid).xarray()
    checked = 0
    for name, v in loc.variables.items():
        if v.dtype in (np.dtype("int64"), np.dtype("uint64")) or v.dtype.kind in "SUO":
            continue  # not in DAP2 / text (checked against the local server above)
        rname = find_remote_name(name, got.variables)
        assert rname is not None, f"{name} not among {sorted(got.variables)}"
        same_decoded(got[rname].values, v.values, f"{short_id(s3_dsid)}:{name}")
        checked += 1
    assert checked


# --------------------------------------------------------------------------- DAP4


@pytest.mark.parametrize("parts", [("HadGEM2-ES", "tas"), ("EUR-22", "tas"), ("CESM2", "cl"), ("CanESM5", "siconc")],
                         ids=["hadgem", "eur22", "cesm_cl", "canesm"])
def test_dap4_netcdf4(s3_cirrus, local, parts):
    """libnetcdf's DAP4 client: exact types and values of every variable (char included),
    attributes equal to the local server's."""
    dsid = find_id(*parts)
    ref = reference(dsid)
    with netCDF4.Dataset(s3_cirrus.dap_url(dsid) + "#dap4") as r, netCDF4.Dataset(local.dap_url(dsid) + "#dap4") as lo:
        assert_same_attrs(nc_attrs(r), nc_attrs(lo), "global")
        for name, lv in ref.variables().items():
            v = nc_var(r, name)
            what = f"{short_id(dsid)}:{name}"
            assert_same_attrs(nc_attrs(v), nc_attrs(nc_var(lo, name)), what)
            if lv.is_string:
                assert v.dtype is str, f"{what}: type {v.dtype}"
                assert np.asarray(read_raw(v), dtype=object).tolist() == \
                    np.asarray(ref.read(name), dtype=object).tolist(), what
                continue
            assert np.dtype(v.dtype) == lv.dtype, f"{what}: type {v.dtype}, expected {lv.dtype}"
            assert_same_bits(read_raw(v), ref.read(name), what)


# --------------------------------------------------------------------------- NetCDF downloads


def fetch_nc(srv, path: str, dest: Path) -> Path:
    r = srv.get(path)
    assert r.status_code == 200, f"GET {path} -> {r.status_code}: {r.text[:400]!r}"
    dest.write_bytes(r.content)
    return dest


def test_nc_download_whole(s3_cirrus, s3_dsid, tmp_path):
    ref = reference(s3_dsid)
    f = fetch_nc(s3_cirrus, f"/opendap/{s3_dsid}.nc", tmp_path / "whole.nc")
    with netCDF4.Dataset(f) as nc:
        for name, lv in ref.variables().items():
            v = nc_var(nc, name)
            what = f"{short_id(s3_dsid)}:{name}"
            if lv.is_string:
                assert np.asarray(read_raw(v), dtype=object).tolist() == \
                    np.asarray(ref.read(name), dtype=object).tolist(), what
            else:
                assert_same_bits(read_raw(v), ref.read(name), what)
        loc_attrs = {k: v for k, v in ref.global_attrs().items() if k != "history"}
        got_attrs = {k: v for k, v in nc_attrs(nc).items() if k != "history"}
        assert_same_attrs(got_attrs, loc_attrs, "global")


@pytest.mark.parametrize("parts, query, keys", [
    # across the first file boundary of HadGEM (300 records a file)
    (("HadGEM2-ES", "tas"), "dap4.ce=/tas[290:310][0:1][0]",
     {"tas": np.s_[290:311, 0:2, 0:1], "time": np.s_[290:311], "lat": np.s_[0:2], "lon": np.s_[0:1]}),
    (("EUR-22", "tas"), "tas[0:1:0][10:1:19][20:1:29]",
     {"tas": np.s_[0:1, 10:20, 20:30], "rlat": np.s_[10:20], "rlon": np.s_[20:30], "lat": np.s_[10:20, 20:30]}),
], ids=["hadgem_files", "eur22_box"])
def test_nc_download_subset(s3_cirrus, local, tmp_path, parts, query, keys):
    dsid = find_id(*parts)
    ref = reference(dsid)
    f = fetch_nc(s3_cirrus, f"/opendap/{dsid}.nc?{query}", tmp_path / "s3.nc")
    g = fetch_nc(local, f"/opendap/{dsid}.nc?{query}", tmp_path / "local.nc")
    with netCDF4.Dataset(f) as nc, netCDF4.Dataset(g) as lnc:
        assert sorted(nc.variables) == sorted(lnc.variables)
        assert {k: len(d) for k, d in nc.dimensions.items()} == {k: len(d) for k, d in lnc.dimensions.items()}
        assert "tas" in nc.variables, sorted(nc.variables)
        for name, key in keys.items():
            if name in lnc.variables:
                assert_same_bits(read_raw(nc[name]), ref.read(name, key=key), name)
        for name in nc.variables:
            assert_same_bits(read_raw(nc[name]), read_raw(lnc[name]), f"{name} vs the local server's file")


# --------------------------------------------------------------------------- Zarr


def time_sample(ref: Reference, ds: xr.Dataset) -> dict:
    """Records read through Zarr: all of them when there are at most 120, else the first
    and last 40 and 10 either side of each file boundary (a Zarr chunk of these
    datasets holds one record: 1980 chunk requests per variable would take minutes)."""
    tdim = ref.time_dim
    if tdim is None or tdim not in ds.dims or ds.sizes[tdim] <= 120:
        return {}
    n = ds.sizes[tdim]
    idx = set(range(40)) | set(range(n - 40, n))
    for b in ref.file_boundaries():
        idx |= set(range(max(0, b - 10), min(n, b + 10)))
    return {tdim: sorted(idx)}


@pytest.mark.parametrize("fmt", [2, 3])
def test_zarr_equals_source(s3_cirrus, local, s3_dsid, fmt):
    """xr.open_zarr on the S3-backed store: identical to the local server's store, and
    every variable equal to xarray's decoding of the local files."""
    ref = reference(s3_dsid)
    base = "zarr" if fmt == 2 else "zarr3"
    got = xr.open_zarr(f"{s3_cirrus.url}/{base}/{s3_dsid}", consolidated=True, zarr_format=fmt, chunks=None)
    exp = xr.open_zarr(f"{local.url}/{base}/{s3_dsid}", consolidated=True, zarr_format=fmt, chunks=None)
    sel = time_sample(ref, got)
    got = got.isel(sel).load()
    xr.testing.assert_identical(got, exp.isel(sel).load())
    loc = ref.xarray()
    for k, v in loc.attrs.items():
        assert k in got.attrs and close_attr(v, got.attrs[k]), f"global attribute {k}: {got.attrs.get(k)!r}, expected {v!r}"
    loc = loc.isel(sel)
    checked = 0
    for name, v in loc.variables.items():
        if v.dtype.kind not in "biufSUOM":
            continue
        assert name in got.variables, f"{name} not in the store: {sorted(got.variables)}"
        g = got.variables[name]
        assert g.dims == v.dims, f"{name}: dims {g.dims}, expected {v.dims}"
        a, b = v.values, g.values
        if a.dtype.kind == "f" and b.dtype.kind == "f" and a.dtype != b.dtype:
            np.testing.assert_allclose(b, a, rtol=1e-6, equal_nan=True, err_msg=name)
        elif a.dtype.kind in "OSUT" or b.dtype.kind in "OSUT":
            assert [str(x) for x in a.ravel().tolist()] == [str(x) for x in b.ravel().tolist()], name
        else:
            assert a.dtype == b.dtype, f"{name}: decoded as {b.dtype}, expected {a.dtype}"
            np.testing.assert_array_equal(b, a, err_msg=name)
        checked += 1
    assert checked


# --------------------------------------------------------------------------- processing, WMS, EDR


@pytest.mark.parametrize("process, parts, inputs", [
    ("subset", ("HadGEM2-ES", "tas"), {"time": "2030-06-01/2031-06-30"}),
    ("subset", ("MIROC6", "tas"), {"area": "-10,40,10,50"}),
    ("average", ("MIROC6", "tas"), {"dims": ["latitude", "longitude"]}),
    ("average", ("HadGEM2-ES", "tas"), {"dims": ["time"]}),
], ids=["subset_hadgem_files", "subset_miroc_area", "average_miroc_latlon", "average_hadgem_time"])
def test_processing_same_as_local(s3_cirrus, local, tmp_path, process, parts, inputs):
    dsid = find_id(*parts)
    inputs = {"collection": dsid, **inputs}
    got = open_out(fetch_files(run_ok(s3_cirrus, process, inputs), tmp_path / "s3"))
    exp = open_out(fetch_files(run_ok(local, process, inputs), tmp_path / "local"))
    assert sorted(got.data_vars) == sorted(exp.data_vars)
    xr.testing.assert_equal(got.drop_attrs(), exp.drop_attrs())
    for name in exp.variables:
        assert_same_attrs(got[name].attrs, exp[name].attrs, name)
    var = parts[1]
    assert got[var].size > 0 and np.isfinite(got[var].values).any()


def test_wms_getmap_same_as_local(s3_cirrus, local):
    from PIL import Image
    import io

    dsid = find_id("EUR-22", "tas")
    params = {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": f"{dsid}/tas", "STYLES": "",
              "CRS": "EPSG:4326", "BBOX": "10,-60,80,80", "WIDTH": 350, "HEIGHT": 175, "FORMAT": "image/png",
              "TRANSPARENT": "TRUE"}
    r = s3_cirrus.get("/wms", params=params)
    e = local.get("/wms", params=params)
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/png"), (r.status_code, r.text[:300])
    assert e.status_code == 200, e.text[:300]
    img = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGBA"))
    assert (img[..., 3] > 0).mean() > 0.05, "almost nothing drawn"
    assert np.array_equal(img, np.asarray(Image.open(io.BytesIO(e.content)).convert("RGBA"))), \
        "the map differs from the local server's"


@pytest.mark.parametrize("parts, coords", [(("EUR-22", "tas"), "POINT(10 50)"),
                                           (("MIROC6", "tas"), "MULTIPOINT((10 45),(-60 -10))")],
                         ids=["eur22", "miroc"])
def test_edr_position_same_as_local(s3_cirrus, local, parts, coords):
    dsid = find_id(*parts)
    path = f"/edr/collections/{dsid}/position"
    r = s3_cirrus.get(path, params={"coords": coords})
    e = local.get(path, params={"coords": coords})
    assert r.status_code == 200, f"{r.status_code}: {r.text[:400]}"
    assert e.status_code == 200, e.text[:300]
    got, exp = r.json(), e.json()
    covs = got.get("coverages", [got])
    assert covs and all(c.get("ranges") for c in covs), got
    for k in ("type", "domain", "ranges", "parameters", "coverages"):
        assert got.get(k) == exp.get(k), f"{k} differs from the local server's answer"


# --------------------------------------------------------------------------- faults


def test_s3_server_down_then_back(s3, fault_direct, local):
    """s3s-fs killed: a DAP2 data request and a Zarr chunk answer 503/504 in time with
    a reason, /health answers; s3s-fs back: the same requests succeed."""
    srv = fault_direct
    hadgem = find_id("HadGEM2-ES", "tas")
    miroc = find_id("MIROC6", "tas")
    dap = f"/opendap/{hadgem}.dods?tas[0:1:9][0:1:1][0:1:1]"
    chunk = f"/zarr/{miroc}/tas/0.0.0"
    s3.stop()
    try:
        r, dt, err = get_timed(srv, dap)
        assert_fault_answer(srv, r, dt, err, dap)
        assert_healthy(srv, "while the object store is down")
        r, dt, err = get_timed(srv, chunk)
        assert_fault_answer(srv, r, dt, err, chunk, dap2=False)
        assert_healthy(srv, "while the object store is down")
    finally:
        s3.start()
    assert_same_response(srv, local, dap, "after the object store came back")
    assert_same_response(srv, local, chunk, "after the object store came back")


@pytest.mark.parametrize("mode, parts, var, statuses", [
    ("error500", ("EUR-11", "zg500"), "zg500[0:1:3][0:1:4][0:1:4]", (503,)),
    ("hang", ("NAM-22", "pr"), "pr[0:1:3][0:1:2][0:1:3]", (504, 503)),
    ("close", ("IPSL-CM6A-LR", "rlds"), "rlds[0:1:3][0:1:1][0:1:1]", (503,)),
], ids=["error500", "hang", "close"])
def test_object_store_faults(proxy, fault_proxied, local, mode, parts, var, statuses):
    """The proxy answers 500 / holds requests / closes connections: a timely 503/504
    with a reason, the object store was asked (with retries for 500s), /health
    answers; the proxy passing again: the same request succeeds."""
    srv = fault_proxied
    dsid = find_id(*parts)
    path = f"/opendap/{dsid}.dods?{var}"
    before = proxy.counts[mode]
    proxy.set_mode(mode)
    try:
        r, dt, err = get_timed(srv, path)
        assert_healthy(srv, f"with the proxy in mode {mode}")
    finally:
        proxy.set_mode("pass")
    seen = proxy.counts[mode] - before
    assert seen >= 1, f"the data request did not reach the object store (proxy in mode {mode})"
    assert_fault_answer(srv, r, dt, err, path, statuses=statuses)
    if mode == "error500":
        assert seen >= S3_RETRIES + 1, f"{seen} request(s) answered 500: no retry (--s3-retries {S3_RETRIES})"
    assert_same_response(srv, local, path, f"after the proxy's {mode}")
    assert_healthy(srv, f"after the proxy's {mode}")


@pytest.mark.parametrize("wrong", ["secret_key", "access_key"])
def test_wrong_credentials_stop_the_start(s3, tmp_path, wrong):
    bad_secret = "wrong-secret-Hk3vR8sY2mT6"
    env = dict(os.environ, RUST_LOG="info", RUST_BACKTRACE="0")
    for k, v in s3.cirrus_env(secret_key=bad_secret if wrong == "secret_key" else None).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    if wrong == "access_key":
        env["AWS_ACCESS_KEY_ID"] = "no-such-access-key"
    cmd = [str(cirrus_bin()), "serve", "--data", f"s3://{BUCKET}/{PREFIX}", "--listen", f"127.0.0.1:{free_port()}",
           "--state", str(tmp_path / "state"), "--rescan-interval", "0", *FAULT_ARGS]
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace") + (e.stderr or b"").decode(errors="replace")
        pytest.fail(f"`cirrus serve` with a wrong {wrong} still runs after 60 s:\n{out[-2000:]}", pytrace=False)
    dt = time.monotonic() - t0
    out = p.stdout + p.stderr
    assert p.returncode != 0, f"exit code 0 after {dt:.1f} s with a wrong {wrong}:\n{out[-2000:]}"
    assert re.search(r"credential|access.?denied|invalidaccesskeyid|signature|forbidden", out, re.I), (
        f"the output does not say that the credentials were refused:\n{out[-2000:]}")
    for secret in (bad_secret, s3.secret_key):
        assert secret not in out, f"the output shows the secret key {secret!r}:\n{out[-2000:]}"


def test_object_deleted_after_indexing(s3, fault_direct, local):
    """An object deleted after indexing: its data requests answer 503 naming it; the
    server keeps serving the other datasets."""
    srv = fault_direct
    eur22 = find_id("EUR-22", "tas")
    key = object_key(eur22)
    s3.client().delete_object(Bucket=FAULT_BUCKET, Key=key)
    assert key not in s3.list_keys(FAULT_BUCKET, PREFIX + "/")
    name = key.rsplit("/", 1)[-1]
    for path, dap2 in ((f"/opendap/{eur22}.dods?tas[0:1:0][0:1:9][0:1:9]", True),
                       (f"/zarr/{eur22}/tas/0.0.0", False)):
        r, dt, err = get_timed(srv, path)
        msg = assert_fault_answer(srv, r, dt, err, path, statuses=(503,), dap2=dap2)
        assert name in msg, f"GET {path}: the message does not name the missing object {key!r}: {msg!r}"
    # reported by the catalog state until a rescan lists the bucket again
    missing = srv.json("/admin/catalog")["missing_objects"]
    assert any(m.endswith(key) for m in missing), missing
    assert_healthy(srv, "after the object was deleted")
    inm = find_id("INM-CM5-0", "rlds")
    assert_same_response(srv, local, f"/opendap/{inm}.dods?rlds[0:1:9][0:1:1][0:1:1]", "another dataset")


# --------------------------------------------------------------------------- Zarr stores in the bucket

ZARR_PREFIX = "zarrstores"


def _write_stores(out: Path) -> dict[str, Path]:
    """Zarr stores written by xarray (zarr-python 3) from two shared samples, with the
    codecs cirrus reads (v2 zlib + shuffle consolidated, v2 uncompressed and not
    consolidated, v3 with zarr-python's default zstd, v3 gzip not consolidated, v2 with
    zarr-python's default Blosc (lz4, byte shuffle), v2 Blosc zstd with bit shuffle, v3
    Blosc blosclz) and one it refuses (v2 LZMA): {store name: local directory}."""
    import numcodecs
    from zarr.codecs import BloscCodec, GzipCodec

    esgf = shared_data() / "esgf"
    eur22 = next((esgf / "cordex/output/EUR-22").rglob("*.nc"))
    inm = next((esgf / "CMIP6/ScenarioMIP/INM").rglob("*.nc"))
    stores = {}
    for tag, src in (("eur22", eur22), ("inm", inm)):
        with xr.open_dataset(src, decode_cf=False) as ds:
            ds = ds.load()
        for v in ds.variables.values():
            v.encoding = {}
        num = [v for v in ds.variables if ds[v].dtype.kind in "fiu"]
        kinds = {
            "v2-zlib": dict(zarr_format=2, consolidated=True, encoding={
                v: {"compressors": [numcodecs.Zlib(level=1)],
                    "filters": [numcodecs.Shuffle(elementsize=ds[v].dtype.itemsize)]} for v in num}),
            "v2-plain": dict(zarr_format=2, consolidated=False, encoding={v: {"compressors": None} for v in num}),
            "v3-zstd": dict(zarr_format=3, consolidated=True),
            "v3-gzip": dict(zarr_format=3, consolidated=False, encoding={
                v: {"compressors": [GzipCodec(level=2)]} for v in num}),
            "v2-blosc": dict(zarr_format=2, consolidated=True),
            "v2-blosc-zstd": dict(zarr_format=2, consolidated=True, encoding={
                v: {"compressors": [numcodecs.Blosc(cname="zstd", clevel=3, shuffle=numcodecs.Blosc.BITSHUFFLE)]}
                for v in num}),
            "v3-blosc": dict(zarr_format=3, consolidated=True, encoding={
                v: {"compressors": [BloscCodec(cname="blosclz", clevel=5, shuffle="shuffle")]} for v in num}),
            "v2-lzma": dict(zarr_format=2, consolidated=True, encoding={
                v: {"compressors": [numcodecs.LZMA()]} for v in num}),
        }
        if tag == "inm":  # several chunks along time
            for k in kinds.values():
                for v in ("rlds",):
                    k.setdefault("encoding", {}).setdefault(v, {})["chunks"] = (100, 2, 2)
        for kind, kw in kinds.items():
            name = f"{tag}-{kind}.zarr"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds.to_zarr(out / name, mode="w", **kw)
            stores[name] = out / name
    return stores


@pytest.fixture(scope="module")
def zarr_stores(s3):
    out = session_tmp() / "s3-zarr-stores"
    stores = _write_stores(out)
    for name, d in stores.items():
        s3.upload_tree(d, BUCKET, f"{ZARR_PREFIX}/{name}")
    return stores


@pytest.fixture(scope="module")
def zarr_cirrus(s3, zarr_stores, start_server):
    """cirrus on s3://cmip/zarrstores: every Zarr store there is a dataset."""
    return start_server([f"s3://{BUCKET}/{ZARR_PREFIX}"], name="s3-zarr", env=s3.cirrus_env())


def test_zarr_stores_in_the_bucket_are_datasets(zarr_stores, zarr_cirrus):
    """Each store the readers decode is a dataset named after it; the LZMA one is listed
    as unavailable, with the codec named."""
    doc = zarr_cirrus.json("/datasets?limit=100")
    ids = sorted(d["id"] for d in doc["datasets"])
    assert ids == sorted(n for n in zarr_stores if "lzma" not in n), ids
    refused = {u["id"]: u["reason"] for u in doc["unavailable"]}
    for n in (n for n in zarr_stores if "lzma" in n):
        assert "'lzma'" in refused.get(n, ""), refused


@pytest.mark.parametrize("kind", ["v2-zlib", "v2-plain", "v3-zstd", "v3-gzip", "v2-blosc", "v2-blosc-zstd", "v3-blosc"])
@pytest.mark.parametrize("tag", ["eur22", "inm"])
def test_zarr_store_over_dap2_equals_the_store(zarr_stores, zarr_cirrus, tag, kind):
    """netCDF4 over DAP2 on a Zarr store of the bucket: every variable equal to the store
    read locally with xarray (raw values), `_FillValue` as xarray reads it, and a strided
    subset."""
    name = f"{tag}-{kind}.zarr"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = xr.open_zarr(zarr_stores[name], decode_cf=False, consolidated=None, chunks=None)
    with netCDF4.Dataset(zarr_cirrus.dap_url(name)) as nc:
        nc.set_auto_maskandscale(False)
        assert set(nc.variables) == set(ref.variables), (set(nc.variables), set(ref.variables))
        for v in ref.variables:
            assert_same_bits(nc[v][:], ref[v].values, f"{name} {v}")
            assert nc[v].dimensions == ref[v].dims, f"{name} {v}: {nc[v].dimensions} != {ref[v].dims}"
        data = "tas" if tag == "eur22" else "rlds"
        exp_fill = ref[data].attrs.get("_FillValue", ref[data].encoding.get("_FillValue"))
        if exp_fill is not None:
            assert float(nc[data]._FillValue) == pytest.approx(float(exp_fill), rel=1e-7)
        sub = nc[data][:, ::3, 1::2]
        assert_same_bits(sub, ref[data].values[:, ::3, 1::2], f"{name} {data} strided")


def test_zarr_store_round_trip_through_cirrus_zarr(zarr_stores, zarr_cirrus):
    """A v3 store of the bucket served again as Zarr by cirrus: xarray decodes the same
    dataset from cirrus's store as from the original (values, time)."""
    name = "inm-v3-zstd.zarr"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exp = xr.open_zarr(zarr_stores[name], consolidated=True, chunks=None)
        got = xr.open_zarr(f"{zarr_cirrus.url}/zarr/{name}", consolidated=True, zarr_format=2, chunks=None)
    np.testing.assert_array_equal(got["rlds"].values, exp["rlds"].values)
    np.testing.assert_array_equal(got["time"].values, exp["time"].values)
