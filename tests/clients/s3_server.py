"""A real S3 server for the S3 data root tests (test_s3.py), and a fault proxy.

- `S3Server`: s3s-fs (crates.io, an S3 HTTP server over a local directory; installed by
  scripts/deps.sh `need_s3_server` into target/tools, or $CIRRUS_S3_SERVER) on 127.0.0.1,
  on a free port, over a temporary directory, with SigV4 authentication (an access key
  and a secret key). Objects are written with a real S3 client (boto3), never by
  copying files into its directory. `stop()` kills the process (SIGKILL, like a crash or
  a network cut); `start()` brings it back on the same port and directory.
- `FaultProxy`: a threaded HTTP proxy on 127.0.0.1 in front of it, whose mode the tests
  switch: `pass` (forward; the Host header, hence the SigV4 signature, unchanged),
  `error500` (answer every request with an S3 InternalError, 500), `hang` (read the
  request and never answer, until the mode changes or `hang_seconds` pass) and `close`
  (read the request and close the connection without an answer).
"""

from __future__ import annotations

import base64
import collections
import http.client
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
ACCESS_KEY = "cirrus-test-access"
# distinctive, so that a test can look for it in logs and error messages
SECRET_KEY = "cirrus-test-secret-Qx7mV2pL9wZ4"
REGION = "us-east-1"
START_TIMEOUT = 30.0


def s3s_fs_bin() -> Path:
    """The s3s-fs binary: $CIRRUS_S3_SERVER, else target/tools/bin/s3s-fs."""
    p = Path(os.environ.get("CIRRUS_S3_SERVER") or REPO / "target" / "tools" / "bin" / "s3s-fs")
    if not p.is_file() or not os.access(p, os.X_OK):
        raise FileNotFoundError(
            f"the S3 server s3s-fs was not found at {p}: install it with `source scripts/deps.sh; "
            f"need_s3_server` (cargo install s3s-fs@0.14.1 --locked --features binary --root "
            f"{REPO / 'target' / 'tools'}) or point CIRRUS_S3_SERVER at it"
        )
    return p


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Server:
    """`with S3Server() as s3: s3.url` -> http://127.0.0.1:PORT (path-style buckets)."""

    def __init__(self, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY):
        self.binary = s3s_fs_bin()
        self.access_key = access_key
        self.secret_key = secret_key
        self.dir = Path(tempfile.mkdtemp(prefix="cirrus-s3-"))
        self.root = self.dir / "data"
        self.root.mkdir()
        self.log_path = self.dir / "s3s-fs.log"
        self.port = _free_port()
        self.proc: subprocess.Popen | None = None
        self._log = None

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> "S3Server":
        cmd = [str(self.binary), "--host", "127.0.0.1", "--port", str(self.port),
               "--access-key", self.access_key, "--secret-key", self.secret_key, str(self.root)]
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "s3s_fs=info,s3s=info")
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            self._log = open(self.log_path, "ab")
            self._log.write(f"\n$ {' '.join(cmd)}\n".encode())
            self._log.flush()
            self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env)
            while time.monotonic() < deadline and self.proc.poll() is None:
                if self.answers():
                    return self
                time.sleep(0.05)
            self._close_log()
            if self.proc.poll() is None:
                self.stop()
                raise RuntimeError(f"s3s-fs did not answer on {self.url} within {START_TIMEOUT:.0f} s:\n"
                                   f"{self.log_tail()}")
            # exited: on a restart the port may still be held for a moment; try again
            if time.monotonic() >= deadline:
                raise RuntimeError(f"s3s-fs exited (code {self.proc.returncode}):\n{self.log_tail()}")
            time.sleep(0.2)

    def answers(self) -> bool:
        """An HTTP answer (403 without credentials) on the port."""
        try:
            requests.get(self.url + "/", timeout=1)
            return True
        except requests.RequestException:
            return False

    def stop(self):
        """Kill the server (SIGKILL: it gets no chance to finish anything)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._close_log()

    def _close_log(self):
        if self._log is not None:
            self._log.close()
            self._log = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    # ---------------------------------------------------------------- S3 client
    def client(self, endpoint: str | None = None, secret_key: str | None = None):
        """A boto3 S3 client of this server (path-style addressing)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=endpoint or self.url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            region_name=REGION,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2, "mode": "standard"},
                          connect_timeout=5, read_timeout=30),
        )

    def create_bucket(self, bucket: str):
        self.client().create_bucket(Bucket=bucket)

    def upload_tree(self, src: Path, bucket: str, prefix: str) -> dict[str, Path]:
        """Every file under `src` to `prefix/<path relative to src>` (PutObject):
        {key: local file}."""
        c = self.client()
        out = {}
        for f in sorted(p for p in Path(src).rglob("*") if p.is_file()):
            rel = f.relative_to(src).as_posix()
            key = f"{prefix.strip('/')}/{rel}" if prefix.strip("/") else rel
            self.put_file(c, bucket, key, f)
            out[key] = f
        return out

    def put_file(self, c, bucket: str, key: str, f: Path):
        """PutObject of a local file.

        s3s-fs 0.14.1 (0.17.0 too) keeps each object's attributes in a side file at the
        top of its directory named `.bucket-<base64 bucket>.object-<base64 key>.metadata.json`;
        for keys longer than about 164 bytes (the ESGF CORDEX paths are up to 187) that
        name exceeds the 255-byte file name limit, and PutObject answers 500
        InternalError ("File name too long") *after* the object itself has been stored
        (its reads never need the side file). Only in that case, the upload is checked
        through S3 instead: HeadObject's size and a GetObject of the whole object must
        equal the file, else the error stands."""
        from botocore.exceptions import ClientError

        data = f.read_bytes()
        try:
            c.put_object(Bucket=bucket, Key=key, Body=data)
            return
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") != "InternalError" or not side_file_too_long(bucket, key):
                raise
            err = e
        head = c.head_object(Bucket=bucket, Key=key)
        got = c.get_object(Bucket=bucket, Key=key)["Body"].read()
        if head["ContentLength"] != len(data) or got != data:
            raise RuntimeError(f"PutObject {bucket}/{key} failed ({err}) and the object is not stored intact")

    def list_keys(self, bucket: str, prefix: str = "") -> dict[str, int]:
        """{key: size} of every object under `prefix` (all pages)."""
        out = {}
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for o in page.get("Contents", []):
                out[o["Key"]] = o["Size"]
        return out

    def cirrus_env(self, endpoint: str | None = None, secret_key: str | None = None) -> dict:
        """The environment of a `cirrus serve` process on this server (None: unset)."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": secret_key or self.secret_key,
            "AWS_ENDPOINT_URL": endpoint or self.url,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ALLOW_HTTP": "true",
            # nothing from the environment of the test run may take precedence
            "AWS_SESSION_TOKEN": None,
            "AWS_PROFILE": None,
            "AWS_ENDPOINT_URL_S3": None,
            "AWS_CONFIG_FILE": None,
            "AWS_SHARED_CREDENTIALS_FILE": None,
        }


def side_file_too_long(bucket: str, key: str) -> bool:
    """Whether s3s-fs's attribute side file name for this key exceeds 255 bytes."""
    b64 = lambda s: base64.urlsafe_b64encode(s.encode()).decode().rstrip("=")  # noqa: E731
    return len(f".bucket-{b64(bucket)}.object-{b64(key)}.metadata.json".encode()) > 255


# --------------------------------------------------------------------------- fault proxy

MODES = ("pass", "error500", "hang", "close")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}
ERROR_500 = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code>'
             b"<Message>We encountered an internal error. Please try again. (injected by the test proxy)"
             b"</Message></Error>")


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - quiet
        pass

    def _handle(self):
        proxy: FaultProxy = self.server.proxy  # type: ignore[attr-defined]
        mode = proxy.mode
        proxy.record(mode, self.command, self.path)
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        if mode == "close":
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if mode == "hang":
            proxy.release.wait(proxy.hang_seconds)
            self.close_connection = True
            return
        if mode == "error500":
            self.send_response_only(500, "Internal Server Error")
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(ERROR_500)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(ERROR_500)
            return
        # pass: forward as is (Host too: the SigV4 signature covers it)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=60)
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for k, v in self.headers.items():
                if k.lower() not in HOP_BY_HOP:
                    conn.putheader(k, v)
            conn.endheaders(body)
            resp = conn.getresponse()
            data = resp.read()
            headers = resp.getheaders()
            conn.close()
        except OSError as e:
            msg = f"test proxy: upstream 127.0.0.1:{proxy.upstream_port} failed: {e}".encode()
            self.send_response_only(502, "Bad Gateway")
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(msg)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(msg)
            return
        self.send_response_only(resp.status, resp.reason)
        for k, v in headers:
            kl = k.lower()
            if kl in HOP_BY_HOP or (kl == "content-length" and self.command != "HEAD"):
                continue
            self.send_header(k, v)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _handle


class FaultProxy:
    """`FaultProxy(upstream_port)`: a proxy on 127.0.0.1:`port`; `set_mode(...)` switches it."""

    def __init__(self, upstream_port: int, hang_seconds: float = 120.0):
        self.upstream_port = upstream_port
        self.hang_seconds = hang_seconds
        self.mode = "pass"
        self.release = threading.Event()
        self.release.set()
        self.counts: collections.Counter = collections.Counter()
        self.requests: list[tuple[str, str, str]] = []  # (mode, method, path)
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _ProxyHandler)
        self.httpd.daemon_threads = True
        self.httpd.proxy = self  # type: ignore[attr-defined]
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="s3-fault-proxy", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def record(self, mode, method, path):
        with self._lock:
            self.counts[mode] += 1
            self.requests.append((mode, method, path))

    def set_mode(self, mode: str):
        assert mode in MODES, mode
        if mode == "hang":
            self.release.clear()
        self.mode = mode
        if mode != "hang":
            self.release.set()  # requests held by `hang` end now (connection closed)

    def stop(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
