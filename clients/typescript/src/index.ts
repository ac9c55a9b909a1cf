/**
 * TypeScript client for Custos, the wallet and signing service for autonomous agents.
 *
 * `paths` / `components` (src/schema.d.ts) are generated from the server's OpenAPI document by
 * the pinned openapi-typescript (`scripts/gen-clients.sh`; a test fails when they are stale),
 * and `openapi-fetch` turns them into a typed `fetch` client. This module adds what a generator
 * cannot know:
 *
 * - `connect(baseUrl, token)`: a typed client whose `fetch` retries safely — `429` after
 *   `Retry-After`, `409 idempotency_conflict` (the first attempt is still running) and, for
 *   `GET` or a request carrying an `Idempotency-Key`, `502/503/504` and network errors — each
 *   time resending the same request, so the same key: a retried action can never act twice.
 * - `newIdempotencyKey()`: one key per intended action.
 * - `expectOk(result)`: the data of a 2xx answer, or a thrown `CustosError` naming the code,
 *   the field and the policy rules.
 */
import createClient from "openapi-fetch";
import type { paths } from "./schema.js";

export type { paths, components } from "./schema.js";

/** Longest wait honoured from one `Retry-After`, milliseconds. */
export const MAX_RETRY_AFTER_MS = 60_000;

/** A fresh key for one intended action (reuse it only to retry that action). */
export function newIdempotencyKey(): string {
  return crypto.randomUUID();
}

/** A non-2xx answer. */
export class CustosError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field?: string;
  /** For `policy_denied`: the rules that refused. */
  readonly rules: string[];

  constructor(status: number, body: unknown) {
    const err = (body as { error?: Record<string, unknown> } | undefined)?.error ?? {};
    const code = typeof err.code === "string" ? err.code : "unknown";
    super(`${code} (${status}): ${typeof err.message === "string" ? err.message : ""}`);
    this.status = status;
    this.code = code;
    this.field = typeof err.field === "string" ? err.field : undefined;
    const reasons = (err.details as { reasons?: { rule?: string }[] } | undefined)?.reasons ?? [];
    this.rules = reasons.flatMap((r) => (typeof r.rule === "string" ? [r.rule] : []));
  }
}

/** The data of a 2xx `openapi-fetch` result; throws `CustosError` otherwise. */
export function expectOk<D>(result: { data?: D; error?: unknown; response: Response }): D {
  if (!result.response.ok || result.data === undefined) {
    throw new CustosError(result.response.status, result.error);
  }
  return result.data;
}

export interface RetryOptions {
  /** The fetch to wrap (default: the global one). */
  inner?: (request: Request) => Promise<Response>;
  /** Attempts in all (default 5). */
  attempts?: number;
  /** How to wait (default: a timer). */
  sleep?: (ms: number) => Promise<void>;
}

async function inProgress(response: Response): Promise<boolean> {
  if (response.status !== 409) return false;
  try {
    const body = (await response.clone().json()) as { error?: { code?: string } };
    return body.error?.code === "idempotency_conflict";
  } catch {
    return false;
  }
}

function backoff(attempt: number): number {
  return Math.min(250 * 2 ** attempt, 8_000);
}

function retryAfter(response: Response, attempt: number): number {
  const seconds = Number(response.headers.get("retry-after") ?? "NaN");
  const ms = Number.isFinite(seconds) ? seconds * 1000 : backoff(attempt);
  return Math.max(0, Math.min(ms, MAX_RETRY_AFTER_MS));
}

/** A `fetch` that resends a request (the same one, so the same `Idempotency-Key`) when safe. */
export function retryingFetch(options: RetryOptions = {}): (request: Request) => Promise<Response> {
  const inner = options.inner ?? ((r: Request) => fetch(r));
  const attempts = options.attempts ?? 5;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((ok) => setTimeout(ok, ms)));
  return async (request: Request) => {
    // A GET has no effect and a keyed action's retry returns the first answer: both may be
    // resent after anything. An unkeyed POST only after a refusal that ran nothing (429).
    const repeatable = request.method === "GET" || request.headers.has("idempotency-key");
    for (let attempt = 0; ; attempt++) {
      const last = attempt === attempts - 1;
      let response: Response;
      try {
        response = await inner(request.clone());
      } catch (e) {
        if (!repeatable || last) throw e;
        await sleep(backoff(attempt));
        continue;
      }
      const retry =
        response.status === 429 ||
        (await inProgress(response)) ||
        (repeatable && [502, 503, 504].includes(response.status));
      if (!retry || last) return response;
      await sleep(retryAfter(response, attempt));
    }
  };
}

/** A typed client for `baseUrl` sending `Authorization: Bearer <token>`, retrying safely. */
export function connect(baseUrl: string, token: string, retry: RetryOptions = {}) {
  return createClient<paths>({
    baseUrl: baseUrl.replace(/\/+$/, ""),
    headers: { Authorization: `Bearer ${token}` },
    fetch: retryingFetch(retry),
  });
}

/** A typed client without a credential (login). */
export function anonymous(baseUrl: string) {
  return createClient<paths>({ baseUrl: baseUrl.replace(/\/+$/, "") });
}
