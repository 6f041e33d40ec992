"""netcdf-c's `dap4_test` against cirrus.

cirrus serves the 35 NetCDF-4 files of the THREDDS d4ts test server
(`$CIRRUS_SHARED_DATA/peer-suites/tds-d4ts`) and is read the way netcdf-c reads
THREDDS in `dap4_test`:

- `ncdump "<url>#dap4"` (checksums on, the default, and off with `?dap4.checksum=false`)
  compared STRUCTURALLY with `netcdf-c/dap4_test/baselineremote/X.ncdump` for the 33
  unconstrained files that have a baseline and the 8 constrained cases of
  `d4manifest.sh` (`X.N.nc.ncdump`), see `cdl_compare.py`: types, dimensions, per group
  the variable declarations with their attributes, and the data values are compared as
  sets/maps, so THREDDS's arbitrary variable order does not matter;
- the `.dap` data (chunk headers removed, cut into per-variable byte ranges with the
  response's own DMR) against the golden THREDDS responses in `rawtestfiles/*.dap`
  (taken without checksums, so asked with `dap4.checksum=false`); with checksums on,
  every CRC32 is checked against the bytes it follows;
- the DMR against `rawtestfiles/*.dmr` as XML (attribute order, `_NCProperties` and
  `_DAP4_Little_Endian` ignored; Dim/Map/Value/EnumConst order kept).

Debian's ncdump (libnetcdf 4.9.0) has no `-XF`; the type it prints before `_FillValue`
attribute names is removed from both texts, as are its `checksumhack=` line and the
`_AnonymousN` / `_Anonymous_Dim_N` naming difference (`cdl_compare.normalise_ncdump`).

Every remaining difference is listed in EXPECTED_DIFFERENCES with the reason; the test
fails on any other difference and on an entry that no longer occurs. Where the
baseline reflects a THREDDS bug, `test_thredds_bug_claims` checks the claim against the
source file.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import quote
import xml.etree.ElementTree as ET

import pytest

from cdl_compare import diff_cdl, normalise_ncdump, parse_cdl
from cirrus_ref import ncdump_header
from conftest_dap4 import d4ts_server, dmr_vars, parse_dap4, peer_suites, run, split_data  # noqa: F401
from expected_diffs import ALL, Expected, assert_only_expected, check_table_cases

SUITE = peer_suites() / "netcdf-c" / "dap4_test"
SOURCES = peer_suites() / "tds-d4ts"

# d4manifest.sh: the constrained cases (dataset?constraint=N)
CONSTRAINTS = {
    "1": ("test_atomic_array.nc", "/vu8[1][0:2:2];/vd[1];/vs[1][0];/vo[0][1]"),
    "2": ("test_atomic_array.nc", "/v16[0:1,3]"),
    "3": ("test_atomic_array.nc", "/v16[3,0:1]"),
    "4": ("test_one_vararray.nc", "/t[1]"),
    "5": ("test_one_vararray.nc", "/t[0:1]"),
    "6": ("test_enum_array.nc", "/primary_cloud[1:2:4]"),
    "7": ("test_opaque_array.nc", "/vo2[1][0:1]"),
    "8": ("test_struct_array.nc", "/s[0:2:3][0:1]"),
}


def case_of(stem: str) -> tuple[str, str, str | None]:
    """'test_atomic_array.1.nc' -> (case, dataset id, constraint)."""
    m = re.match(r"^(.+)\.(\d+)\.nc$", stem)
    if m:
        ds, ce = CONSTRAINTS[m.group(2)]
        assert ds == m.group(1) + ".nc", stem
        return stem, ds, ce
    return stem, stem, None


BASELINES = sorted(p.name.removesuffix(".ncdump") for p in (SUITE / "baselineremote").glob("*.ncdump"))
RAW = sorted(p.name.removesuffix(".dap") for p in (SUITE / "rawtestfiles").glob("*.dap"))
CHECKS = {"ncdump", "ncdump checksum=false", "dap data", "dmr"}

# --------------------------------------------------------------------------- the table

_ZERO_LEN = ("THREDDS leaves the zero-length variables time(time), time = UNLIMITED // (0 currently), "
             "and pr(time, lat, lon) out of its DMR (rawtestfiles/test_misc1.nc.dmr and test_zerodim.nc.dmr "
             "have neither); the source files have both (ncdump tds-d4ts/X) and cirrus serves them: the "
             "baseline reflects a THREDDS bug, cirrus is right (test_thredds_bug_claims)")
_VLEN11 = ("test_vlen11.nc holds a vlen of vlen of int, v = {{1, 3, 5, 7}, {100, 200}} (ncdump "
           "tds-d4ts/test_vlen11.nc); THREDDS flattens it to one Sequence{Int32} and sends garbage "
           "(the inner count 4 and a stray 754); cirrus sends nested Sequences with the true values, "
           "which libnetcdf maps to compound-in-vlen types: the baseline reflects a THREDDS bug, "
           "cirrus is right (test_thredds_bug_claims)")
_VLEN_FILL = ("THREDDS adds a _FillValue Int32 0 attribute to Sequences made from vlen variables; the "
              "source files have no _FillValue (ncdump -h tds-d4ts/X), cirrus declares only the file's "
              "attributes (libnetcdf ignores it: the .ncdump baselines do not show it)")

EXPECTED_DIFFERENCES: list[Expected] = [
    # ---- ncdump "<url>#dap4" vs baselineremote
    Expected(("test_misc1.nc", "test_zerodim.nc"), "ncdump",
             r"^/ (variable (pr|time): unexpected|attribute (pr|time): unexpected .*)$",
             _ZERO_LEN),
    Expected(("test_vlen11.nc",), "ncdump",
             r"^/ types: (missing compound v_base_t \{ int v ; \}|unexpected compound v_base_t \{ v_base_v_t v ; \}"
             r"|unexpected compound v_base_v_base_t \{ int v ; \}|unexpected v_base_v_base_t\(\*\) v_base_v_t)$",
             _VLEN11),
    Expected(("test_vlen11.nc",), "ncdump", r"^/ data v: values differ ", _VLEN11),
    # ---- ncdump "<url>?dap4.checksum=false#dap4"
    Expected((ALL,), "ncdump checksum=false",
             r"^ncdump (failed \(exit 1\): .*Checksum mismatch: \S+|crashed \(SIG(SEGV|BUS)\))",
             "Debian's libnetcdf 4.9.0 is built with CHECKSUMHACK (libdap4/ncd4types.h, until 4.9.2): it "
             "assumes a CRC32 after every variable unless the DMR chunk carries the non-standard flag 0x08, "
             "which neither cirrus nor current THREDDS (rawtestfiles: DMR chunk flags 0x04) sets, so it "
             "misreads checksum-less data ('Checksum mismatch', or a crash on strings); libnetcdf >= 4.9.3 "
             "expects CRC32s only where the data DMR declares _DAP4_Checksum_CRC32 and reads it right "
             "(test_checksum_off_values, with libnetcdf 4.10.1)"),
    # ---- .dap data vs rawtestfiles/*.dap
    Expected(("test_misc1.nc", "test_zerodim.nc"), "dap data", r"^/(time|pr): unexpected \(0 bytes\)$",
             _ZERO_LEN),
    Expected(("test_vlen11.nc",), "dap data", r"^/v: bytes differ ", _VLEN11),
    # ---- .dmr vs rawtestfiles/*.dmr
    Expected(("test_misc1.nc", "test_zerodim.nc"), "dmr", r"^unexpected /(Float32\[pr\]|Float64\[time\])",
             _ZERO_LEN),
    Expected(("test_vlen1.nc", "test_vlen2.nc", "test_vlen6.nc", "test_vlen7.nc", "test_vlen8.nc",
              "test_vlen11.nc"), "dmr",
             r"^missing /Sequence\[\w+\]/Attribute\[_FillValue\] ", _VLEN_FILL),
    Expected(("test_vlen11.nc",), "dmr",
             r"^(missing /Sequence\[v\]/Int32\[v\] |unexpected /Sequence\[v\]/Sequence\[v\](/Int32\[v\])? )", _VLEN11),
]


def test_expected_differences_table():
    check_table_cases(EXPECTED_DIFFERENCES, set(BASELINES) | set(RAW), CHECKS)


# --------------------------------------------------------------------------- ncdump


def url_of(srv, dataset: str, ce: str | None, checksum: bool) -> str:
    q = []
    if ce is not None:
        q.append("dap4.ce=" + quote(ce, safe="/[]:,=;"))
    if not checksum:
        q.append("dap4.checksum=false")
    return srv.dap_url(dataset) + ("?" + "&".join(q) if q else "") + "#dap4"


def ncdump_url(url: str) -> tuple[str | None, str]:
    """(CDL text, '') or (None, description of the failure)."""
    p = run(["ncdump", url], timeout=60)
    if p.returncode == 0:
        return p.stdout.decode("utf-8", errors="surrogateescape"), ""
    if p.returncode < 0:
        return None, f"ncdump crashed ({signal.Signals(-p.returncode).name})"
    err = " ".join(line for line in p.stderr.decode(errors="replace").splitlines()
                   if line.strip() and not line.startswith("checksumhack="))
    return None, f"ncdump failed (exit {p.returncode}): {err[:300]}"


def baseline(case: str) -> dict:
    return parse_cdl(normalise_ncdump((SUITE / "baselineremote" / f"{case}.ncdump").read_text()))


@pytest.mark.parametrize("checksum", [True, False], ids=["checksums", "no-checksums"])
@pytest.mark.parametrize("case", BASELINES)
def test_ncdump_vs_baseline(d4ts_server, case, checksum):
    _, dataset, ce = case_of(case)
    url = url_of(d4ts_server, dataset, ce, checksum)
    text, failure = ncdump_url(url)
    if text is None:
        diffs = [failure]
    else:
        diffs = diff_cdl(baseline(case), parse_cdl(normalise_ncdump(text)))
    check = "ncdump" if checksum else "ncdump checksum=false"
    assert_only_expected(EXPECTED_DIFFERENCES, check, case, diffs)


# --------------------------------------------------------------------------- .dap / .dmr


def cirrus_dap(srv, dataset, ce, checksum: bool) -> bytes:
    params = {"dap4.checksum": "true" if checksum else "false"}
    if ce is not None:
        params["dap4.ce"] = ce
    r = srv.get(f"/opendap/{dataset}.dap", params=params)
    assert r.status_code == 200, f"{r.url} -> {r.status_code}: {r.text[:300]}"
    return r.content


def per_variable(body: bytes, checksums: bool) -> dict:
    resp = parse_dap4(body)
    return split_data(dmr_vars(resp.dmr), resp.data, resp.little_endian, checksums)


@pytest.mark.parametrize("case", RAW)
def test_dap_data_vs_golden(d4ts_server, case):
    """The data part of cirrus's .dap equals THREDDS's golden response variable by
    variable (THREDDS orders variables arbitrarily; the bytes of each variable must be
    identical); with checksums on, the same bytes with a correct CRC32 after each."""
    _, dataset, ce = case_of(case)
    golden = per_variable((SUITE / "rawtestfiles" / f"{case}.dap").read_bytes(), checksums=False)
    body = cirrus_dap(d4ts_server, dataset, ce, checksum=False)
    resp = parse_dap4(body)
    assert all(f & 0x04 for f in resp.flags), f"chunk flags {resp.flags}: little-endian flag missing"
    assert resp.flags[-1] & 0x01 and not any(f & 0x01 for f in resp.flags[:-1]), resp.flags
    got = split_data(dmr_vars(resp.dmr), resp.data, resp.little_endian, checksums=False)
    diffs = []
    for fqn in sorted(set(golden) | set(got)):
        if fqn not in got:
            diffs.append(f"{fqn}: missing ({len(golden[fqn][0])} bytes)")
        elif fqn not in golden:
            diffs.append(f"{fqn}: unexpected ({len(got[fqn][0])} bytes)")
        elif golden[fqn][0] != got[fqn][0]:
            diffs.append(f"{fqn}: bytes differ (golden {golden[fqn][0].hex()}, cirrus {got[fqn][0].hex()})")
    assert_only_expected(EXPECTED_DIFFERENCES, "dap data", case, diffs)

    with_sums = per_variable(cirrus_dap(d4ts_server, dataset, ce, checksum=True), checksums=True)
    assert {k: v[0] for k, v in with_sums.items()} == {k: v[0] for k, v in got.items()}, (
        "data with checksums differs from the data without them")


def dmr_entries(xml: bytes) -> Counter:
    """One line per element: path of named elements, XML attributes (sorted, `name`
    left out) and the ordered Dim/Map/Value/EnumConst children."""
    ignore_attrs = {"_NCProperties", "_DAP4_Little_Endian"}
    ordered = {"Dim", "Map", "Value", "EnumConst"}
    out: Counter = Counter()

    def tag(e):
        return e.tag.split("}")[-1]

    def walk(e, path):
        for c in e:
            t = tag(c)
            if t in ordered or (t == "Attribute" and c.get("name") in ignore_attrs):
                continue
            p = f"{path}/{t}[{c.get('name')}]"
            attrs = {k: v for k, v in sorted(c.attrib.items()) if k != "name"}
            seq = [f"{tag(k)}({','.join(f'{a}={b}' for a, b in sorted(k.attrib.items()))}{(k.text or '').strip()})"
                   for k in c if tag(k) in ordered]
            out[f"{p} {attrs} {seq}"] += 1
            walk(c, p)

    root = ET.fromstring(xml)
    out[f"/ {dict(sorted(root.attrib.items()))}"] += 1
    walk(root, "")
    return out


@pytest.mark.parametrize("case", RAW)
def test_dmr_vs_golden(d4ts_server, case):
    _, dataset, ce = case_of(case)
    golden = dmr_entries((SUITE / "rawtestfiles" / f"{case}.dmr").read_bytes())
    params = {"dap4.ce": ce} if ce else {}
    r = d4ts_server.get(f"/opendap/{dataset}.dmr", params=params)
    assert r.status_code == 200, r.text[:300]
    got = dmr_entries(r.content)
    diffs = [f"missing {e}" for e in sorted((golden - got).elements())]
    diffs += [f"unexpected {e}" for e in sorted((got - golden).elements())]
    assert_only_expected(EXPECTED_DIFFERENCES, "dmr", case, diffs)
    # the DMR of the data response is the same document
    in_dap = dmr_entries(parse_dap4(cirrus_dap(d4ts_server, dataset, ce, checksum=False)).dmr)
    assert in_dap == got, (
        f"the .dap DMR differs from the .dmr: only in .dap {sorted((in_dap - got).elements())}, "
        f"only in .dmr {sorted((got - in_dap).elements())}")


# --------------------------------------------------------------------------- checksums off, current libnetcdf

NC4_VALUES = Path(__file__).with_name("nc4_values.py")


def nc4_values(items: list) -> list:
    """[(source, ce)] -> [(values or None, error)], read by netCDF4-python (libnetcdf
    4.10.1) in one subprocess; if libnetcdf crashes, each item is read on its own."""
    p = subprocess.run([sys.executable, str(NC4_VALUES), "--batch"], input=json.dumps(items).encode(),
                       capture_output=True, timeout=300)
    if p.returncode == 0:
        return [tuple(x) for x in json.loads(p.stdout)]
    out = []
    for src, ce in items:
        q = run([sys.executable, str(NC4_VALUES), src, *([ce] if ce else [])], timeout=120)
        if q.returncode == 0:
            out.append((json.loads(q.stdout), ""))
        else:
            what = signal.Signals(-q.returncode).name if q.returncode < 0 else f"exit {q.returncode}"
            out.append((None, f"netCDF4 failed ({what}): {q.stderr.decode(errors='replace')[-300:]}"))
    return out


@pytest.fixture(scope="module")
def checksum_off_reads(d4ts_server):
    """Every case read with ?dap4.checksum=false by the netCDF4 wheel's libnetcdf, and
    the source file read the same way (indexed like the case's constraint)."""
    items = []
    for case in BASELINES:
        _, dataset, ce = case_of(case)
        items += [(url_of(d4ts_server, dataset, ce, checksum=False), None), (str(SOURCES / dataset), ce)]
    res = nc4_values(items)
    return {case: (res[2 * i], res[2 * i + 1]) for i, case in enumerate(BASELINES)}


@pytest.mark.parametrize("case", BASELINES)
def test_checksum_off_values(checksum_off_reads, case):
    """Checksum-less DAP4 (dap4.checksum=false) as a current libnetcdf (>= 4.9.3; the
    netCDF4 wheel's 4.10.1) reads it: every variable netCDF4-python can represent equals
    the source file, indexed like the case's constraint. (Debian's 4.9.0 cannot read
    checksum-less DAP4 at all: see EXPECTED_DIFFERENCES.)"""
    (remote, err_r), (local, err_l) = checksum_off_reads[case]
    assert remote is not None, err_r
    assert local is not None, err_l
    compared = 0
    for name, vals in remote.items():
        exp = local.get(name)
        if isinstance(vals, str) and vals.startswith("unreadable") or \
                isinstance(exp, str) and exp.startswith("unreadable"):
            continue
        assert vals == exp, f"{name}: {vals!r} != source {exp!r}"
        compared += 1
    # some cases hold only variables (opaque, vlen, vlen of compound) that libnetcdf's DAP4
    # client does not expose at all; test_dap_data_vs_golden compares their bytes
    assert compared or remote == {}, (remote, local)


# --------------------------------------------------------------------------- the claims of the table


def test_thredds_bug_claims(d4ts_server):
    """What EXPECTED_DIFFERENCES says about the source files and cirrus holds."""
    for f in ("test_misc1.nc", "test_zerodim.nc"):
        _, src_vars = ncdump_header(run(["ncdump", "-h", str(SOURCES / f)]).stdout.decode())
        assert {"time", "pr"} <= set(src_vars), f"{f}: source has {sorted(src_vars)}"
        raw = dmr_vars((SUITE / "rawtestfiles" / f"{f}.dmr").read_bytes())
        assert not {"/time", "/pr"} & {v.fqn for v in raw}, f"rawtestfiles/{f}.dmr lists time/pr"
    src = run(["ncdump", str(SOURCES / "test_vlen11.nc")]).stdout.decode()
    assert re.search(r"v = \{\{1, 3, 5, 7\}, \{100, 200\}\} ;", src), src
    text, failure = ncdump_url(url_of(d4ts_server, "test_vlen11.nc", None, True))
    assert text is not None, failure
    got = parse_cdl(normalise_ncdump(text))["/"].data["v"]
    nums = [t for t in got if t not in "{}"]
    assert nums == ["1", "3", "5", "7", "100", "200"], got
    for f in ("test_vlen1.nc", "test_vlen2.nc", "test_vlen6.nc", "test_vlen7.nc", "test_vlen8.nc", "test_vlen11.nc"):
        assert "_FillValue" not in run(["ncdump", "-h", str(SOURCES / f)]).stdout.decode(), f


# --------------------------------------------------------------------------- declared checksums


@pytest.mark.parametrize("dataset,ce", [("test_atomic_types.nc", "/v8;/vu64;/vs;/vo;/primary_cloud"),
                                        ("test_groups1.nc", "/g/h/v1;/g/i/v3")])
def test_declared_checksums(d4ts_server, dataset, ce):
    """`.dmr?dap4.ce=...&dap4.checksum=true` declares `_DAP4_Checksum_CRC32` for every
    selected variable, equal to the CRC32 the .dap sends after its data."""
    r = d4ts_server.get(f"/opendap/{dataset}.dmr", params={"dap4.ce": ce, "dap4.checksum": "true"})
    assert r.status_code == 200, r.text[:300]
    declared = {v.fqn: v.attrs.get("_DAP4_Checksum_CRC32") for v in dmr_vars(r.content)}
    sent = per_variable(cirrus_dap(d4ts_server, dataset, ce, checksum=True), checksums=True)
    assert set(declared) == set(sent)
    for fqn, (_, _, crc) in sent.items():
        assert declared[fqn] == [str(crc)], f"{fqn}: declared {declared[fqn]}, sent {crc}"
