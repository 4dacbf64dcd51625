"""A smart-HTTP git server on loopback (`git http-backend` behind basic auth), like GitHub's.

Only `x-access-token:<token>` gets in; everything else is 401 with a Basic challenge, so a git
client that does not send the token fails (prompts are off) instead of asking. With no token,
everyone gets in. `token` may be a function saying whether a token is good (a GitHub App's
installation tokens, which expire: `SandboxGitHub.installation_token_valid`).
`authorizations` records the Authorization header of every request. A
repository whose config says `http.receivepack false` refuses pushes (403), as a read-only
remote does.
"""

from __future__ import annotations

import base64
import os
import subprocess
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sandbox.loopback import BackgroundHTTPServer


class GitHTTPServer(BackgroundHTTPServer):
    thread_name = "test-git-http"

    def __init__(self, root: Path, token: str | Callable[[str], bool]) -> None:
        super().__init__()
        self.root = root
        self.token = token
        self.authorizations: list[str] = []
        self._lock = threading.Lock()

    def _make_handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        def accepted(auth: str) -> bool:
            if callable(outer.token):
                scheme, _, encoded = auth.partition(" ")
                try:
                    user, _, token = base64.b64decode(encoded).decode().partition(":")
                except ValueError:
                    return False
                return scheme == "Basic" and user == "x-access-token" and outer.token(token)
            return auth == "Basic " + base64.b64encode(f"x-access-token:{outer.token}".encode()).decode()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().strip().split(b";")[0], 16)
                        if size == 0:
                            self.rfile.readline()
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _serve(self, method: str) -> None:
                body = self._body()
                auth = self.headers.get("Authorization", "")
                with outer._lock:
                    outer.authorizations.append(auth)
                if outer.token and not accepted(auth):
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="GitHub"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                url = urlsplit(self.path)
                env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
                env.update(
                    {
                        "GIT_PROJECT_ROOT": str(outer.root),
                        "GIT_HTTP_EXPORT_ALL": "1",
                        "GIT_CONFIG_NOSYSTEM": "1",
                        "GIT_CONFIG_GLOBAL": os.devnull,
                        "PATH_INFO": url.path,
                        "QUERY_STRING": url.query,
                        "REQUEST_METHOD": method,
                        "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                        "CONTENT_LENGTH": str(len(body)),
                        "REMOTE_USER": "x-access-token",
                        "REMOTE_ADDR": "127.0.0.1",
                        "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
                    }
                )
                if self.headers.get("Content-Encoding"):
                    env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
                done = subprocess.run(
                    ["git", "http-backend"], input=body, env=env, capture_output=True, timeout=60, check=False
                )
                head, _, payload = done.stdout.partition(b"\r\n\r\n")
                status = 200
                headers: list[tuple[str, str]] = []
                for line in head.decode("latin-1").split("\r\n"):
                    key, _, value = line.partition(":")
                    if key.lower() == "status":
                        status = int(value.strip().split()[0])
                    elif key:
                        headers.append((key, value.strip()))
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:  # noqa: N802
                self._serve("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._serve("POST")

        return Handler
