"""The object storage case (issue 17), registered in bench.py's CASES as `s3`.

The one-year daily 1° CMIP6-like tas file of the DAP2 and Zarr cases (365 x 180 x 360
float32, deflate 4 + shuffle, one chunk per day) in its DRS tree (`ensure_daily_drs`),
served in one run by cirrus release servers on the local directory and on
`s3://bench/<prefix>` of a real S3 server (s3s-fs, on 127.0.0.1, SigV4) holding the
same tree. Both must list the same dataset and give the same bytes (DAP2) and the
file's values (Zarr). Timed, for each root:

- DAP2 `.dods` with curl (as `dap2-pydap`): the whole tas variable, one time step, and
  the point series of the 365 steps at one cell;
- Zarr: `xr.open_zarr(url, consolidated=True).tas.values` in a fresh Python process
  (as `zarr`);

each cold (a fresh server: empty chunk cache, fresh state directory; the file and its
S3 copy are in the page cache, read once before: this measures the server's path, not
the disk), warm (the same request again on that server: chunk cache hot) and warm on a
server without a chunk cache (`--chunk-cache-bytes 0`: every read fetches its chunks
again; the file's metadata and chunk table stay cached). For every request on the S3
root the GETs s3s-fs answered and the bytes it sent are counted from its log
(`RUST_LOG=s3s::service=debug`: one line per request and one per response, paired by
their span's start time): they show how the byte ranges were coalesced.

Two S3 servers on the same directory are timed side by side: s3s-fs as it is, and
s3s-fs with TCP_NODELAY set on its connections (an LD_PRELOAD shim around accept,
compiled here with cc; skipped when there is no C compiler). s3s-fs 0.14 leaves Nagle's
algorithm on: on a kept-alive connection, as cirrus's S3 client uses, many responses
then wait ~40 ms for the client's delayed ACK, which S3 itself and MinIO do not do.

The physical limit is loopback HTTP to s3s-fs: its raw throughput (curl, SigV4) is
measured by fetching the whole object with one GET and with 8 parallel ranged GETs,
by replaying the GETs cirrus made for the cold whole-variable read one after another
on one connection, and by one chunk's ranged GETs on one connection; next to the
page-cache read rate of the file.

Run alone: `benches/.venv/bin/python benches/s3_case.py [REPEAT]`.
"""

import base64
import contextlib
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import bench
import zarr_case

BUCKET = "bench"
ACCESS_KEY = "cirrus-bench-access"
SECRET_KEY = "cirrus-bench-secret"
REGION = "us-east-1"
# the SHA-256 of an empty body: s3s-fs wants the x-amz-content-sha256 header
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
POINT = (90, 180)  # lat, lon indices of the point series
MODES = ("cold", "warm", "warm no cache")
# xarray + zarr for the Zarr reads: the Zarr case's venv when there is one, else the peers' venv
PYTHON = zarr_case.PYTHON if os.path.exists(zarr_case.PYTHON) else os.path.join(bench.VENV, "bin", "python")

# TCP_NODELAY on every accepted connection (LD_PRELOAD; s3s-fs calls accept4 through libc)
NODELAY_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
static int nodelay(int fd) {
    if (fd >= 0) { int one = 1; setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); }
    return fd;
}
int accept4(int s, struct sockaddr *a, socklen_t *l, int f) {
    static int (*real)(int, struct sockaddr *, socklen_t *, int);
    if (!real) real = dlsym(RTLD_NEXT, "accept4");
    return nodelay(real(s, a, l, f));
}
int accept(int s, struct sockaddr *a, socklen_t *l) {
    static int (*real)(int, struct sockaddr *, socklen_t *);
    if (!real) real = dlsym(RTLD_NEXT, "accept");
    return nodelay(real(s, a, l));
}
"""


def s3s_fs_bin():
    # the release build benches/run installs (need_s3_server release), else the tests' one
    release = os.path.join(bench.REPO, "target", "tools-release", "bin", "s3s-fs")
    debug = os.path.join(bench.REPO, "target", "tools", "bin", "s3s-fs")
    p = os.environ.get("CIRRUS_S3_SERVER") or (release if os.path.exists(release) else debug)
    if not (os.path.isfile(p) and os.access(p, os.X_OK)):
        raise RuntimeError(f"the S3 server s3s-fs was not found at {p}: install it with `source scripts/deps.sh; "
                           f"need_s3_server`, or point CIRRUS_S3_SERVER at it")
    return p


def nodelay_shim(work):
    """The LD_PRELOAD library setting TCP_NODELAY, built in `work`; None without a C compiler."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    src, lib = os.path.join(work, "nodelay.c"), os.path.join(work, "nodelay.so")
    with open(src, "w") as f:
        f.write(NODELAY_C)
    r = subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", lib, src, "-ldl"], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"s3: the TCP_NODELAY shim did not build, skipped: {r.stderr[-500:]}", flush=True)
        return None
    return lib


def b64(s):
    return base64.urlsafe_b64encode(s.encode()).decode().rstrip("=")


def place(src, root, key):
    """The file `src` as the object BUCKET/key of an s3s-fs directory `root`.

    The file is copied into the directory (objects are plain files under
    ROOT/<bucket>/<key>) rather than uploaded: s3s-fs's PutObject names a metadata side
    file after the base64 of the key, and fails ("File name too long") for keys longer
    than about 164 bytes, which CMIP6 DRS paths reach. Its ETag side file
    (`.bucket-<b64>.object-<b64>.internal.json`, s3s-fs 0.14) is written here too when its
    name fits: without it s3s-fs computes the MD5 of the whole object on every GET and
    HEAD (~0.18 s for this 52 MB file), a cost of the test server that S3 does not have.
    Returns whether the ETag side file was written."""
    dst = os.path.join(root, BUCKET, key)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copyfile(src, dst)
    side = f".bucket-{b64(BUCKET)}.object-{b64(key)}.internal.json"
    if len(side.encode()) > 255:
        return False
    md5 = hashlib.md5()
    with open(dst, "rb") as f:
        while b := f.read(1 << 20):
            md5.update(b)
    with open(os.path.join(root, side), "w") as f:
        json.dump({"e_tag": md5.hexdigest()}, f)
    return True


REQ_RE = re.compile(r"DEBUG s3s::service: req: Request \{ method: (\w+), uri: (\S+),")
RANGE_RE = re.compile(r'"range": "bytes=(\d+)-(\d+)"')
RESP_RE = re.compile(r"DEBUG s3s::service: duration: [^,]+, resp: Response \{ status: (\d+),")
LEN_RE = re.compile(r'"content-length": "(\d+)"')
SPAN_RE = re.compile(r"in s3s::service::call with start_time: (.+)$")


class S3Fs:
    """s3s-fs on 127.0.0.1 over `root`, every request and response logged (s3s::service at
    DEBUG); `mark()` and `since(mark)` count the requests in between. `preload`: an
    LD_PRELOAD library (the TCP_NODELAY shim)."""

    def __init__(self, root, log_path, preload=None):
        self.root, self.log_path, self.preload = root, log_path, preload
        self.port = bench.free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        argv = [s3s_fs_bin(), "--host", "127.0.0.1", "--port", str(self.port), "--access-key", ACCESS_KEY,
                "--secret-key", SECRET_KEY, self.root]
        env = dict(os.environ, RUST_LOG="s3s::service=debug,s3s_fs=info")
        if self.preload:
            env["LD_PRELOAD"] = self.preload
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        t0 = time.time()
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"s3s-fs exited with {self.proc.returncode}; see {self.log_path}")
            try:
                urllib.request.urlopen(self.url + "/", timeout=2)
                break
            except urllib.error.HTTPError:  # 403 without credentials: it answers
                break
            except Exception:
                if time.time() - t0 > 30:
                    raise RuntimeError(f"s3s-fs did not answer on {self.url}")
                time.sleep(0.1)
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()

    def cirrus_env(self):
        """`env` arguments of a `cirrus serve` on this server (nothing else from AWS_*)."""
        unset = [a for v in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "AWS_CONFIG_FILE",
                             "AWS_SHARED_CREDENTIALS_FILE", "LD_PRELOAD") for a in ("-u", v)]
        return ["env", *unset, f"AWS_ACCESS_KEY_ID={ACCESS_KEY}", f"AWS_SECRET_ACCESS_KEY={SECRET_KEY}",
                f"AWS_ENDPOINT_URL={self.url}", f"AWS_REGION={REGION}", f"AWS_DEFAULT_REGION={REGION}",
                "AWS_ALLOW_HTTP=true"]

    def mark(self):
        return os.path.getsize(self.log_path)

    def since(self, mark):
        """{"get": GetObject requests, "bytes": bytes their answers hold, "ranges": their byte
        ranges in the order they came, "list": ListObjects, "head": HeadObject, "other",
        "failed"} since `mark`."""
        time.sleep(0.05)  # the last lines of a response just sent
        with open(self.log_path, "rb") as f:
            f.seek(mark)
            text = f.read().decode(errors="replace")
        reqs, resps, pending = {}, {}, None
        for line in text.splitlines():
            m = REQ_RE.search(line)
            if m:
                r = RANGE_RE.search(line)
                pending = ("req", (m.group(1), m.group(2), (int(r.group(1)), int(r.group(2)) + 1) if r else None))
                continue
            m = RESP_RE.search(line)
            if m:
                n = LEN_RE.search(line)
                pending = ("resp", (int(m.group(1)), int(n.group(1)) if n else 0))
                continue
            m = SPAN_RE.search(line)
            if m and pending:
                (reqs if pending[0] == "req" else resps)[m.group(1)] = pending[1]
                pending = None
        out = {"get": 0, "bytes": 0, "ranges": [], "list": 0, "head": 0, "other": 0, "failed": 0}
        prefix = f"/{BUCKET}/"
        for span, (method, uri, rng) in reqs.items():  # in the order of the log
            status, length = resps.get(span, (0, 0))
            if status >= 300 or status == 0:
                out["failed"] += 1
            if method == "GET" and uri.startswith(prefix) and len(uri) > len(prefix):
                out["get"] += 1
                out["bytes"] += length
                out["ranges"].append(rng)
            elif method == "GET":
                out["list"] += 1
            elif method == "HEAD":
                out["head"] += 1
            else:
                out["other"] += 1
        return out

    def curl_args(self, key, rng=None):
        args = ["-s", "-o", "/dev/null", "-w", "%{time_total} %{size_download} %{http_code}\\n",
                "--aws-sigv4", f"aws:amz:{REGION}:s3", "--user", f"{ACCESS_KEY}:{SECRET_KEY}",
                "-H", f"x-amz-content-sha256: {EMPTY_SHA256}"]
        if rng:
            args += ["-H", f"Range: bytes={rng[0]}-{rng[1] - 1}"]
        return args + [f"{self.url}/{BUCKET}/{key}"]

    def get_seq(self, key, ranges):
        """Signed GETs of `ranges` (None: the whole object) one after another on one
        connection (one curl, `--next`): (wall seconds, [seconds of each], bytes)."""
        argv = ["curl"]
        for i, r in enumerate(ranges):
            argv += (["--next"] if i else []) + self.curl_args(key, r)
        t = time.perf_counter()
        out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout.split("\n")
        took = time.perf_counter() - t
        outs = [o.split() for o in out if o.strip()]
        if len(outs) != len(ranges) or any(o[2] not in ("200", "206") for o in outs):
            raise RuntimeError(f"s3s-fs answered {[o[2] for o in outs]}")
        return took, [float(o[0]) for o in outs], sum(int(o[1]) for o in outs)

    def get_parallel(self, key, size, n):
        """`n` signed ranged GETs covering the object, all at once (n curls): (wall seconds, bytes)."""
        cuts = [size * i // n for i in range(n + 1)]
        t = time.perf_counter()
        procs = [subprocess.Popen(["curl", *self.curl_args(key, (a, b))], stdout=subprocess.PIPE, text=True)
                 for a, b in zip(cuts, cuts[1:])]
        outs = [p.communicate()[0].split() for p in procs]
        took = time.perf_counter() - t
        if any(o[2] != "206" for o in outs):
            raise RuntimeError(f"s3s-fs answered {[o[2] for o in outs]} to ranged GETs")
        return took, sum(int(o[1]) for o in outs)


def cirrus(root, work, name, *extra, env=()):
    """A cirrus server on `root` with a fresh state directory under `work`; returns
    (server, base URL); the probe is /ready (the file indexed)."""
    port = bench.free_port()
    state = tempfile.mkdtemp(prefix="state-", dir=work)
    argv = [*env, bench.CIRRUS, "serve", "--data", root, "--listen", f"127.0.0.1:{port}", "--state", state,
            "--rescan-interval", "0", *map(str, extra)]
    return bench.Server(name, argv, f"http://127.0.0.1:{port}/ready"), f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def servers(roots, work, *extra):
    """A cirrus server on each root at once: {name: base URL}."""
    with contextlib.ExitStack() as stack:
        bases = {}
        for name, (r, s3) in roots.items():
            server, base = cirrus(r, work, f"cirrus-s3-{name.replace(' ', '-')}", *extra,
                                  env=s3.cirrus_env() if s3 else ())
            stack.enter_context(server)
            bases[name] = base
        yield bases


def dataset_ids(base):
    with urllib.request.urlopen(f"{base}/datasets", timeout=60) as r:
        return sorted(d["id"] for d in json.load(r)["datasets"])


def python_read(kind, where):
    """zarr_case.READ in a fresh interpreter: {"seconds", "sha" (SHA-1 of the values), "shape"}."""
    out = subprocess.run([PYTHON, "-c", zarr_case.READ, kind, where], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def warm_page_cache(*paths):
    for p in paths:
        with open(p, "rb") as f:
            while f.read(1 << 22):
                pass


def chunk_table(path):
    """(offset, stored size) of every tas chunk, in time order."""
    import h5py

    with h5py.File(path, "r") as f:
        d = f["tas"]
        infos = [d.id.get_chunk_info(i) for i in range(d.id.get_num_chunks())]
    infos.sort(key=lambda c: c.chunk_offset)
    return [(c.byte_offset, c.size) for c in infos]


def case_s3(rows, repeat):
    root, path = bench.ensure_daily_drs(1, 1.0)
    prefix = os.path.basename(root)  # s3://bench/daily_1y_1.0deg/<the DRS path of the file>
    key = f"{prefix}/{os.path.relpath(path, root)}"
    work = tempfile.mkdtemp(prefix="cirrus-s3-bench-", dir="/tmp")
    try:
        s3root = os.path.join(work, "s3")
        etag = place(path, s3root, key)
        print(f"s3: object s3://{BUCKET}/{key} ({len(key)}-byte key); ETag side file "
              f"{'written' if etag else 'NOT written (name too long): every GET hashes the whole object'}; "
              f"cold = fresh server, the file and its S3 copy in the page cache", flush=True)
        warm_page_cache(path, os.path.join(s3root, BUCKET, key))
        shim = nodelay_shim(work)
        os.makedirs(bench.LOGS, exist_ok=True)
        with contextlib.ExitStack() as stack:
            s3 = {"S3": stack.enter_context(S3Fs(s3root, os.path.join(bench.LOGS, "s3s-fs.log")))}
            if shim:
                s3["S3 nodelay"] = stack.enter_context(
                    S3Fs(s3root, os.path.join(bench.LOGS, "s3s-fs-nodelay.log"), preload=shim))
            else:
                print("s3: no C compiler: s3s-fs with TCP_NODELAY not measured", flush=True)
            measure(rows, repeat, s3, root, path, f"s3://{BUCKET}/{prefix}", key, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(rows, repeat, s3, root, path, s3_url, key, work):
    size = os.path.getsize(path)
    chunks = chunk_table(path)
    nt = len(chunks)
    stored = sum(n for _, n in chunks)
    lat, lon = POINT
    dap2 = {  # label: (query, stored bytes of the chunks it needs)
        f"DAP2 whole tas {nt}x180x360": (".dods?tas", stored),
        "DAP2 one time step 1x180x360": (".dods?tas[0:1:0][0:1:179][0:1:359]", chunks[0][1]),
        f"DAP2 point series {nt}x1x1": (f".dods?tas[0:1:{nt - 1}][{lat}:1:{lat}][{lon}:1:{lon}]", stored),
    }
    zarr_label = "Zarr open_zarr(url).tas.values"
    labels = [*dap2, zarr_label]
    needed = {**{k: v[1] for k, v in dap2.items()}, zarr_label: stored}
    roots = {"local": (root, None), **{name: (s3_url, srv) for name, srv in s3.items()}}
    ref = python_read("netcdf4", path)

    def url(base, label):
        if label == zarr_label:
            return f"{base}/zarr/{dsid}"
        return f"{base}/opendap/{dsid}{dap2[label][0]}"

    def timed(base, label):
        """(seconds, response bytes) of one request (Zarr: the bytes of the stored chunks)."""
        if label == zarr_label:
            got = python_read("zarr", url(base, label))
            if got["sha"] != ref["sha"]:
                raise RuntimeError(f"{base}: the Zarr store does not give the file's values")
            return got["seconds"], stored
        return bench.fetch(url(base, label))

    # the same dataset and the same answers from every root: each DAP2 answer byte for
    # byte, the Zarr reads the file's values
    marks = {name: srv.mark() for name, srv in s3.items()}
    with servers(roots, work) as bases:
        startup = s3["S3"].since(marks["S3"])
        ids = {name: dataset_ids(b) for name, b in bases.items()}
        if len(ids["local"]) != 1 or any(i != ids["local"] for i in ids.values()):
            raise RuntimeError(f"the roots list different datasets: {ids}")
        dsid = ids["local"][0]
        for label in labels:
            if label == zarr_label:
                for base in bases.values():
                    timed(base, label)
                continue
            want = bench.body(url(bases["local"], label))
            for name in s3:
                if bench.body(url(bases[name], label)) != want:
                    raise RuntimeError(f"the local and {name} roots disagree on {label}")
    print(f"s3: every root lists {dsid}; DAP2 answers identical, Zarr reads equal to the file (netCDF4); "
          f"indexing on S3: {startup['list']} LIST, {startup['head']} HEAD, {startup['get']} GET "
          f"({startup['bytes'] / 1e3:.0f} kB)", flush=True)

    res = {}  # (label, mode, root): ([seconds], response bytes, S3 counts of the last one)

    def one(name, base, label, mode):
        m = s3[name].mark() if name in s3 else None
        t, n = timed(base, label)
        ts = res.get((label, mode, name), ([],))[0]
        res[(label, mode, name)] = (ts + [t], n, s3[name].since(m) if name in s3 else None)

    # cold: a fresh server per request, root and repetition
    for _ in range(repeat):
        for label in labels:
            for name in roots:
                with servers({name: roots[name]}, work) as bases:
                    one(name, bases[name], label, "cold")
    # warm: the chunk cache (256 MB) hot; then servers without a chunk cache
    for mode, extra in zip(MODES[1:], ((), ("--chunk-cache-bytes", "0"))):
        with servers(roots, work, *extra) as bases:
            for label in labels:
                for base in bases.values():
                    timed(base, label)  # the first read
                for _ in range(repeat):
                    for name, base in bases.items():
                        one(name, base, label, mode)

    # the physical limit: s3s-fs alone over loopback (curl), and the page cache
    page = zarr_case.page_cache_rate(path)
    full_ranges = res[(labels[0], "cold", "S3")][2]["ranges"]
    raw = {}
    for name, srv in s3.items():
        raw[name] = {
            "one": statistics.median(srv.get_seq(key, [None])[0] for _ in range(repeat)),
            "par": statistics.median(srv.get_parallel(key, size, 8)[0] for _ in range(repeat)),
            "replay": statistics.median(srv.get_seq(key, full_ranges)[0] for _ in range(repeat)),
            # 40 chunks one after another on one connection: the mean (stalls included)
            "chunk": statistics.mean(srv.get_seq(key, [(a, a + n) for a, n in chunks[:41]])[1][1:]),
        }

    names = list(s3)
    head = "".join(f" {n + ' s':>14}" for n in names) + "".join(f" {n + '/local':>16}" for n in names)
    print(f"\ns3: {'request':<42} {'mode':<21} {'bytes':>9} {'local s':>8}{head} {'local MB/s':>10} "
          f"{'S3 MB/s':>8} {'GETs':>5} {'MB from S3':>10}")
    for label in labels:
        for mode in MODES:
            tl, n, _ = res[(label, mode, "local")]
            ml = statistics.median(tl)
            med = {name: statistics.median(res[(label, mode, name)][0]) for name in names}
            st = res[(label, mode, "S3")][2]
            cols = "".join(f" {med[x]:>14.4f}" for x in names) + "".join(f" {med[x] / ml:>15.2f}x" for x in names)
            print(f"s3: {label:<42} {mode:<21} {n:>9} {ml:>8.4f}{cols} {n / ml / 1e6:>10.1f} "
                  f"{n / med['S3'] / 1e6:>8.1f} {st['get']:>5} {st['bytes'] / 1e6:>10.2f}")
            for name in names:
                case = "s3s-fs vs local" if name == "S3" else "nodelay vs local"
                rows.append((case, f"{label}, {mode}", n, ml, med[name], med[name] / ml))
            rows.append(("S3 GETs, MB", f"{label}, {mode}", st["bytes"], st["get"], st["bytes"] / 1e6,
                         st["bytes"] / needed[label]))
            for name in names:
                o = res[(label, mode, name)][2]
                if o["failed"] or o["list"] or o["head"] or o["other"] or (o["get"], o["bytes"]) != (
                        st["get"], st["bytes"]):
                    print(f"s3:   {name}: {o['get']} GET, {o['bytes']} bytes, {o['list']} LIST, {o['head']} HEAD,"
                          f" {o['other']} other, {o['failed']} failed", flush=True)
    nd = names[-1]  # the TCP_NODELAY server when there is one
    rows.append(("s3s-fs alone", "whole object, 1 GET (MB/s)", size, size / raw["S3"]["one"] / 1e6,
                 size / raw[nd]["one"] / 1e6, None))
    rows.append(("s3s-fs alone", "whole object, 8 ranged GETs at once (MB/s)", size, size / raw["S3"]["par"] / 1e6,
                 size / raw[nd]["par"] / 1e6, None))
    rows.append(("s3s-fs alone", f"cirrus's {len(full_ranges)} GETs of the whole tas, in turn (s)",
                 sum(b - a for a, b in full_ranges), raw["S3"]["replay"], raw[nd]["replay"], None))
    rows.append(("s3s-fs alone", "a chunk's GET, kept-alive connection (s, mean)", chunks[0][1], raw["S3"]["chunk"],
                 raw[nd]["chunk"], None))
    rows.append(("page cache", "read of the file (MB/s)", size, page / 1e6, None, None))
    print()
    for name in names:
        r = raw[name]
        print(f"s3: {name} alone (curl): the whole object ({size / 1e6:.1f} MB) {r['one']:.3f} s with one GET "
              f"({size / r['one'] / 1e6:.0f} MB/s), {r['par']:.3f} s with 8 ranged GETs at once "
              f"({size / r['par'] / 1e6:.0f} MB/s); cirrus's {len(full_ranges)} GETs of the cold whole tas "
              f"replayed in turn on one connection {r['replay']:.3f} s; a chunk's GET ({chunks[0][1] / 1e3:.0f} "
              f"kB) on a kept-alive connection {r['chunk'] * 1e3:.1f} ms (mean of 40)", flush=True)
    print(f"s3: page cache {page / 1e6:.0f} MB/s", flush=True)
    print("s3: rows 's3s-fs vs local', 'nodelay vs local' (seconds): cirrus = local root, peer = the S3 root "
          "on s3s-fs (with TCP_NODELAY), ratio S3/local (> 1: S3 slower); 'S3 GETs, MB': cirrus = GETs s3s-fs "
          "answered, peer = MB it sent, ratio = those bytes / the "
          f"stored bytes of the chunks the request needs; 's3s-fs alone': cirrus = s3s-fs, peer = {nd}", flush=True)


if __name__ == "__main__":
    r = []
    case_s3(r, int(sys.argv[1]) if len(sys.argv) > 1 else 5)
    print(bench.table(r))
