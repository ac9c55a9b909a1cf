"""Python client for Custos, the wallet and signing service for autonomous agents.

The typed API (every endpoint as a function, every body and answer as a model) is generated
from the server's OpenAPI document into ``custos_client.generated`` (``scripts/gen-clients.sh``;
a test fails when it is stale). This module adds what a generator cannot know:

- ``connect(base_url, token)``: an authenticated client whose transport retries safely —
  ``429`` after ``Retry-After``, ``409 idempotency_conflict`` (the first attempt is still
  running) and, for ``GET`` or a request carrying an ``Idempotency-Key``, ``503`` and connection
  errors — resending the *same* request, so the same key: a retried action can never act twice.
- ``new_idempotency_key()``: one key per intended action.
- ``CustosError``: a non-2xx answer with its ``code``, ``field`` and policy ``rules``.
"""
from __future__ import annotations

import json
import time
import uuid
from typing import Any, Callable

import httpx

from .generated import api, models  # noqa: F401  (re-exported)
from .generated.client import AuthenticatedClient, Client

__all__ = [
    "AuthenticatedClient",
    "Client",
    "CustosError",
    "RetryTransport",
    "api",
    "connect",
    "models",
    "new_idempotency_key",
    "raise_for_error",
]

#: Longest wait honoured from one ``Retry-After``, seconds.
MAX_RETRY_AFTER = 60.0


def new_idempotency_key() -> str:
    """A fresh key for one intended action (reuse it only to retry that action)."""
    return str(uuid.uuid4())


class CustosError(Exception):
    """A non-2xx answer: ``status``, ``code``, ``message``, ``field`` and, for ``policy_denied``,
    the ``rules`` that refused."""

    def __init__(self, status: int, body: Any):
        err = body.get("error", {}) if isinstance(body, dict) else {}
        self.status = status
        self.code = err.get("code", "unknown")
        self.message = err.get("message", "")
        self.field = err.get("field")
        reasons = (err.get("details") or {}).get("reasons") or []
        self.rules = [r.get("rule") for r in reasons if isinstance(r, dict)]
        super().__init__(f"{self.code} ({status}): {self.message}")


def raise_for_error(response: httpx.Response) -> httpx.Response:
    """Raises ``CustosError`` for a non-2xx answer; returns the response otherwise."""
    if response.status_code >= 300:
        try:
            body = response.json()
        except (json.JSONDecodeError, ValueError):
            body = {}
        raise CustosError(response.status_code, body)
    return response


def _retry_after(response: httpx.Response, attempt: int) -> float:
    try:
        wait = float(response.headers.get("retry-after", ""))
    except ValueError:
        wait = min(0.25 * 2**attempt, 8.0)
    return max(0.0, min(wait, MAX_RETRY_AFTER))


def _in_progress(response: httpx.Response) -> bool:
    if response.status_code != 409:
        return False
    try:
        return response.json().get("error", {}).get("code") == "idempotency_conflict"
    except (json.JSONDecodeError, ValueError, AttributeError):
        return False


class RetryTransport(httpx.BaseTransport):
    """Resends a request (the same bytes, so the same ``Idempotency-Key``) when that is safe."""

    def __init__(
        self,
        inner: httpx.BaseTransport | None = None,
        attempts: int = 5,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._inner = inner or httpx.HTTPTransport()
        self._attempts = attempts
        self._sleep = sleep

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        # A GET has no effect, and a keyed action's retry returns the first answer: both may be
        # resent after anything. An unkeyed POST only after a refusal that ran nothing (429).
        repeatable = request.method == "GET" or "idempotency-key" in request.headers
        request.read()
        for attempt in range(self._attempts):
            last = attempt == self._attempts - 1
            try:
                response = self._inner.handle_request(request)
            except httpx.TransportError:
                if not repeatable or last:
                    raise
                self._sleep(min(0.25 * 2**attempt, 8.0))
                continue
            retry = response.status_code == 429 or _in_progress(response)
            retry = retry or (repeatable and response.status_code in (502, 503, 504))
            if not retry or last:
                return response
            response.read()
            response.close()
            self._sleep(_retry_after(response, attempt))
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._inner.close()


class _RedactedClient(AuthenticatedClient):
    """The generated client, whose ``repr`` does not print the token."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"AuthenticatedClient(base_url={self._base_url!r}, token=<redacted>)"


def connect(base_url: str, token: str, timeout: float = 60.0, **retry: Any) -> AuthenticatedClient:
    """A client for ``base_url`` sending ``Authorization: Bearer <token>``, retrying safely."""
    return _RedactedClient(
        base_url=base_url.rstrip("/"),
        token=token,
        timeout=httpx.Timeout(timeout),
        raise_on_unexpected_status=False,
        httpx_args={"transport": RetryTransport(**retry)},
    )
