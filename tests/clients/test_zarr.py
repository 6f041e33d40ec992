"""Every dataset as a Zarr store, read over HTTP with xarray's zarr engine (fsspec) and
with zarr-python, compared with the local files read with netCDF4 (joined along time
for multi-file datasets): decoded values, CF attributes, fill values, packing,
calendars, char and string variables, dimension names. Zarr v2 with consolidated
metadata at /zarr/<id>, Zarr v3 at /zarr3/<id> (the source's chunks and codecs), and
both with large uncompressed chunks at /zarr-uncompressed/<id> and
/zarr3-uncompressed/<id>."""

from __future__ import annotations

import http.client
import json

import numpy as np
import pytest
import requests
import xarray as xr
import zarr

# numbers, chars and strings: the types a Zarr store holds (user-defined types are not)
SERVED = set("biufSUOM")


def store_url(server, dataset_id: str, fmt: int, uncompressed: bool = False) -> str:
    route = ("zarr" if fmt == 2 else "zarr3") + ("-uncompressed" if uncompressed else "")
    return f"{server.url}/{route}/{dataset_id}"


def open_store(server, dataset_id: str, fmt: int, uncompressed: bool = False) -> xr.Dataset:
    url = store_url(server, dataset_id, fmt, uncompressed)
    return xr.open_zarr(url, consolidated=True, zarr_format=fmt, chunks=None)


def same_attr(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind in "fiu" and b.dtype.kind in "fiu":
        return a.shape == b.shape and np.allclose(a.astype(float), b.astype(float), rtol=1e-7, equal_nan=True)
    return a.tolist() == b.tolist()


def assert_same_values(name: str, local: xr.Variable, got: xr.Variable):
    a, b = local.values, got.values
    assert a.shape == b.shape, f"{name}: shape {b.shape}, expected {a.shape}"
    if a.dtype.kind == "f" and b.dtype.kind == "f" and a.dtype != b.dtype:
        # a packed variable: the scale factor's type (float32 in the file, a JSON
        # number in Zarr attributes) sets the decoded type
        np.testing.assert_allclose(b, a, rtol=1e-6, equal_nan=True, err_msg=name)
    elif a.dtype.kind in "OSUT" or b.dtype.kind in "OSUT":
        assert [str(x) for x in a.ravel().tolist()] == [str(x) for x in b.ravel().tolist()], name
    else:
        assert a.dtype == b.dtype, f"{name}: decoded as {b.dtype}, netCDF4 gives {a.dtype}"
        np.testing.assert_array_equal(b, a, err_msg=name)


@pytest.mark.parametrize("uncompressed", [False, True], ids=["stored", "uncompressed"])
@pytest.mark.parametrize("fmt", [2, 3])
def test_zarr_store_equals_source(server, dataset_id, fmt, uncompressed):
    local = server.reference(dataset_id).xarray()
    got = open_store(server, dataset_id, fmt, uncompressed)
    for k, v in local.attrs.items():
        assert k in got.attrs and same_attr(v, got.attrs[k]), f"global attribute {k}: {got.attrs.get(k)!r}, expected {v!r}"
    checked = 0
    for name, v in local.variables.items():
        if v.dtype.kind not in SERVED:
            continue
        assert name in got.variables, f"{name} not in the store: {sorted(got.variables)}"
        g = got.variables[name]
        assert g.dims == v.dims, f"{name}: dims {g.dims}, expected {v.dims}"
        for k, a in v.attrs.items():
            assert k in g.attrs and same_attr(a, g.attrs[k]), f"{name}:{k} = {g.attrs.get(k)!r}, expected {a!r}"
        assert_same_values(name, v, g)
        checked += 1
    assert checked > 0


def test_zarr_python_lists_and_reads_v3(server):
    ds = next(d for d in server.datasets() if d["id"].startswith("CMIP6.") and "tas" in d["id"].split("."))
    group = zarr.open_group(store_url(server, ds["id"], 3), mode="r", zarr_format=3)
    names = sorted(group.array_keys())
    assert "tas" in names and "time" in names and "lat" in names, names
    ref = server.reference(ds["id"])
    tas = group["tas"]
    assert tas.metadata.dimension_names == ("time", "lat", "lon")
    np.testing.assert_array_equal(tas[:2], ref.read("tas", (slice(0, 2),)))
    np.testing.assert_array_equal(group["time"][:], ref.read("time"))


def test_zarr_v2_documents_and_chunks_over_http(server):
    ds = next(d for d in server.datasets() if d["id"].startswith("CMIP6.") and "tas" in d["id"].split("."))
    base = store_url(server, ds["id"], 2)
    meta = requests.get(f"{base}/.zmetadata", timeout=60)
    assert meta.status_code == 200 and meta.headers["content-type"] == "application/json"
    m = meta.json()["metadata"]
    assert m[".zgroup"] == {"zarr_format": 2}
    zarray = m["tas/.zarray"]
    assert zarray["dtype"] == "<f4" and zarray["compressor"]["id"] == "zlib"
    assert m["tas/.zattrs"]["_ARRAY_DIMENSIONS"] == ["time", "lat", "lon"]
    assert requests.get(f"{base}/tas/.zarray", timeout=60).json() == zarray
    # a chunk: validators, HEAD, ranges, conditional requests
    url = f"{base}/tas/0.0.0"
    r = requests.get(url, timeout=60)
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
    assert r.headers["etag"] and r.headers["last-modified"]
    import zlib

    raw = zlib.decompress(r.content)
    assert len(raw) == 4 * np.prod(zarray["chunks"])
    h = requests.head(url, timeout=60)
    assert h.status_code == 200 and int(h.headers["content-length"]) == len(r.content) and not h.content
    part = requests.get(url, headers={"Range": "bytes=0-9"}, timeout=60)
    assert part.status_code == 206 and part.content == r.content[:10]
    assert part.headers["content-range"] == f"bytes 0-9/{len(r.content)}"
    assert requests.get(url, headers={"If-None-Match": r.headers["etag"]}, timeout=60).status_code == 304


def test_zarr_bad_and_missing_keys(server):
    ds = next(d for d in server.datasets() if d["id"].startswith("CMIP6.") and "tas" in d["id"].split("."))["id"]
    base2, base3 = store_url(server, ds, 2), store_url(server, ds, 3)
    cases = [
        (f"{base2}/nosuchvar/.zarray", 404),
        (f"{base2}/.zarray", 404),
        (f"{base3}/.zmetadata", 404),
        (f"{base2}/lat/999999", 404),
        (f"{base2}/lat/0.0.0", 400),
        (f"{base2}/lat/x", 400),
        (f"{base2}/lat/-1", 400),
        (f"{base3}/lat/c/a", 400),
        (f"{base3}/lat/c/99999999999999999999999", 400),
        (f"{server.url}/zarr/no-such-dataset/.zmetadata", 404),
    ]
    for url, status in cases:
        r = requests.get(url, timeout=60)
        assert r.status_code == status, (url, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json"), url
        assert json.loads(r.text)["detail"]
    # a path going up is refused, not resolved (sent as is, without client normalisation)
    c = http.client.HTTPConnection(server.url.split("//")[1], timeout=60)
    c.request("GET", f"/zarr/{ds}/../../etc/passwd")
    resp = c.getresponse()
    assert resp.status in (400, 404), resp.status
    c.close()
    assert server.healthy()


def stored_chunk(path, name: str, origin: tuple):
    """The bytes HDF5 stores for the chunk at `origin` (h5py), with its filters."""
    import h5py

    with h5py.File(path, "r") as f:
        d = f[name]
        mask, raw = d.id.read_direct_chunk(origin)
        return mask, bytes(raw), d.chunks, d.shuffle, d.compression, d.fletcher32


def test_zarr_chunks_are_the_stored_bytes(server):
    """A chunk of a deflate(+shuffle) variable is sent as HDF5 stores it (no decoding):
    the response equals h5py's raw chunk of the right file, for the first and last
    chunks of each file of joined datasets; the metadata names the source's codecs."""
    passed, later = 0, 0  # chunks checked, of them in a joined dataset's later files
    ids = [d["id"] for d in server.datasets() if d["id"].split(".")[0].lower() in ("cmip6", "cmip5", "cordex")]
    assert ids
    for dataset_id in ids:
        ref = server.reference(dataset_id)
        if open(ref.files[0], "rb").read(4) != b"\x89HDF":
            continue  # NetCDF-3: assembled chunks
        meta = requests.get(f"{store_url(server, dataset_id, 2)}/.zmetadata", timeout=60).json()["metadata"]
        v3 = requests.get(f"{store_url(server, dataset_id, 3)}/zarr.json", timeout=60).json()
        tv = ref.first.variables.get(ref.time_dim) if ref.time_dim else None
        units = {str(getattr(nc.variables[ref.time_dim], "units", "")) for nc in ref._nc} if tv is not None else set()
        rebased = {ref.time_dim, getattr(tv, "bounds", None)} if len(units) > 1 else set()
        for name in ref.first.variables:
            if name in rebased:
                continue  # time values re-expressed in the first file's units: assembled
            zarray = meta.get(f"{name}/.zarray")
            dims = ref.first.variables[name].dimensions
            if zarray is None or len(dims) < 2 or ref.time_dim not in dims or dims[0] != ref.time_dim:
                continue
            _, _, chunks, shuffle, compression, fletcher = stored_chunk(ref.files[0], name, (0,) * len(dims))
            if chunks is None or list(chunks) != zarray["chunks"] or fletcher or compression not in ("gzip", None):
                continue
            want_filters = [{"id": "shuffle", "elementsize": np.dtype(zarray["dtype"]).itemsize}] if shuffle else None
            assert zarray["filters"] == want_filters, (dataset_id, name, zarray)
            assert (zarray["compressor"] or {}).get("id") == ("zlib" if compression else None), zarray
            a3 = v3["consolidated_metadata"]["metadata"][name]
            assert a3["chunk_grid"]["configuration"]["chunk_shape"] == list(chunks)
            codecs = [c["name"] for c in a3["codecs"]]
            assert codecs == ["bytes"] + ["numcodecs.shuffle"] * shuffle + ["numcodecs.zlib"] * bool(compression)
            ct = chunks[0]
            total = sum(len(k) for k in ref.kept)
            start = 0
            for path, kept in zip(ref.files, ref.kept):
                n = len(kept)
                for c0 in sorted({start // ct * ct, (start + n - 1) // ct * ct}):
                    end = min(c0 + ct, total)
                    if c0 < start or end > start + n or kept[c0 - start] % ct:
                        continue  # the Zarr chunk straddles files or the file's chunk grid: assembled
                    origin = (int(kept[c0 - start]),) + (0,) * (len(dims) - 1)
                    mask, raw, *_ = stored_chunk(path, name, origin)
                    key = [str(c0 // ct)] + ["0"] * (len(dims) - 1)
                    r = requests.get(f"{store_url(server, dataset_id, 2)}/{name}/{'.'.join(key)}", timeout=60)
                    assert r.status_code == 200, (dataset_id, name, key, r.text)
                    assert mask == 0 and r.content == raw, f"{dataset_id} {name}/{key}: not the stored bytes of {path}"
                    r3 = requests.get(f"{store_url(server, dataset_id, 3)}/{name}/c/{'/'.join(key)}", timeout=60)
                    assert r3.status_code == 200 and r3.content == raw, (dataset_id, name, key, r3.status_code)
                    passed += 1
                    later += path != ref.files[0]
                start += n
    print(f"{passed} chunks are the stored bytes, {later} of them in later files of joined datasets")
    assert passed >= 10 and later >= 3, f"only {passed} chunks ({later} in later files) checked against stored bytes"


def test_zarr_uncompressed_chunks(server):
    """The uncompressed stores merge whole stored chunks along time into chunks of at
    most 2 MiB, without codecs: a chunk is the values as little-endian bytes, the last
    one padded with the fill value; chunks answer HEAD and ranges, with validators of
    their own (the same key holds other bytes in the stored store)."""
    ds = next(d for d in server.datasets() if d["id"].startswith("CMIP6.") and "tas" in d["id"].split("."))["id"]
    ref = server.reference(ds)
    stored = requests.get(f"{store_url(server, ds, 2)}/.zmetadata", timeout=60).json()["metadata"]["tas/.zarray"]
    base = store_url(server, ds, 2, uncompressed=True)
    zarray = requests.get(f"{base}/.zmetadata", timeout=60).json()["metadata"]["tas/.zarray"]
    assert zarray["compressor"] is None and zarray["filters"] is None, zarray
    chunks, shape = zarray["chunks"], zarray["shape"]
    assert chunks[1:] == shape[1:] and chunks[0] % stored["chunks"][0] == 0 and chunks[0] > stored["chunks"][0]
    assert 4 * np.prod(chunks) <= 2 << 20, chunks
    v3 = requests.get(f"{store_url(server, ds, 3, uncompressed=True)}/tas/zarr.json", timeout=60).json()
    assert [c["name"] for c in v3["codecs"]] == ["bytes"] and v3["chunk_grid"]["configuration"]["chunk_shape"] == chunks
    ct, n = chunks[0], shape[0]
    want = ref.read("tas", (slice(ct, 2 * ct),)).astype("<f4")
    r = requests.get(f"{base}/tas/1.0.0", timeout=60)
    assert r.status_code == 200 and r.content == want.tobytes(), "chunk 1 is not the values of its days"
    last = (n - 1) // ct
    tail = np.frombuffer(requests.get(f"{base}/tas/{last}.0.0", timeout=60).content, "<f4").reshape(chunks)
    np.testing.assert_array_equal(tail[: n - last * ct], ref.read("tas", (slice(last * ct, n),)))
    if n % ct:
        assert (tail[n - last * ct:] == np.float32(zarray["fill_value"])).all(), "edge chunk not padded with the fill"
    h = requests.head(f"{base}/tas/1.0.0", timeout=60)
    assert h.status_code == 200 and int(h.headers["content-length"]) == len(r.content) and not h.content
    part = requests.get(f"{base}/tas/1.0.0", headers={"Range": "bytes=4-11"}, timeout=60)
    assert part.status_code == 206 and part.content == r.content[4:12]
    assert requests.get(f"{base}/tas/1.0.0", headers={"If-None-Match": r.headers["etag"]}, timeout=60).status_code == 304
    other = requests.get(f"{store_url(server, ds, 2)}/tas/1.0.0", timeout=60)
    assert other.headers["etag"] != r.headers["etag"]
    # the same bad and missing keys as the stored store
    assert requests.get(f"{base}/tas/{last + 1}.0.0", timeout=60).status_code == 404
    assert requests.get(f"{base}/tas/1.x.0", timeout=60).status_code == 400
