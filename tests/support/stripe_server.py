"""A throwaway localstripe server for tests, plus a Stripe webhook signer.

``LocalStripe`` runs localstripe (PyPI) in a child process of the current
interpreter, listening on 127.0.0.1 only, on a port chosen by the kernel.
Compared with ``localstripe --port N`` the child:

* never reads or writes ``/tmp/localstripe.pickle`` (plain localstripe shares
  that file between every instance on the machine), so each server starts
  empty and parallel test sessions cannot see each other's data;
* optionally replays responses for a repeated ``Idempotency-Key`` the way
  Stripe does (plain localstripe ignores the header), see ``idempotency``.

See docs/stripe-localstripe.md for what localstripe does and does not support.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

API_KEY = "sk_test_localstripe"
"""Any key starting with ``sk_`` is accepted by localstripe."""


def sign_webhook(payload: bytes | str, secret: str, timestamp: int | None = None) -> str:
    """Return a ``Stripe-Signature`` header value for ``payload``.

    The scheme is Stripe's: ``t=<unix time>,v1=<hex HMAC-SHA256 of
    "<t>.<payload>" keyed with the endpoint secret>``.
    """
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    t = int(time.time()) if timestamp is None else timestamp
    signature = hmac.new(
        secret.encode("utf-8"), b"%d.%s" % (t, payload), hashlib.sha256
    ).hexdigest()
    return f"t={t},v1={signature}"


class LocalStripe:
    """A localstripe child process on 127.0.0.1, usable as a context manager.

    Point the SDK at it with::

        stripe.StripeClient(API_KEY, base_addresses={"api": server.api_base})
    """

    def __init__(self, *, idempotency: bool = True, startup_timeout: float = 60.0) -> None:
        """``idempotency=False`` gives localstripe's own behaviour: a repeated
        ``Idempotency-Key`` executes the request again."""
        self.idempotency = idempotency
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self._log_path: Path | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("LocalStripe is not running")
        return self._port

    @property
    def api_base(self) -> str:
        """Value for ``base_addresses={"api": ...}``, e.g. http://127.0.0.1:PORT."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalStripe:
        """Start the server and return once it answers HTTP requests."""
        if self._process is not None:
            raise RuntimeError("LocalStripe is already running")
        try:
            self._spawn()
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(128)
            fd, log_name = tempfile.mkstemp(prefix="localstripe-", suffix=".log")
            self._log_path = Path(log_name)
            command = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--fd",
                str(listener.fileno()),
            ]
            if not self.idempotency:
                command.append("--no-idempotency")
            with os.fdopen(fd, "wb") as log:
                self._process = subprocess.Popen(
                    command,
                    stdin=subprocess.PIPE,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    pass_fds=(listener.fileno(),),
                )
            self._port = listener.getsockname()[1]

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"localstripe exited with code {self._process.returncode}:\n" + self.log()
                )
            try:
                self._request("GET", "/v1/balance", timeout=1)
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"localstripe did not answer within {self.startup_timeout}s:\n" + self.log()
                    ) from None
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s) and drop its log."""
        process, self._process = self._process, None
        if process is not None and process.stdin is not None:
            process.stdin.close()
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._port = None
        if self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
            self._log_path = None

    def log(self) -> str:
        """The server's access log and tracebacks so far."""
        if self._log_path is None or not self._log_path.exists():
            return ""
        return self._log_path.read_text(errors="replace")

    def register_webhook(
        self,
        url: str,
        secret: str,
        events: Iterable[str] | None = None,
        name: str = "default",
    ) -> None:
        """Make localstripe POST signed events to ``url``.

        ``events=None`` sends every event type. Registering the same ``name``
        again replaces it. Delivery happens about one second after the API call.
        """
        body: dict[str, Any] = {"url": url, "secret": secret}
        if events is not None:
            body["events"] = list(events)
        status, text = self._request("POST", f"/_config/webhooks/{name}", body)
        if status != 200:
            raise RuntimeError(f"localstripe refused the webhook: {status} {text}")

    def slow_down(self, seconds: float, prefix: str = "/v1/payment_intents") -> None:
        """Answer every request under `prefix` `seconds` late (0: at once again)."""
        status, text = self._request(
            "POST", "/_config/delay", {"seconds": seconds, "prefix": prefix}
        )
        if status != 200:
            raise RuntimeError(f"localstripe refused the delay: {status} {text}")

    def reset(self) -> None:
        """Delete every object (customers, intents, ...) and replayable
        idempotency keys; registered webhooks stay."""
        status, text = self._request("DELETE", "/_config/data")
        if status != 200:
            raise RuntimeError(f"localstripe did not reset: {status} {text}")

    def _request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        timeout: float = 10,
    ) -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(
                method,
                path,
                body=None if body is None else json.dumps(body),
                headers={"Content-Type": "application/json"},
            )
            response = connection.getresponse()
            return response.status, response.read().decode("utf-8", "replace")
        finally:
            connection.close()

    def __enter__(self) -> LocalStripe:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _idempotency_middleware() -> Any:
    """aiohttp middleware replaying the first response for a repeated key.

    Like Stripe: same key and same request body replays the saved status and
    body with ``Idempotent-Replayed: true``; same key with a different method,
    path or body is a 400 ``idempotency_error``; a key whose first request is
    still running is a 409. Unhandled localstripe crashes are not saved.
    """
    from aiohttp import web

    saved: dict[str, tuple[tuple[str, str, bytes], int, bytes, str]] = {}
    running: set[str] = set()

    def error(status: int, message: str, code: str | None = None) -> Any:
        body: dict[str, Any] = {"type": "idempotency_error", "message": message}
        if code:
            body["code"] = code
        return web.json_response({"error": body}, status=status)

    @web.middleware
    async def middleware(request: Any, handler: Any) -> Any:
        if request.path == "/_config/data" and request.method == "DELETE":
            saved.clear()
        key = request.headers.get("Idempotency-Key")
        if not key or request.method != "POST" or request.path.startswith("/_config/"):
            return await handler(request)
        fingerprint = (request.method, request.path, await request.read())
        if key in running:
            return error(
                409,
                "There is currently another in-progress request using this "
                "Idempotent Key (that probably means you submitted twice, and "
                "the other request is still going through): " + key,
                "idempotency_key_in_use",
            )
        if key in saved:
            first, status, body, content_type = saved[key]
            if first != fingerprint:
                return error(
                    400,
                    "Keys for idempotent requests can only be used with the "
                    "same parameters they were first used with. Try using a "
                    f"key other than '{key}' if you meant to execute a "
                    "different request.",
                )
            response = web.Response(status=status, body=body, content_type=content_type)
            response.headers["Idempotent-Replayed"] = "true"
            return response
        running.add(key)
        try:
            response = await handler(request)
            if response.status != 401:
                saved[key] = (fingerprint, response.status, response.body, response.content_type)
            return response
        finally:
            running.discard(key)

    return middleware


def _delay_middleware() -> Any:
    """aiohttp middleware making chosen calls slow: a Stripe that answers late.

    ``POST /_config/delay {"seconds": 0.5, "prefix": "/v1/payment_intents"}`` delays
    every later request whose path starts with the prefix; seconds 0 turns it off.
    """
    import asyncio

    from aiohttp import web

    delay: dict[str, Any] = {"seconds": 0.0, "prefix": ""}

    @web.middleware
    async def middleware(request: Any, handler: Any) -> Any:
        if request.path == "/_config/delay" and request.method == "POST":
            body = await request.json()
            delay.update(seconds=float(body.get("seconds", 0)), prefix=body.get("prefix", "/"))
            return web.json_response(delay)
        if delay["seconds"] and request.path.startswith(delay["prefix"]):
            await asyncio.sleep(delay["seconds"])
        return await handler(request)

    return middleware


def _exit_with_parent() -> None:
    """Stop the child once its stdin pipe closes, i.e. when the test process dies."""
    sys.stdin.buffer.read()
    os.kill(os.getpid(), signal.SIGTERM)


def _serve(fd: int, idempotency: bool) -> None:
    """Child process: serve localstripe on the inherited listening socket."""
    import logging

    from aiohttp import web

    from billdesk.stripe_dev import keep_store_in_memory, make_localstripe_stripe_like

    make_localstripe_stripe_like()
    from localstripe import server

    keep_store_in_memory()
    server.app.middlewares.insert(0, _delay_middleware())
    if idempotency:
        server.app.middlewares.insert(0, _idempotency_middleware())
    access_log = logging.getLogger("aiohttp.access")
    access_log.setLevel(logging.INFO)
    access_log.addHandler(logging.StreamHandler())
    listener = socket.socket(fileno=fd)
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    web.run_app(server.app, sock=listener, access_log=access_log, shutdown_timeout=1, print=None)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=_serve.__doc__)
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--no-idempotency", action="store_true")
    arguments = parser.parse_args()
    _serve(arguments.fd, idempotency=not arguments.no_idempotency)
