"""Structural comparison of `ncdump` CDL output (used by the netcdf-c suites).

`parse_cdl(text)` turns ncdump's CDL into, per group path ("/" for the root):

- ``types``: multiset of type declarations (whitespace collapsed, comments removed),
- ``dims``: {name: "N" or "UNLIMITED(N)"},
- ``vars``: {name: declaration} (e.g. ``"float pr(time, lat, lon)"``),
- ``attrs``: {variable name or "" for the group: sorted list of attribute statements},
- ``data``: {name: tuple of value tokens}.

`diff_cdl(expected, actual)` compares two parsed texts as maps and sets, so the order
of variables, dimensions, types and attributes does not matter, and returns one line
per difference (see `Diff`). Nothing here knows about servers; the normalisations that
make two client versions comparable are in `normalise_ncdump`.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

# --------------------------------------------------------------------------- normalisation


def normalise_ncdump(text: str) -> str:
    """Client-version normalisations applied to both sides before parsing:

    - Debian's libnetcdf 4.9.0 prints a stray ``checksumhack=N`` line (a debugging
      fprintf left in libdap4/d4chunk.c);
    - libnetcdf < 4.9.1 names anonymous DAP4 dimensions ``_AnonymousN``, newer
      versions ``_Anonymous_Dim_N``;
    - ``ncdump -XF`` (not in 4.9.0) prints the type before ``_FillValue`` attribute
      names; it is removed everywhere (plain ncdump prints it only for some types).
    """
    text = re.sub(r"(?m)^checksumhack=\d+\n", "", text)
    text = re.sub(r"\b_Anonymous(\d+)\b", r"_Anonymous_Dim_\1", text)
    text = re.sub(r"(?m)^(\s+)\S+ ((?:\\.|[^\s:\\])*:_FillValue = )", r"\1\2", text)
    return text


# --------------------------------------------------------------------------- scanning

_TOKEN_RE = re.compile(r'"(?:[^"\\]|\\.)*"|[{}]|[^\s,{}"]+')


def _strip_comments(s: str) -> str:
    """Removes // comments outside string literals."""
    out, i, in_str = [], 0, False
    while i < len(s):
        c = s[i]
        if in_str:
            out.append(c)
            if c == "\\" and i + 1 < len(s):
                out.append(s[i + 1])
                i += 2
                continue
            if c == '"':
                in_str = False
        elif c == '"':
            in_str = True
            out.append(c)
        elif s.startswith("//", i):
            j = s.find("\n", i)
            i = len(s) if j < 0 else j
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


class _Scanner:
    """Incremental: fed line by line, tells when a statement is complete (a ';' at
    brace depth 0 outside strings and comments)."""

    def __init__(self):
        self.in_str = False
        self.depth = 0

    def feed(self, line: str) -> bool:
        i, n = 0, len(line)
        done = False
        while i < n:
            c = line[i]
            if self.in_str:
                if c == "\\":
                    i += 2
                    continue
                if c == '"':
                    self.in_str = False
            elif c == '"':
                self.in_str = True
            elif c == "/" and line.startswith("//", i):
                break
            elif c == "{":
                self.depth += 1
            elif c == "}":
                self.depth -= 1
            elif c == ";" and self.depth <= 0:
                done = True
            i += 1
        return done


def _tokens(values: str) -> list[str]:
    """Value tokens; string literals separated only by whitespace (ncdump's line
    wrapping of long strings) are joined into one literal."""
    toks: list[str] = []
    last_end = None
    for m in _TOKEN_RE.finditer(values):
        t = m.group(0)
        if (t.startswith('"') and toks and toks[-1].startswith('"') and last_end is not None
                and values[last_end:m.start()].strip() == ""):
            toks[-1] = toks[-1][:-1] + t[1:]
        else:
            toks.append(t)
        last_end = m.end()
    return toks


def _split_name(s: str) -> tuple[str, str]:
    """'name rest' -> (name, rest), honouring backslash escapes in the name."""
    m = re.match(r"^((?:\\.|[^\s=(\\])+)\s*(.*)$", s, re.S)
    return (m.group(1), m.group(2)) if m else (s, "")


# --------------------------------------------------------------------------- parsing


@dataclass
class Group:
    types: Counter = field(default_factory=Counter)
    dims: dict = field(default_factory=dict)
    vars: dict = field(default_factory=dict)
    attrs: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)


def parse_cdl(text: str) -> dict[str, Group]:
    groups: dict[str, Group] = {"/": Group()}
    stack = ["/"]
    section = None
    pending: list[str] = []
    scanner = _Scanner()
    for line in text.splitlines():
        if not pending:
            s = line.strip()
            if not s or s.startswith("//"):
                continue
            if re.match(r"^netcdf\s.*\{$", s):
                continue
            if s in ("types:", "dimensions:", "variables:", "data:"):
                section = s[:-1]
                continue
            m = re.match(r"^group:\s+(.+?)\s*\{$", s)
            if m:
                path = stack[-1].rstrip("/") + "/" + m.group(1)
                groups[path] = Group()
                stack.append(path)
                section = None
                continue
            if re.match(r"^\}(\s*//\s*group\s.*)?$", s):
                if len(stack) > 1:
                    stack.pop()
                section = None
                continue
            scanner = _Scanner()
        pending.append(line)
        if not scanner.feed(line):
            continue
        stmt, pending = "\n".join(pending) + "\n", []
        _statement(groups[stack[-1]], section, stmt)
    if "".join(pending).strip():
        raise ValueError(f"unterminated CDL statement: {chr(10).join(pending)[:300]!r}")
    return groups


def _statement(g: Group, section: str | None, stmt: str) -> None:
    if section == "types":
        norm = " ".join(_strip_comments(stmt).split())
        g.types[norm.rstrip(" ;").strip()] += 1
        return
    if section == "dimensions":
        m = re.match(r"^\s*(.+?)\s*=\s*(UNLIMITED|\d+)\s*;\s*(?://\s*\((\d+) currently\))?", stmt, re.S)
        if not m:
            raise ValueError(f"bad dimension statement {stmt!r}")
        g.dims[m.group(1)] = f"UNLIMITED({m.group(3)})" if m.group(2) == "UNLIMITED" else m.group(2)
        return
    body = _strip_comments(stmt).strip()
    assert body.endswith(";"), stmt
    body = body[:-1].strip()
    if section == "variables":
        if "=" not in body.split('"', 1)[0]:  # declaration: type name(dims)
            g.vars[_decl_name(body)] = " ".join(body.split())
            return
        head, values = body.split("=", 1)
        names = re.findall(r"(?:\\.|[^\s\\])+", head.strip())
        typ = names[0] if len(names) == 2 else None
        m = re.match(r"^((?:\\.|[^:\\])*):(.*)$", names[-1])
        if not m:
            raise ValueError(f"bad attribute statement {stmt!r}")
        var, att = m.group(1), m.group(2)
        toks = _tokens(values)
        if typ in (None, "char") and toks and all(t.startswith('"') for t in toks):
            toks = ['"' + "".join(t[1:-1] for t in toks) + '"']  # one text value
        line = f"{typ + ' ' if typ else ''}{var}:{att} = {', '.join(toks)}"
        g.attrs.setdefault(var, []).append(line)
        g.attrs[var].sort()
        return
    if section == "data":
        name, rest = _split_name(body)
        assert rest.startswith("="), stmt
        g.data[name] = tuple(_tokens(rest[1:]))
        return
    raise ValueError(f"CDL statement outside a section: {stmt!r}")


def _decl_name(decl: str) -> str:
    # "type name(dims)" or "type name"; the type may be a user type name
    m = re.match(r"^(\S+)\s+((?:\\.|[^\s(\\])+)", decl)
    return m.group(2) if m else decl


# --------------------------------------------------------------------------- diffing


def diff_cdl(expected: dict[str, Group], actual: dict[str, Group], data: bool = True) -> list[str]:
    """One line per difference, of the forms

        <group> types: missing <decl> | unexpected <decl>
        <group> dimension <name>: missing | unexpected | <exp> != <got>
        <group> variable <name>: missing | unexpected | declaration <exp> != <got>
        <group> attribute <var or (global)>: missing <stmt> | unexpected <stmt>
        <group> data <name>: missing | unexpected | values differ (...)
        group <path>: missing | unexpected
    """
    out: list[str] = []
    for path in sorted(set(expected) | set(actual)):
        if path not in actual:
            out.append(f"group {path}: missing")
            continue
        if path not in expected:
            out.append(f"group {path}: unexpected")
            continue
        e, a = expected[path], actual[path]
        for t in sorted((e.types - a.types).elements()):
            out.append(f"{path} types: missing {t}")
        for t in sorted((a.types - e.types).elements()):
            out.append(f"{path} types: unexpected {t}")
        _diff_map(out, path, "dimension", e.dims, a.dims, lambda x, y: f"{x} != {y}")
        _diff_map(out, path, "variable", e.vars, a.vars, lambda x, y: f"declaration {x} != {y}")
        for var in sorted(set(e.attrs) | set(a.attrs)):
            ea, aa = Counter(e.attrs.get(var, [])), Counter(a.attrs.get(var, []))
            for s in sorted((ea - aa).elements()):
                out.append(f"{path} attribute {var or '(global)'}: missing {s}")
            for s in sorted((aa - ea).elements()):
                out.append(f"{path} attribute {var or '(global)'}: unexpected {s}")
        if data:
            _diff_map(out, path, "data", e.data, a.data, _values_diff)
    return out


def _diff_map(out, path, what, e, a, fmt):
    for k in sorted(set(e) | set(a)):
        if k not in a:
            out.append(f"{path} {what} {k}: missing")
        elif k not in e:
            out.append(f"{path} {what} {k}: unexpected")
        elif e[k] != a[k]:
            out.append(f"{path} {what} {k}: {fmt(e[k], a[k])}")


def _values_diff(e: tuple, a: tuple) -> str:
    if len(e) != len(a):
        return f"values differ ({len(e)} tokens expected, {len(a)} got; expected {_short(e)}, got {_short(a)})"
    idx = [i for i, (x, y) in enumerate(zip(e, a)) if x != y]
    i = idx[0]
    return f"values differ ({len(idx)} of {len(e)} tokens; first at {i}: expected {e[i]}, got {a[i]})"


def _short(t: tuple, n: int = 12) -> str:
    s = " ".join(t[:n])
    return s + (" ..." if len(t) > n else "")
