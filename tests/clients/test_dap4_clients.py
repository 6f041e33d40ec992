"""DAP4 clients on every variable of every dataset (the ESGF samples and the
`cirrus samples` output), compared with the local files (cirrus_ref.Reference: files
joined along time):

- libnetcdf's DAP4 client (netCDF4 on "<url>#dap4", the wheel's libnetcdf 4.10.1):
  the exact NetCDF-4 type (int64, uint64, ubyte, char, string included: DAP4 carries
  them natively, unlike DAP2), dimensions, values bit for bit, attributes;
- pydap through xarray (`xarray.open_dataset("dap4://...", engine="pydap")`, groups
  with `group=`): decoded values equal xarray's decoding of the local files;
- a few constrained requests (slices, slice sets, dimension constraints, group
  variables, `;` sent as `%3B`) read by both clients and by an independent decoder of
  the `.dap` response (conftest_dap4), and the auxiliary DAP4 responses.

Client quirks that the comparisons allow for, each checked to be the client's:
- libnetcdf 4.10.1 re-escapes XML entities and drops backslashes in DAP4 attribute
  strings (libdap4/d4parser.c getValueStrings applies NCD4_entityescape and
  NCD4_deescape to text the XML parser has already unescaped), so `"` arrives as
  `&quot;`; the expected value is transformed the same way here, and pydap, which reads
  the same DMR, must match the file exactly;
- libnetcdf 4.10.1 returns some Float32 attribute values a few units in the last place
  off the DMR text ("3.5" -> 3.5000005, "42.5" -> 42.500008, "1e20" -> 9.999999e19):
  Float32 attributes compare within 4 ulp for netCDF4 (pydap, exactly);
- pydap 3.5.9 cannot decode DAP4 String data holding non-ASCII text (handlers/dap.py
  decode_variable: numpy.array(str).astype("S") raises UnicodeEncodeError); such
  variables are checked with the independent decoder instead;
- pydap 3.5.9 parses Float32 attributes into Python floats (parsers/dmr.py
  get_atomic_attr), so a Float32 _FillValue/missing_value of 1e20 (sent as "1e20", the
  shortest text of the float) becomes the double 1e20, which differs from the float32
  data value 1e20f: xarray leaves those cells unmasked. The comparison accepts exactly
  those cells holding the raw fill value (and checks that this is the reason);
- libnetcdf >= 4.9.3 (the wheel's 4.10.1) expects the CRC32s that follow each variable
  of a data response only when the data DMR declares _DAP4_Checksum_CRC32 (libdap4
  d4varx.c/d4data.c: the dap4.checksum query is applied to the DMR request only);
  cirrus declares them in the DMR of every data response up to 256 MiB, and
  test_netcdf4_multivar_default_checksums reads a multi-variable constrained URL;
- pydap turns dap4:// into https:// first (conftest_dap4.pydap_local_http).
"""

from __future__ import annotations

import warnings

import netCDF4
import numpy as np
import pytest
import xarray as xr

from conftest import all_dataset_ids, main_server, short_id
from conftest_dap4 import dmr_vars, parse_dap4, pydap_local_http, split_data  # noqa: F401

HADGEM = "cmip5.output1.MOHC.HadGEM2-ES.rcp85.mon.atmos.Amon.r1i1p1.latest.tas"
ALL_TYPES = "misc/all_types.nc"
GROUPS = "misc/groups.nc"
EXTRA_ATTRS = {"_ChunkSizes", "_edu.ucar.maps"}  # added by the server / by libnetcdf for <Map>


def pytest_generate_tests(metafunc):
    if "d4_var" in metafunc.fixturenames:
        srv = main_server()
        params, labels = [], []
        for dsid in all_dataset_ids():
            for name in srv.reference(dsid).variables():
                params.append((dsid, name))
                labels.append(f"{short_id(dsid)}:{name}")
        metafunc.parametrize("d4_var", params, ids=labels)


# --------------------------------------------------------------------------- netCDF4 #dap4

_NC: dict = {}


def remote_nc(server, dsid) -> netCDF4.Dataset:
    if dsid not in _NC:
        try:
            _NC[dsid] = netCDF4.Dataset(server.dap_url(dsid) + "#dap4")
        except Exception as e:  # every variable test reports it
            _NC[dsid] = e
    r = _NC[dsid]
    if isinstance(r, Exception):
        raise AssertionError(f"netCDF4.Dataset({server.dap_url(dsid)}#dap4) failed: {r!r}")
    return r


def nc_var(ds, name):
    g = ds
    parts = name.split("/")
    for p in parts[:-1]:
        g = g.groups[p]
    return g.variables[parts[-1]]


def libnetcdf_dap4_text(s: str) -> str:
    """What libnetcdf 4.10.1 makes of a DAP4 String attribute value (see module doc)."""
    for a, b in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("'", "&apos;")):
        s = s.replace(a, b)
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\":
            i += 1
            if i >= len(s):
                break
        out.append(s[i])
        i += 1
    return "".join(out)


def assert_attr_equal(local, got, what: str, float32_ulp: bool):
    if isinstance(local, str):
        assert isinstance(got, str), f"{what}: {got!r} is not a string"
        assert got == libnetcdf_dap4_text(local), f"{what}: {got!r} != {local!r}"
        return
    if isinstance(local, list):  # NC_STRING array attribute
        assert [libnetcdf_dap4_text(x) for x in local] == list(got), f"{what}: {got!r} != {local!r}"
        return
    la, ga = np.atleast_1d(np.asarray(local)), np.atleast_1d(np.asarray(got))
    assert ga.dtype == la.dtype, f"{what}: type {ga.dtype}, expected {la.dtype}"
    assert ga.shape == la.shape, f"{what}: {ga!r} != {la!r}"
    if la.dtype == np.float32 and float32_ulp:
        ok = (ga == la) | (np.isnan(ga) & np.isnan(la)) | (np.abs(ga - la) <= 4 * np.spacing(np.abs(la)))
        assert ok.all(), f"{what}: {ga!r} != {la!r} (beyond 4 ulp)"
    elif la.dtype.kind == "f":
        assert np.array_equal(ga, la, equal_nan=True), f"{what}: {ga!r} != {la!r}"
    else:
        assert np.array_equal(ga, la), f"{what}: {ga!r} != {la!r}"


def test_netcdf4_dap4(server, d4_var):
    dsid, name = d4_var
    ref = server.reference(dsid)
    lv = ref.variables()[name]
    what = f"{short_id(dsid)}:{name}"
    v = nc_var(remote_nc(server, dsid), name)
    loc = nc_var(ref.first, name)

    # exact type and dimensions
    if lv.is_string:
        assert v.dtype is str, f"{what}: type {v.dtype}, expected string"
    else:
        assert np.dtype(v.dtype) == lv.dtype, f"{what}: type {v.dtype}, expected {lv.dtype}"
    assert v.dimensions == loc.dimensions, f"{what}: dimensions {v.dimensions}, expected {loc.dimensions}"
    assert v.shape == lv.shape, f"{what}: shape {v.shape}, expected {lv.shape}"

    # values
    v.set_auto_maskandscale(False)
    v.set_auto_chartostring(False)
    got = v[...] if v.ndim else v.getValue()
    exp = ref.read(name)
    if lv.is_string:
        assert np.asarray(got, dtype=object).tolist() == np.asarray(exp, dtype=object).tolist(), what
    else:
        got = np.asarray(np.ma.getdata(got))
        exp = np.asarray(exp)
        assert got.shape == exp.shape, f"{what}: shape {got.shape}, expected {exp.shape}"
        g = np.ascontiguousarray(got.astype(got.dtype.newbyteorder("="), copy=False))
        e = np.ascontiguousarray(exp.astype(exp.dtype.newbyteorder("="), copy=False))
        if g.tobytes() != e.tobytes():
            bad = np.nonzero(~((g == e) | ((g != g) & (e != e))))
            idx = tuple(int(i[0]) for i in bad) if bad and len(bad[0]) else ()
            raise AssertionError(f"{what}: values differ, first at {idx}: got {g[idx]!r}, expected {e[idx]!r}")

    # attributes (types included)
    la = {a: loc.getncattr(a) for a in loc.ncattrs()}
    ra = {a: v.getncattr(a) for a in v.ncattrs()}
    assert set(la) <= set(ra), f"{what}: attributes missing: {sorted(set(la) - set(ra))}"
    assert set(ra) - set(la) <= EXTRA_ATTRS, f"{what}: unexpected attributes {sorted(set(ra) - set(la) - EXTRA_ATTRS)}"
    for a in la:
        assert_attr_equal(la[a], ra[a], f"{what}:{a}", float32_ulp=True)


def test_netcdf4_dap4_groups_and_global_attributes(server):
    """Group structure, group dimensions and group/global attributes of misc/groups.nc
    and the global attributes (every NetCDF-4 type) of misc/all_types.nc."""
    for dsid in (GROUPS, ALL_TYPES):
        ref = server.reference(dsid)
        r = remote_nc(server, dsid)

        def walk(lg, rg, path):
            assert set(rg.groups) == set(lg.groups), f"{dsid}{path}: groups {set(rg.groups)}"
            assert {k: len(d) for k, d in rg.dimensions.items()} == {k: len(d) for k, d in lg.dimensions.items()}
            la = {a: lg.getncattr(a) for a in lg.ncattrs()}
            ra = {a: rg.getncattr(a) for a in rg.ncattrs()}
            assert set(ra) == set(la), f"{dsid}{path}: attributes {sorted(set(ra) ^ set(la))}"
            for a in la:
                assert_attr_equal(la[a], ra[a], f"{dsid}{path}:{a}", float32_ulp=True)
            for g in lg.groups:
                walk(lg.groups[g], rg.groups[g], f"{path}{g}/")

        walk(ref.first, r, "/")


# --------------------------------------------------------------------------- xarray + pydap (dap4://)

_XR: dict = {}


def dap4_url(server, dsid) -> str:
    return server.dap_url(dsid).replace("http://", "dap4://", 1)


def remote_xr(server, dsid, group=None) -> xr.Dataset:
    key = (dsid, group)
    if key not in _XR:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _XR[key] = xr.open_dataset(dap4_url(server, dsid), engine="pydap", group=group)
        except Exception as e:
            _XR[key] = e
    r = _XR[key]
    if isinstance(r, Exception):
        raise AssertionError(f"xarray.open_dataset({dap4_url(server, dsid)!r}, engine='pydap', group={group!r}) "
                             f"failed: {r!r}")
    return r


def own_decode(server, dsid, name):
    """The variable's values from the .dap response, by the independent decoder."""
    r = server.get(f"/opendap/{dsid}.dap", params={"dap4.ce": "/" + name})
    assert r.status_code == 200, r.text[:300]
    resp = parse_dap4(r.content)
    vars_ = dmr_vars(resp.dmr)
    return split_data(vars_, resp.data, resp.little_endian, checksums=True)["/" + name][1]


def test_xarray_pydap_dap4(server, pydap_local_http, d4_var):
    dsid, name = d4_var
    ref = server.reference(dsid)
    lv = ref.variables()[name]
    what = f"{short_id(dsid)}:{name}"
    group, base = (name.rsplit("/", 1) if "/" in name else (None, name))

    if lv.is_string:
        exp = np.asarray(ref.read(name), dtype=object).ravel().tolist()
        if not all(s.isascii() for s in exp):
            # pydap 3.5.9 raises UnicodeEncodeError on non-ASCII DAP4 String data (module doc):
            # xarray would retry it for half a minute, so pydap is asked directly
            from pydap.client import open_url
            with pytest.raises(UnicodeEncodeError):
                open_url(dap4_url(server, dsid))[name][:].data
            got = own_decode(server, dsid, name)
            assert got == exp, f"{what}: decoded .dap strings {got!r} != {exp!r}"
            return

    rds = remote_xr(server, dsid, group)
    assert base in rds.variables, f"{what}: not among {sorted(rds.variables)}"
    rv = rds[base]
    loc = ref.xarray(group=group)[base]
    assert rv.dims == loc.dims or lv.is_char, f"{what}: dims {rv.dims}, expected {loc.dims}"

    if lv.is_char:  # pydap gives DAP4 Char as uint8 (..., strlen); xarray locally joins to strings
        got = np.asarray(rv.values)
        raw = np.asarray(ref.read(name))
        assert got.shape == raw.shape, f"{what}: shape {got.shape}, expected {raw.shape}"
        assert got.astype(np.uint8).tobytes() == raw.tobytes(), f"{what}: chars differ"
        return
    got, exp = rv.values, loc.values
    if lv.is_string:
        assert [x.decode() if isinstance(x, bytes) else str(x) for x in np.asarray(got).ravel()] == \
            [str(x) for x in np.asarray(exp).ravel()], what
        return
    assert got.shape == exp.shape, f"{what}: shape {got.shape}, expected {exp.shape}"
    if exp.dtype.kind in "OMm" or got.dtype.kind in "OMm":
        assert got.dtype.kind == exp.dtype.kind, f"{what}: times decoded as {got.dtype}, expected {exp.dtype}"
        assert np.array_equal(got, exp), f"{what}: decoded times differ"
        return
    if got.dtype == exp.dtype and exp.dtype == np.float32:
        got = _pydap_float32_fill_quirk(got, exp, loc, what)
    if got.dtype == exp.dtype:
        same = (got == exp) | ((got != got) & (exp != exp)) if exp.dtype.kind == "f" else (got == exp)
        if not np.all(same):
            idx = tuple(int(i[0]) for i in np.nonzero(~same))
            raise AssertionError(f"{what}: {int((~same).sum())} values differ; first at {idx}: "
                                 f"got {got[idx]!r}, expected {exp[idx]!r}")
    else:
        # pydap hands scale_factor/add_offset to xarray as Python floats: a packed variable
        # decodes to float64 remotely and float32 locally (as over DAP2)
        assert exp.dtype.kind == "f" and got.dtype.kind == "f", f"{what}: decoded as {got.dtype}, expected {exp.dtype}"
        np.testing.assert_allclose(got, exp, rtol=2e-7 if exp.dtype == np.float32 else 0, atol=0,
                                   equal_nan=True, err_msg=what)
    # attributes exactly (pydap parses the DMR correctly); encoding attributes are in .encoding
    lattrs = {**loc.attrs, **{k: v for k, v in loc.encoding.items() if k in ("_FillValue", "missing_value",
                                                                             "scale_factor", "add_offset")}}
    rattrs = {**rv.attrs, **{k: v for k, v in rv.encoding.items() if k in lattrs}}
    for a, val in lattrs.items():
        if a in ("_FillValue", "missing_value") and a not in rattrs:
            continue  # xarray may drop a fill attribute it has applied
        assert a in rattrs, f"{what}: attribute {a} missing"
        lv_, rv_ = np.asarray(val), np.asarray(rattrs[a])
        if lv_.dtype.kind in "fiu":
            assert np.array_equal(rv_.astype(lv_.dtype), lv_, equal_nan=lv_.dtype.kind == "f"), f"{what}:{a}"
        else:
            assert str(rattrs[a]) == str(val), f"{what}:{a}: {rattrs[a]!r} != {val!r}"


def _pydap_float32_fill_quirk(got, exp, loc, what):
    """Cells masked locally but not by xarray+pydap must hold a Float32 fill value whose
    shortest text, parsed as a double (pydap), is not the float32 value (module doc)."""
    unmasked = np.isnan(exp) & ~np.isnan(got)
    if not unmasked.any():
        return got
    fills = [np.float32(loc.encoding[k]) for k in ("_FillValue", "missing_value") if k in loc.encoding]
    quirky = [f for f in fills if float(str(f)) != float(f)]  # str(): the shortest text of the float32
    assert quirky, f"{what}: {int(unmasked.sum())} cells unmasked remotely, fill values {fills} parse exactly"
    assert np.isin(got[unmasked], quirky).all(), f"{what}: unmasked cells hold {np.unique(got[unmasked])[:5]}"
    return np.where(unmasked, np.float32(np.nan), got)


# --------------------------------------------------------------------------- constrained reads

CONSTRAINED = [
    # (dataset, DAP4 CE, {variable: numpy key into the joined local array})
    (HADGEM, "/tas[290:310][0:1][0]", {"tas": np.s_[290:311, 0:2, 0:1]}),  # crosses a file boundary
    (HADGEM, "/tas[0:3:20][1][1];/time[0:3:20]", {"tas": np.s_[0:21:3, 1:2, 1:2], "time": np.s_[0:21:3]}),
    (HADGEM, "/time=[10:19];/tas;/time", {"tas": np.s_[10:20], "time": np.s_[10:20]}),  # dimension constraint
    (ALL_TYPES, "/int64_var[0:1,3];/uint64_var[5,0]", {"int64_var": [0, 1, 3], "uint64_var": [5, 0]}),  # slice sets
    (ALL_TYPES, "/ubyte_var[1:2:5];/char_var[2][0:4]", {"ubyte_var": np.s_[1:6:2], "char_var": np.s_[2:3, 0:5]}),
    (GROUPS, "/g1/g2/g2_var[1][0:2];/g1/y[1:3]", {"g1/g2/g2_var": np.s_[1:2, 0:3], "g1/y": np.s_[1:4]}),
]


def _dap_values(server, dsid, ce: str, encode_semicolon=False):
    query = "dap4.ce=" + (ce.replace(";", "%3B") if encode_semicolon else ce)
    r = server.get(f"/opendap/{dsid}.dap?{query}")
    assert r.status_code == 200, f"{ce}: {r.status_code} {r.text[:300]}"
    resp = parse_dap4(r.content)
    vars_ = dmr_vars(resp.dmr)
    return {v.fqn: (v.dtype.shape, vals) for v, (_, vals, _) in
            zip(vars_, split_data(vars_, resp.data, resp.little_endian, checksums=True).values())}, r.content


@pytest.mark.parametrize("dsid,ce,keys", CONSTRAINED, ids=[f"{short_id(d)}:{c}" for d, c, _ in CONSTRAINED])
def test_constrained_dap4(server, dsid, ce, keys):
    ref = server.reference(dsid)
    plain, body1 = _dap_values(server, dsid, ce)
    encoded, body2 = _dap_values(server, dsid, ce, encode_semicolon=True)
    assert body1 == body2, "';' and '%3B' give different responses"
    assert set(plain) == {"/" + k for k in keys}, sorted(plain)
    # libnetcdf >= 4.9.3 misreads appended CRC32s it was not told about (module doc)
    url = server.dap_url(dsid) + "?dap4.ce=" + ce + ("&dap4.checksum=false" if len(keys) > 1 else "") + "#dap4"
    with netCDF4.Dataset(url) as nc:
        for name, key in keys.items():
            exp = np.asarray(ref.read(name))
            exp = exp[key] if not isinstance(key, list) else exp[key]
            shape, vals = plain["/" + name]
            got = np.asarray(vals).reshape(shape) if shape else np.asarray(vals)
            if exp.dtype.kind == "S":
                assert got.tobytes() == exp.tobytes(), f"{ce}: {name}"
            else:
                assert np.array_equal(got.astype(exp.dtype), exp, equal_nan=exp.dtype.kind == "f"), (
                    f"{ce}: {name}: .dap {got.ravel()[:8]} != {exp.ravel()[:8]}")
            v = nc_var(nc, name)
            v.set_auto_maskandscale(False)
            v.set_auto_chartostring(False)
            gv = np.asarray(np.ma.getdata(v[...]))
            assert gv.shape == exp.shape, f"{ce}: netCDF4 {name} shape {gv.shape}, expected {exp.shape}"
            assert gv.tobytes() == np.ascontiguousarray(exp).tobytes(), f"{ce}: netCDF4 {name} values"


def test_netcdf4_multivar_default_checksums(server):
    ref = server.reference(ALL_TYPES)
    with netCDF4.Dataset(server.dap_url(ALL_TYPES) + "?dap4.ce=/int64_var[0:1,3];/uint64_var[5,0]#dap4") as nc:
        got = np.asarray(nc["uint64_var"][:])
    np.testing.assert_array_equal(got, np.asarray(ref.read("uint64_var"))[[5, 0]])


def test_pydap_hyperslabs(server, pydap_local_http):
    """xarray+pydap subsetting turns into DAP4 constraints: a slab across a file boundary
    of HadGEM2-ES, a strided one, and a group variable."""
    ref = server.reference(HADGEM)
    rv = remote_xr(server, HADGEM)["tas"]
    loc = ref.xarray()["tas"]
    for key in (np.s_[290:311, 0:2, 0:1], np.s_[0:40:7, 1, :]):
        np.testing.assert_array_equal(rv[key].values, loc[key].values)
    g2 = remote_xr(server, GROUPS, "g1/g2")["g2_var"]
    np.testing.assert_array_equal(g2[1, 1:3].values, server.reference(GROUPS).read("g1/g2/g2_var")[1, 1:3])


# --------------------------------------------------------------------------- the other DAP4 responses


def test_dap4_aux_responses(server):
    for dsid in (HADGEM, GROUPS):
        dmr = server.get(f"/opendap/{dsid}.dmr")
        assert dmr.status_code == 200
        assert "dap4.dataset-metadata+xml" in dmr.headers["Content-Type"]
        xml = server.get(f"/opendap/{dsid}.dmr.xml")
        assert xml.status_code == 200 and xml.content == dmr.content
        dsr = server.get(f"/opendap/{dsid}.dsr")
        assert dsr.status_code == 200 and "dataset-services" in dsr.headers["Content-Type"]
        assert f"{dsid}.dap" in dsr.text and f"{dsid}.dmr" in dsr.text
        html = server.get(f"/opendap/{dsid}.dmr.html")
        assert html.status_code == 200 and html.headers["Content-Type"].startswith("text/html")
        assert "dap4.ce" in html.text and ".dap" in html.text and dsid in html.text
        dap = server.get(f"/opendap/{dsid}.dap", params={"dap4.ce": "/" + dmr_vars(dmr.content)[0].fqn.lstrip("/")})
        assert dap.status_code == 200 and dap.headers["Content-Type"].startswith("application/vnd.opendap.dap4.data")


@pytest.mark.parametrize("dsid", [pytest.param(d, id=short_id(d)) for d in all_dataset_ids()])
def test_dmr_maps_declared_first(server, dsid):
    """Every <Map> names a variable declared before it, in an enclosing scope."""
    import xml.etree.ElementTree as ET
    root = ET.fromstring(server.get(f"/opendap/{dsid}.dmr").content)
    declared, bad = set(), []

    def walk(e, path):
        for c in e:
            tag = c.tag.split("}")[-1]
            if tag == "Group":
                walk(c, f"{path}/{c.get('name')}")
            elif tag not in ("Dimension", "Enumeration", "Attribute"):
                for m in c:
                    if m.tag.split("}")[-1] == "Map" and m.get("name") not in declared:
                        bad.append(f"{path}/{c.get('name')} -> {m.get('name')}")
                declared.add(f"{path}/{c.get('name')}")

    walk(root, "")
    assert not bad, f"Maps naming variables not (yet) declared: {bad}"
