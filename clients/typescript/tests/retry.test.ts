/** retryingFetch: what it resends, with which key, and what it never resends. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { CustosError, expectOk, retryingFetch } from "../src/index.js";

type Answer = Response | Error;

function script(...answers: Answer[]) {
  const seen: { method: string; key: string | null; body: string }[] = [];
  const inner = async (r: Request) => {
    seen.push({ method: r.method, key: r.headers.get("idempotency-key"), body: await r.text() });
    const a = answers.shift();
    if (a === undefined) throw new Error("no more answers");
    if (a instanceof Error) throw a;
    return a;
  };
  return { seen, inner };
}

function error(status: number, code: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ error: { code, message: code } }), { status, headers });
}

function post(key?: string): Request {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (key) headers["Idempotency-Key"] = key;
  return new Request("http://custos.test/x", { method: "POST", headers, body: '{"amount":"1"}' });
}

test("429 is resent with the same key and body after Retry-After", async () => {
  const waits: number[] = [];
  const s = script(error(429, "rate_limited", { "retry-after": "2" }), new Response('{"tx":"abc"}'));
  const f = retryingFetch({ inner: s.inner, sleep: async (ms) => void waits.push(ms) });
  const r = await f(post("k-1"));
  assert.deepEqual(await r.json(), { tx: "abc" });
  assert.equal(s.seen.length, 2);
  assert.deepEqual(s.seen[0], s.seen[1]);
  assert.equal(s.seen[1].key, "k-1");
  assert.deepEqual(waits, [2000]);
});

test("a keyed action in progress, unavailable or unreachable is resent", async () => {
  const s = script(
    error(409, "idempotency_conflict"),
    error(503, "unavailable"),
    new TypeError("fetch failed"),
    new Response("{}"),
  );
  const r = await retryingFetch({ inner: s.inner, sleep: async () => {} })(post("k-2"));
  assert.equal(r.status, 200);
  assert.deepEqual(s.seen.map((x) => x.key), ["k-2", "k-2", "k-2", "k-2"]);
});

test("an unkeyed POST is not resent after it may have run", async () => {
  const s = script(error(503, "unavailable"));
  const r = await retryingFetch({ inner: s.inner, sleep: async () => {} })(post());
  assert.equal(r.status, 503);
  assert.equal(s.seen.length, 1);
  const t = script(new TypeError("fetch failed"));
  await assert.rejects(retryingFetch({ inner: t.inner, sleep: async () => {} })(post()));
  assert.equal(t.seen.length, 1);
});

test("a denial is never resent and names its rules", async () => {
  const body = { error: { code: "policy_denied", message: "denied",
    details: { reasons: [{ rule: "limits.per_tx_usd", message: "over" }] } } };
  const s = script(new Response(JSON.stringify(body), { status: 403 }));
  const r = await retryingFetch({ inner: s.inner, sleep: async () => {} })(post("k-3"));
  assert.equal(s.seen.length, 1);
  assert.throws(
    () => expectOk({ error: body, response: r }),
    (e: unknown) => e instanceof CustosError && e.code === "policy_denied" &&
      e.rules.join() === "limits.per_tx_usd",
  );
});

test("attempts are bounded", async () => {
  const s = script(...[1, 2, 3].map(() => error(429, "rate_limited", { "retry-after": "0" })));
  const r = await retryingFetch({ inner: s.inner, attempts: 3, sleep: async () => {} })(
    new Request("http://custos.test/v1/wallets/me"),
  );
  assert.equal(r.status, 429);
  assert.equal(s.seen.length, 3);
});
