"""STAC API at /stac, validated with pystac and stac-validator (offline: the core
STAC 1.1.0 schemas that pystac ships, and a schema of the datacube extension's rules
written here), searched with pystac-client; assets fetched and checked against the
local files."""

from __future__ import annotations

import copy
import io
import json
import warnings
from pathlib import Path

import numpy as np
import pystac
import pytest
import requests
from PIL import Image
from pystac.validation import JsonSchemaSTACValidator, set_validator

DATACUBE = "https://stac-extensions.github.io/datacube/v2.2.0/schema.json"
PYSTAC_SCHEMAS = Path(pystac.__file__).parent / "validation" / "jsonschemas"

# The rules of the datacube extension (v2.2): items carry cube:dimensions (and
# cube:variables) in their properties; temporal dimensions have an extent of two
# RFC 3339 strings or nulls; horizontal spatial ones an axis x/y, a numeric extent and
# a reference system (EPSG code, WKT2 or PROJJSON); vertical ones axis z with an
# extent or values; other dimensions are not "spatial" and have an extent or values;
# variables list their dimensions and are data or auxiliary.
_DIM_TEMPORAL = {
    "type": "object", "required": ["type", "extent"], "not": {"required": ["axis"]},
    "properties": {"type": {"const": "temporal"}, "extent": {"type": "array", "minItems": 2, "maxItems": 2,
                   "items": {"type": ["string", "null"], "format": "date-time"}},
                   "step": {"type": ["string", "null"]}, "description": {"type": "string"}},
}
_DIM_HORIZONTAL = {
    "type": "object", "required": ["type", "axis", "extent"],
    "properties": {"type": {"const": "spatial"}, "axis": {"enum": ["x", "y"]},
                   "extent": {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "number"}},
                   "values": {"type": "array", "items": {"type": "number"}},
                   "reference_system": {"type": ["string", "number", "object"]}, "description": {"type": "string"}},
}
_DIM_VERTICAL = {
    "type": "object", "required": ["type", "axis"], "anyOf": [{"required": ["extent"]}, {"required": ["values"]}],
    "properties": {"type": {"const": "spatial"}, "axis": {"const": "z"}, "unit": {"type": "string"},
                   "extent": {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": ["number", "null"]}},
                   "values": {"type": "array", "minItems": 1}},
}
_DIM_OTHER = {
    "type": "object", "required": ["type"], "anyOf": [{"required": ["extent"]}, {"required": ["values"]}],
    "not": {"anyOf": [{"required": ["axis"]}, {"properties": {"type": {"enum": ["spatial", "temporal"]}}}]},
    "properties": {"type": {"type": "string"}},
}
_VARIABLE = {
    "type": "object", "required": ["dimensions", "type"],
    "properties": {"dimensions": {"type": "array", "items": {"type": "string"}},
                   "type": {"enum": ["data", "auxiliary"]}, "unit": {"type": "string"},
                   "description": {"type": "string"}},
}
DATACUBE_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "$id": DATACUBE,
    "type": "object",
    "required": ["stac_extensions", "properties"],
    "properties": {
        "stac_extensions": {"type": "array", "contains": {"const": DATACUBE}},
        "properties": {
            "type": "object",
            "required": ["cube:dimensions", "cube:variables"],
            "properties": {
                "cube:dimensions": {"type": "object", "minProperties": 1, "additionalProperties": {
                    "oneOf": [_DIM_TEMPORAL, _DIM_HORIZONTAL, _DIM_VERTICAL, _DIM_OTHER]}},
                "cube:variables": {"type": "object", "additionalProperties": _VARIABLE},
            },
        },
    },
}


@pytest.fixture(scope="module")
def validator():
    v = JsonSchemaSTACValidator()
    v.schema_cache[DATACUBE] = DATACUBE_SCHEMA
    set_validator(v)
    return v


@pytest.fixture(scope="module")
def schema_map(tmp_path_factory):
    """stac-validator's map of schema URLs to local files."""
    d = tmp_path_factory.mktemp("schemas")
    (d / "datacube.json").write_text(json.dumps(DATACUBE_SCHEMA))
    m = {DATACUBE: str(d / "datacube.json")}
    spec = PYSTAC_SCHEMAS / "stac-spec" / "v1.1.0"
    for kind in ("item", "collection", "catalog"):
        m[f"https://schemas.stacspec.org/v1.1.0/{kind}-spec/json-schema/{kind}.json"] = str(spec / f"{kind}.json")
    for name in ("bands", "basics", "common", "data-values", "datetime", "instrument", "licensing", "provider"):
        m[f"https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/{name}.json"] = str(spec / f"{name}.json")
    for name in ("Feature", "Geometry"):
        m[f"https://geojson.org/schema/{name}.json"] = str(PYSTAC_SCHEMAS / "geojson" / f"{name}.json")
    return m


def stac_validate(target, schema_map) -> tuple[bool, list]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from stac_validator.validate import StacValidate

        v = StacValidate(str(target), schema_map=schema_map, extensions=False)
        ok = v.run()
    return ok, v.message


def find_id(server, *parts) -> str:
    hits = [d["id"] for d in server.datasets() if all(p in d["id"] for p in parts)]
    assert len(hits) == 1, hits
    return hits[0]


def collection_of(dataset_id: str, server) -> str:
    d = next(x for x in server.datasets() if x["id"] == dataset_id)
    f = d.get("facets") or {}
    project = f.get("mip_era") or f.get("project")
    experiment = f.get("experiment_id") or f.get("experiment")
    return f"{project}.{experiment}"


# --------------------------------------------------------------------------- tests

def test_landing_and_conformance(server, validator):
    cat = server.json("/stac")
    assert cat["type"] == "Catalog" and cat["stac_version"] == "1.1.0"
    assert "https://api.stacspec.org/v1.0.0/core" in cat["conformsTo"]
    assert "https://api.stacspec.org/v1.0.0/item-search" in cat["conformsTo"]
    rels = {l["rel"] for l in cat["links"]}
    assert {"self", "root", "data", "conformance", "search", "child"} <= rels
    pystac.validation.validate_dict(cat)
    assert server.json("/stac/conformance")["conformsTo"] == cat["conformsTo"]


def test_collections_per_project_and_experiment(server, validator):
    cols = server.json("/stac/collections")["collections"]
    ids = {c["id"] for c in cols}
    expected = {collection_of(d["id"], server) for d in server.datasets() if (d.get("facets") or {})}
    assert expected <= ids, (expected, ids)
    assert {"CMIP6.ssp245", "cordex.rcp85", "cmip5.rcp85"} <= ids
    for c in cols:
        pystac.validation.validate_dict(c)
        col = pystac.Collection.from_dict(c)
        assert col.extent.spatial.bboxes[0][0] <= col.extent.spatial.bboxes[0][2]
        assert server.json(f"/stac/collections/{c['id']}")["id"] == c["id"]
    cordex = next(c for c in cols if c["id"] == "cordex.rcp85")
    assert set(cordex["summaries"]["cirrus:domain"]) >= {"EUR-22", "EUR-11"}
    assert server.get("/stac/collections/nope").status_code == 404


def test_every_item_validates(server, validator):
    n = 0
    for c in server.json("/stac/collections")["collections"]:
        fc = server.json(f"/stac/collections/{c['id']}/items")
        assert fc["type"] == "FeatureCollection" and fc["numberMatched"] == len(fc["features"])
        for item in fc["features"]:
            pystac.validation.validate_dict(item)  # core + datacube
            it = pystac.Item.from_dict(item)
            assert it.collection_id == c["id"]
            assert server.json(f"/stac/collections/{c['id']}/items/{item['id']}")["id"] == item["id"]
            n += 1
    assert n == len(server.datasets())


def test_stac_validator(server, schema_map, tmp_path):
    eur22 = find_id(server, "EUR-22", "tas")
    cid = collection_of(eur22, server)
    for path in ("/stac", f"/stac/collections/{cid}", f"/stac/collections/{cid}/items/{eur22}"):
        ok, msg = stac_validate(server.url + path, schema_map)
        assert ok, msg
        assert msg[0]["valid_stac"] is True
    # the validator does reject a broken item (so the above means something)
    item = server.json(f"/stac/collections/{cid}/items/{eur22}")
    bad = copy.deepcopy(item)
    bad["properties"]["cube:dimensions"]["rlon"]["axis"] = "sideways"
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    ok, _ = stac_validate(tmp_path / "bad.json", schema_map)
    assert not ok
    bad = copy.deepcopy(item)
    del bad["properties"]["start_datetime"]
    (tmp_path / "bad2.json").write_text(json.dumps(bad))
    assert not stac_validate(tmp_path / "bad2.json", schema_map)[0]


def test_datacube_dimensions_and_variables(server, validator):
    from pystac.extensions.datacube import DatacubeExtension, DimensionType, VariableType

    eur22 = find_id(server, "EUR-22", "tas")
    item = pystac.Item.from_dict(server.json(f"/stac/collections/{collection_of(eur22, server)}/items/{eur22}"))
    dc = DatacubeExtension.ext(item)
    dims = dc.dimensions
    assert dims["time"].dim_type == DimensionType.TEMPORAL
    assert dims["time"].extent == ["2021-01-16T12:00:00Z", "2021-01-16T12:00:00Z"]
    assert dims["rlon"].dim_type == DimensionType.SPATIAL and dims["rlon"].to_dict()["axis"] == "x"
    assert dims["rlat"].to_dict()["axis"] == "y"
    ref = server.reference(eur22)
    rlon = ref.read("rlon")
    assert dims["rlon"].to_dict()["extent"] == pytest.approx([float(rlon.min()), float(rlon.max())])
    rs = dims["rlon"].to_dict()["reference_system"]
    assert isinstance(rs, dict) and "39.25" in json.dumps(rs), rs  # the rotated pole in PROJJSON
    tas = dc.variables["tas"]
    assert tas.var_type == VariableType.DATA and tas.dimensions == ["time", "rlat", "rlon"] and tas.unit == "K"
    assert dc.variables["lat"].var_type == VariableType.AUXILIARY
    # a regular grid in EPSG:4326 and a vertical axis with its values
    o3 = find_id(server, "MPI-ESM1-2-LR", "AERmon.o3")
    d = server.json(f"/stac/collections/{collection_of(o3, server)}/items/{o3}")["properties"]["cube:dimensions"]
    assert d["lat"]["reference_system"] == 4326 and d["lon"]["axis"] == "x"
    assert d["lev"]["axis"] == "z" and d["lev"]["values"] == pytest.approx(list(server.reference(o3).read("lev")))


def test_calendars_become_valid_datetimes(server, validator):
    pr = find_id(server, "CIRRUS-SYN-1", "Amon.pr")
    item = server.json(f"/stac/collections/{collection_of(pr, server)}/items/{pr}")
    p = item["properties"]
    assert p["cirrus:calendar"] == "360_day"
    assert p["start_datetime"] == "2015-01-16T00:00:00Z" and p["end_datetime"] == "2029-12-16T00:00:00Z"
    assert p["cube:dimensions"]["time"]["step"] == "P1M"
    it = pystac.Item.from_dict(item)
    assert it.common_metadata.start_datetime.year == 2015


def test_assets(server, validator):
    eur22 = find_id(server, "EUR-22", "tas")
    item = server.json(f"/stac/collections/{collection_of(eur22, server)}/items/{eur22}")
    a = item["assets"]
    assert {"opendap", "netcdf", "zarr", "cog-tas", "thumbnail"} <= set(a)
    assert a["zarr"]["type"] == "application/vnd+zarr"
    assert a["zarr-uncompressed"]["href"] == a["zarr"]["href"].replace("/zarr/", "/zarr-uncompressed/")
    import xarray as xr

    with xr.open_zarr(a["zarr"]["href"]) as z:
        assert "tas" in z.data_vars and z["tas"].shape[0] > 0, list(z.data_vars)
    assert "data" in a["netcdf"]["roles"] and a["netcdf"]["type"] == "application/netcdf"
    r = requests.get(a["opendap"]["href"] + ".dds", timeout=60)
    assert r.status_code == 200 and "tas" in r.text
    r = requests.get(a["netcdf"]["href"], timeout=120)
    assert r.status_code == 200 and r.content[:4] in (b"\x89HDF", b"CDF\x01", b"CDF\x02")
    r = requests.get(a["cog-tas"]["href"], timeout=120)
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/tiff")
    assert r.content[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00")
    thumb = requests.get(a["thumbnail"]["href"], timeout=60)
    img = np.asarray(Image.open(io.BytesIO(thumb.content)).convert("RGBA"))
    assert img.shape[1] == 256 and (img[..., 3] > 0).mean() > 0.3
    rels = {l["rel"] for l in item["links"]}
    assert {"self", "parent", "collection", "root", "wms", "xyz"} <= rels


def test_pystac_client_search(server):
    from pystac_client import Client

    client = Client.open(server.url + "/stac")
    cols = {c.id for c in client.get_collections()}
    assert "cordex.rcp85" in cols
    europe = {i.id for i in client.search(bbox=[0, 40, 20, 60], collections=["cordex.rcp85"]).items()}
    assert find_id(server, "EUR-22", "tas") in europe and find_id(server, "EUR-11", "zg500") in europe
    assert not any("NAM-22" in i for i in europe)
    when = {i.id for i in client.search(datetime="2071-06-01/2072-01-01").items()}
    assert find_id(server, "EUR-11", "zg500") in when
    assert find_id(server, "EUR-22", "tas") not in when
    # paging with a small limit walks every matching item
    every = list(client.search(max_items=None, limit=3).items())
    assert len(every) == len(server.datasets())
    # POST search
    r = server.post("/stac/search", json={"ids": [find_id(server, "EUR-22", "tas")]})
    assert r.status_code == 200 and r.json()["numberReturned"] == 1
    assert server.get("/stac/search", params={"bbox": "1,2"}).status_code == 400
