"""Bad input: unknown datasets, malformed constraint expressions, unknown
variables, bad index ranges, path traversal, unreadable files, responses over the
size limit. Each answer has the right status and a DAP2 `Error { ... };` body, and
the server keeps serving afterwards."""

from __future__ import annotations

import http.client
import random
import re
import shutil
from pathlib import Path

import netCDF4
import numpy as np
import pytest

from cirrus_ref import parse_dap_ascii, parse_dap_error

ALL_TYPES = "misc/all_types.nc"
HADGEM = "cmip5.output1.MOHC.HadGEM2-ES.rcp85.mon.atmos.Amon.r1i1p1.latest.tas"
SUFFIXES = (".dds", ".dods", ".ascii")


def assert_dap_error(r, status: int, *, contains=()):
    assert r.status_code == status, (
        f"GET {r.url}: status {r.status_code}, expected {status}; body {r.text[:300]!r}"
    )
    code, msg = parse_dap_error(r.text)
    assert msg.strip(), f"GET {r.url}: empty error message"
    for c in contains:
        assert c.lower() in msg.lower(), f"GET {r.url}: message {msg!r} should mention {c!r}"
    return code, msg


def assert_still_serving(srv):
    assert srv.alive(), f"server exited:\n{srv.log_tail()}"
    assert srv.healthy(), "GET /health is not ok"
    r = srv.get(f"/opendap/{ALL_TYPES}.ascii?short_var")
    if r.status_code == 404:  # a server without the samples
        return
    assert r.status_code == 200 and "-32768, -1234, -1, 0, 1, 32767" in r.text, r.text[:300]


# --------------------------------------------------------------------------- unknown dataset


@pytest.mark.parametrize("suffix", ["", ".dds", ".das", ".dods", ".ascii", ".asc", ".html", ".info"])
def test_unknown_dataset_404(server, suffix):
    r = server.get(f"/opendap/no.such.dataset{suffix}")
    assert_dap_error(r, 404, contains=["no.such.dataset"])
    assert_still_serving(server)


def test_unknown_dataset_json_404(server):
    r = server.get("/datasets/no.such.dataset")
    assert r.status_code == 404, r.status_code
    assert_still_serving(server)


# --------------------------------------------------------------------------- constraint expressions

MALFORMED = {
    "unbalanced-open": "short_var[",
    "unbalanced-open-range": "short_var[0:2",
    "unbalanced-close": "short_var]",
    "double-close": "short_var[0:1:2]]",
    "empty-brackets": "short_var[]",
    "letters-index": "short_var[a]",
    "letters-stride": "short_var[0:x:3]",
    "blank-index": "short_var[%20]",
    "four-parts": "short_var[1:2:3:4]",
    "negative-index": "short_var[-1]",
    "negative-stop": "short_var[0:-1]",
    "empty-component-middle": "short_var,,x",
    "empty-component-leading": ",short_var",
    "empty-component-trailing": "short_var,",
    "too-many-indices": "short_var[0][0]",
    "too-many-indices-grid": "packed_temp[0][0][0]",
    "function-grid": "grid(short_var)",
    "function-geogrid": "geogrid(packed_temp,0,0,1,1)",
    "function-linear_scale": "linear_scale(short_var)",
    "selection-eq": "short_var&x=1",
    "selection-gt-encoded": "short_var%26x%3E1",
    "selection-only-encoded": "%26short_var%3C3",
    "selection-regex-encoded": 'x%26x%3D~%22a.*%22',
}


@pytest.mark.parametrize("ce", list(MALFORMED.values()), ids=list(MALFORMED))
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_malformed_ce_400(server, ce, suffix):
    r = server.get(f"/opendap/{ALL_TYPES}{suffix}?{ce}")
    assert_dap_error(r, 400)
    assert_still_serving(server)


BAD_REQUESTS = {
    # unknown variable / member
    "unknown-var": ("nosuch", ["nosuch"]),
    "unknown-var-second": ("short_var,nosuch", ["nosuch"]),
    "unknown-member": ("packed_temp.nosuch", ["nosuch"]),
    "unknown-var-with-index": ("nosuch[0:1:2]", ["nosuch"]),
    # index out of range
    "index-out-of-range": ("short_var[6]", []),
    "stop-out-of-range": ("short_var[0:1:6]", []),
    "second-dim-out-of-range": ("packed_temp[0:1:3][0:1:6]", []),
    "grid-member-out-of-range": ("packed_temp.packed_temp[4][0]", []),
    "map-out-of-range": ("packed_temp.x[6]", []),
    "huge-index": ("short_var[99999999999999999999]", []),
    # start > stop
    "start-gt-stop": ("short_var[3:1]", []),
    "start-gt-stop-stride": ("short_var[4:1:2]", []),
    # stride 0
    "stride-zero": ("short_var[0:0:3]", []),
    "stride-zero-grid": ("packed_temp[0:0:3][0:1:5]", []),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS), ids=list(BAD_REQUESTS))
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_bad_request_400(server, case, suffix):
    ce, words = BAD_REQUESTS[case]
    r = server.get(f"/opendap/{ALL_TYPES}{suffix}?{ce}")
    assert_dap_error(r, 400, contains=words)
    assert_still_serving(server)


@pytest.mark.parametrize("ce", [
    "tas[3529][0][0]", "tas[0:1:3529][0:1:1][0:1:1]", "time[3600]", "tas.tas[0][2][0]",
    "tas[5:2][0][0]", "tas[0:0:9][0][0]",
])
def test_bad_index_joined_dataset_400(server, ce):
    """The joined HadGEM2-ES time axis has 3529 steps (0..3528)."""
    r = server.get(f"/opendap/{HADGEM}.dods?{ce}")
    assert_dap_error(r, 400)


def test_valid_edge_requests_still_work(server):
    """The boundaries of the ranges above are valid."""
    for ce in ("short_var[5]", "short_var[0:1:5]", "short_var[5:5]", "short_var[0:100:5]",
               "packed_temp[3][5]"):
        r = server.get(f"/opendap/{ALL_TYPES}.dods?{ce}")
        assert r.status_code == 200, f"{ce}: {r.status_code} {r.text[:200]}"
    r = server.get(f"/opendap/{HADGEM}.ascii?time[3528]")
    assert r.status_code == 200 and "time[1]" in r.text, r.text[:300]


# --------------------------------------------------------------------------- path traversal


def raw_get(srv, path: str) -> tuple[int, bytes]:
    """GET with the path sent verbatim (no client-side normalisation of '..')."""
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
    c.putrequest("GET", path, skip_accept_encoding=True)
    c.endheaders()
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


@pytest.fixture(scope="module")
def traversal_server(start_server, tmp_path_factory):
    """A server over <tmp>/root/data; a NetCDF file sits next to the root
    (<tmp>/root/outside.nc) and another in the parent (<tmp>/secret.nc)."""
    base = tmp_path_factory.mktemp("traversal")
    data = base / "root" / "data"
    data.mkdir(parents=True)
    _write_small_nc(data / "inside.nc", 1.0)
    _write_small_nc(base / "root" / "outside.nc", 31337.5)
    _write_small_nc(base / "secret.nc", 42424.25)
    (data / "notes.txt").write_text("not a dataset")
    srv = start_server([data], name="traversal")
    srv.base = base
    return srv


def _write_small_nc(path: Path, value: float):
    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("x", 3)
        v = nc.createVariable("v", "f4", ("x",))
        v[:] = [value, value, value]
        nc.setncattr("marker", f"MARKER-{path.stem}")


TRAVERSALS = [
    "/opendap/../../etc/passwd",
    "/opendap/../../etc/passwd.dds",
    "/opendap/../../../../../../etc/passwd.ascii",
    "/opendap/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/opendap/%2e%2e%2f%2e%2e%2fetc%2fpasswd.dds",
    "/opendap/..%2F..%2F..%2F..%2Fetc%2Fpasswd.ascii",
    "/opendap/%252e%252e%252fetc%252fpasswd.dds",
    "/opendap//etc/passwd.dds",
    "/opendap//etc/passwd",
    "/opendap/%2Fetc%2Fpasswd.dds",
    "/opendap/....//....//etc/passwd.dds",
    "/opendap/..\\..\\etc\\passwd.dds",
    "/datasets/..%2F..%2Fetc%2Fpasswd",
    "/datasets/../../etc/passwd",
    "/datasets/%2Fetc%2Fpasswd",
    # NetCDF files outside the data root
    "/opendap/../outside.nc.dds",
    "/opendap/..%2Foutside.nc.ascii",
    "/opendap/%2e%2e/outside.nc.dods",
    "/opendap/../../secret.nc.ascii",
    "/opendap/..%2F..%2Fsecret.nc.das",
    "/datasets/..%2Foutside.nc",
    "/opendap/inside.nc/../../outside.nc.dds",
    # a non-NetCDF file inside the root
    "/opendap/notes.txt.dds",
    "/opendap/notes.txt",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_path_traversal_404(traversal_server, path):
    srv = traversal_server
    status, body = raw_get(srv, path)
    text = body.decode("utf-8", errors="replace")
    assert "root:" not in text and "/bin/" not in text, f"{path}: leaked file content: {text[:200]!r}"
    assert "31337" not in text and "42424" not in text and "MARKER-" not in text, (
        f"{path}: served a file outside the data root: {text[:300]!r}"
    )
    assert "not a dataset" not in text
    assert status == 404, f"{path}: status {status}, expected 404; body {text[:200]!r}"
    if path.startswith("/opendap/"):
        parse_dap_error(text)
    s, b = raw_get(srv, "/opendap/inside.nc.ascii?v")
    assert s == 200 and b"1, 1, 1" in b, b[:200]


@pytest.mark.parametrize("form", ["plain", "encoded", "double-slash"])
def test_absolute_path_404(traversal_server, form):
    """Absolute paths of NetCDF files outside the data root are never served."""
    srv = traversal_server
    secret = str(srv.base / "secret.nc")
    path = {
        "plain": f"/opendap{secret}.ascii",
        "encoded": "/opendap/" + secret.replace("/", "%2F") + ".ascii",
        "double-slash": f"/opendap/{secret}.dds",
    }[form]
    status, body = raw_get(srv, path)
    assert status == 404, f"{path}: status {status}; body {body[:200]!r}"
    assert b"42424" not in body and b"MARKER-" not in body


# --------------------------------------------------------------------------- unreadable files

ESGF_NC4 = "CMIP6/CMIP/NCAR/CESM2/amip/r1i1p1f1/Amon/cl/gn/v20190319/cl_Amon_CESM2_amip_r1i1p1f1_gn_195001-201412.nc"
ESGF_NC3 = ("cmip5/output1/MOHC/HadGEM2-ES/rcp85/mon/atmos/Amon/r1i1p1/latest/tas/"
            "tas_Amon_HadGEM2-ES_rcp85_r1i1p1_200512-203011.nc")
ESGF_GOOD = ("CMIP6/ScenarioMIP/INM/INM-CM5-0/ssp245/r1i1p1f1/Amon/rlds/gr1/v20190619/"
             "rlds_Amon_INM-CM5-0_ssp245_r1i1p1f1_gr1_201501-210012.nc")


def _nc3_data_start(path: Path) -> int:
    """Offset where the data section of a NetCDF-3 classic file starts: the file
    size minus the fixed-size variables and the records (each padded to 4 bytes)."""
    with netCDF4.Dataset(path) as nc:
        assert nc.data_model.startswith("NETCDF3")
        fixed = rec = 0
        n_rec_vars = 0
        numrecs = 0
        for v in nc.variables.values():
            nbytes = v.dtype.itemsize
            dims = [nc.dimensions[d] for d in v.dimensions]
            if dims and dims[0].isunlimited():
                numrecs = len(dims[0])
                n_rec_vars += 1
                rec += ((nbytes * int(np.prod([len(d) for d in dims[1:]])) + 3) // 4) * 4
            else:
                fixed += ((nbytes * int(np.prod([len(d) for d in dims])) + 3) // 4) * 4
    return path.stat().st_size - fixed - numrecs * rec


@pytest.fixture(scope="module")
def broken_server(start_server, tmp_path_factory, server):
    root = tmp_path_factory.mktemp("broken")
    esgf = server.esgf
    shutil.copy(esgf / ESGF_GOOD, root / "good.nc")
    nc4 = (esgf / ESGF_NC4).read_bytes()
    (root / "truncated_nc4.nc").write_bytes(nc4[: len(nc4) // 2])
    rnd = random.Random(42)
    (root / "garbage.nc").write_bytes(bytes(rnd.getrandbits(8) for _ in range(8192)))
    (root / "empty.nc").write_bytes(b"")
    nc3 = (esgf / ESGF_NC3).read_bytes()
    cut = len(nc3) - 1500  # the last ~37 of 300 records are cut off
    assert cut > _nc3_data_start(esgf / ESGF_NC3) + 1000, "the cut must be inside the data section"
    (root / "truncated_nc3.nc").write_bytes(nc3[:cut])
    srv = start_server([root], name="broken")
    srv.root = root
    return srv


BROKEN = ["truncated_nc4.nc", "garbage.nc", "empty.nc", "truncated_nc3.nc"]


def _good_values_ok(srv):
    r = srv.get("/opendap/good.nc.ascii?rlds[0:1:1][0][0]")
    assert r.status_code == 200, r.text[:300]
    with netCDF4.Dataset(srv.root / "good.nc") as nc:
        exp = np.asarray(nc["rlds"][0:2, 0, 0])
    nums = [float(x) for x in parse_dap_ascii(r.text)["rlds.rlds"]]
    assert np.allclose(nums, exp, rtol=1e-6), (nums, exp)


def test_broken_files_listed_unavailable(broken_server):
    cat = broken_server.json("/datasets")
    ids = {d["id"] for d in cat["datasets"]}
    unavailable = {u["id"]: u["reason"] for u in cat.get("unavailable", [])}
    assert "good.nc" in ids, f"good.nc missing: {ids}"
    for name in ("truncated_nc4.nc", "garbage.nc", "empty.nc"):
        assert name in unavailable, f"{name} should be listed under 'unavailable': {cat.get('unavailable')}"
        assert name not in ids
        assert unavailable[name].strip()
    assert_still_serving(broken_server)
    _good_values_ok(broken_server)


@pytest.mark.parametrize("name", BROKEN)
@pytest.mark.parametrize("suffix", [".dds", ".das", ".dods", ".ascii"])
def test_broken_file_requests(broken_server, name, suffix):
    """An unreadable dataset answers 500 with a DAP error (never data made up by
    the reader); the truncated NetCDF-3 file has a complete header, so its DDS/DAS
    may be served, but its data must not be."""
    srv = broken_server
    cat = srv.json("/datasets")
    listed = any(d["id"] == name for d in cat["datasets"])
    r = srv.get(f"/opendap/{name}{suffix}")
    if listed and suffix in (".dds", ".das"):
        assert r.status_code in (200, 500), r.status_code
        if r.status_code == 500:
            parse_dap_error(r.text)
    else:
        detail = ""
        if r.status_code == 200 and name == "truncated_nc3.nc":
            detail = (" (the file is cut 1500 bytes before its end: the last records are missing, "
                      "yet the server answered 200 with values the reader filled in)")
        assert r.status_code == 500, f"{name}{suffix}: status {r.status_code}, expected 500{detail}"
        parse_dap_error(r.text)
    assert_still_serving(srv)
    _good_values_ok(srv)


def test_truncated_nc3_last_records_not_served_as_data(broken_server):
    """Reading the missing part of the truncated NetCDF-3 file must fail."""
    srv = broken_server
    r = srv.get("/opendap/truncated_nc3.nc.dods?tas[295:1:299][0:1:1][0:1:1]")
    assert r.status_code == 500, (
        f"status {r.status_code}: the server served records that are not in the file "
        f"({len(r.content)} bytes)"
    )
    parse_dap_error(r.text)
    assert_still_serving(srv)


def test_file_broken_after_start(broken_server):
    """A file that becomes unreadable while served: requests fail cleanly, others continue."""
    srv = broken_server
    target = srv.root / "good_then_broken.nc"
    shutil.copy(srv.root / "good.nc", target)
    assert srv.post("/admin/rescan").status_code in (200, 202, 204)
    assert srv.get("/opendap/good_then_broken.nc.dds").status_code == 200
    data = target.read_bytes()
    target.write_bytes(data[:2000])
    r = srv.get("/opendap/good_then_broken.nc.dods?rlds")
    assert r.status_code in (404, 500), f"status {r.status_code} for a file truncated after cataloguing"
    parse_dap_error(r.text)
    assert_still_serving(srv)
    _good_values_ok(srv)
    target.unlink()
    srv.post("/admin/rescan")


# --------------------------------------------------------------------------- 413


@pytest.fixture(scope="module")
def limited_server(start_server, server):
    return start_server([server.esgf], extra_args=["--max-response-bytes", "100000"], name="limited")


CNRM = "CMIP6.ScenarioMIP.CNRM-CERFACS.CNRM-CM6-1.ssp245.r1i1p1f2.Omon.tos.gn.v20190219"


@pytest.mark.parametrize("suffix,ce", [
    (".dods", "bounds_lon"),
    (".dods", ""),
    (".ascii", "bounds_lat"),
    (".dods", "tos,lat,lon"),
])
def test_response_too_large_413(limited_server, suffix, ce):
    srv = limited_server
    r = srv.get(f"/opendap/{CNRM}{suffix}" + (f"?{ce}" if ce else ""))
    assert r.status_code == 413, f"status {r.status_code}, expected 413"
    _, msg = parse_dap_error(r.text)
    numbers = [int(n.replace(",", "").replace("_", "")) for n in re.findall(r"\d[\d,_]*", msg)]
    assert 100000 in numbers, f"message should state the limit 100000: {msg!r}"
    assert any(n > 100000 for n in numbers), f"message should state the response size: {msg!r}"
    # a small request on the same dataset is fine
    r = srv.get(f"/opendap/{CNRM}.dods?tos[0][0:1:9][0:1:9]")
    assert r.status_code == 200
    assert srv.healthy()


def test_413_size_is_the_response_size(limited_server):
    """bounds_lon is 294 x 362 x 4 doubles: the stated size is at least its data."""
    r = limited_server.get(f"/opendap/{CNRM}.dods?bounds_lon")
    _, msg = parse_dap_error(r.text)
    numbers = [int(n.replace(",", "").replace("_", "")) for n in re.findall(r"\d[\d,_]*", msg)]
    data = 294 * 362 * 4 * 8
    assert any(data <= n <= data + 10000 for n in numbers), f"{msg!r}: no size close to {data}"


def test_servers_survived(server, broken_server, limited_server, traversal_server):
    for s in (server, broken_server, limited_server, traversal_server):
        assert s.alive(), s.log_tail()
        assert s.healthy()
