"""Independent test oracle for the cirrus client tests.

Everything here reads the *local* NetCDF files with netCDF4/xarray and never looks
at server code: the expected content of a served dataset is built from the files
that `/datasets/{id}` names, joined along time by the rule of the issue (files in
time order; a record whose time is <= the last time already taken is dropped).

Also holds small helpers shared by the test modules (DAP2 name escaping, DAP error
body parsing, ncdump output parsing).
"""

from __future__ import annotations

import math
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import cftime
import netCDF4
import numpy as np
import xarray as xr

# NetCDF types that DAP2 cannot carry (the server omits such variables).
NON_DAP2_KINDS = {np.dtype("int64"), np.dtype("uint64")}


# --------------------------------------------------------------------------- names


def remote_name_candidates(local_name: str) -> list[str]:
    """Names under which a local variable may appear in a DAP2 client.

    DAP2 identifiers escape characters outside the allowed set as %XX; clients
    (libnetcdf, pydap) keep most of those escapes in the names they expose (e.g.
    `surface pressure` appears as `surface%20pressure`). Variables of groups are
    flattened with their full path ("g1/g1_var", escaped, or with "_" for "/").
    """
    cands = [local_name]
    for safe in ("/", ""):
        esc = quote(local_name, safe=safe + "_.!~*'-")
        cands += [esc, esc.replace("%2F", "%2f")]
    if "/" in local_name:  # group paths flattened with a plain separator
        cands += [local_name.replace("/", "_"), local_name.replace("/", "__")]
    out = []
    for c in cands:
        if c not in out:
            out.append(c)
    return out


def find_remote_name(local_name: str, remote_names) -> str | None:
    remote_names = set(remote_names)
    for c in remote_name_candidates(local_name):
        if c in remote_names:
            return c
    return None


# --------------------------------------------------------------------------- DAP errors

DAP_ERROR_RE = re.compile(
    r'^\s*Error\s*\{\s*code\s*=\s*(-?\d+)\s*;\s*message\s*=\s*"((?:[^"\\]|\\.)*)"\s*;\s*\}\s*;\s*$',
    re.S,
)


def parse_dap_error(body: str) -> tuple[int, str]:
    """Parses a DAP2 error body, raising AssertionError if it is not one."""
    m = DAP_ERROR_RE.match(body)
    assert m, f"not a DAP2 Error body: {body[:500]!r}"
    msg = re.sub(r"\\(.)", r"\1", m.group(2))
    return int(m.group(1)), msg


# --------------------------------------------------------------------------- oracle


def _flat_vars(grp, prefix=""):
    for name, v in grp.variables.items():
        yield prefix + name, v
    for gname, g in grp.groups.items():
        yield from _flat_vars(g, prefix + gname + "/")


def _find_time_var(nc: netCDF4.Dataset):
    """The time coordinate of a file's root group (1-D, named like its dimension)."""
    best = None
    for name, v in nc.variables.items():
        if v.ndim != 1 or v.dimensions[0] != name:
            continue
        attrs = {a: v.getncattr(a) for a in v.ncattrs()}
        if attrs.get("axis") == "T" or attrs.get("standard_name") == "time":
            return v
        if name == "time" and best is None:
            best = v
    return best


@dataclass
class LocalVar:
    name: str  # flattened full name ("g1/g1_var" for groups)
    dtype: np.dtype  # numpy dtype of the stored values (str for NC_STRING)
    dimensions: tuple  # dimension names (flattened paths for group dimensions)
    shape: tuple  # joined shape
    attrs: dict
    is_char: bool
    is_string: bool

    @property
    def dap2(self) -> bool:
        return self.dtype not in NON_DAP2_KINDS

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1


@dataclass
class Reference:
    """Expected content of one served dataset, built from its local files."""

    id: str
    files: list  # absolute Paths, in time order
    time_dim: str | None
    kept: list  # per file: np.ndarray of kept record indices (None if no time)
    _nc: list = field(default_factory=list, repr=False)
    _xr: xr.Dataset | None = field(default=None, repr=False)

    # ----------------------------------------------------------- construction
    @classmethod
    def build(cls, dataset_id: str, files: list[Path]) -> "Reference":
        ncs = [netCDF4.Dataset(str(f)) for f in files]
        tvars = [_find_time_var(nc) for nc in ncs]
        if len(ncs) == 1:
            tv = tvars[0]
            tdim = tv.dimensions[0] if tv is not None else None
            kept = [np.arange(len(tv)) if tv is not None else None]
            return cls(dataset_id, list(files), tdim, kept, ncs)
        assert all(t is not None for t in tvars), f"{dataset_id}: a joined file has no time"
        units0 = tvars[0].getncattr("units")
        cal0 = tvars[0].getncattr("calendar") if "calendar" in tvars[0].ncattrs() else "standard"

        def common(tv):
            vals = np.asarray(tv[:], dtype="f8")
            units = tv.getncattr("units")
            if units == units0:
                return vals
            dates = cftime.num2date(vals, units, cal0)
            return np.asarray(cftime.date2num(dates, units0, cal0), dtype="f8")

        times = [common(t) for t in tvars]
        order = sorted(range(len(ncs)), key=lambda i: (times[i][0] if len(times[i]) else math.inf))
        last = -math.inf
        kept_sorted, files_sorted, ncs_sorted = [], [], []
        for i in order:
            t = times[i]
            keep = np.nonzero(t > last)[0]
            if len(keep):
                last = max(last, float(t[keep].max()))
            kept_sorted.append(keep)
            files_sorted.append(files[i])
            ncs_sorted.append(ncs[i])
        tdim = tvars[0].dimensions[0]
        return cls(dataset_id, files_sorted, tdim, kept_sorted, ncs_sorted)

    def close(self):
        for nc in self._nc:
            try:
                nc.close()
            except Exception:
                pass

    # ----------------------------------------------------------- structure
    @property
    def first(self) -> netCDF4.Dataset:
        return self._nc[0]

    @property
    def n_records(self) -> int | None:
        if self.time_dim is None:
            return None
        return int(sum(len(k) for k in self.kept))

    def file_boundaries(self) -> list[int]:
        """Joined record indices at which a new file starts (excluding 0)."""
        out, n = [], 0
        for k in self.kept[:-1]:
            n += len(k)
            out.append(n)
        return out

    def dimensions(self) -> dict:
        """Flattened dimension name -> (joined length, unlimited)."""
        out = {}

        def walk(grp, prefix):
            for name, d in grp.dimensions.items():
                n = len(d)
                if prefix == "" and name == self.time_dim:
                    n = self.n_records
                out[prefix + name] = (n, d.isunlimited())
            for gname, g in grp.groups.items():
                walk(g, prefix + gname + "/")

        walk(self.first, "")
        return out

    def _dim_path(self, v) -> tuple:
        """Flattened names of a variable's dimensions (group dims get their path)."""
        out = []
        for d in v.get_dims():
            grp = d.group()
            path = grp.path.strip("/")
            out.append((path + "/" if path else "") + d.name)
        return tuple(out)

    def variables(self) -> dict[str, LocalVar]:
        out = {}
        for name, v in _flat_vars(self.first):
            dims = self._dim_path(v)
            shape = list(v.shape)
            if self.time_dim in v.dimensions and "/" not in name:
                shape[v.dimensions.index(self.time_dim)] = self.n_records
            dtype = np.dtype(str) if v.dtype is str else np.dtype(v.dtype)
            out[name] = LocalVar(
                name=name,
                dtype=dtype,
                dimensions=dims,
                shape=tuple(shape),
                attrs={a: v.getncattr(a) for a in v.ncattrs()},
                is_char=(v.dtype == np.dtype("S1")),
                is_string=(v.dtype is str),
            )
        return out

    def global_attrs(self) -> dict:
        return {a: self.first.getncattr(a) for a in self.first.ncattrs()}

    def all_group_attrs(self) -> dict:
        """Root attributes, plus group attributes under their path ("g1/level")."""
        out = {}

        def walk(grp, prefix):
            for a in grp.ncattrs():
                out[prefix + a] = grp.getncattr(a)
            for gname, g in grp.groups.items():
                walk(g, prefix + gname + "/")

        walk(self.first, "")
        return out

    def time_bounds_dates(self):
        """(first, last, calendar) of the joined time axis, as cftime dates."""
        if self.time_dim is None:
            return None
        tv = self.first.variables[self.time_dim]
        cal = tv.getncattr("calendar") if "calendar" in tv.ncattrs() else "standard"
        t = np.asarray(self.read(self.time_dim), dtype="f8")
        d = cftime.num2date([t[0], t[-1]], tv.getncattr("units"), cal)
        return d[0], d[1], cal

    def _var(self, nc, name):
        grp = nc
        parts = name.split("/")
        for p in parts[:-1]:
            grp = grp.groups[p]
        return grp.variables[parts[-1]]

    # ----------------------------------------------------------- values
    def read(self, name: str, key=None, decoded: bool = False):
        """Joined values of a variable; `key` is a tuple of slices/ints applied to
        the joined array. Raw (no mask/scale, char arrays as S1) unless decoded."""
        parts = []
        v0 = self._var(self.first, name)
        if self.time_dim is None or self.time_dim not in v0.dimensions or "/" in name:
            nc_list = [(self.first, None)]
        else:
            nc_list = list(zip(self._nc, self.kept))
        axis = v0.dimensions.index(self.time_dim) if (self.time_dim in v0.dimensions) else None
        for nc, keep in nc_list:
            v = self._var(nc, name)
            v.set_auto_maskandscale(decoded)
            v.set_auto_chartostring(False)
            data = v[...] if v.ndim else v.getValue()
            if not decoded:
                data = np.ma.getdata(data)
            if keep is not None:
                data = np.take(data, keep, axis=axis)
            parts.append(data)
        if len(parts) == 1:
            arr = parts[0]
        elif decoded:
            arr = np.ma.concatenate(parts, axis=axis)
        else:
            arr = np.concatenate(parts, axis=axis)
        if key is not None:
            arr = arr[key]
        return arr

    # ----------------------------------------------------------- xarray
    def xarray(self, group: str | None = None) -> xr.Dataset:
        """The joined dataset as xarray decodes it locally (default decoding)."""
        if group is not None:
            return xr.open_dataset(self.files[0], group=group)
        if self._xr is None:
            parts = []
            for f, keep in zip(self.files, self.kept):
                ds = xr.open_dataset(f)
                if self.time_dim is not None and len(self.files) > 1:
                    ds = ds.isel({self.time_dim: keep})
                parts.append(ds)
            if len(parts) == 1:
                self._xr = parts[0]
            else:
                self._xr = xr.concat(
                    parts,
                    dim=self.time_dim,
                    data_vars="minimal",
                    coords="minimal",
                    compat="override",
                    join="override",
                    combine_attrs="override",
                )
        return self._xr


# --------------------------------------------------------------------------- ncdump parsing

_TOKEN_RE = re.compile(
    r'"(?:[^"\\]|\\.)*"'  # string literal
    r"|[^\s,;\"]+"  # number or _ or NaN
    r"|;"
)


def _unescape_cdl(lit: str) -> bytes:
    """Decodes a CDL string literal body (C escapes, octal escapes) into bytes."""
    out = bytearray()
    i = 0
    s = lit.encode("utf-8")
    simple = {ord("n"): 10, ord("t"): 9, ord("r"): 13, ord("\\"): 92, ord('"'): 34, ord("'"): 39,
              ord("b"): 8, ord("f"): 12, ord("v"): 11, ord("a"): 7, ord("0"): 0}
    while i < len(s):
        c = s[i]
        if c == 92 and i + 1 < len(s):  # backslash
            n = s[i + 1]
            m = re.match(rb"[0-7]{1,3}", s[i + 1:i + 4])
            if m and not (n == ord("0") and len(m.group(0)) == 1):
                out.append(int(m.group(0), 8) & 0xFF)
                i += 1 + len(m.group(0))
                continue
            out.append(simple.get(n, n))
            i += 2
            continue
        out.append(c)
        i += 1
    return bytes(out)


def ncdump(args: list[str], timeout: float = 120) -> str:
    proc = subprocess.run(["ncdump", *args], capture_output=True, timeout=timeout)
    assert proc.returncode == 0, (
        f"ncdump {' '.join(args)} failed (exit {proc.returncode}): "
        f"{proc.stderr.decode(errors='replace')[-2000:]}"
    )
    return proc.stdout.decode("utf-8", errors="surrogateescape")


def cdl_name(name: str) -> str:
    """How ncdump writes a name in CDL (escapes special characters)."""
    return re.sub(r"([^A-Za-z0-9_.@+\-%\x80-\U0010ffff])", r"\\\1", name)


def ncdump_data_tokens(text: str, var_cdl_name: str) -> list:
    """Values of one variable in the data section of ncdump output: a list of
    strings for numbers/fill ('_'), or bytes for string literals (adjacent literals
    joined, as ncdump splits long or multi-line strings)."""
    data_start = text.index("\ndata:\n")
    body = text[data_start:]
    m = re.search(r"\n " + re.escape(var_cdl_name) + r" =", body)
    assert m, f"variable {var_cdl_name!r} not in ncdump data section"
    pos = m.end()
    tokens = []
    prev_string = False
    prev_end = pos
    for t in _TOKEN_RE.finditer(body, pos):
        tok = t.group(0)
        if tok == ";":
            break
        if tok.startswith('"'):
            lit = _unescape_cdl(tok[1:-1])
            between = body[prev_end:t.start()]
            # adjacent literals continue one value; ncdump also breaks a char row
            # after an embedded newline as  "...\n",<newline><4 spaces>"..."
            continued = prev_string and (
                "," not in between
                or (tokens[-1].endswith(b"\n") and re.fullmatch(r",\n {4,}", between))
            )
            if continued:
                tokens[-1] = tokens[-1] + lit
            else:
                tokens.append(lit)
            prev_string = True
        else:
            tokens.append(tok)
            prev_string = False
        prev_end = t.end()
    return tokens


def ncdump_header(text: str) -> tuple[dict, dict]:
    """Parses `ncdump -h` output: ({dim: (len, unlimited)}, {var: (type, dims)})."""
    dims, vars_ = {}, {}
    section = None
    for line in text.splitlines():
        s = line.strip()
        if s == "dimensions:":
            section = "dims"
            continue
        if s == "variables:":
            section = "vars"
            continue
        if s.startswith("// global attributes") or s == "data:" or s.startswith("group:"):
            section = None
            continue
        if section == "dims":
            m = re.match(r"^(.+?) = (UNLIMITED|\d+) ;(?: // \((\d+) currently\))?$", s)
            if m:
                name = re.sub(r"\\(.)", r"\1", m.group(1))
                if m.group(2) == "UNLIMITED":
                    dims[name] = (int(m.group(3)), True)
                else:
                    dims[name] = (int(m.group(2)), False)
        elif section == "vars":
            if line.startswith("\t\t"):
                continue  # attribute
            m = re.match(r"^(\w+) ((?:\\.|[^(\s])+)(?:\((.*)\))? ;$", s)
            if m:
                name = re.sub(r"\\(.)", r"\1", m.group(2))
                d = tuple(x.strip() for x in m.group(3).split(",")) if m.group(3) else ()
                vars_[name] = (m.group(1), d)
    return dims, vars_


# --------------------------------------------------------------------------- DAP2 .ascii


def parse_dap_ascii(text: str) -> dict:
    """Values of a DAP2 .ascii response: {"grid.member" or "var": [tokens]}.

    After the DDS and a line of dashes, each variable is a header line
    `name[n][m]...` followed by rows `[i][j], v, v, ...` (or a bare row of values)
    and a blank line."""
    body = text.split("\n---------------------------------------------\n", 1)[1]
    out = {}
    for block in body.strip("\n").split("\n\n"):
        lines = block.strip("\n").split("\n")
        if not lines or not lines[0]:
            continue
        name = re.sub(r"(\[\d+\])+$", "", lines[0].strip())
        vals = []
        for line in lines[1:]:
            line = re.sub(r"^(\[\d+\])+,\s*", "", line.strip())
            vals.extend(x.strip() for x in line.split(",") if x.strip() != "")
        out[name] = vals
    return out
