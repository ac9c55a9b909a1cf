// Drives Custos' operator console (crates/custos-server/console) in Debian's headless Chromium
// for the Rust tests, through playwright-core: passkeys on a CDP virtual authenticator, mail
// codes from the server's outbox file, TOTP codes computed here (RFC 6238), axe-core, timings.
//
//   node scripts/console_browser/drive.mjs <scenario> '<json args>'
//   every scenario but selftest: {base: "http://localhost:PORT/console/" (localhost: WebAuthn
//   needs a domain RP id), outbox: the server's mail outbox (JSON lines with to and body/text)}
//   selftest     {} — RFC 6238 vectors and the base32 decoder, nothing else
//   enrol_login  + {email}: enrol, log out and in, then a wrong credential, the real id with a
//                wrong key, a clone (lower signCount), the real credential again
//   roles        + {viewer_email, admin_email, approval_id, agent_id}
//   approvals    + {admin_email, approval_id, recipient, usd, stale_approval_id?,
//                policy_agent_id?, policy?}: approve one, another parked before the policy
//                was tightened, and PUT a policy as the enrolled operator
//   csrf         + {email, other_origin}
//   a11y_perf    + {email, screenshots?}; roles, approvals and policy_edit also take screenshots?
//   policy_edit  + {email (an invited admin), agent_id, per_tx_usd}: enrol with TOTP, open the
//                agent's policy from its Policy link (#/policy?agent=…), set limits.per_tx_usd
//                in the editor, dry-run it, save it (through the TOTP dialog), then axe the page
//
// Prints one JSON line per step on stdout, {"step": NAME, "ok": true, ...facts}; on its own
// failure (an element missing, a timeout, a browser error) {"step": NAME, "ok": false, "error"}
// and exits 1. It reports facts (HTTP statuses, error codes, texts, milliseconds) and leaves
// judging them to the test, except for the self-checks and axe's serious or critical violations,
// which are ok:false. Every wait is at most 15 s (but one: reaching the next 30 s TOTP window,
// at most 31 s), the whole scenario at most 120 s. CHROMIUM overrides /usr/bin/chromium.
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { createRequire } from "node:module";

const WAIT_MS = 15_000;
const SCENARIO_MS = 120_000;
const require = createRequire(import.meta.url);

// ------------------------------------------------------------------ reporting

let current = "start";
let failed = false;
const emit = (o) => process.stdout.write(JSON.stringify(o) + "\n");

async function step(name, fn) {
  current = name;
  const facts = (await fn()) || {};
  const ok = facts.ok === undefined ? true : facts.ok;
  delete facts.ok;
  if (!ok) failed = true;
  emit({ step: name, ok, ...facts });
  return facts;
}

const pageErrors = [];

function die(error) {
  const out = { step: current, ok: false, error: String((error && error.stack) || error).replace(/\u001b\[[0-9;]*m/g, "").split("\n").slice(0, 6).join(" | ") };
  if (pageErrors.length) out.page_errors = pageErrors.slice(-5);
  emit(out);
  process.exit(1);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ base32 and TOTP

const B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** RFC 4648 base32 → Buffer; case, spaces, dashes and padding are ignored. */
export function base32Decode(text) {
  const clean = String(text).toUpperCase().replace(/[\s-]/g, "").replace(/=+$/, "");
  let bits = 0, value = 0;
  const out = [];
  for (const ch of clean) {
    const v = B32.indexOf(ch);
    if (v < 0) throw new Error(`not base32: ${JSON.stringify(ch)}`);
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

/** RFC 6238 TOTP with HMAC-SHA1 over the given key, at `unixSeconds`. */
export function totp(key, unixSeconds, digits = 6, period = 30) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(unixSeconds / period)));
  const mac = crypto.createHmac("sha1", key).update(counter).digest();
  const off = mac[mac.length - 1] & 0x0f;
  const bin = ((mac[off] & 0x7f) << 24) | (mac[off + 1] << 16) | (mac[off + 2] << 8) | mac[off + 3];
  return String(bin % 10 ** digits).padStart(digits, "0");
}

async function selfCheck() {
  await step("totp_selftest", () => {
    const seed = Buffer.from("12345678901234567890");
    const vectors = [[59, "94287082"], [1111111109, "07081804"], [1111111111, "14050471"],
      [1234567890, "89005924"], [2000000000, "69279037"], [20000000000, "65353130"]];
    const wrong = vectors.filter(([t, want]) => totp(seed, t, 8) !== want).map(([t, want]) => ({ t, want, got: totp(seed, t, 8) }));
    return { ok: wrong.length === 0, vectors: vectors.length, wrong };
  });
  await step("base32_selftest", () => {
    const cases = [["", ""], ["MY======", "f"], ["MZXQ====", "fo"], ["MZXW6===", "foo"], ["MZXW6YQ=", "foob"],
      ["MZXW6YTB", "fooba"], ["MZXW6YTBOI======", "foobar"], ["mzxw 6ytb oi", "foobar"],
      ["GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "12345678901234567890"]];
    const wrong = cases.filter(([b, want]) => base32Decode(b).toString() !== want).map(([b]) => b);
    let rejects = false;
    try { base32Decode("MZ1W"); } catch { rejects = true; }
    return { ok: wrong.length === 0 && rejects, cases: cases.length, wrong, rejects_invalid: rejects };
  });
  // Codes from a broken TOTP would only muddle what follows.
  if (failed) process.exit(1);
}

/** Waits for the next 30 s window to start (plus a margin), so its code is unused. */
async function nextWindow() {
  const now = Date.now();
  const target = (Math.floor(now / 30_000) + 1) * 30_000 + 750;
  await sleep(Math.min(target - now, 31_000));
  return target - now;
}

// ------------------------------------------------------------------ mail outbox

function outboxLines(file) {
  try {
    return fs.readFileSync(file, "utf8").split("\n").filter((l) => l.trim());
  } catch (e) {
    if (e.code === "ENOENT") return [];
    throw e;
  }
}

/** The 6-digit code in the newest mail to `email` written after line `from`. */
async function mailCode(file, email, from) {
  const deadline = Date.now() + WAIT_MS;
  const who = email.toLowerCase();
  while (Date.now() < deadline) {
    const lines = outboxLines(file);
    for (let i = lines.length - 1; i >= from; i--) {
      let m;
      try { m = JSON.parse(lines[i]); } catch { continue; }
      if (!JSON.stringify(m.to ?? m.rcpt ?? m.recipients ?? "").toLowerCase().includes(who)) continue;
      const found = /\b(\d{6})\b/.exec(String(m.body ?? m.text ?? "")) || /\b(\d{6})\b/.exec(String(m.subject ?? ""));
      if (found) return found[1];
    }
    await sleep(100);
  }
  throw new Error(`no mail with a 6-digit code for ${email} in ${file} within ${WAIT_MS} ms`);
}

// ------------------------------------------------------------------ browser sessions

let args;
let browser;

async function session() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.setDefaultNavigationTimeout(WAIT_MS);
  const s = { context, page, api: [], errors: [] };
  // Every answer of the console's API, with the error code of a refusal.
  page.on("response", (r) => {
    const u = new URL(r.url());
    if (!u.pathname.includes("/console/api/")) return;
    const entry = { method: r.request().method(), path: u.pathname + u.search, status: r.status() };
    entry.done = r.status() >= 400
      ? r.json().then((b) => { entry.code = b && b.error && b.error.code; }, () => {})
      : Promise.resolve();
    s.api.push(entry);
  });
  page.on("pageerror", (e) => { s.errors.push(String(e)); pageErrors.push(String(e)); });
  s.cdp = await context.newCDPSession(page);
  await s.cdp.send("WebAuthn.enable", { enableUI: false });
  const { authenticatorId } = await s.cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true,
      isUserVerified: true, automaticPresenceSimulation: true },
  });
  s.auth = authenticatorId;
  return s;
}

async function apiSince(s, mark) {
  const list = s.api.slice(mark);
  await Promise.all(list.map((e) => e.done));
  return list.map(({ method, path: p, status, code }) => (code ? { method, path: p, status, code } : { method, path: p, status }));
}

const apiUrl = (rest) => new URL(`api/${rest}`, args.base).href;

async function open(s, hash) {
  await s.page.goto(args.base + hash);
  await loaded(s, hash.replace(/^#/, "").split("?")[0]);
}

async function loaded(s, route) {
  await s.page.waitForFunction((r) => {
    const m = document.querySelector("main");
    return m && m.dataset.route === r && m.dataset.loaded === "true" && m.dataset.busy === "0";
  }, route, { timeout: WAIT_MS });
}

async function navigate(s, hash) {
  const route = hash.replace(/^#/, "").split("?")[0];
  await s.page.evaluate((h) => { if (location.hash !== h) location.hash = h; }, hash);
  await loaded(s, route);
}

async function readStatus(page) {
  return page.$eval("#status", (e) => ({ text: e.textContent, kind: e.dataset.kind || "", code: e.dataset.code || "" }));
}

/** Clicks, waits until the action is over (or the TOTP dialog asks), reports what happened. */
async function uiAction(s, target) {
  const mark = s.api.length;
  await (typeof target === "string" ? s.page.click(target) : target.click());
  await s.page.waitForFunction(() => document.querySelector("main").dataset.busy === "0" || document.querySelector("#totp-dialog").open,
    null, { timeout: WAIT_MS });
  const dialog = await s.page.$eval("#totp-dialog", (d) => d.open);
  return { dialog, status: await readStatus(s.page), api: await apiSince(s, mark) };
}

/** The last answer to `method path-prefix` in an action's list. */
function answer(list, method, prefix) {
  const hits = list.filter((e) => e.method === method && e.path.startsWith(`/console/api/${prefix}`));
  return hits[hits.length - 1] || null;
}

/** `fetch` from inside the page (same origin), with or without the CSRF header. */
async function pageFetch(s, method, rest, body, { csrf = true, token } = {}) {
  return s.page.evaluate(async ({ method, url, body, csrf, token }) => {
    const headers = { Accept: "application/json" };
    if (method !== "GET") headers["Content-Type"] = "application/json";
    if (csrf && method !== "GET") {
      const c = document.cookie.split(";").map((x) => x.trim()).find((x) => x.startsWith("custos_csrf="));
      headers["X-Custos-CSRF"] = token ?? (c ? decodeURIComponent(c.slice(12)) : "");
    }
    const r = await fetch(url, { method, headers, credentials: "same-origin", body: method === "GET" ? undefined : JSON.stringify(body ?? {}) });
    const text = await r.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: r.status, body: json, code: json && json.error ? json.error.code : undefined };
  }, { method, url: apiUrl(rest), body, csrf, token });
}

/** A screenshot into args.screenshots, when given. */
async function shot(s, name) {
  if (!args.screenshots) return;
  fs.mkdirSync(args.screenshots, { recursive: true });
  await s.page.screenshot({ path: path.join(args.screenshots, `${name}.png`) });
}

const meStatus = async (s) => (await pageFetch(s, "GET", "me")).status;

// ------------------------------------------------------------------ flows

async function enrol(s, email) {
  await open(s, "#/enrol");
  await s.page.fill("#enrol-email", email);
  const from = outboxLines(args.outbox).length;
  const sent = await uiAction(s, "#enrol-send");
  const code = await mailCode(args.outbox, email, from);
  await s.page.fill("#enrol-code", code);
  const reg = await uiAction(s, "#enrol-register");
  const whoami = (await s.page.textContent("#whoami")).trim();
  if (!whoami.includes(email)) {
    throw new Error(`enrolment of ${email} did not sign in: status ${JSON.stringify(reg.status)}, api ${JSON.stringify([...sent.api, ...reg.api])}, page errors ${JSON.stringify(s.errors)}`);
  }
  await loaded(s, "/agents");
  return { email, whoami, api: [...sent.api, ...reg.api] };
}

async function login(s, email) {
  if ((await s.page.$("#login-email")) === null) await navigate(s, "#/login");
  await s.page.fill("#login-email", email);
  const r = await uiAction(s, "#login-button");
  const whoami = (await s.page.textContent("#whoami")).trim();
  const finish = answer(r.api, "POST", "login/finish");
  return { whoami, signed_in: whoami.includes(email), status_text: r.status.text, status_kind: r.status.kind,
    finish_status: finish ? finish.status : null, me_status: await meStatus(s), api: r.api };
}

async function logout(s) {
  const r = await uiAction(s, "#logout");
  await loaded(s, "/login");
  return { me_status: await meStatus(s), api: r.api };
}

async function credentials(s) {
  return (await s.cdp.send("WebAuthn.getCredentials", { authenticatorId: s.auth })).credentials;
}

async function setCredentials(s, list) {
  await s.cdp.send("WebAuthn.clearCredentials", { authenticatorId: s.auth });
  for (const credential of list) await s.cdp.send("WebAuthn.addCredential", { authenticatorId: s.auth, credential });
}

function freshP256() {
  const { privateKey } = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
  return privateKey.export({ format: "der", type: "pkcs8" }).toString("base64");
}

/** Sets up TOTP on #/security; returns the secret and the code used to confirm. */
async function enrolTotp(s) {
  await navigate(s, "#/security");
  const started = await uiAction(s, "#totp-enrol");
  await s.page.waitForSelector("#totp-secret", { timeout: WAIT_MS });
  const secret = (await s.page.textContent("#totp-secret")).trim();
  await shot(s, "security_totp_setup");
  const qr = await s.page.$eval("#totp-qr", (e) => ({ svg: !!e.querySelector("svg"), role: e.querySelector("svg")?.getAttribute("role") || null }));
  const code = totp(base32Decode(secret), Date.now() / 1000);
  await s.page.fill("#totp-code", code);
  const confirmed = await uiAction(s, "#totp-confirm");
  const confirm = answer(confirmed.api, "POST", "totp/confirm");
  return { secret, code, facts: { secret_chars: secret.length, qr_svg: qr.svg, qr_role: qr.role,
    enrol_status: answer(started.api, "POST", "totp/enrol")?.status ?? null, confirm_status: confirm ? confirm.status : null,
    verify_form: (await s.page.$("#totp-verify-code")) !== null, status_text: confirmed.status.text } };
}

/** Step-up on #/security with a code from a window not used yet. */
async function verifyTotp(s, secret) {
  const waited_ms = await nextWindow();
  await navigate(s, "#/security");
  const code = totp(base32Decode(secret), Date.now() / 1000);
  await s.page.fill("#totp-verify-code", code);
  const r = await uiAction(s, "#totp-verify");
  const v = answer(r.api, "POST", "totp/verify");
  const fresh = await s.page.$eval("#totp-fresh", (e) => e.textContent).catch(() => null);
  return { code, facts: { waited_ms, http_status: v ? v.status : null, code_sent: v !== null, fresh_text: fresh, status_text: r.status.text } };
}

/** Clicks an action; if the TOTP dialog opens, answers it with a code from a fresh window. */
async function actWithStepUp(s, target, secret) {
  let r = await uiAction(s, target);
  let dialog = false, waited_ms = 0;
  if (r.dialog) {
    dialog = true;
    await shot(s, "totp_dialog");
    const first = r.api;
    if (!secret) {
      const c = await uiAction(s, "#totp-dialog-cancel");
      return { dialog, cancelled: true, api: [...first, ...c.api], status: c.status };
    }
    waited_ms = await nextWindow();
    await s.page.fill("#totp-dialog-code", totp(base32Decode(secret), Date.now() / 1000));
    const c = await uiAction(s, "#totp-dialog-submit");
    r = { ...c, api: [...first, ...c.api] };
    if (c.dialog) r = { ...(await uiAction(s, "#totp-dialog-cancel")), api: r.api, dialog_stayed_open: true };
  }
  return { ...r, dialog, waited_ms };
}

/** axe-core on the page as it stands (and a screenshot into args.screenshots, when given):
 *  ok:false on any serious or critical violation. Evaluated through the DevTools protocol, so a
 *  strict CSP on the console does not block it. */
let axeSource = null;
async function axeAudit(s, name) {
  axeSource ??= fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
  if (!(await s.page.evaluate(() => typeof window.axe === "object"))) await s.page.evaluate(axeSource);
  const all = await s.page.evaluate(async () => (await window.axe.run(document, { resultTypes: ["violations"] })).violations
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")) })));
  await shot(s, name);
  const bad = all.filter((v) => v.impact === "serious" || v.impact === "critical");
  return { ok: bad.length === 0, violations: bad, minor: all.filter((v) => !bad.includes(v)).map((v) => `${v.id} (${v.impact})`) };
}

async function rowButton(s, rowSelector, action) {
  try {
    return await s.page.waitForSelector(`${rowSelector} button[data-action="${action}"]`, { timeout: WAIT_MS });
  } catch (e) {
    const rows = await s.page.$$eval("tbody tr", (trs) => trs.map((t) => t.innerText.replace(/\s+/g, " ").slice(0, 120)));
    throw new Error(`no ${action} button in ${rowSelector}; the table shows ${JSON.stringify(rows.slice(0, 10))}`);
  }
}

// ------------------------------------------------------------------ scenarios

const scenarios = {};

scenarios.selftest = async () => {};

scenarios.enrol_login = async () => {
  const s = await session();
  await step("enrolled", () => enrol(s, args.email));
  await step("logged_out", () => logout(s));
  await step("logged_in", () => login(s, args.email));
  const real = (await credentials(s))[0];
  if (!real) throw new Error("the virtual authenticator holds no credential after enrolment");
  await step("credential", () => ({ count: 1, sign_count: real.signCount, resident: real.isResidentCredential, rp_id: real.rpId }));
  await step("logged_out_again", () => logout(s));

  // An unrelated passkey: another id, another key. The browser has nothing the server allows.
  await setCredentials(s, [{ credentialId: crypto.randomBytes(32).toString("base64"), isResidentCredential: false,
    rpId: "localhost", privateKey: freshP256(), signCount: 0 }]);
  await step("wrong_credential", async () => {
    const r = await login(s, args.email);
    return { ...r, refused: r.me_status === 401 && !r.signed_in };
  });

  // The real credential id with another key: the server gets an assertion it must refuse.
  await setCredentials(s, [{ ...real, privateKey: freshP256(), signCount: real.signCount + 10 }]);
  await step("wrong_key_refused", async () => {
    const r = await login(s, args.email);
    return { ...r, refused: r.me_status === 401 && !r.signed_in };
  });

  // A clone: the real key with a lower signature counter than the authenticator reached.
  if (!(real.signCount > 0)) throw new Error(`the credential's signCount is ${real.signCount}: a clone cannot be told apart`);
  const cloned = 0;
  await setCredentials(s, [{ ...real, signCount: cloned }]);
  await step("cloned_refused", async () => {
    const r = await login(s, args.email);
    return { ...r, sign_count_current: real.signCount, sign_count_cloned: cloned, refused: r.me_status === 401 && !r.signed_in };
  });

  // The real credential as it was (counter ahead): does the account still sign in?
  await setCredentials(s, [{ ...real, signCount: real.signCount + 100 }]);
  await step("restored_login", () => login(s, args.email));
};

scenarios.roles = async () => {
  await selfCheck();
  const v = await session();
  await step("viewer_enrolled", () => enrol(v, args.viewer_email));
  await step("viewer_approve", async () => {
    await navigate(v, "#/approvals");
    const r = await actWithStepUp(v, await rowButton(v, `tr[data-approval-row="${args.approval_id}"]`, "approve"), null);
    const a = answer(r.api, "POST", "v1/approvals/");
    return { http_status: a?.status ?? null, code: a?.code ?? null, status_text: r.status.text, status_kind: r.status.kind, dialog: r.dialog, api: r.api };
  });
  await step("viewer_freeze", async () => {
    await navigate(v, "#/agents");
    const r = await actWithStepUp(v, await rowButton(v, `tr[data-agent-row="${args.agent_id}"]`, "freeze"), null);
    const a = answer(r.api, "POST", "v1/agents/");
    return { http_status: a?.status ?? null, code: a?.code ?? null, status_text: r.status.text, status_kind: r.status.kind, dialog: r.dialog, api: r.api };
  });
  await v.context.close();

  const s = await session();
  await step("admin_enrolled", () => enrol(s, args.admin_email));
  await step("kill_switch_without_totp", async () => {
    await navigate(s, "#/agents");
    const r = await actWithStepUp(s, "#kill-switch-engage", null);
    const a = answer(r.api, "POST", "v1/kill-switch");
    return { dialog: r.dialog, http_status: a?.status ?? null, code: a?.code ?? null, status_text: r.status.text,
      state_text: await s.page.textContent("#kill-switch-state"), api: r.api };
  });
  const t = await enrolTotp(s);
  await step("totp_enrolled", () => t.facts);
  const vf = await verifyTotp(s, t.secret);
  await step("totp_verified", () => vf.facts);
  await step("kill_switch_engaged", async () => {
    await navigate(s, "#/agents");
    const r = await actWithStepUp(s, "#kill-switch-engage", t.secret);
    const a = answer(r.api, "POST", "v1/kill-switch");
    const st = await s.page.$eval("#kill-switch-state", (e) => ({ text: e.textContent, engaged: e.dataset.engaged }));
    await shot(s, "kill_switch_engaged");
    return { dialog: r.dialog, http_status: a?.status ?? null, code: a?.code ?? null, state_text: st.text, engaged: st.engaged === "true", status_text: r.status.text, api: r.api };
  });
  await step("totp_replay", async () => {
    const r = await pageFetch(s, "POST", "totp/verify", { code: vf.code });
    return { http_status: r.status, code: r.code ?? null };
  });
  await step("kill_switch_released", async () => {
    const r = await actWithStepUp(s, "#kill-switch-release", t.secret);
    const a = answer(r.api, "POST", "v1/kill-switch");
    const st = await s.page.$eval("#kill-switch-state", (e) => ({ text: e.textContent, engaged: e.dataset.engaged }));
    return { dialog: r.dialog, http_status: a?.status ?? null, code: a?.code ?? null, state_text: st.text, engaged: st.engaged === "true", status_text: r.status.text, api: r.api };
  });
  // Guessing codes: wrong ones count like refused logins; enough of them lock the account and
  // end its sessions.
  await step("totp_guessing", async () => {
    const statuses = [];
    for (let n = 0; n < 6; n++) statuses.push((await pageFetch(s, "POST", "totp/verify", { code: "000000" })).status);
    return { statuses, me_status: await meStatus(s) };
  });
};

scenarios.approvals = async () => {
  await selfCheck();
  const s = await session();
  await step("admin_enrolled", () => enrol(s, args.admin_email));
  const t = await enrolTotp(s);
  await step("totp_enrolled", () => t.facts);
  const row = `tr[data-approval-row="${args.approval_id}"]`;
  await step("approval_row", async () => {
    await navigate(s, "#/approvals");
    await s.page.waitForSelector(row, { timeout: WAIT_MS });
    const text = (await s.page.innerText(row)).replace(/\s+/g, " ").trim();
    await shot(s, "approvals_pending");
    return { text, has_recipient: args.recipient ? text.includes(String(args.recipient)) : null,
      has_usd: args.usd !== undefined ? text.includes(String(args.usd)) : null };
  });
  await step("approved", async () => {
    const r = await actWithStepUp(s, await rowButton(s, row, "approve"), t.secret);
    const tries = r.api.filter((e) => e.method === "POST" && e.path.includes(`/approvals/${args.approval_id}/approve`));
    const last = tries[tries.length - 1];
    return { totp_dialog: r.dialog, waited_ms: r.waited_ms, http_status: last?.status ?? null, code: last?.code ?? null,
      attempts: tries.length, status_text: r.status.text, status_kind: r.status.kind,
      row_still_listed: (await s.page.$(row)) !== null, api: r.api };
  });
  // A transfer parked before the policy was tightened: approving it now is refused (the policy
  // is checked again at execution), and it is not executed.
  if (args.stale_approval_id) {
    const stale = `tr[data-approval-row="${args.stale_approval_id}"]`;
    await step("stale_approved", async () => {
      await navigate(s, "#/approvals");
      await s.page.waitForSelector(stale, { timeout: WAIT_MS });
      const r = await actWithStepUp(s, await rowButton(s, stale, "approve"), t.secret);
      const tries = r.api.filter((e) => e.method === "POST" && e.path.includes(`/approvals/${args.stale_approval_id}/approve`));
      const last = tries[tries.length - 1];
      return { http_status: last?.status ?? null, code: last?.code ?? null, status_text: r.status.text, status_kind: r.status.kind };
    });
  }
  // A policy change through the console as this operator (an admin-only change).
  if (args.policy_agent_id && args.policy) {
    await step("policy_put", async () => {
      const r = await pageFetch(s, "PUT", `v1/agents/${args.policy_agent_id}/policy`, args.policy);
      return { http_status: r.status, code: r.code ?? null };
    });
  }
};

async function attackerSite(want, html) {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" });
    res.end(html);
  });
  const listen = (port) => new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, want.hostname.replace(/^\[|\]$/g, ""), () => { server.removeListener("error", reject); resolve(); });
  });
  try {
    await listen(Number(want.port) || 0);
  } catch (e) {
    if (e.code !== "EADDRINUSE" && e.code !== "EACCES") throw e;
    await listen(0);
  }
  const u = new URL(want.origin);
  u.port = String(server.address().port);
  return { server, origin: u.origin };
}

scenarios.csrf = async () => {
  const s = await session();
  await step("enrolled", () => enrol(s, args.email));
  const before = await pageFetch(s, "GET", "v1/kill-switch");
  await step("kill_switch_before", () => ({ http_status: before.status, engaged: before.body?.engaged ?? null }));
  const target = apiUrl("v1/kill-switch");
  const html = `<!doctype html><html lang="en"><title>elsewhere</title><body>
    <form id="f" method="POST" action="${target}" enctype="text/plain"><input type="hidden" name='{"engaged":true,"x":"' value='"}'></form>
    </body></html>`;
  // The other site's page comes from a real loopback server (a page the driver fulfils itself
  // would have no address, and Chromium's local network access checks would refuse its
  // requests to localhost before they reach the server). It listens on args.other_origin when
  // that is free, else on the same host with a port of its own.
  const other = await attackerSite(new URL(args.other_origin || "http://127.0.0.1/"), html);
  const evil = await s.context.newPage();
  evil.setDefaultTimeout(WAIT_MS);
  const seen = [];
  evil.on("response", (r) => {
    if (r.url() !== target) return;
    const e = { method: r.request().method(), status: r.status() };
    e.done = r.json().then((b) => { e.code = b && b.error ? b.error.code : undefined; }, () => {});
    seen.push(e);
  });
  await evil.goto(`${other.origin}/csrf-attacker.html`);
  await step("other_site", () => ({ origin: other.origin }));
  await step("cross_site_form", async () => {
    const [resp] = await Promise.all([
      evil.waitForResponse((r) => r.url() === target && r.request().method() === "POST", { timeout: WAIT_MS }),
      evil.evaluate(() => document.getElementById("f").submit()),
    ]);
    const body = await resp.text().catch(() => "");
    let code = null;
    try { code = JSON.parse(body).error.code; } catch { /* not JSON */ }
    return { http_status: resp.status(), code };
  });
  await evil.goto(`${other.origin}/csrf-attacker.html`);
  await step("cross_site_fetch", async () => {
    const mark = seen.length;
    const r = await evil.evaluate(async (url) => {
      const out = {};
      try {
        const a = await fetch(url, { method: "POST", credentials: "include", headers: { "Content-Type": "application/json" }, body: '{"engaged":true}' });
        out.cors = { status: a.status };
      } catch (e) { out.cors = { error: String(e) }; }
      try {
        const b = await fetch(url, { method: "POST", mode: "no-cors", credentials: "include", headers: { "Content-Type": "text/plain" }, body: '{"engaged":true}' });
        out.no_cors = { type: b.type, status: b.status };
      } catch (e) { out.no_cors = { error: String(e) }; }
      return out;
    }, target);
    await sleep(200);
    const network = seen.slice(mark);
    await Promise.all(network.map((e) => e.done));
    return { ...r, network: network.map(({ method, status, code }) => ({ method, status, code: code ?? null })) };
  });
  await evil.close();
  other.server.close();

  await step("same_origin_no_header", async () => {
    const r = await pageFetch(s, "POST", "v1/kill-switch", { engaged: true }, { csrf: false });
    return { http_status: r.status, code: r.code ?? null };
  });
  await step("same_origin_wrong_header", async () => {
    const r = await pageFetch(s, "POST", "v1/kill-switch", { engaged: true }, { token: "not-the-cookie" });
    return { http_status: r.status, code: r.code ?? null };
  });
  await step("kill_switch_after", async () => {
    const after = await pageFetch(s, "GET", "v1/kill-switch");
    return { http_status: after.status, engaged: after.body?.engaged ?? null,
      unchanged: JSON.stringify(after.body) === JSON.stringify(before.body) };
  });
};

scenarios.a11y_perf = async () => {
  const s = await session();
  const audit = (name) => axeAudit(s, name);
  for (const name of ["login", "enrol"]) {
    await open(s, `#/${name}`);
    await step("page", async () => ({ page: name, ms: null, ...(await audit(name)) }));
  }
  await step("enrolled", () => enrol(s, args.email));
  await navigate(s, "#/security");
  for (const name of ["agents", "approvals", "audit", "alerts", "security"]) {
    await step("page", async () => {
      const mark = s.api.length;
      const t = await s.page.evaluate(({ hash, route, timeout }) => new Promise((resolve, reject) => {
        const main = document.querySelector("main");
        performance.clearResourceTimings();
        const t0 = performance.now();
        let ms = null;
        const done = () => main.dataset.route === route && main.dataset.loaded === "true";
        const obs = new MutationObserver(() => {
          if (ms !== null || !done()) return;
          ms = performance.now() - t0;
          obs.disconnect();
          clearTimeout(timer);
          // The part spent waiting for the API, from the browser's resource timings.
          const api = performance.getEntriesByType("resource").filter((e) => e.name.includes("/console/api/") && e.startTime >= t0);
          const fetch_ms = api.length ? Math.max(...api.map((e) => e.responseEnd)) - t0 : 0;
          requestAnimationFrame(() => resolve({ ms, fetch_ms, paint_ms: performance.now() - t0 }));
        });
        const timer = setTimeout(() => { obs.disconnect(); reject(new Error(`${route} not loaded within ${timeout} ms`)); }, timeout);
        obs.observe(main, { attributes: true, attributeFilter: ["data-loaded", "data-route"] });
        location.hash = hash;
      }), { hash: `#/${name}`, route: `/${name}`, timeout: WAIT_MS });
      const table = await s.page.$(`#${name}-table`);
      const rows = table ? await table.$$eval("tbody tr", (r) => r.length) : null;
      const r2 = (x) => Math.round(x * 100) / 100;
      return { page: name, ms: r2(t.ms), fetch_ms: r2(t.fetch_ms), render_ms: r2(t.ms - t.fetch_ms), paint_ms: r2(t.paint_ms),
        requests: (await apiSince(s, mark)).map((e) => `${e.method} ${e.path} ${e.status}`), table_rows: rows, ...(await audit(name)) };
    });
  }
  await step("page_errors", () => ({ errors: s.errors }));
};

scenarios.policy_edit = async () => {
  await selfCheck();
  for (const k of ["email", "agent_id", "per_tx_usd"]) if (args[k] === undefined || args[k] === null || args[k] === "") throw new Error(`args.${k} is required`);
  const agent = String(args.agent_id);
  const policyPath = `v1/agents/${encodeURIComponent(agent)}/policy`;
  const s = await session();
  await step("admin_enrolled", () => enrol(s, args.email));
  const t = await enrolTotp(s);
  await step("totp_enrolled", () => t.facts);
  const editorJson = async () => {
    const raw = await s.page.$eval("#policy-editor", (e) => e.value);
    try { return JSON.parse(raw); } catch { return null; }
  };
  const perTx = async () => (await editorJson())?.limits?.per_tx_usd ?? null;
  await step("loaded", async () => {
    // Through the agents table's Policy link when the agent is listed, else by address.
    await navigate(s, "#/agents");
    const mark = s.api.length;
    const link = await s.page.$(`tr[data-agent-row="${agent}"] [data-action="policy"]`);
    if (link) {
      await link.click();
      await loaded(s, "/policy");
    } else {
      await navigate(s, `#/policy?agent=${encodeURIComponent(agent)}`);
    }
    const api = await apiSince(s, mark);
    if ((await s.page.$("#policy-editor")) === null) {
      throw new Error(`the policy page shows no editor: status ${JSON.stringify(await readStatus(s.page))}, api ${JSON.stringify(api)}`);
    }
    const get = answer(api, "GET", policyPath);
    return { via_row_link: link !== null, hash: await s.page.evaluate(() => location.hash), http_status: get?.status ?? null,
      per_tx_usd: await perTx(), version_text: await s.page.textContent("#policy-version"),
      title: await s.page.textContent("#page-title"), api };
  });
  await step("dry_run", async () => {
    const doc = await editorJson();
    if (!doc || typeof doc !== "object") throw new Error("the editor does not hold a JSON object");
    doc.limits = { ...(doc.limits || {}), per_tx_usd: String(args.per_tx_usd) };
    await s.page.fill("#policy-editor", JSON.stringify(doc, null, 2));
    const r = await actWithStepUp(s, "#policy-dry-run", t.secret);
    const tries = r.api.filter((e) => e.method === "POST" && e.path.startsWith(`/console/api/${policyPath}/dry-run`));
    const a = tries[tries.length - 1];
    const res = await s.page.$eval("#policy-dry-run-result", (e) => ({ would: e.dataset.would || "", loosens: e.dataset.loosens || "",
      http: e.dataset.http || "", text: e.innerText.replace(/\s+/g, " ").trim(), changes: [...e.querySelectorAll("#policy-changes li")].map((li) => li.textContent) }));
    await shot(s, "policy_dry_run");
    return { totp_dialog: r.dialog, waited_ms: r.waited_ms, http_status: a?.status ?? null, code: a?.code ?? null, attempts: tries.length,
      would: res.would || null, loosens: res.loosens === "true" ? true : res.loosens === "false" ? false : null, result_http: res.http || null,
      changes: res.changes, result_text: res.text, status_text: r.status.text, status_kind: r.status.kind, api: r.api };
  });
  await step("saved", async () => {
    const r = await actWithStepUp(s, "#policy-save", t.secret);
    const tries = r.api.filter((e) => e.method === "PUT" && e.path === `/console/api/${policyPath}`);
    const a = tries[tries.length - 1];
    const res = await s.page.$eval("#policy-save-result", (e) => ({ text: e.textContent, http: e.dataset.http || "" }));
    const reloaded = a ? r.api.slice(r.api.indexOf(a)).some((e) => e.method === "GET" && e.path === `/console/api/${policyPath}`) : false;
    await shot(s, "policy_saved");
    return { totp_dialog: r.dialog, waited_ms: r.waited_ms, http_status: a?.status ?? null, code: a?.code ?? null, attempts: tries.length,
      result_http: res.http || null, result_text: res.text, reloaded, per_tx_usd: await perTx(),
      version_text: await s.page.textContent("#policy-version"), status_text: r.status.text, status_kind: r.status.kind, api: r.api };
  });
  await step("policy_axe", async () => ({ page: "policy", ...(await axeAudit(s, "policy")) }));
  await step("page_errors", () => ({ errors: s.errors }));
};

// ------------------------------------------------------------------ main

async function main() {
  const [scenario, raw = "{}"] = process.argv.slice(2);
  current = scenario || "usage";
  if (!scenarios[scenario]) throw new Error(`usage: drive.mjs <${Object.keys(scenarios).join("|")}> '<json args>'`);
  args = JSON.parse(raw);
  if (scenario === "selftest") {
    await selfCheck();
    return;
  }
  for (const k of ["base", "outbox"]) if (!args[k]) throw new Error(`args.${k} is required`);
  if (!args.base.endsWith("/")) args.base += "/";
  const { chromium } = await import("playwright-core");
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox"], timeout: WAIT_MS });
  try {
    await scenarios[scenario]();
  } finally {
    await browser.close().catch(() => {});
  }
}

const guard = setTimeout(() => die(new Error(`scenario exceeded ${SCENARIO_MS} ms`)), SCENARIO_MS);
guard.unref();
main().then(() => process.exit(failed ? 1 : 0), die);
