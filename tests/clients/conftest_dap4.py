"""Fixtures and helpers of the DAP4 / NetCDF-response / peer-suite tests.

Imported by the test modules (``from conftest_dap4 import ...``); the fixtures build on
``conftest.py`` (``server``, ``start_server``). Nothing here reads server code:

- where the peers' data is (``peer_suites()``: ``$CIRRUS_SHARED_DATA/peer-suites``),
- extra servers: the THREDDS d4ts files (``d4ts_server``) and the NetCDF versions of
  netcdf-c's canned DAP2 responses, made with ``nccopy`` at session start (``ncdap3``),
- an independent DAP4 response decoder (chunk framing, DMR type trees, per-variable
  byte ranges, CRC32 checksums, values), written from the DAP4 specification,
- ``pydap_local_http``: pydap turns ``dap4://`` URLs into ``https://`` and falls back
  to ``http://`` only after urllib3's retries (about 3 s per request); for the plain
  HTTP test servers on 127.0.0.1 the requests go straight to ``http://``.
"""

from __future__ import annotations

import os
import struct
import subprocess
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from conftest import session_tmp, shared_data

__all__ = [
    "peer_suites", "d4ts_server", "ncdap3", "pydap_local_http",
    "Dap4Response", "parse_dap4", "dmr_vars", "split_data", "run",
]

DAP4_NS = "{http://xml.opendap.org/ns/DAP/4.0#}"


# --------------------------------------------------------------------------- locations


def peer_suites() -> Path:
    p = shared_data() / "peer-suites"
    if not (p / "netcdf-c").is_dir() or not (p / "tds-d4ts").is_dir():
        pytest.fail(f"peer suites not found under {p} (netcdf-c/ and tds-d4ts/)", pytrace=False)
    return p


def run(cmd: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    """Runs a command, capturing bytes (never raises on a non-zero exit)."""
    return subprocess.run(cmd, capture_output=True, timeout=timeout)


# --------------------------------------------------------------------------- servers


@pytest.fixture(scope="session")
def d4ts_server(start_server):
    """cirrus over the 35 NetCDF-4 test files of the THREDDS d4ts server."""
    return start_server([peer_suites() / "tds-d4ts"], name="d4ts")


@dataclass
class Ncdap3:
    dir: Path
    results: dict  # canned response set -> (ok, message)
    server: object = None

    @staticmethod
    def dataset_id(set_name: str) -> str:
        return set_name if set_name.endswith(".nc") else set_name + ".nc"


def _nccopy(src: Path, out: Path) -> tuple[bool, str]:
    tmp = out.with_name(out.name + ".part")
    p = run(["nccopy", f"file://{src}", str(tmp)], timeout=120)
    if p.returncode == 0:
        tmp.rename(out)
        return True, ""
    tmp.unlink(missing_ok=True)
    msg = (p.stderr or p.stdout).decode(errors="replace").strip()
    return False, " | ".join(line.strip() for line in msg.splitlines() if line.strip())


@pytest.fixture(scope="session")
def ncdap3(start_server) -> Ncdap3:
    """Every canned response set X of netcdf-c's ncdap_test/testdata3 (X.dds, X.das,
    X.dods) converted with `nccopy file://.../testdata3/X <dir>/X.nc` (X itself if it
    already ends in .nc), then served by a cirrus of its own."""
    testdata = peer_suites() / "netcdf-c" / "ncdap_test" / "testdata3"
    sets = sorted({p.name.rsplit(".", 1)[0] for p in testdata.glob("*.dds")})
    out = session_tmp() / "ncdap3"
    out.mkdir(exist_ok=True)
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 2)) as ex:
        res = dict(zip(sets, ex.map(lambda s: _nccopy(testdata / s, out / Ncdap3.dataset_id(s)), sets)))
    nc = Ncdap3(out, res)
    nc.server = start_server([out], name="ncdap3")
    return nc


@pytest.fixture(scope="session")
def pydap_local_http():
    """pydap's sessions send https://127.0.0.1:... requests as http:// (see module doc)."""
    import pydap.net

    orig = pydap.net.build_session

    def build_session(**kw):
        s = orig(**kw)
        send = s.request

        def request(method, url, *a, **k):
            if isinstance(url, str) and url.startswith("https://127.0.0.1:"):
                url = "http://" + url[len("https://"):]
            return send(method, url, *a, **k)

        s.request = request
        return s

    pydap.net.build_session = build_session
    yield
    pydap.net.build_session = orig


# --------------------------------------------------------------------------- DAP4 framing

LAST, ERROR, LITTLE = 0x01, 0x02, 0x04


@dataclass
class Dap4Response:
    dmr: bytes
    data: bytes
    flags: list  # flags of every chunk, in order
    sizes: list  # payload length of every chunk

    @property
    def little_endian(self) -> bool:
        return bool(self.flags[0] & LITTLE)


def parse_dap4(body: bytes) -> Dap4Response:
    """Splits a DAP4 data response into its DMR chunk and the concatenated data
    chunks (4-byte big-endian header: flags in the top byte, 24-bit length)."""
    pos, flags, sizes, payloads = 0, [], [], []
    while True:
        assert pos + 4 <= len(body), f"truncated chunk header at byte {pos} of {len(body)}"
        (h,) = struct.unpack(">I", body[pos:pos + 4])
        f, n = h >> 24, h & 0xFFFFFF
        pos += 4
        assert pos + n <= len(body), f"chunk of {n} bytes at {pos} runs past the end ({len(body)})"
        chunk = body[pos:pos + n]
        pos += n
        flags.append(f)
        sizes.append(n)
        if f & ERROR:
            raise AssertionError(f"DAP4 error chunk: {chunk[:500]!r}")
        payloads.append(chunk)
        if f & LAST:
            break
    assert pos == len(body), f"{len(body) - pos} bytes after the last chunk"
    dmr = payloads[0].rstrip(b"\r\n")
    return Dap4Response(dmr, b"".join(payloads[1:]), flags, sizes)


# --------------------------------------------------------------------------- DMR types

ATOMIC = {
    "Char": "S1", "Byte": "u1", "Int8": "i1", "UInt8": "u1", "Int16": "i2", "UInt16": "u2",
    "Int32": "i4", "UInt32": "u4", "Int64": "i8", "UInt64": "u8", "Float32": "f4", "Float64": "f8",
}
VARLEN = {"String", "URL", "Opaque"}
CONTAINERS = {"Structure", "Sequence"}
NOT_VARS = {"Dim", "Map", "Attribute", "Dimension", "Enumeration", "Group", "Value", "EnumConst"}


@dataclass
class DType:
    kind: str  # an ATOMIC key, "String", "URL", "Opaque", "Enum", "Structure", "Sequence"
    shape: tuple = ()
    base: str | None = None  # atomic base of an Enum
    fields: list = field(default_factory=list)  # [(name, DType)] of a Structure/Sequence


@dataclass
class DVar:
    fqn: str
    dtype: DType
    attrs: dict


def _tag(e) -> str:
    return e.tag.replace(DAP4_NS, "")


def dmr_vars(dmr: bytes | str) -> list[DVar]:
    """Top-level variables of a DMR in document order (the order of their data), with
    shapes resolved from shared (`/g/d`) or anonymous (`size=`) dimensions."""
    root = ET.fromstring(dmr)
    dims: dict[str, int] = {}
    enums: dict[str, str] = {}

    def collect(grp, path):
        for e in grp:
            t = _tag(e)
            if t == "Dimension":
                dims[f"{path}/{e.get('name')}"] = int(e.get("size"))
            elif t == "Enumeration":
                enums[f"{path}/{e.get('name')}"] = e.get("basetype", "Int32")
            elif t == "Group":
                collect(e, f"{path}/{e.get('name')}")

    collect(root, "")

    def shape(e):
        out = []
        for d in e:
            if _tag(d) != "Dim":
                continue
            if d.get("size") is not None:
                out.append(int(d.get("size")))
            else:
                name = d.get("name")
                assert name in dims, f"Dim {name} is not declared (declared: {sorted(dims)})"
                out.append(dims[name])
        return tuple(out)

    def dtype(e) -> DType:
        t = _tag(e)
        if t in ATOMIC or t in VARLEN:
            return DType(t, shape(e))
        if t == "Enum":
            return DType("Enum", shape(e), base=enums[e.get("enum")])
        if t in CONTAINERS:
            return DType(t, shape(e), fields=[(c.get("name"), dtype(c)) for c in e if _tag(c) not in NOT_VARS])
        raise AssertionError(f"unknown DMR element {t}")

    def attrs(e):
        out = {}
        for a in e:
            if _tag(a) == "Attribute":
                out[a.get("name")] = [v.get("value", v.text or "") for v in a if _tag(v) == "Value"]
        return out

    out: list[DVar] = []

    def walk(grp, path):
        for e in grp:
            t = _tag(e)
            if t == "Group":
                walk(e, f"{path}/{e.get('name')}")
            elif t not in NOT_VARS:
                out.append(DVar(f"{path}/{e.get('name')}", dtype(e), attrs(e)))

    walk(root, "")
    return out


# --------------------------------------------------------------------------- DAP4 data


class _Reader:
    def __init__(self, data: bytes, little: bool):
        self.data, self.pos, self.end = data, 0, "<" if little else ">"

    def take(self, n: int) -> bytes:
        assert self.pos + n <= len(self.data), (
            f"data ends at {len(self.data)} bytes, {n} more needed at {self.pos}")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def count(self) -> int:
        return struct.unpack(self.end + "Q", self.take(8))[0]


def _read_value(r: _Reader, t: DType, n: int):
    """n instances of the (scalar) type t -> list of Python values."""
    if t.kind in ATOMIC or t.kind == "Enum":
        code = ATOMIC[t.base] if t.kind == "Enum" else ATOMIC[t.kind]
        dt = np.dtype(code if code == "S1" else r.end + code)
        return list(np.frombuffer(r.take(dt.itemsize * n), dtype=dt))
    if t.kind in VARLEN:
        vals = []
        for _ in range(n):
            b = r.take(r.count())
            vals.append(b if t.kind == "Opaque" else b.decode("utf-8"))
        return vals
    if t.kind == "Structure":
        return [{name: _read_array(r, ft) for name, ft in t.fields} for _ in range(n)]
    if t.kind == "Sequence":
        out = []
        for _ in range(n):
            rows = r.count()
            out.append([{name: _read_array(r, ft) for name, ft in t.fields} for _ in range(rows)])
        return out
    raise AssertionError(t.kind)


def _read_array(r: _Reader, t: DType):
    n = int(np.prod(t.shape)) if t.shape else 1
    vals = _read_value(r, t, n)
    return vals if t.shape else vals[0]


def split_data(vars_: list[DVar], data: bytes, little: bool, checksums: bool) -> dict:
    """{fqn: (bytes of the variable, decoded values, CRC32 sent or None)}; checks that
    the data is exactly consumed and that every CRC32 matches the variable's bytes."""
    r = _Reader(data, little)
    out = {}
    for v in vars_:
        start = r.pos
        vals = _read_array(r, v.dtype)
        raw = data[start:r.pos]
        crc = None
        if checksums:
            (crc,) = struct.unpack(r.end + "I", r.take(4))
            assert crc == zlib.crc32(raw), (
                f"{v.fqn}: CRC32 sent {crc:#010x}, CRC32 of its {len(raw)} data bytes {zlib.crc32(raw):#010x}")
        out[v.fqn] = (raw, vals, crc)
    assert r.pos == len(data), f"{len(data) - r.pos} data bytes left after the last variable"
    return out
