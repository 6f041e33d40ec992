"""NetCDF file responses: `/opendap/{id}.nc` (NetCDF-4) and `.nc3` (classic, 64-bit
offset) of DAP2- and DAP4-constrained requests and of whole datasets.

Each file is opened with xarray and netCDF4 and dumped with `ncdump`, and must hold
exactly the requested slice: values equal to the local files (cirrus_ref, joined along
time), coordinates, bounds, grid mapping and `coordinates` variables sliced
consistently, CF attributes kept, a `history` line added at the top. Also the HTTP
side: Content-Disposition, Content-Length, HEAD, Range (206), ETag/If-None-Match (304),
the size limit (413, with a DAP error stating size and limit) and CORS origins.
"""

from __future__ import annotations

import re
import time

import netCDF4
import numpy as np
import pytest
import requests
import xarray as xr

from cirrus_ref import ncdump, parse_dap_error

HADGEM = "cmip5.output1.MOHC.HadGEM2-ES.rcp85.mon.atmos.Amon.r1i1p1.latest.tas"
EUR22 = "cordex.output.EUR-22.GERICS.MPI-M-MPI-ESM-LR.rcp85.r1i1p1.GERICS-REMO2015.v1.mon.tas.v20191029"
ALL_TYPES = "misc/all_types.nc"
CLASSIC = "misc/classic_desc_lat.nc"
GROUPS = "misc/groups.nc"


def fetch(server, path, tmp_path, name="out.nc", **kw):
    r = server.get(path, **kw)
    assert r.status_code == 200, f"GET {path} -> {r.status_code}: {r.text[:500]}"
    f = tmp_path / name
    f.write_bytes(r.content)
    return r, f


def file_name(dsid: str) -> str:
    return (dsid.rsplit("/", 1)[-1] if "/" in dsid else dsid + ".nc").removesuffix(".nc") + ".nc"


def check_history(nc, ref, dsid, ce):
    hist = nc.getncattr("history")
    first, _, rest = hist.partition("\n")
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ cirrus/\S+: (subset|copy) of ", first), first
    assert dsid in first, first
    if ce:
        assert ce in first, first
    assert rest == ref.first.getncattr("history"), "the original history must follow the new line"


def assert_same(got, exp, what):
    got, exp = np.asarray(np.ma.getdata(got)), np.asarray(np.ma.getdata(exp))
    assert got.shape == exp.shape, f"{what}: shape {got.shape}, expected {exp.shape}"
    assert got.dtype == exp.dtype, f"{what}: type {got.dtype}, expected {exp.dtype}"
    assert np.ascontiguousarray(got).tobytes() == np.ascontiguousarray(exp).tobytes(), f"{what}: values differ"


def local_attrs(v):
    return {a: v.getncattr(a) for a in v.ncattrs()}


def assert_attrs(got_v, loc_v, what, skip=()):
    ga, la = local_attrs(got_v), local_attrs(loc_v)
    assert set(ga) - set(skip) == set(la) - set(skip), f"{what}: attributes {sorted(set(ga) ^ set(la))}"
    for a in set(la) - set(skip):
        g, e = np.asarray(ga[a]), np.asarray(la[a])
        if e.dtype.kind == "f":
            assert g.dtype == e.dtype and np.array_equal(g, e, equal_nan=True), f"{what}:{a}: {ga[a]!r} != {la[a]!r}"
        else:
            assert ga[a] == la[a] if isinstance(la[a], str) else np.array_equal(g, e), f"{what}:{a}"


# --------------------------------------------------------------------------- slices


@pytest.mark.parametrize("query,ce_in_history", [
    ("tas[290:1:310][0:1:1][0:1:0]", "tas[290:1:310][0:1:1][0:1:0]"),
    ("dap4.ce=/tas[290:310][0:1][0]", "/tas[290:310][0:1][0]"),
])
def test_hadgem_slice_across_files(server, tmp_path, query, ce_in_history):
    """tas[290:310] crosses the first file boundary (300 records): the coordinates and
    bounds come along sliced the same way, the scalar `height` (tas:coordinates) too."""
    ref = server.reference(HADGEM)
    assert 290 < ref.file_boundaries()[0] <= 310
    r, f = fetch(server, f"/opendap/{HADGEM}.nc?{query}", tmp_path)
    t, la, lo = np.s_[290:311], np.s_[0:2], np.s_[0:1]
    with netCDF4.Dataset(f) as nc:
        assert nc.data_model == "NETCDF4"
        assert nc.dimensions["time"].isunlimited() and len(nc.dimensions["time"]) == 21
        expect = {"tas": (t, la, lo), "time": (t,), "time_bnds": (t, slice(None)), "lat": (la,),
                  "lat_bnds": (la, slice(None)), "lon": (lo,), "lon_bnds": (lo, slice(None)), "height": ()}
        assert set(nc.variables) == set(expect), sorted(nc.variables)
        for name, key in expect.items():
            v = nc[name]
            v.set_auto_maskandscale(False)
            assert_same(v[...] if v.ndim else v.getValue(), ref.read(name, key=key if key else None), name)
            assert v.dimensions == ref.first[name].dimensions, name
            assert_attrs(v, ref.first[name], name)
        assert_attrs(nc, ref.first, "global", skip=("history",))
        check_history(nc, ref, HADGEM, ce_in_history)
    # xarray decodes it like the local files
    with xr.open_dataset(f) as ds:
        loc = ref.xarray()["tas"][290:311, 0:2, 0:1]
        np.testing.assert_array_equal(ds["tas"].values, loc.values)
        np.testing.assert_array_equal(ds["time"].values, loc["time"].values)
    # ncdump reads it
    text = ncdump(["-v", "lat", str(f)])
    assert re.search(r"lat = -90, 35 ;", text), text[-300:]


def test_eur22_rotated_pole_box(server, tmp_path):
    """A box of the rotated-pole grid: rlat/rlon, the 2-D lat/lon and their vertices
    sliced with it, the grid mapping variable and the attributes that tie them kept."""
    ref = server.reference(EUR22)
    q = "tas[0:1:0][10:1:19][20:1:29]"
    r, f = fetch(server, f"/opendap/{EUR22}.nc?{q}", tmp_path)
    y, x = np.s_[10:20], np.s_[20:30]
    expect = {"tas": (np.s_[0:1], y, x), "rlat": (y,), "rlon": (x,), "lat": (y, x), "lon": (y, x),
              "lat_vertices": (y, x, slice(None)), "lon_vertices": (y, x, slice(None)),
              "time": (np.s_[0:1],), "time_bnds": (np.s_[0:1], slice(None)),
              "rotated_latitude_longitude": (), "height": ()}
    with netCDF4.Dataset(f) as nc:
        assert set(nc.variables) == set(expect), sorted(nc.variables)
        for name, key in expect.items():
            v = nc[name]
            v.set_auto_maskandscale(False)
            assert_same(v[...] if v.ndim else v.getValue(), ref.read(name, key=key if key else None), name)
            assert_attrs(v, ref.first[name], name)
        assert nc["tas"].grid_mapping == "rotated_latitude_longitude"
        assert nc["tas"].coordinates == "height lat lon"
        check_history(nc, ref, EUR22, q)
    with xr.open_dataset(f) as ds:  # CF: lat/lon become coordinates of tas
        assert {"lat", "lon", "height"} <= set(ds["tas"].coords)
        np.testing.assert_array_equal(ds["lat"].values, ref.read("lat", key=(y, x)))


def test_dap4_ce_empty_brackets_and_dimension_subset(server, tmp_path):
    """`[]` keeps a whole dimension; a time-only request brings time's bounds."""
    ref = server.reference(HADGEM)
    _, f = fetch(server, f"/opendap/{HADGEM}.nc?dap4.ce=/tas[0:9][][]", tmp_path, "a.nc")
    with netCDF4.Dataset(f) as nc:
        assert nc["tas"].shape == (10, 2, 2)
        assert_same(nc["tas"][...], ref.read("tas", key=np.s_[0:10]), "tas")
    _, f = fetch(server, f"/opendap/{HADGEM}.nc?time[0:1:5]", tmp_path, "b.nc")
    with netCDF4.Dataset(f) as nc:
        assert set(nc.variables) == {"time", "time_bnds"}
        assert_same(nc["time_bnds"][...], ref.read("time_bnds", key=np.s_[0:6]), "time_bnds")


def test_dap4_slice_sets_and_grid_members_in_files(server, tmp_path):
    """The `.nc` response reads the same selection as `.dap`/`.dods`: a DAP4 slice set
    (several runs of one dimension) is written in the order given, with the coordinate
    and bounds sliced alike; a DAP2 Grid member names the variable; slicing one
    dimension two ways is a 400 that names both."""
    ref = server.reference(HADGEM)
    _, f = fetch(server, f"/opendap/{HADGEM}.nc?dap4.ce=/tas[5,0:1,9][][1]", tmp_path, "a.nc")
    steps = [5, 0, 1, 9]
    with netCDF4.Dataset(f) as nc:
        assert nc["tas"].shape == (4, 2, 1)
        assert_same(nc["tas"][...], ref.read("tas", key=np.s_[steps, :, 1:2]), "tas")
        assert_same(nc["time"][...], ref.read("time", key=np.s_[steps]), "time")
        assert_same(nc["time_bnds"][...], ref.read("time_bnds", key=np.s_[steps]), "time_bnds")
        assert_same(nc["lon"][...], ref.read("lon", key=np.s_[1:2]), "lon")
    _, f = fetch(server, f"/opendap/{HADGEM}.nc?tas.time[2:1:3]", tmp_path, "b.nc")
    with netCDF4.Dataset(f) as nc:
        assert set(nc.variables) == {"time", "time_bnds"}
        assert_same(nc["time"][...], ref.read("time", key=np.s_[2:4]), "time")
    r = server.get(f"/opendap/{HADGEM}.nc?tas[0:1][0][0],time[0:2]")
    assert r.status_code == 400
    msg = parse_dap_error(r.text)[1]
    assert "'time'" in msg and "[0:1:1]" in msg and "[0:1:2]" in msg, msg


# --------------------------------------------------------------------------- whole datasets


def test_hadgem_whole_dataset_is_one_file(server, tmp_path):
    """The 13 files of HadGEM2-ES (one repeated time step left out) become one file
    equal to the joined reference."""
    ref = server.reference(HADGEM)
    assert len(ref.files) == 13
    r, f = fetch(server, f"/opendap/{HADGEM}.nc", tmp_path)
    with netCDF4.Dataset(f) as nc:
        assert len(nc.dimensions["time"]) == ref.n_records == 3529
        for name in ref.variables():
            v = nc[name]
            v.set_auto_maskandscale(False)
            assert_same(v[...] if v.ndim else v.getValue(), ref.read(name), name)
            assert_attrs(v, ref.first[name], name)
        check_history(nc, ref, HADGEM, None)
    with xr.open_dataset(f, decode_times=xr.coders.CFDatetimeCoder(use_cftime=True)) as ds:
        loc = ref.xarray()
        np.testing.assert_array_equal(ds["tas"].values, loc["tas"].values)
        assert list(ds["time"].values) == list(loc["time"].values)
    ncdump(["-h", str(f)])


def test_all_types_nc(server, tmp_path):
    """NetCDF-4: every type as it is (ubyte, ushort, uint, int64, uint64, char, string),
    values and typed attributes, NaN fill, packed data, a name with a space."""
    ref = server.reference(ALL_TYPES)
    _, f = fetch(server, f"/opendap/{ALL_TYPES}.nc", tmp_path)
    with netCDF4.Dataset(f) as nc:
        assert set(nc.variables) == set(ref.variables())
        for name, lv in ref.variables().items():
            v = nc[name]
            v.set_auto_maskandscale(False)
            v.set_auto_chartostring(False)
            if lv.is_string:
                assert v.dtype is str
                assert list(np.asarray(v[...], dtype=object)) == list(ref.read(name))
            else:
                assert_same(v[...] if v.ndim else v.getValue(), ref.read(name), name)
            assert_attrs(v, ref.first[name], name)
        assert_attrs(nc, ref.first, "global", skip=("history",))
        for a in ("att_ubyte", "att_ushort", "att_uint", "att_int64", "att_uint64"):
            assert np.asarray(nc.getncattr(a)).dtype == np.asarray(ref.first.getncattr(a)).dtype, a
    with xr.open_dataset(f) as ds:
        loc = ref.xarray()
        for name in ("ubyte_var", "uint64_var", "int64_var", "packed_temp", "nan_fill_var", "string_var"):
            np.testing.assert_array_equal(ds[name].values, loc[name].values, err_msg=name)
    text = ncdump(["-v", "uint64_var,string_var", str(f)])
    assert "18446744073709551613" in text and "température °C – 日本" in text


def test_all_types_nc3(server, tmp_path):
    """Classic (64-bit offset): unsigned types become the signed type of the same width
    with _Unsigned = "true" (values bit for bit), strings become char arrays (UTF-8 bytes,
    NUL padded), 64-bit integers are left out of a whole-dataset request and refused
    with 400 when asked for."""
    ref = server.reference(ALL_TYPES)
    r, f = fetch(server, f"/opendap/{ALL_TYPES}.nc3", tmp_path)
    assert r.headers["Content-Type"].startswith("application/x-netcdf")
    with netCDF4.Dataset(f) as nc:
        assert nc.data_model == "NETCDF3_64BIT_OFFSET"
        names = set(nc.variables)
        assert names == set(ref.variables()) - {"int64_var", "uint64_var"}, sorted(names)
        for name in names:
            lv = ref.variables()[name]
            v = nc[name]
            v.set_auto_maskandscale(False)
            v.set_auto_chartostring(False)
            got = np.asarray(v[...] if v.ndim else v.getValue())
            exp = np.asarray(ref.read(name))
            if lv.dtype.kind == "u":
                assert got.dtype == exp.dtype.str.replace("u", "i"), f"{name}: {got.dtype}"
                assert v.getncattr("_Unsigned") == "true", name
                assert got.view(exp.dtype).tobytes() == exp.tobytes(), name
            elif lv.is_string:
                assert got.dtype == np.dtype("S1") and got.ndim == 2, (name, got.dtype, got.shape)
                rows = [b"".join(r).rstrip(b"\0").decode("utf-8") for r in got]
                assert rows == list(exp), name
            else:
                assert_same(got, exp, name)
    with xr.open_dataset(f) as ds:  # xarray applies _Unsigned
        np.testing.assert_array_equal(ds["ubyte_var"].values, ref.xarray()["ubyte_var"].values)
        assert ds["ushort_var"].dtype == np.uint16
    for q in ("int64_var", "dap4.ce=/uint64_var"):
        r = server.get(f"/opendap/{ALL_TYPES}.nc3?{q}")
        assert r.status_code == 400, (q, r.status_code)
        code, msg = parse_dap_error(r.text)
        assert "NetCDF-3" in msg and "64-bit" in msg, msg
    r = server.get(f"/opendap/{GROUPS}.nc3")
    assert r.status_code == 400 and "groups" in parse_dap_error(r.text)[1]


def test_all_types_nc3_attribute_values(server, tmp_path):
    ref = server.reference(ALL_TYPES)
    _, f = fetch(server, f"/opendap/{ALL_TYPES}.nc3", tmp_path)
    with netCDF4.Dataset(f) as nc:
        for a in ("att_ubyte", "att_ushort", "att_uint", "att_int64", "att_uint64"):
            assert float(nc.getncattr(a)) == float(ref.first.getncattr(a)), (a, nc.getncattr(a))


def test_groups_nc(server, tmp_path):
    ref = server.reference(GROUPS)
    _, f = fetch(server, f"/opendap/{GROUPS}.nc", tmp_path)
    with netCDF4.Dataset(f) as nc:
        assert list(nc.groups) == ["g1"] and list(nc["g1"].groups) == ["g2"]
        assert_same(nc["g1/g2/g2_var"][...], ref.read("g1/g2/g2_var"), "g2_var")
        assert list(nc["g1/g2"].getncattr("tags")) == ["nested", "inner"]
    _, f = fetch(server, f"/opendap/{GROUPS}.nc?dap4.ce=/g1/g1_var[1:2][0]", tmp_path, "g.nc")
    with netCDF4.Dataset(f) as nc:
        assert_same(nc["g1/g1_var"][...], ref.read("g1/g1_var", key=np.s_[1:3, 0:1]), "g1_var")


# --------------------------------------------------------------------------- HTTP


IDENTITY = {"Accept-Encoding": "identity"}


@pytest.mark.parametrize("suffix", [".nc", ".nc3"])
def test_http_headers_head_range_304(server, suffix):
    path = f"/opendap/{HADGEM}{suffix}?tas[0:1:99][0:1:1][0:1:1]"
    r = server.get(path, headers=IDENTITY)
    assert r.status_code == 200
    body = r.content
    h = r.headers
    assert h["Content-Disposition"] == f'attachment; filename="{file_name(HADGEM)}"', h["Content-Disposition"]
    assert int(h["Content-Length"]) == len(body)
    assert h.get("Accept-Ranges") == "bytes"
    etag = h["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/"), f"not a strong ETag: {etag}"
    assert body[:4] in (b"\x89HDF", b"CDF\x02"), body[:8]

    hd = requests.head(server.url + path, timeout=60, headers=IDENTITY)
    assert hd.status_code == 200 and hd.content == b""
    assert hd.headers["Content-Length"] == h["Content-Length"] and hd.headers["ETag"] == etag

    rr = server.get(path, headers={"Range": "bytes=100-1099", **IDENTITY})
    assert rr.status_code == 206
    assert rr.headers["Content-Range"] == f"bytes 100-1099/{len(body)}"
    assert rr.content == body[100:1100]
    rs = server.get(path, headers={"Range": "bytes=-200", **IDENTITY})
    assert rs.status_code == 206 and rs.content == body[-200:]
    assert server.get(path, headers={"Range": f"bytes={len(body) + 10}-", **IDENTITY}).status_code == 416

    nm = server.get(path, headers={"If-None-Match": etag, **IDENTITY})
    assert nm.status_code == 304 and nm.content == b""
    assert server.get(path, headers={"If-None-Match": '"other"', **IDENTITY}).status_code == 200
    assert server.get(path, headers=IDENTITY).content == body, "the same request must give the same bytes"


@pytest.mark.parametrize("suffix", [".nc", ".nc3"])
def test_encoded_file_response_etag(server, suffix):
    path = f"/opendap/{HADGEM}{suffix}?tas[0:1:99][0:1:1][0:1:1]"
    ident = server.get(path, headers=IDENTITY)
    gz = server.get(path, headers={"Accept-Encoding": "gzip"}, stream=True)
    enc = gz.headers.get("Content-Encoding", "identity")
    assert enc == "identity" or gz.headers["ETag"] != ident.headers["ETag"] or gz.headers["ETag"].startswith("W/"), (
        f"Content-Encoding {enc} with the identity's strong ETag {ident.headers['ETag']}")


def test_content_disposition_names(server):
    for dsid, suffix in ((ALL_TYPES, ".nc"), (ALL_TYPES, ".nc3"), (EUR22, ".nc")):
        r = requests.head(f"{server.url}/opendap/{dsid}{suffix}", timeout=60, headers=IDENTITY)
        assert r.status_code == 200
        assert r.headers["Content-Disposition"] == f'attachment; filename="{file_name(dsid)}"'


# --------------------------------------------------------------------------- limits, CORS, a second instance


@pytest.fixture(scope="module")
def limited_server(start_server, server):
    return start_server([server.samples], extra_args=["--max-response-bytes", "100000"], name="limit-nc")


@pytest.mark.parametrize("suffix", [".nc", ".nc3", ".dap", ".dods"])
def test_size_limit_413(limited_server, suffix):
    r = limited_server.get(f"/opendap/{CLASSIC}{suffix}")
    assert r.status_code == 413, (suffix, r.status_code)
    if suffix == ".dap":
        msg = re.search(r"<Message>(.*)</Message>", r.text, re.S).group(1)
    else:
        msg = parse_dap_error(r.text)[1]
    m = re.search(r"(\d+) bytes, more than the limit of (\d+) bytes", msg)
    assert m and int(m.group(2)) == 100000 and int(m.group(1)) > 100000, msg
    small = limited_server.get(f"/opendap/{CLASSIC}{suffix}?" + ("dap4.ce=/lat" if suffix == ".dap" else "lat"))
    assert small.status_code == 200, (suffix, small.status_code, small.text[:200])


@pytest.fixture(scope="module")
def cors_server(start_server, server):
    return start_server([server.esgf, server.samples],
                        extra_args=["--cors-origins", "https://a.example,https://b.example"], name="cors-nc")


def test_cors_origins(cors_server, server):
    path = f"/opendap/{HADGEM}.nc?time[0:1:1]"
    for origin in ("https://a.example", "https://b.example"):
        r = cors_server.get(path, headers={"Origin": origin})
        assert r.status_code == 200 and r.headers.get("Access-Control-Allow-Origin") == origin
        assert "origin" in r.headers.get("Vary", "").lower()
    r = cors_server.get(path, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in r.headers, r.headers
    pre = requests.options(cors_server.url + path, timeout=30, headers={
        "Origin": "https://a.example", "Access-Control-Request-Method": "GET"})
    assert pre.headers.get("Access-Control-Allow-Origin") == "https://a.example"
    # the default (*) on the session server
    default = server.get(path, headers={"Origin": "https://evil.example"})
    assert default.headers.get("Access-Control-Allow-Origin") == "*"


def test_strong_etag_means_same_bytes(server, cors_server):
    path = f"/opendap/{HADGEM}.nc?tas[0:1:3][0:1:1][0:1:1]"
    a = server.get(path)
    time.sleep(1.1)  # the history time stamp has a resolution of one second
    b = cors_server.get(path)
    assert a.status_code == b.status_code == 200
    if a.headers["ETag"] == b.headers["ETag"]:
        assert a.content == b.content, "same strong ETag, different bytes"
