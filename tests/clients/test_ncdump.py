"""`ncdump -h URL` and `ncdump -v VAR URL` (libnetcdf's command-line DAP2 client)
against `ncdump` of the local files (joined along time for multi-file datasets)."""

from __future__ import annotations

import os

import netCDF4
import numpy as np

from cirrus_ref import cdl_name, find_remote_name, ncdump, ncdump_data_tokens, ncdump_header
from conftest import short_id

# Variables larger than this are dumped remotely through a constrained URL
# (their first records), to keep the suite fast.
FULL_DUMP_LIMIT = 300_000

# local NetCDF type -> type ncdump prints for the DAP2 view (libnetcdf presents
# DAP2 with the classic data model: unsigned types become signed of the same width)
CDL_TYPES = {
    "int8": "byte", "uint8": "byte", "int16": "short", "uint16": "short",
    "int32": "int", "uint32": "int", "float32": "float", "float64": "double",
    "|S1": "char", "<U0": "char",
}


def _cdl_type(lv) -> str:
    if lv.is_char or lv.is_string:
        return "char"
    return CDL_TYPES[lv.dtype.newbyteorder("=").name if lv.dtype.kind != "S" else "|S1"]


def test_ncdump_header(server, dataset_id):
    ref = server.reference(dataset_id)
    text = ncdump(["-h", server.dap_url(dataset_id)])
    dims, vars_ = ncdump_header(text)
    problems = []
    local_dims = ref.dimensions()
    used = set()
    for name, lv in ref.variables().items():
        if not lv.dap2:
            rn = find_remote_name(name, vars_)
            if rn is not None:
                problems.append(f"{name} ({lv.dtype}) should not be in the DAP2 view")
            continue
        rn = find_remote_name(name, vars_)
        if rn is None:
            problems.append(f"variable {name} missing from ncdump -h")
            continue
        vtype, vdims = vars_[rn]
        if vtype != _cdl_type(lv):
            problems.append(f"{name}: type {vtype}, expected {_cdl_type(lv)}")
        exp_dims = lv.dimensions[:-1] if lv.is_char else lv.dimensions
        used.update(exp_dims)
        got_dims = vdims[:-1] if (lv.is_char or lv.is_string) and vtype == "char" else vdims
        if len(got_dims) != len(exp_dims) or any(
                find_remote_name(d, [g]) != g for d, g in zip(exp_dims, got_dims)):
            problems.append(f"{name}: dimensions {vdims}, expected {exp_dims}")
    for d in sorted(used):
        n, unlimited = local_dims[d]
        rn = find_remote_name(d, dims)
        if rn is None:
            problems.append(f"dimension {d} missing from ncdump -h")
        elif dims[rn] != (n, unlimited):
            problems.append(f"dimension {d}: {dims[rn]}, expected {(n, unlimited)} (length, UNLIMITED)")
    assert not problems, "\n".join(problems) + "\n--- ncdump -h ---\n" + text[:3000]


# libnetcdf's ncdump reads a DAP2 variable one innermost row per request: the
# number of rows dumped per variable is bounded (the other clients read every
# value of every variable; here the first rows of large variables are compared).
NCDUMP_ROWS = int(os.environ.get("CIRRUS_NCDUMP_ROWS", "50"))


def row_limited_box(shape, rows=NCDUMP_ROWS) -> tuple:
    """Leading sub-box of `shape` with at most `rows` innermost rows."""
    counts = list(shape)
    for i in range(len(shape) - 1):
        if int(np.prod(counts[:-1])) <= rows:
            break
        rest = int(np.prod(counts[i + 1:-1])) if i + 1 < len(shape) - 1 else 1
        counts[i] = max(1, rows // rest)
    return tuple(slice(0, c) for c in counts)


def _tokens(text: str, name: str, is_text: bool = False) -> list:
    if is_text:
        return ncdump_data_tokens(text, cdl_name(name))
    # numbers: the section between "name =" and ";"
    i = text.index("\ndata:\n")
    marker = f"\n {cdl_name(name)} ="
    j = text.index(marker, i) + len(marker)
    k = text.index(";", j)
    return text[j:k].replace(",", " ").split()


def _fill_values(lv) -> list:
    fills = []
    if "_FillValue" in lv.attrs:
        fills.append(lv.attrs["_FillValue"])
    key = {"f": "f", "i": "i", "u": "u"}[lv.dtype.kind] + str(lv.dtype.itemsize)
    if key in netCDF4.default_fillvals:
        fills.append(netCDF4.default_fillvals[key])
    return fills


def _token_matches(tok: str, v, lv) -> bool:
    """Does an ncdump token of the DAP2 view show the local value `v`?"""
    if tok == "_":
        return any(v == f or (np.isnan(f) and np.isnan(v)) if np.asarray(f).dtype.kind == "f" else v == f
                   for f in _fill_values(lv))
    kind = lv.dtype.kind
    if kind in "iu":
        bits = lv.dtype.itemsize * 8
        return int(tok) % (1 << bits) == int(v) % (1 << bits)  # DAP2 view is signed
    if tok.lower() in ("nan", "nanf"):
        return bool(np.isnan(v))
    fmt = "%.7g" if lv.dtype.itemsize == 4 else "%.15g"  # ncdump's default precision
    return float(tok) == float(fmt % v)


def test_ncdump_values(server, dap2_var):
    dsid, name = dap2_var
    ref = server.reference(dsid)
    lv = ref.variables()[name]
    what = f"{short_id(dsid)}:{name}"
    url = server.dap_url(dsid)
    _, rvars = ncdump_header(ncdump(["-h", url]))
    rname = find_remote_name(name, rvars)
    assert rname is not None, f"{what}: not in ncdump -h"
    is_text = lv.is_char or lv.is_string
    shape = lv.shape[:-1] if lv.is_char else lv.shape
    box = row_limited_box(shape) if not is_text else tuple(slice(0, n) for n in shape)
    if box and any(b.stop < n for b, n in zip(box, shape)):
        url = f"{url}?{rname}" + "".join(f"[0:1:{b.stop - 1}]" for b in box)
    got = _tokens(ncdump(["-v", rname, url]), rname, is_text)

    if is_text:
        local = ncdump_data_tokens(ncdump(["-v", name, str(ref.files[0])]), cdl_name(name))

        def norm(t):
            return b"" if t == "_" else (t.rstrip(b"\0 ") if isinstance(t, bytes) else t)
        assert [norm(t) for t in got] == [norm(t) for t in local], f"{what}: text differs"
        return

    exp = np.asarray(ref.read(name))[box] if box else np.asarray(ref.read(name))
    exp = exp.ravel()
    assert len(got) == exp.size, f"{what}: {len(got)} values, expected {exp.size}"
    bad = [i for i in range(exp.size) if not _token_matches(got[i], exp[i], lv)]
    assert not bad, (
        f"{what}: {len(bad)} of {exp.size} values differ; first at flat index {bad[0]}: "
        f"ncdump of the URL shows {got[bad[0]]!r}, local value {exp[bad[0]]!r}"
    )
    # single-file datasets: the text is identical to ncdump of the local file (root
    # group variables; ncdump -v of a group variable prints it inside its group)
    if len(ref.files) == 1 and lv.size <= 2_000_000 and "/" not in name:
        local = _tokens(ncdump(["-v", name, str(ref.files[0])]), name)
        local = np.asarray(local, dtype=object).reshape(lv.shape)[box].ravel() if box else local
        if lv.dtype.kind in "iu":  # the DAP2 view is signed: same bits, other sign
            bits = lv.dtype.itemsize * 8
            norm = lambda t: t if t == "_" else int(t) % (1 << bits)  # noqa: E731
            got, local = [norm(t) for t in got], [norm(t) for t in local]
        diff = [i for i, (g, e) in enumerate(zip(got, local)) if g != e]
        assert not diff, f"{what}: ncdump text differs at {diff[0]}: {got[diff[0]]!r} vs local {local[diff[0]]!r}"


def test_ncdump_across_file_boundary(server):
    """`ncdump -v` on a constrained URL whose slab crosses the HadGEM2-ES file
    boundary at the repeated 2099-12-16 step."""
    dsid = "cmip5.output1.MOHC.HadGEM2-ES.rcp85.mon.atmos.Amon.r1i1p1.latest.tas"
    ref = server.reference(dsid)
    vars_ = ref.variables()
    b = ref.file_boundaries()[3]  # after 208012-209912.nc
    lo, hi = b - 4, b + 4
    url = f"{server.dap_url(dsid)}?tas[{lo}:1:{hi - 1}][0:1:1][0:1:1],time[{lo}:1:{hi - 1}]"
    text = ncdump(["-v", "tas,time", url])
    for name in ("tas", "time"):
        got = _tokens(text, name)
        exp = np.asarray(ref.read(name))[lo:hi].ravel()
        assert len(got) == exp.size, name
        bad = [i for i in range(exp.size) if not _token_matches(got[i], exp[i], vars_[name])]
        assert not bad, f"{name}: {[got[i] for i in bad]} vs {[exp[i] for i in bad]}"
