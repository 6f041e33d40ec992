"""Fixtures for the cirrus client integration tests.

The tests start the real `cirrus` binary on the real ESGF samples
($CIRRUS_SHARED_DATA/esgf) and on the synthetic samples that `cirrus samples`
writes, and read it with real DAP2 clients (libnetcdf via netCDF4, pydap, ncdump).
Expected values always come from reading the local files directly (cirrus_ref.py).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cirrus_ref import Reference, find_remote_name  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
HEALTH_TIMEOUT = 60.0

# --------------------------------------------------------------------------- locations


def cirrus_bin() -> Path:
    p = Path(os.environ.get("CIRRUS_BIN", REPO / "target" / "debug" / "cirrus"))
    if not p.is_file() or not os.access(p, os.X_OK):
        pytest.fail(
            f"cirrus binary not found at {p}: build it (`cargo build -p cirrus-server`) "
            "or point CIRRUS_BIN at it",
            pytrace=False,
        )
    return p


def testdata_bin() -> Path | None:
    """The `cirrus-testdata` generator, if built (optional)."""
    env = os.environ.get("CIRRUS_TESTDATA_BIN")
    p = Path(env) if env else cirrus_bin().parent / "cirrus-testdata"
    return p if p.is_file() and os.access(p, os.X_OK) else None


def shared_data() -> Path:
    p = Path(os.environ.get("CIRRUS_SHARED_DATA", REPO.parent / "shared" / "data"))
    if not (p / "esgf").is_dir():
        pytest.fail(
            f"shared data not found: {p / 'esgf'} is not a directory "
            "(set CIRRUS_SHARED_DATA to the directory holding esgf/)",
            pytrace=False,
        )
    return p


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- server process


class CirrusServer:
    """One running `cirrus serve` process."""

    def __init__(self, roots, workdir: Path, extra_args=(), name="cirrus", env=None):
        # a data root is a directory, or a URL such as s3://bucket/prefix (kept as text:
        # Path would fold its "//")
        self.roots = [r if isinstance(r, str) and "://" in r else Path(r) for r in roots]
        # environment of the process on top of the tests' own (None: unset the variable)
        self.env = dict(env or {})
        self.workdir = Path(workdir)
        self.extra_args = [str(a) for a in extra_args]
        self.name = name
        self.proc: subprocess.Popen | None = None
        self.port = None
        self.log_path = self.workdir / f"{name}.log"
        self.state = self.workdir / f"{name}-state"

    # ---------------------------------------------------------------- lifecycle
    def start(self):
        binary = cirrus_bin()
        self.workdir.mkdir(parents=True, exist_ok=True)
        last_err = None
        for _attempt in range(3):
            self.port = free_port()
            cmd = [str(binary), "serve"]
            for r in self.roots:
                cmd += ["--data", str(r)]
            cmd += [
                "--listen", f"127.0.0.1:{self.port}",
                "--state", str(self.state),
                "--rescan-interval", "0",
                *self.extra_args,
            ]
            self.cmd = cmd
            self._log = open(self.log_path, "ab")
            self._log.write(f"\n$ {' '.join(cmd)}\n".encode())
            self._log.flush()
            env = dict(os.environ)
            env.setdefault("RUST_LOG", "info")
            env.setdefault("RUST_BACKTRACE", "1")
            for k, v in self.env.items():
                if v is None:
                    env.pop(k, None)
                else:
                    env[k] = str(v)
            self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env)
            deadline = time.monotonic() + HEALTH_TIMEOUT
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    # /ready: listening, and the first indexing pass is done
                    r = requests.get(self.url + "/ready", timeout=2)
                    if r.status_code == 200:
                        return self
                except requests.RequestException:
                    pass
                time.sleep(0.1)
            last_err = (
                f"cirrus did not answer GET /ready with 200 within {HEALTH_TIMEOUT:.0f} s "
                f"(exit code {self.proc.poll()})"
            )
            self.stop()
            if "cannot listen" not in self.log_tail():
                break
        pytest.fail(f"{last_err}\ncommand: {' '.join(self.cmd)}\n--- server log ---\n{self.log_tail()}",
                    pytrace=False)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, n: int = 60) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-n:])

    # ---------------------------------------------------------------- HTTP helpers
    def get(self, path: str, **kw) -> requests.Response:
        kw.setdefault("timeout", 120)
        return requests.get(self.url + path, **kw)

    def post(self, path: str, **kw) -> requests.Response:
        kw.setdefault("timeout", 120)
        return requests.post(self.url + path, **kw)

    def json(self, path: str):
        r = self.get(path)
        assert r.status_code == 200, f"GET {path} -> {r.status_code}: {r.text[:500]}"
        return r.json()

    def dap_url(self, dataset_id: str) -> str:
        return f"{self.url}/opendap/{dataset_id}"

    def healthy(self) -> bool:
        try:
            return self.get("/health", timeout=10).text.strip() == "ok"
        except requests.RequestException:
            return False

    def status_kb(self, field: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise KeyError(field)


class MainServer(CirrusServer):
    """The session server over the ESGF samples and `cirrus samples` output, with
    helpers that resolve datasets to their local files and build references."""

    def __init__(self, esgf: Path, samples: Path, workdir: Path):
        super().__init__([esgf, samples], workdir, name="main")
        self.esgf = esgf
        self.samples = samples
        self._datasets = None
        self._details = {}
        self._refs = {}

    def datasets(self) -> list[dict]:
        if self._datasets is None:
            self._datasets = self.json("/datasets")["datasets"]
        return self._datasets

    def dataset(self, dataset_id: str) -> dict:
        if dataset_id not in self._details:
            self._details[dataset_id] = self.json(f"/datasets/{dataset_id}")
        return self._details[dataset_id]

    def local_path(self, rel: str) -> Path:
        hits = [r / rel for r in self.roots if (r / rel).is_file()]
        assert len(hits) == 1, f"file {rel!r} of /datasets is found under {len(hits)} data roots"
        return hits[0]

    def reference(self, dataset_id: str) -> Reference:
        if dataset_id not in self._refs:
            entry = next((d for d in self.datasets() if d["id"] == dataset_id), None)
            assert entry is not None, f"dataset {dataset_id} not in /datasets"
            files = [self.local_path(f) for f in entry["files"]]
            self._refs[dataset_id] = Reference.build(dataset_id, files)
        return self._refs[dataset_id]

    def close_refs(self):
        for r in self._refs.values():
            r.close()


# --------------------------------------------------------------------------- session state

_SESSION = {"main": None, "tmp": None, "samples_error": None, "servers": []}


def session_tmp() -> Path:
    if _SESSION["tmp"] is None:
        _SESSION["tmp"] = Path(tempfile.mkdtemp(prefix="cirrus-clients-"))
    return _SESSION["tmp"]


def write_samples(out: Path) -> None:
    """`cirrus samples --out DIR`. If that command fails, the failure is recorded
    (test_http.py::test_cirrus_samples_command reports it) and the samples are
    written with `cirrus-testdata samples` instead so the other tests can run."""
    env = dict(os.environ, RUST_BACKTRACE="0")
    proc = subprocess.run([str(cirrus_bin()), "samples", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, env=env)
    if proc.returncode == 0 and (out / "misc" / "all_types.nc").is_file():
        return
    _SESSION["samples_error"] = (
        f"`cirrus samples --out {out}` failed (exit {proc.returncode}): "
        + "\n".join((proc.stderr or proc.stdout).strip().splitlines()[:5])
    )
    gen = testdata_bin()
    if gen is None:
        pytest.fail(_SESSION["samples_error"] + "\n(and no cirrus-testdata binary to fall back on)",
                    pytrace=False)
    shutil.rmtree(out, ignore_errors=True)
    proc = subprocess.run([str(gen), "samples", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.fail(_SESSION["samples_error"] + f"\nfallback {gen} failed too: {proc.stderr[-1500:]}",
                    pytrace=False)


def main_server() -> MainServer:
    """The session server, started on first use (also at collection time, since
    tests are parametrized over the datasets it serves)."""
    if _SESSION["main"] is None:
        esgf = shared_data() / "esgf"
        tmp = session_tmp()
        samples = tmp / "samples"
        write_samples(samples)
        srv = MainServer(esgf, samples, tmp)
        _SESSION["main"] = srv
        srv.start()
    return _SESSION["main"]


def pytest_sessionfinish(session, exitstatus):
    # A missing prerequisite is a failure, never a silent skip.
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped and session.exitstatus == 0:
        session.exitstatus = 1
        print(f"\n{len(skipped)} test(s) skipped: the client suite does not allow skips")
    for s in [_SESSION["main"], *_SESSION["servers"]]:
        if s is not None:
            s.stop()
    if _SESSION["main"] is not None:
        _SESSION["main"].close_refs()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """After failures, the tail of each server's log (ANSI colours removed)."""
    if not terminalreporter.stats.get("failed") and not terminalreporter.stats.get("error"):
        return
    for s in [_SESSION["main"], *_SESSION["servers"]]:
        if s is None or not s.log_path.exists():
            continue
        n = 30 if s is _SESSION["main"] else 12
        terminalreporter.write_sep("-", f"tail of the {s.name} server log ({s.log_path})")
        terminalreporter.write_line(re.sub(r"\x1b\[[0-9;]*m", "", s.log_tail(n)))


def pytest_unconfigure(config):
    if _SESSION["tmp"] is not None and not os.environ.get("CIRRUS_KEEP_TMP"):
        shutil.rmtree(_SESSION["tmp"], ignore_errors=True)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def server(request) -> MainServer:
    srv = main_server()
    yield srv
    # the log tail is printed after the test summary when tests failed
    # (pytest_terminal_summary); a server that died fails this teardown
    assert srv.alive(), f"the main server died during the tests:\n{srv.log_tail(80)}"


@pytest.fixture(scope="session")
def samples_error():
    main_server()
    return _SESSION["samples_error"]


@pytest.fixture(scope="session")
def start_server():
    """Factory: start_server(roots, extra_args=(), name=..., env=None) -> running
    CirrusServer (`env`: extra environment variables of the process). Every server it
    starts is stopped at the end of the session."""
    started = []

    def factory(roots, extra_args=(), name="extra", env=None):
        work = session_tmp() / f"{name}-{len(_SESSION['servers'])}"
        srv = CirrusServer(roots, work, extra_args=extra_args, name=name, env=env)
        _SESSION["servers"].append(srv)
        started.append(srv)
        return srv.start()

    yield factory
    for s in started:
        s.stop()


@pytest.fixture
def tmp_root(tmp_path) -> Path:
    d = tmp_path / "root"
    d.mkdir()
    return d


# --------------------------------------------------------------------------- parametrization


def short_id(dataset_id: str) -> str:
    parts = dataset_id.split(".")
    if "/" in dataset_id:
        return dataset_id.rsplit("/", 1)[-1].removesuffix(".nc")
    if parts[0] == "CMIP6" and len(parts) >= 8:
        return f"{parts[3]}.{parts[6]}.{parts[7]}"
    if parts[0] == "cmip5" and len(parts) >= 4:
        return f"{parts[3]}.{parts[-1]}"
    if parts[0] == "cordex" and len(parts) >= 3:
        return f"{parts[2]}.{parts[-2]}"
    return dataset_id


def _unique(labels):
    seen = {}
    out = []
    for lab in labels:
        n = seen.get(lab, 0)
        seen[lab] = n + 1
        out.append(lab if n == 0 else f"{lab}#{n}")
    return out


def all_dataset_ids() -> list[str]:
    return [d["id"] for d in main_server().datasets()]


def pytest_generate_tests(metafunc):
    names = metafunc.fixturenames
    if "dataset_id" in names:
        ids = all_dataset_ids()
        metafunc.parametrize("dataset_id", ids, ids=_unique([short_id(i) for i in ids]))
    for argname, numeric_only in (("dap2_var", False), ("dap2_num_var", True)):
        if argname not in names:
            continue
        # every DAP2-representable variable of every dataset, from the LOCAL files
        srv = main_server()
        params, labels = [], []
        for dsid in all_dataset_ids():
            for name, v in srv.reference(dsid).variables().items():
                if v.dap2 and not (numeric_only and (v.is_char or v.is_string)):
                    params.append((dsid, name))
                    labels.append(f"{short_id(dsid)}:{name}")
        metafunc.parametrize(argname, params, ids=_unique(labels))


def remote_var_name(local_name: str, remote_names) -> str:
    name = find_remote_name(local_name, remote_names)
    assert name is not None, (
        f"variable {local_name!r} is not offered by the DAP2 client; it lists {sorted(remote_names)}"
    )
    return name
