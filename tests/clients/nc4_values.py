"""Prints the values of every variable of a NetCDF file or DAP URL as JSON (run as a
subprocess by the tests, so that a crash of libnetcdf cannot take pytest down).

    python nc4_values.py SOURCE [DAP4_CE]
    python nc4_values.py --batch < [[SOURCE, DAP4_CE or null], ...]   (a JSON list out)

With a DAP4 constraint (`/v[1][0:2:2];/w[0:1,3]`), only the named variables are
printed, indexed like the constraint (start:stride:stop inclusive, slice sets), which
makes a local file comparable with a constrained request. Values: nested lists; bytes
as hex; NaN as "NaN"; compound values as lists; variables netCDF4-python cannot read
as "unreadable: <error>". Masking and scaling are off.
"""

from __future__ import annotations

import json
import math
import re
import sys
import warnings

import numpy as np
import netCDF4


def plain(x):
    if isinstance(x, np.ndarray):
        if x.dtype.names:
            return [plain(e) for e in x.ravel()] if x.ndim else plain(x[()])
        if x.dtype == object:
            return [plain(e) for e in x.tolist()] if x.ndim else plain(x[()])
        return plain(x.tolist())
    if isinstance(x, np.void):
        return [plain(x[n]) for n in x.dtype.names]
    if isinstance(x, (list, tuple)):
        return [plain(e) for e in x]
    if isinstance(x, (bytes, np.bytes_)):
        return bytes(x).hex()
    if isinstance(x, np.generic):
        return plain(x.item())
    if isinstance(x, float) and math.isnan(x):
        return "NaN"
    return x


def index_of(ce_term: str):
    """'/g/v[1][0:2:2]' -> ('g/v', [[1], [0, 2]])"""
    m = re.match(r"^/?([^\[]+)((?:\[[^\]]*\])*)$", ce_term.strip())
    name, brackets = m.group(1), re.findall(r"\[([^\]]*)\]", m.group(2))
    idx = []
    for b in brackets:
        sel = []
        for part in b.split(","):
            nums = [int(p) for p in part.split(":")]
            if len(nums) == 1:
                sel.append(nums[0])
            elif len(nums) == 2:
                sel += list(range(nums[0], nums[1] + 1))
            else:
                sel += list(range(nums[0], nums[2] + 1, nums[1]))
        idx.append(sel)
    return name, idx


def variable(ds, path):
    g = ds
    parts = path.strip("/").split("/")
    for p in parts[:-1]:
        g = g.groups[p]
    return g.variables[parts[-1]]


def read(v, idx=None):
    v.set_auto_maskandscale(False)
    if v.dtype == np.dtype("S1"):
        v.set_auto_chartostring(False)
    a = v[...]
    a = np.asarray(np.ma.getdata(a)) if not isinstance(a, np.ndarray) or a.dtype != object else a
    if idx:
        a = a[np.ix_(*idx)]
    return plain(a)


def values(src: str, ce: str | None) -> dict:
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = netCDF4.Dataset(src)
        if ce:
            for term in ce.split(";"):
                name, idx = index_of(term)
                try:
                    out["/" + name] = read(variable(ds, name), idx)
                except Exception as e:  # noqa: BLE001
                    out["/" + name] = f"unreadable: {type(e).__name__}"
        else:
            def walk(g, prefix):
                for n, v in g.variables.items():
                    try:
                        out[prefix + n] = read(v)
                    except Exception as e:  # noqa: BLE001
                        out[prefix + n] = f"unreadable: {type(e).__name__}"
                for gn, sub in g.groups.items():
                    walk(sub, prefix + gn + "/")

            walk(ds, "/")
        ds.close()
    return out


def main():
    if sys.argv[1] == "--batch":
        res = []
        for src, ce in json.load(sys.stdin):
            try:
                res.append([values(src, ce), ""])
            except Exception as e:  # noqa: BLE001
                res.append([None, f"{type(e).__name__}: {e}"])
        json.dump(res, sys.stdout)
    else:
        json.dump(values(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None), sys.stdout)


if __name__ == "__main__":
    main()
