"""The dataset catalog: /datasets, /datasets/{id}, /catalog.xml (read with
siphon's TDSCatalog), and rescans picking up new, extended and removed files."""

from __future__ import annotations

import math
import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import netCDF4
import numpy as np
import requests
from siphon.catalog import TDSCatalog


HADGEM = "cmip5.output1.MOHC.HadGEM2-ES.rcp85.mon.atmos.Amon.r1i1p1.latest.tas"
EUR11 = "cordex.output.EUR-11.IPSL.IPSL-IPSL-CM5A-MR.rcp85.r1i1p1.IPSL-WRF381P.v1.day.zg500.v20190919"
NAM22 = "cordex.output.NAM-22.OURANOS.NOAA-GFDL-GFDL-ESM2M.rcp45.r1i1p1.OURANOS-CRCM5.v1.day.pr.v20200831"
INM = "CMIP6.ScenarioMIP.INM.INM-CM5-0.ssp245.r1i1p1f1.Amon.rlds.gr1.v20190619"
ZM = ("CMIP6/CMIP/MPI-M/MPI-ESM1-2-LR/historical/r1i1p1f1/AERmon/o3/gn/v20190710/"
      "o3_AERmon_MPI-ESM1-2-LR_historical_r1i1p1f1_gn_185001_zm.nc")

CALENDAR_SYNONYMS = {"gregorian": "standard", "365_day": "noleap", "366_day": "all_leap"}

NC_TYPE_NAMES = {
    "int8": "byte", "uint8": "ubyte", "int16": "short", "uint16": "ushort", "int32": "int",
    "uint32": "uint", "int64": "int64", "uint64": "uint64", "float32": "float", "float64": "double",
}


def iso(d) -> str:
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}"


# --------------------------------------------------------------------------- /datasets


def test_datasets_cover_every_file(server):
    """Every NetCDF file under the data roots belongs to exactly one dataset, and
    nothing in these roots is unavailable."""
    cat = server.json("/datasets")
    assert cat.get("unavailable", []) == [], cat.get("unavailable")
    seen = {}
    for d in cat["datasets"]:
        for f in d["files"]:
            assert not f.startswith("/") and ".." not in Path(f).parts, f"{d['id']}: file path {f!r}"
            p = server.local_path(f)
            assert str(p) not in seen, f"{f} is in {seen.get(str(p))} and {d['id']}"
            seen[str(p)] = d["id"]
    on_disk = {str(p) for r in server.roots for p in r.rglob("*.nc")}
    missing = on_disk - set(seen)
    assert not missing, f"files not in any dataset: {sorted(missing)}"
    ids = [d["id"] for d in cat["datasets"]]
    assert len(ids) == len(set(ids)), "duplicate dataset ids"


def test_per_project_roots(server, start_server):
    """Data roots that are the DRS project directories themselves (`--data .../CMIP6
    --data .../cmip5 --data .../cordex`) give the same DRS datasets as their parent."""
    roots = [server.esgf / p for p in ("CMIP6", "cmip5", "cordex")]
    srv = start_server(roots, name="per-project")
    want = {d["id"]: len(d["files"]) for d in server.datasets()
            if "/" not in d["id"] and (server.esgf / d["files"][0]).is_file()}
    assert len(want) == 11 and want[HADGEM] == 13, want
    got = {d["id"]: len(d["files"]) for d in srv.json("/datasets?limit=1000")["datasets"] if "/" not in d["id"]}
    assert got == want


def test_expected_esgf_datasets(server):
    ids = {d["id"]: d for d in server.datasets()}
    for dsid, nfiles in [(HADGEM, 13), (EUR11, 2), (NAM22, 2), (INM, 1), (ZM, 1),
                         ("cordex.output.EUR-22.GERICS.MPI-M-MPI-ESM-LR.rcp85.r1i1p1.GERICS-REMO2015.v1.mon.tas.v20191029", 1),
                         ("CMIP6.CMIP.MPI-M.MPI-ESM1-2-LR.historical.r1i1p1f1.AERmon.o3.gn.v20190710", 1)]:
        assert dsid in ids, f"{dsid} not in /datasets"
        assert len(ids[dsid]["files"]) == nfiles, f"{dsid}: {len(ids[dsid]['files'])} files, expected {nfiles}"
    esgf_ids = [i for i, d in ids.items() if (server.esgf / d["files"][0]).is_file()]
    assert len(esgf_ids) == 12, f"{len(esgf_ids)} datasets from the ESGF samples, expected 12: {esgf_ids}"


def test_dataset_entry(server, dataset_id):
    """One /datasets entry against the local files: variables, time, bbox, links."""
    entry = next(d for d in server.datasets() if d["id"] == dataset_id)
    ref = server.reference(dataset_id)
    for key in ("id", "title", "files", "variables", "opendap"):
        assert key in entry, f"{key} missing"
    assert isinstance(entry["title"], str) and entry["title"].strip()
    assert entry["opendap"].rstrip("/").endswith("/opendap/" + dataset_id)
    r = requests.get(entry["opendap"].replace("localhost", "127.0.0.1") + ".dds", timeout=60)
    assert r.status_code == 200, f"{entry['opendap']}.dds -> {r.status_code}"
    assert set(entry["variables"]) == set(ref.variables()), (
        f"variables {sorted(entry['variables'])}, expected {sorted(ref.variables())}"
    )
    # time
    tb = ref.time_bounds_dates()
    if tb is None:
        assert "time" not in entry or entry["time"] is None
    else:
        t = entry.get("time")
        assert t, "time missing"
        first, last, cal = tb
        assert t["start"].startswith(iso(first)), f"time.start {t['start']}, expected {iso(first)}"
        assert t["end"].startswith(iso(last)), f"time.end {t['end']}, expected {iso(last)}"
        assert CALENDAR_SYNONYMS.get(t["calendar"], t["calendar"]) == CALENDAR_SYNONYMS.get(cal, cal)
    # bbox: contains every cell centre of the latitude/longitude variables
    lat, lon = _lat_lon(ref)
    if lat is not None and lon is not None:
        assert "bbox" in entry, "bbox missing although the files have latitude/longitude"
        w, s, e, n = entry["bbox"]
        assert -90 <= s <= n <= 90, entry["bbox"]
        eps = 1e-6
        assert s <= np.nanmin(lat) + eps and n >= np.nanmax(lat) - eps, (
            f"bbox {entry['bbox']} does not cover latitudes {np.nanmin(lat)}..{np.nanmax(lat)}"
        )
        x = (np.asarray(lon, dtype="f8").ravel() + 180.0) % 360.0 - 180.0
        if e - w >= 360 - eps:
            inside = np.ones_like(x, dtype=bool)
        elif w <= e:
            inside = (x >= w - eps) & (x <= e + eps)
        else:  # crosses the antimeridian
            inside = (x >= w - eps) | (x <= e + eps)
        assert inside.all(), f"bbox {entry['bbox']} misses longitudes {sorted(set(x[~inside].tolist()))[:5]}"


def _lat_lon(ref):
    lat = lon = None
    for name, v in ref.first.variables.items():
        attrs = {a: v.getncattr(a) for a in v.ncattrs()}
        sn, units = attrs.get("standard_name"), str(attrs.get("units", ""))
        if sn == "latitude" or (sn is None and units in ("degrees_north", "degree_north")):
            lat = np.ma.filled(v[:].astype("f8"), np.nan) if lat is None else lat
        if sn == "longitude" or (sn is None and units in ("degrees_east", "degree_east")):
            lon = np.ma.filled(v[:].astype("f8"), np.nan) if lon is None else lon
    return lat, lon


def test_hadgem_time_and_warning(server):
    d = next(d for d in server.datasets() if d["id"] == HADGEM)
    assert d["time"]["calendar"] == "360_day"
    assert d["time"]["start"].startswith("2005-12-16")
    assert d["time"]["end"].startswith("2299-12-16")
    warnings = " ".join(d.get("warnings", []))
    assert "209912-212411" in warnings and "2099-12-16" in warnings, d.get("warnings")
    assert all(f.startswith("cmip5/output1/MOHC/HadGEM2-ES/") for f in d["files"])
    assert len(d["files"]) == 13


def test_eur11_bbox_over_europe(server):
    d = next(d for d in server.datasets() if d["id"] == EUR11)
    w, s, e, n = d["bbox"]
    assert -50 <= w < e <= 70 and 15 <= s < n <= 80, f"EUR-11 bbox {d['bbox']} is not over Europe"
    assert d["time"]["start"].startswith("2071-01-01") and d["time"]["end"].startswith("2080-12-31")


# --------------------------------------------------------------------------- /datasets/{id}


def _json_attr(value):
    """A local attribute value as /datasets/{id} should give it."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(x, str) for x in value):
        return list(value)
    arr = np.atleast_1d(np.asarray(value))
    if arr.dtype.kind in "iu":
        return [int(x) for x in arr]
    return [None if math.isnan(float(x)) else float(x) for x in arr]


def _same_json_attr(got, exp):
    if isinstance(exp, list) and exp and not isinstance(exp[0], str):
        got = got if isinstance(got, list) else [got]
        return len(got) == len(exp) and all(
            (g is None and e is None) or (g is not None and e is not None and g == e) for g, e in zip(got, exp))
    return got == exp


def test_dataset_detail(server, dataset_id):
    det = server.dataset(dataset_id)
    ref = server.reference(dataset_id)
    problems = []
    # dimensions
    dims = {d["name"]: (d["len"], d["unlimited"]) for d in det["dimensions"]}
    if dims != ref.dimensions():
        problems.append(f"dimensions {dims}, expected {ref.dimensions()}")
    # global attributes (group attributes under their path)
    exp_attrs = ref.all_group_attrs()
    if set(det["attributes"]) != set(exp_attrs):
        problems.append(f"attribute names differ: extra {set(det['attributes']) - set(exp_attrs)}, "
                        f"missing {set(exp_attrs) - set(det['attributes'])}")
    for a, v in exp_attrs.items():
        if a in det["attributes"] and not _same_json_attr(det["attributes"][a], _json_attr(v)):
            problems.append(f"attribute {a}: {det['attributes'][a]!r}, expected {_json_attr(v)!r}")
    # variables
    vars_ = {v["name"]: v for v in det["variables"]}
    local = ref.variables()
    if set(vars_) != set(local):
        problems.append(f"variables {sorted(vars_)}, expected {sorted(local)}")
    for name, lv in local.items():
        v = vars_.get(name)
        if v is None:
            continue
        exp_type = "char" if lv.is_char else "string" if lv.is_string else NC_TYPE_NAMES[lv.dtype.newbyteorder('=').name]
        if v["type"] != exp_type:
            problems.append(f"{name}: type {v['type']}, expected {exp_type}")
        if tuple(v["shape"]) != tuple(lv.shape):
            problems.append(f"{name}: shape {v['shape']}, expected {list(lv.shape)}")
        if tuple(v["dimensions"]) != tuple(lv.dimensions):
            problems.append(f"{name}: dimensions {v['dimensions']}, expected {list(lv.dimensions)}")
        for a, val in lv.attrs.items():
            if a not in v["attributes"] or not _same_json_attr(v["attributes"][a], _json_attr(val)):
                problems.append(f"{name}:{a}: {v['attributes'].get(a)!r}, expected {_json_attr(val)!r}")
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- catalog.xml

THREDDS_NS = "{http://www.unidata.ucar.edu/namespaces/thredds/InvCatalog/v1.0}"


def test_catalog_xml_is_thredds(server):
    r = server.get("/catalog.xml")
    assert r.status_code == 200
    assert "xml" in r.headers.get("content-type", ""), r.headers.get("content-type")
    root = ET.fromstring(r.content)
    assert root.tag == THREDDS_NS + "catalog", root.tag
    assert root.get("version") == "1.0.1"
    services = [s for s in root.iter(THREDDS_NS + "service") if s.get("serviceType", "").upper() == "OPENDAP"]
    assert services, "no OPENDAP service"
    paths = [d.get("urlPath") for d in root.iter(THREDDS_NS + "dataset") if d.get("urlPath")]
    assert sorted(paths) == sorted(d["id"] for d in server.datasets())


def test_catalog_with_siphon(server):
    cat = TDSCatalog(server.url + "/catalog.xml")
    datasets = list(cat.datasets.values())
    # nested catalogs/collections are followed as well
    for ref in cat.catalog_refs.values():
        datasets += list(ref.follow().datasets.values())
    by_path = {d.url_path: d for d in datasets}
    ids = [d["id"] for d in server.datasets()]
    assert sorted(by_path) == sorted(ids)
    for dsid in ids:
        urls = by_path[dsid].access_urls  # siphon's CaseInsensitiveDict: use [] (its .get is case-sensitive)
        assert "OPENDAP" in urls, f"{dsid}: no OPENDAP access URL: {dict(urls)}"
        assert urls["OPENDAP"] == server.dap_url(dsid), f"{dsid}: OPENDAP access URL {urls['OPENDAP']}"
    # the access URLs work with a DAP2 client
    for dsid in (HADGEM, EUR11, "misc/all_types.nc"):
        with netCDF4.Dataset(by_path[dsid].access_urls["OPENDAP"]) as nc:
            assert len(nc.variables) > 0


# --------------------------------------------------------------------------- rescan


def _drs_rel(server, dsid, i):
    entry = next(d for d in server.datasets() if d["id"] == dsid)
    return entry["files"][i]


def test_rescan_picks_up_changes(server, start_server, tmp_root):
    esgf = server.esgf
    inm = _drs_rel(server, INM, 0)
    eur = [_drs_rel(server, EUR11, 0), _drs_rel(server, EUR11, 1)]
    (tmp_root / "first.nc").write_bytes((esgf / inm).read_bytes())
    srv = start_server([tmp_root], name="rescan")
    ids = {d["id"] for d in srv.json("/datasets")["datasets"]}
    assert ids == {"first.nc"}, ids

    # a new single file and one file of a DRS dataset
    shutil.copy(esgf / inm, tmp_root / "second.nc")
    (tmp_root / eur[0]).parent.mkdir(parents=True)
    shutil.copy(esgf / eur[0], tmp_root / eur[0])
    r = srv.post("/admin/rescan")
    assert r.status_code in (200, 202, 204), r.status_code
    cat = srv.json("/datasets")
    ids = {d["id"] for d in cat["datasets"]}
    assert ids == {"first.nc", "second.nc", EUR11}, ids
    assert EUR11 in srv.get("/catalog.xml").text
    with netCDF4.Dataset(str(esgf / eur[0])) as nc:
        n0 = len(nc.dimensions["time"])
    with netCDF4.Dataset(srv.dap_url(EUR11)) as nc:
        assert len(nc.dimensions["time"]) == n0
    assert srv.get("/opendap/second.nc.dds").status_code == 200

    # the second file of the DRS dataset extends its time axis
    shutil.copy(esgf / eur[1], tmp_root / eur[1])
    srv.post("/admin/rescan")
    with netCDF4.Dataset(str(esgf / eur[1])) as nc:
        n1 = len(nc.dimensions["time"])
        last = np.asarray(nc["zg500"][-1])
    d = srv.json(f"/datasets/{EUR11}")
    assert len(d["files"]) == 2
    with netCDF4.Dataset(srv.dap_url(EUR11)) as nc:
        assert len(nc.dimensions["time"]) == n0 + n1
        assert np.array_equal(np.asarray(nc["zg500"][-1]), last)

    # a removed file disappears
    (tmp_root / "second.nc").unlink()
    srv.post("/admin/rescan")
    ids = {d["id"] for d in srv.json("/datasets")["datasets"]}
    assert "second.nc" not in ids
    assert srv.get("/opendap/second.nc.dds").status_code == 404
    assert srv.healthy()


# --------------------------------------------------------------------------- joins across time units


def _copy_dataset(server, dsid, root):
    """Copy a dataset's files into `root` in their DRS layout; their paths in order."""
    rels = next(d for d in server.datasets() if d["id"] == dsid)["files"]
    out = []
    for rel in rels:
        dst = root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(server.esgf / rel, dst)
        out.append(dst)
    return out


def _set_time_units(path, units, calendar=None):
    """Re-express a file's time and time bounds in `units` (as BCC-CSM2-MR and
    CAMS-CSM1-0 write each file with its own units); optionally change the calendar."""
    import cftime

    with netCDF4.Dataset(str(path), "a") as nc:
        t = nc["time"]
        cal = t.getncattr("calendar") if "calendar" in t.ncattrs() else "standard"
        names = ["time"] + ([t.getncattr("bounds")] if "bounds" in t.ncattrs() else [])
        for name in names:
            v = nc[name]
            v.set_auto_maskandscale(False)
            raw = np.asarray(v[...], dtype="f8")
            dates = cftime.num2date(raw, t.getncattr("units"), cal)
            v[...] = cftime.date2num(dates, units, cal)
        t.setncattr("units", units)
        if calendar:
            t.setncattr("calendar", calendar)


def _source_times(paths):
    """Every file's times as dates, in file order."""
    import cftime

    dates = []
    for p in paths:
        with netCDF4.Dataset(str(p)) as nc:
            t = nc["time"]
            dates.extend(cftime.num2date(np.asarray(t[:], dtype="f8"), t.units, getattr(t, "calendar", "standard")))
    return dates


def test_join_across_time_units(server, start_server, tmp_root):
    """Files of one dataset with different time units (hours in one CORDEX file, days
    from another epoch in HadGEM2-ES's 360_day files) are joined; time and its bounds
    are re-expressed exactly in the earliest file's units; the data follows unchanged.
    A file with another calendar keeps its dataset apart, with the reason."""
    import cftime

    eur = _copy_dataset(server, EUR11, tmp_root)
    had = _copy_dataset(server, HADGEM, tmp_root)
    _set_time_units(eur[1], "hours since 1949-12-01 00:00:00")
    for p in had[3::2]:
        _set_time_units(p, "days since 1950-01-01")
    nam = _copy_dataset(server, NAM22, tmp_root)
    _set_time_units(nam[1], "days since 1949-12-01", calendar="proleptic_gregorian")
    srv = start_server([tmp_root], name="time-units")
    ids = {d["id"] for d in srv.json("/datasets")["datasets"]}
    assert EUR11 in ids and HADGEM in ids, sorted(ids)

    for dsid, paths in ((EUR11, eur), (HADGEM, had)):
        expected = _source_times(paths)
        with netCDF4.Dataset(str(paths[0])) as first:
            units, cal = first["time"].units, first["time"].calendar
        with netCDF4.Dataset(srv.dap_url(dsid)) as nc:
            t = nc["time"]
            assert t.units == units, (dsid, t.units)
            got_dates = cftime.num2date(np.asarray(t[:]), t.units, cal)
            # HadGEM2-ES repeats a step at one file boundary: the joined axis leaves it out
            want = sorted(set(expected))
            assert list(got_dates) == want, dsid
            # values are exact in the first file's units, bounds too
            np.testing.assert_array_equal(np.asarray(t[:]), cftime.date2num(want, units, cal))
            bnds = np.asarray(nc[t.bounds][:])
            assert np.all(bnds[:, 0] <= np.asarray(t[:])) and np.all(np.asarray(t[:]) <= bnds[:, 1]), dsid
            assert np.all(np.diff(bnds[:, 0]) > 0), dsid
        d = srv.json(f"/datasets/{dsid}")
        assert any("time units differ" in w for w in d.get("warnings", [])), d.get("warnings")

    # the data follows: the last step of EUR-11 equals the last step of its second file
    with netCDF4.Dataset(str(eur[1])) as src, netCDF4.Dataset(srv.dap_url(EUR11)) as nc:
        np.testing.assert_array_equal(np.asarray(nc["zg500"][-1]), np.asarray(src["zg500"][-1]))
    detail = srv.json(f"/datasets/{EUR11}")
    assert detail["time"]["end"].startswith(f"{_source_times(eur)[-1].year:04d}-"), detail["time"]

    # different calendars: not joined, each file served alone, the reason listed
    assert NAM22 not in ids
    assert {p.relative_to(tmp_root).as_posix() for p in nam} <= ids
    warnings = srv.json("/admin/catalog")["warnings"]
    assert any(NAM22 in w and "calendars differ" in w for w in warnings), warnings


# --------------------------------------------------------------------------- other names of a dataset


def test_dataset_ids_as_cds_and_esgf_spell_them(server):
    """rook's `c3s-<project>.` ids, ESGF instance ids with `|data-node`, a missing
    version or `latest` (the newest version), and DRS paths relative to the data root
    name the same dataset in every protocol; unknown names stay 404."""
    rel_file = _drs_rel(server, INM, 0)
    rel_dir = rel_file.rsplit("/", 1)[0]
    no_version = INM.rsplit(".", 1)[0]
    names = {
        "c3s-cmip6." + INM.removeprefix("CMIP6."): INM,
        "c3s-cordex." + EUR11.removeprefix("cordex."): EUR11,
        INM + "|esgf-data.dkrz.de": INM,
        no_version: INM,
        no_version + ".latest": INM,
        rel_dir: INM,
        rel_file: INM,
    }
    for name, canonical in names.items():
        r = server.get("/datasets/" + requests.utils.quote(name, safe="/"))
        assert r.status_code == 200, (name, r.status_code, r.text[:300])
        assert r.json()["id"] == canonical, name
    # OPeNDAP: the rook id opens with netCDF4 and reads the same values
    rook = "c3s-cmip6." + INM.removeprefix("CMIP6.")
    with netCDF4.Dataset(server.dap_url(rook)) as a, netCDF4.Dataset(server.dap_url(INM)) as b:
        np.testing.assert_array_equal(np.asarray(a["rlds"][:5]), np.asarray(b["rlds"][:5]))
    assert server.get(f"/opendap/{rel_dir}.dds").status_code == 200
    # a file of a joined dataset, named by its path, is that file alone
    eur_file = _drs_rel(server, EUR11, 1)
    alone = server.json(f"/datasets/{eur_file}")
    assert alone["id"] == eur_file and alone["files"] == [eur_file]
    with netCDF4.Dataset(server.dap_url(eur_file)) as a, netCDF4.Dataset(str(server.local_path(eur_file))) as b:
        assert len(a.dimensions["time"]) == len(b.dimensions["time"])
        np.testing.assert_array_equal(np.asarray(a["zg500"][-1]), np.asarray(b["zg500"][-1]))
    for bad in ("c3s-cmip6.No.Such.Thing", "c3s-", INM + ".v1", "CMIP6.ScenarioMIP|x", "CMIP6/ScenarioMIP/INM"):
        r = server.get("/datasets/" + requests.utils.quote(bad, safe="/"))
        assert r.status_code == 404, (bad, r.status_code)


# --------------------------------------------------------------------------- paged, searchable listings


def test_datasets_paged_filtered_and_counted(server):
    everything = server.json("/datasets")
    ids = [d["id"] for d in everything["datasets"]]
    assert everything["total"] == len(ids) and ids == sorted(ids)
    # paging: follow `next` with limit=3; every dataset once, in order
    seen, url, pages = [], f"{server.url}/datasets?limit=3", 0
    while url:
        page = requests.get(url, timeout=30).json()
        assert page["total"] == len(ids) and len(page["datasets"]) <= 3
        seen += [d["id"] for d in page["datasets"]]
        url = page.get("next")
        pages += 1
    assert seen == ids and pages == math.ceil(len(ids) / 3)
    # facet constraints (case-insensitive values, comma = any of), words, counts
    rlds = server.json("/datasets?variable_id=RLDS")["datasets"]
    assert {d["id"] for d in rlds} == {i for i in ids if i.startswith("CMIP6.") and ".rlds." in i} and INM in {d["id"] for d in rlds}
    inm = server.json("/datasets?source_id=INM-CM5-0&variable_id=rlds")
    assert [d["id"] for d in inm["datasets"]] == [INM] and inm["total"] == 1
    cmip6 = server.json("/datasets?project=CMIP6")["datasets"]
    assert {d["id"] for d in cmip6} == {i for i in ids if i.startswith("CMIP6.")}
    both = server.json("/datasets?variable_id=rlds,tos")["datasets"]
    assert {d["id"] for d in both} == {i for i in ids if i.startswith("CMIP6.") and (".rlds." in i or ".tos." in i)}
    assert [d["id"] for d in server.json("/datasets?q=HadGEM2 tas")["datasets"]] == [HADGEM]
    counted = server.json("/datasets?project=CMIP6&facets=source_id,variable_id")
    counts = counted["facets"]
    assert set(counts) == {"source_id", "variable_id"}
    assert sum(counts["variable_id"].values()) == counted["total"] == len(cmip6)
    assert counts["source_id"]["INM-CM5-0"] == 1
    assert set(server.json("/datasets?facets=*&limit=1")["facets"]) >= {"project", "variable_id", "source_id", "domain"}
    # a limit above the cap is capped; bad parameters are 400 problem+json naming the problem
    assert server.json("/datasets?limit=99999999")["limit"] == 10000
    for bad, word in (("limit=abc", "limit"), ("limit=0", "limit"), ("offset=-1", "offset"),
                      ("colour=red", "colour"), ("facets=nope", "nope")):
        r = server.get(f"/datasets?{bad}")
        assert r.status_code == 400, (bad, r.status_code)
        assert r.headers["content-type"] == "application/problem+json" and word in r.json()["detail"], r.text
    assert server.json("/datasets?offset=100000")["datasets"] == []


def test_thredds_hierarchy_with_siphon(server):
    """/thredds/catalog.xml: one level of the DRS per document, catalogRefs below;
    siphon walks it down to every dataset, with working OPeNDAP access URLs."""
    root = TDSCatalog(server.url + "/thredds/catalog.xml")
    assert {"CMIP6", "cmip5", "cordex"} <= set(root.catalog_refs), list(root.catalog_refs)
    found, docs, todo = {}, 0, [root]
    while todo:
        cat = todo.pop()
        docs += 1
        for d in cat.datasets.values():
            found[d.url_path] = d
        todo += [ref.follow() for ref in cat.catalog_refs.values()]
    ids = [d["id"] for d in server.datasets()]
    assert sorted(found) == sorted(ids)
    assert docs > 20  # no document holds the archive
    # a leaf: the INM dataset under CMIP6/ScenarioMIP/INM/.../gr1
    leaf = TDSCatalog(server.url + "/thredds/catalog/" + "/".join(INM.split(".")[:-1]) + "/catalog.xml")
    assert [d.url_path for d in leaf.datasets.values()] == [INM]
    with netCDF4.Dataset(found[INM].access_urls["OPENDAP"]) as nc:
        assert "rlds" in nc.variables
    assert server.get("/thredds/catalog/no/such/level/catalog.xml").status_code == 404


# --------------------------------------------------------------------------- the persistent catalog index


def test_catalog_index_kill9_and_warm_restart(server, tmp_root, tmp_path):
    """The catalog index (SQLite in the state directory) keeps every header read and
    every dataset made: a server killed with SIGKILL while indexing loses nothing, the
    next start serves what was indexed at once and opens only the files not yet
    indexed, none twice; a start after that serves everything from the index and opens
    no file."""
    import signal
    import sqlite3
    import subprocess
    import time

    from conftest import cirrus_bin, free_port

    src = server.esgf / _drs_rel(server, INM, 0)
    n = 1500
    for i in range(n):
        d = tmp_root / f"run{i:04d}"
        d.mkdir()
        shutil.copy(src, d / "rlds.nc")
    state = tmp_path / "state"
    db = state / "catalog-index.sqlite"

    def launch():
        port = free_port()
        cmd = [str(cirrus_bin()), "serve", "--data", str(tmp_root), "--listen", f"127.0.0.1:{port}",
               "--state", str(state), "--rescan-interval", "0"]
        log = open(tmp_path / "server.log", "ab")
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), f"http://127.0.0.1:{port}"

    def rows():
        try:
            with sqlite3.connect(db, timeout=30) as c:
                return c.execute("SELECT count(*), count(DISTINCT path) FROM files").fetchone()
        except sqlite3.Error:
            return (0, 0)

    def groups():
        with sqlite3.connect(db, timeout=30) as c:
            return c.execute("SELECT count(*), (SELECT count(*) FROM datasets) FROM groups").fetchone()

    def wait_healthy(proc, url):
        """Until /ready: the first indexing pass is done."""
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
            try:
                if requests.get(url + "/ready", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        pytest.fail("server did not start")

    # 1. kill -9 in the middle of the first indexing
    proc, _ = launch()
    deadline = time.monotonic() + 120
    while rows()[0] < n // 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    killed_at, distinct = rows()
    assert 0 < killed_at < n, f"indexed {killed_at} of {n} before the kill: not in the middle"
    assert distinct == killed_at

    indexed_groups, _ = groups()
    assert 0 < indexed_groups <= killed_at + 1

    # 2. restart: what was indexed is served at once, the other files are read once
    proc, url = launch()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                first = requests.get(url + "/datasets?limit=1", timeout=2).json()["total"]
                break
            except requests.RequestException:
                time.sleep(0.05)
        assert first >= indexed_groups - 1, "the datasets indexed before the kill are served from the start"
        wait_healthy(proc, url)
        state_doc = requests.get(url + "/admin/catalog", timeout=30).json()
        assert requests.get(url + "/datasets?limit=1", timeout=30).json()["total"] == n
        assert state_doc["files"] == n
        # no file is read twice: headers indexed before the kill (also those of groups
        # not yet recorded, read ahead in a batch) come from the index
        assert abs(state_doc["files_opened"] - (n - killed_at)) <= 1, (state_doc["files_opened"], n, killed_at)
        assert state_doc["index"]["files_total"] == n and not state_doc["index"]["running"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert rows() == (n, n)
    assert groups() == (n, n)

    # 3. warm restart: no file opened; a removed file leaves the index at the next scan
    (tmp_root / "run0000" / "rlds.nc").unlink()
    proc, url = launch()
    try:
        wait_healthy(proc, url)
        state_doc = requests.get(url + "/admin/catalog", timeout=30).json()
        assert state_doc["files_opened"] == 0 and state_doc["index"]["files_read"] == 0
        assert requests.get(url + "/datasets?limit=1", timeout=30).json()["total"] == n - 1
        with netCDF4.Dataset(f"{url}/opendap/run0001/rlds.nc") as a, netCDF4.Dataset(str(src)) as b:
            np.testing.assert_array_equal(a["rlds"][:3], b["rlds"][:3])
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert rows() == (n - 1, n - 1)
    assert groups() == (n - 1, n - 1)


def test_indexing_progress_while_serving(server, tmp_root, tmp_path):
    """A first start over many files answers at once: /ready says how far indexing is
    (503), /datasets lists what is indexed so far, /metrics and /admin/catalog show the
    progress; then /ready is 200 and everything is listed."""
    import subprocess
    import time

    from conftest import cirrus_bin, free_port

    src = server.esgf / _drs_rel(server, INM, 0)
    n = 1200
    for i in range(n):
        d = tmp_root / f"run{i:04d}"
        d.mkdir()
        shutil.copy(src, d / "rlds.nc")
    old = time.time() - 60
    for p in tmp_root.rglob("*.nc"):
        os.utime(p, (old, old))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(tmp_path / "server.log", "ab")
    proc = subprocess.Popen([str(cirrus_bin()), "serve", "--data", str(tmp_root), "--listen", f"127.0.0.1:{port}",
                             "--state", str(tmp_path / "state"), "--rescan-interval", "0"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        seen_503, partial, gauges = None, None, None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
            try:
                r = requests.get(url + "/ready", timeout=5)
            except requests.RequestException:
                time.sleep(0.02)
                continue
            if r.status_code == 200:
                break
            assert r.status_code == 503, r.text
            assert r.text.startswith("indexing: "), r.text
            seen_503 = r.text
            total = requests.get(url + "/datasets?limit=1", timeout=5).json()["total"]
            if 0 < total < n:
                partial = total
                gauges = requests.get(url + "/metrics", timeout=5).text
                doc = requests.get(url + "/admin/catalog", timeout=5).json()["index"]
                assert doc["running"] and doc["files_total"] == n and 0 < doc["files_done"] <= n, doc
            time.sleep(0.2)
        assert seen_503, "/ready never reported the indexing"
        assert partial, "no partial catalog was served while indexing"
        assert "cirrus_index_running 1" in gauges and f"cirrus_index_files_total {n}" in gauges
        assert requests.get(url + "/datasets?limit=1", timeout=5).json()["total"] == n
        doc = requests.get(url + "/admin/catalog", timeout=5).json()
        assert doc["index"]["files_done"] == n and not doc["index"]["running"] and doc["files"] == n
        metrics = requests.get(url + "/metrics", timeout=5).text
        assert "cirrus_index_running 0" in metrics and f"cirrus_catalog_files {n}" in metrics
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_rescan_one_subtree(server, start_server, tmp_root):
    """POST /admin/rescan?path=<subtree> (what a publication step calls) indexes that
    subtree only; bad paths get a 400 or 404 problem."""
    src = server.esgf / _drs_rel(server, INM, 0)
    (tmp_root / "a").mkdir()
    shutil.copy(src, tmp_root / "a" / "one.nc")
    srv = start_server([tmp_root], name="subtree")
    assert {d["id"] for d in srv.json("/datasets")["datasets"]} == {"a/one.nc"}
    (tmp_root / "b" / "c").mkdir(parents=True)
    shutil.copy(src, tmp_root / "b" / "c" / "two.nc")
    shutil.copy(src, tmp_root / "a" / "three.nc")  # outside the subtree: not indexed yet
    r = srv.post("/admin/rescan?path=b/")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["path"] == "b/" and doc["files"] == 1 and doc["files_read"] == 1, doc
    assert {d["id"] for d in srv.json("/datasets")["datasets"]} == {"a/one.nc", "b/c/two.nc"}
    with netCDF4.Dataset(srv.dap_url("b/c/two.nc")) as a, netCDF4.Dataset(str(src)) as b:
        np.testing.assert_array_equal(a["rlds"][:2], b["rlds"][:2])
    # a full pass takes the rest
    assert srv.post("/admin/rescan").json()["datasets"] == 3
    for bad, status in [("../etc", 400), ("/", 400), ("no/such/dir", 404)]:
        r = srv.post(f"/admin/rescan?path={bad}")
        assert r.status_code == status, (bad, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json") and r.json()["detail"]
    assert srv.post("/admin/rescan?dir=a").status_code == 400
    assert srv.healthy()


def test_cirrus_index_offline(server, tmp_root, tmp_path):
    """`cirrus index` builds the index with progress and exits; a server started on the
    same state directory then serves everything without opening a file."""
    import subprocess

    from conftest import CirrusServer, cirrus_bin

    rels = [_drs_rel(server, HADGEM, i) for i in range(3)]
    for rel in rels:
        (tmp_root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(server.esgf / rel, tmp_root / rel)
    state = tmp_path / "srv" / "after-index-state"
    out = subprocess.run([str(cirrus_bin()), "index", "--data", str(tmp_root), "--state", str(state)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "1 datasets, 3 files (3 read" in out.stdout, out.stdout
    assert "files" in out.stderr and "ETA" in out.stderr, out.stderr  # the progress line
    srv = CirrusServer([tmp_root], tmp_path / "srv", name="after-index").start()
    try:
        doc = srv.json("/admin/catalog")
        assert doc["files_opened"] == 0 and doc["datasets"] == 1 and doc["files"] == 3, doc
        with netCDF4.Dataset(srv.dap_url(HADGEM)) as nc:
            assert nc["tas"].shape[0] > 0
    finally:
        srv.stop()
    bad = subprocess.run([str(cirrus_bin()), "index", "--data", str(tmp_path / "missing"), "--state", str(state)],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "not a directory" in bad.stderr
