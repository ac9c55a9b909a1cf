"""RetryTransport: what it resends, with which key, and what it never resends."""
import os
import sys
import unittest

import httpx

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from custos_client import CustosError, RetryTransport, raise_for_error  # noqa: E402


class Script(httpx.BaseTransport):
    """Answers with the given responses in order and records every request it saw."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.seen = []

    def handle_request(self, request):
        self.seen.append((request.method, request.headers.get("idempotency-key"), request.read()))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def error(status, code, **headers):
    return httpx.Response(status, json={"error": {"code": code, "message": code}}, headers=headers)


class RetryTransportTest(unittest.TestCase):
    def client(self, script):
        self.waits = []
        return httpx.Client(base_url="http://custos.test",
                            transport=RetryTransport(script, sleep=self.waits.append))

    def test_429_is_resent_with_the_same_key_after_retry_after(self):
        script = Script(error(429, "rate_limited", **{"retry-after": "2"}),
                        httpx.Response(200, json={"tx": "abc"}))
        r = self.client(script).post("/v1/wallets/me/actions/transfer", json={"amount": "1"},
                                     headers={"Idempotency-Key": "k-1"})
        self.assertEqual(r.json(), {"tx": "abc"})
        self.assertEqual(len(script.seen), 2)
        self.assertEqual(script.seen[0], script.seen[1])
        self.assertEqual(script.seen[1][1], "k-1")
        self.assertEqual(self.waits, [2.0])

    def test_a_keyed_action_in_progress_or_unavailable_is_resent(self):
        script = Script(error(409, "idempotency_conflict"), error(503, "unavailable"),
                        httpx.ConnectError("refused"), httpx.Response(200, json={}))
        r = self.client(script).post("/x", json={}, headers={"Idempotency-Key": "k-2"})
        self.assertEqual(r.status_code, 200)
        self.assertEqual([s[1] for s in script.seen], ["k-2"] * 4)

    def test_an_unkeyed_post_is_not_resent_after_it_may_have_run(self):
        script = Script(error(503, "unavailable"))
        r = self.client(script).post("/x", json={})
        self.assertEqual(r.status_code, 503)
        self.assertEqual(len(script.seen), 1)
        script = Script(httpx.ConnectError("refused"))
        with self.assertRaises(httpx.ConnectError):
            self.client(script).post("/x", json={})
        self.assertEqual(len(script.seen), 1)

    def test_a_denial_is_never_resent_and_names_the_rules(self):
        denial = httpx.Response(403, json={"error": {
            "code": "policy_denied", "message": "denied by policy: limits.per_tx_usd",
            "details": {"reasons": [{"rule": "limits.per_tx_usd", "message": "over"}]}}})
        script = Script(denial)
        r = self.client(script).post("/x", json={}, headers={"Idempotency-Key": "k-3"})
        self.assertEqual(len(script.seen), 1)
        with self.assertRaises(CustosError) as e:
            raise_for_error(r)
        self.assertEqual((e.exception.code, e.exception.rules), ("policy_denied", ["limits.per_tx_usd"]))

    def test_attempts_are_bounded(self):
        script = Script(*[error(429, "rate_limited", **{"retry-after": "0"})] * 3)
        transport = RetryTransport(script, attempts=3, sleep=lambda s: None)
        r = httpx.Client(base_url="http://custos.test", transport=transport).get("/v1/wallets/me")
        self.assertEqual(r.status_code, 429)
        self.assertEqual(len(script.seen), 3)


if __name__ == "__main__":
    unittest.main()
