// Custos operator console: the application. Hash routes (#/login, #/enrol, #/agents,
// #/policy, #/approvals, #/audit, #/alerts, #/security), one JSON request per page where it can, the
// CSRF header on every non-GET call, and the TOTP step-up dialog that retries an action once.
// Everything from the server is rendered as text (never as HTML), except the QR code's SVG,
// which is parsed and stripped of scripts, event handlers and links first.
import { createCredential, getAssertion } from "./webauthn.js";

const API = "/console/api/";
const LIMIT = { agents: 100, audit: 50, alerts: 100 };
const $ = (sel, root = document) => root.querySelector(sel);
const state = { me: null, totpWaiter: null, routeSeq: 0, keepStatus: false, refreshing: false, busy: 0 };

// ---------------------------------------------------------------- DOM helpers

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const kid of kids.flat(Infinity)) if (kid !== null && kid !== undefined && kid !== false) el.append(kid instanceof Node ? kid : String(kid));
  return el;
}

function table(id, caption, cols, rows, empty) {
  return h("div", { class: "table-wrap" },
    h("table", { id },
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, cols.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: cols.length, class: "empty" }, empty)))));
}

const field = (id, label, attrs = {}) => [h("label", { for: id }, label), h("input", { id, name: id, ...attrs })];

function fmtTime(ms) {
  const d = new Date(Number(ms));
  return ms === null || ms === undefined || ms === "" ? "—" : isNaN(d) ? String(ms) : d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

function fmtIn(ms) {
  const s = Math.round((Number(ms) - Date.now()) / 1000);
  if (!isFinite(s)) return "";
  const abs = Math.abs(s), t = abs < 120 ? `${abs} s` : abs < 7200 ? `${Math.round(abs / 60)} min` : `${Math.round(abs / 3600)} h`;
  return s >= 0 ? `in ${t}` : `${t} ago`;
}

const text = (v) => (v === null || v === undefined || v === "" ? "—" : typeof v === "object" ? JSON.stringify(v) : String(v));
// A form's submit handler that stays on the page; a table's handler for its row buttons.
const submitted = (fn) => (ev) => { ev.preventDefault(); fn(); };
const onRowAction = (node, fn) => node.addEventListener("click", (ev) => {
  const b = ev.target.closest("button[data-action]");
  if (b) fn(b, b.dataset);
});
// A page: a section named by its h2 (focused after a route change).
const pageSection = (title, attrs, ...kids) =>
  h("section", { "aria-labelledby": "page-title", ...attrs }, h("h2", { id: "page-title", tabindex: "-1" }, title), ...kids);
const yesNo = (b) => h("span", { class: `tag ${b ? "yes" : "no"}` }, b ? "Yes" : "No");

function qs(params) {
  const p = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== null && v !== undefined && v !== "")).toString();
  return p ? `?${p}` : "";
}

// ---------------------------------------------------------------- status line

// `#status` carries the message, and data-kind (info|error), data-code, data-http and data-seq
// (bumped on every message) for tests.
function setStatus(kind, message, extra = {}) {
  const el = $("#status");
  el.textContent = message;
  Object.assign(el.dataset, { kind, code: extra.code || "", http: extra.status ? String(extra.status) : "", seq: String(Number(el.dataset.seq || 0) + 1) });
}

function clearStatus() {
  $("#status").textContent = "";
  Object.assign($("#status").dataset, { kind: "", code: "", http: "" });
}

const info = (message) => setStatus("info", message);

function showError(e) {
  if (!(e instanceof ApiError)) return setStatus("error", (e && e.message) || String(e), { code: "client" });
  setStatus("error", `${e.message}${e.field ? ` (field: ${e.field})` : ""} [${e.status ? e.status + " " : ""}${e.code}]`, e);
}

// ---------------------------------------------------------------- HTTP

class ApiError extends Error {
  constructor(status, code, message, field) { super(message); Object.assign(this, { status, code, field }); }
}

function csrfToken() {
  for (const part of document.cookie.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === "custos_csrf") return decodeURIComponent(v.join("="));
  }
  throw new ApiError(0, "csrf", "The console's CSRF cookie is missing: reload the page.");
}

// With `full`, the answer is {status, headers, data} rather than the data alone.
async function request(method, path, body, { full = false } = {}) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (method !== "GET") {
    init.headers["Content-Type"] = "application/json";
    init.headers["X-Custos-CSRF"] = csrfToken();
    init.body = JSON.stringify(body ?? {});
  }
  const res = await fetch(API + path, init).catch(() => { throw new ApiError(0, "network", "The server could not be reached."); });
  const raw = res.status === 204 ? "" : await res.text();
  let data = null;
  try { data = raw ? JSON.parse(raw) : null; } catch { data = null; }
  if (!res.ok) {
    const e = (data && data.error) || {};
    throw new ApiError(res.status, e.code || `http_${res.status}`, e.message || `The server answered ${res.status}.`, e.field);
  }
  return full ? { status: res.status, headers: res.headers, data } : data;
}

// A 403 `totp_required` opens the step-up dialog and, once a code is verified, retries the
// call once. A 401 outside the sign-in, enrolment and TOTP calls means the session ended.
async function api(method, path, body, { stepUp = true, full = false } = {}) {
  let retried = false;
  for (;;) {
    try {
      return await request(method, path, body, { full });
    } catch (e) {
      if (e.code === "totp_required" && stepUp && !retried) {
        await askTotp(e.message);
        retried = true;
        continue;
      }
      if (e.status === 401 && state.me && !/^(login|enrol|totp)\//.test(path)) signedOut();
      throw e;
    }
  }
}

// ---------------------------------------------------------------- TOTP step-up dialog

function askTotp(message) {
  if (state.totpWaiter) return state.totpWaiter;
  state.totpWaiter = new Promise((resolve, reject) => {
    const dlg = $("#totp-dialog"), form = $("#totp-dialog-form"), input = $("#totp-dialog-code");
    const err = $("#totp-dialog-error"), submit = $("#totp-dialog-submit"), cancel = $("#totp-dialog-cancel");
    const notSetUp = state.me && !state.me.totp_enrolled;
    $("#totp-dialog-text").textContent = (message || "This action needs a fresh code from your authenticator app.") +
      (notSetUp ? " You have no authenticator set up yet: cancel, then set one up under Security." : "");
    input.value = err.textContent = "";
    const finish = () => {
      form.removeEventListener("submit", onSubmit);
      cancel.removeEventListener("click", onCancel);
      dlg.removeEventListener("cancel", onCancel);
      if (dlg.open) dlg.close();
      state.totpWaiter = null;
    };
    const onSubmit = async (ev) => {
      ev.preventDefault();
      const code = input.value.replace(/\s+/g, "");
      if (!/^\d{6}$/.test(code)) return void (err.textContent = "Enter the 6 digits your authenticator app shows.");
      submit.disabled = true;
      try {
        const r = await api("POST", "totp/verify", { code }, { stepUp: false });
        if (state.me) state.me.totp_fresh_until_ms = r && r.fresh_until_ms;
        finish();
        info("Code accepted; retrying the action.");
        resolve();
      } catch (e) {
        err.textContent = e.message;
        showError(e);
        input.select();
      } finally {
        submit.disabled = false;
      }
    };
    const onCancel = (ev) => {
      if (ev) ev.preventDefault();
      finish();
      reject(new ApiError(403, "totp_required", message || "This action needs a fresh authenticator code."));
    };
    form.addEventListener("submit", onSubmit);
    cancel.addEventListener("click", onCancel);
    dlg.addEventListener("cancel", onCancel);
    dlg.showModal();
    input.focus();
  });
  return state.totpWaiter;
}

// ---------------------------------------------------------------- session

function renderWho() {
  $("#whoami").textContent = state.me ? `Signed in as ${state.me.email} (${state.me.role})` : "";
  $("#nav").hidden = !state.me;
}

function signedIn(op) {
  state.me = { totp_fresh_until_ms: null, ...op };
  renderWho();
  info(`Signed in as ${op.email}.`);
  go("#/agents");
}

function signedOut(message = "Your session has ended: sign in again.") {
  state.me = null;
  renderWho();
  setStatus("error", message, { code: "unauthorized", status: 401 });
  go("#/login");
}

// Runs an action from a button: disables it meanwhile, reports the outcome on the status line,
// and re-renders the page on success unless told not to. `main[data-busy]` counts the actions
// under way (a test waits for it to come back to 0).
async function act(button, fn, { again = true } = {}) {
  const main = $("#main");
  main.dataset.busy = String(++state.busy);
  if (button) button.disabled = true;
  try {
    const message = await fn();
    if (message) info(message);
    if (again) await refresh();
  } catch (e) {
    showError(e);
  } finally {
    if (button && button.isConnected) button.disabled = false;
    main.dataset.busy = String(--state.busy);
  }
}

const logout = (ev) => act(ev.currentTarget, async () => {
  await request("POST", "logout");
  state.me = null;
  renderWho();
  go("#/login");
  return "Signed out.";
}, { again: false });

// ---------------------------------------------------------------- pages: sign-in and enrolment

function loginPage() {
  const button = h("button", { id: "login-button", type: "submit" }, "Sign in with passkey");
  const onsubmit = submitted(() => act(button, async () => {
    const email = $("#login-email").value.trim();
    if (!email) throw new Error("Enter your email address.");
    info("Waiting for your passkey…");
    const start = await api("POST", "login/start", { email });
    const credential = await getAssertion(start.options);
    const out = await api("POST", "login/finish", { ticket: start.ticket, credential });
    signedIn(out.operator);
  }, { again: false }));
  return pageSection("Sign in", { class: "panel narrow" },
    h("form", { class: "stack", onsubmit },
      field("login-email", "Email", { type: "email", autocomplete: "username webauthn", required: true }),
      h("div", { class: "actions" }, button)),
    h("p", {}, "First time here? ", h("a", { href: "#/enrol" }, "Enrol with your invitation")));
}

function enrolPage() {
  const send = h("button", { id: "enrol-send", type: "submit", class: "secondary" }, "Send code");
  const register = h("button", { id: "enrol-register", type: "submit" }, "Register passkey");
  const email = () => $("#enrol-email").value.trim();
  const onSend = submitted(() => act(send, async () => {
    if (!email()) throw new Error("Enter the email address your invitation was sent to.");
    await api("POST", "enrol/start", { email: email() });
    $("#enrol-code").focus();
    return `If ${email()} has an invitation, a 6-digit code is on its way.`;
  }, { again: false }));
  const onRegister = submitted(() => act(register, async () => {
    const code = $("#enrol-code").value.replace(/\s+/g, "");
    if (!email() || !code) throw new Error("Enter your email address and the code from the email.");
    info("Waiting for your authenticator…");
    const v = await api("POST", "enrol/verify", { email: email(), code });
    const credential = await createCredential(v.options);
    const out = await api("POST", "enrol/finish", { ticket: v.ticket, credential });
    signedIn(out.operator);
  }, { again: false }));
  return pageSection("Enrol as an operator", { class: "panel narrow" },
    h("p", {}, "Use the address your invitation was sent to. You get a 6-digit code by email, then register a passkey on this device."),
    h("form", { class: "stack", onsubmit: onSend },
      field("enrol-email", "Email", { type: "email", autocomplete: "username", required: true }),
      h("div", { class: "actions" }, send)),
    h("form", { class: "stack", onsubmit: onRegister },
      field("enrol-code", "Code from the email", { inputmode: "numeric", autocomplete: "one-time-code", maxlength: 6 }),
      h("div", { class: "actions" }, register)),
    h("p", {}, h("a", { href: "#/login" }, "Back to sign in")));
}

// ---------------------------------------------------------------- pages: data

function pager(prefix, base, params, items, limit, cursorOf) {
  const next = h("button", { id: `${prefix}-next`, type: "button", class: "secondary", disabled: items.length < limit }, "Next page");
  next.addEventListener("click", () => go(base + qs({ ...params, after: cursorOf(items[items.length - 1]) })));
  return h("div", { class: "pager" },
    params.after ? h("a", { id: `${prefix}-first`, href: base + qs({ ...params, after: null }) }, "First page") : null,
    next, h("span", { class: "muted" }, `${items.length} shown${params.after ? ` after ${params.after}` : ""}`));
}

async function agentsPage(params) {
  const [list, ks] = await Promise.all([
    api("GET", `v1/agents${qs({ limit: LIMIT.agents, after: params.after })}`),
    api("GET", "v1/kill-switch").catch((e) => ({ error: e })),
  ]);
  const agents = (list && list.agents) || [];
  const engaged = ks && !ks.error ? Boolean(ks.engaged) : null;
  const frozenAgents = (ks && ks.frozen_agents) || [];
  const engage = h("button", { id: "kill-switch-engage", type: "button", class: "danger" }, "Engage kill switch");
  const release = h("button", { id: "kill-switch-release", type: "button", class: "secondary" }, "Release kill switch");
  const setKill = (on, b) => act(b, async () => {
    const r = await api("POST", "v1/kill-switch", { engaged: on });
    return r && r.engaged ? "Kill switch engaged: the custody boundary signs nothing for any agent." : "Kill switch released.";
  });
  engage.addEventListener("click", () => setKill(true, engage));
  release.addEventListener("click", () => setKill(false, release));
  const rows = agents.map((a) => {
    const ad = a.addresses || {};
    return h("tr", { class: a.frozen ? "frozen" : "", dataset: { agentRow: a.agent_id } },
      h("td", { class: "mono" }, text(a.agent_id)), h("td", {}, text(a.email)),
      h("td", { class: "mono" }, text(ad.solana)), h("td", { class: "mono" }, text(ad.evm)),
      h("td", {}, yesNo(a.frozen)), h("td", {}, text(a.policy_version)), h("td", {}, fmtTime(a.created_at_ms)),
      h("td", {},
        h("a", { href: `#/policy${qs({ agent: a.agent_id })}`, class: "small", dataset: { action: "policy", agent: a.agent_id }, "aria-label": `Policy of agent ${a.agent_id}` }, "Policy"), " ",
        h("button", { type: "button", class: "small danger", dataset: { action: "freeze", agent: a.agent_id }, "aria-label": `Freeze agent ${a.agent_id}` }, "Freeze"), " ",
        h("button", { type: "button", class: "small secondary", dataset: { action: "unfreeze", agent: a.agent_id }, "aria-label": `Unfreeze agent ${a.agent_id}` }, "Unfreeze")));
  });
  const tbl = table("agents-table", "Agents, oldest first", ["Agent", "Email", "Solana address", "EVM address", "Frozen", "Policy version", "Created", "Actions"], rows, "No agents.");
  onRowAction(tbl, (b, { action, agent }) => act(b, async () => {
    await api("POST", `v1/agents/${encodeURIComponent(agent)}/${action}`, {});
    return `Agent ${agent} ${action === "freeze" ? "frozen" : "unfrozen"}.`;
  }));
  return pageSection("Agents", {},
    h("section", { class: "panel", "aria-labelledby": "kill-title" },
      h("h3", { id: "kill-title" }, "Kill switch"),
      h("div", { class: "kill" },
        h("p", { id: "kill-switch-state", class: "state", dataset: { engaged: engaged === null ? "unknown" : String(engaged) } },
          engaged === null ? `Unknown: ${(ks && ks.error && ks.error.message) || "no answer"}` : engaged ? "Engaged: every agent is frozen" : "Released: agents run under their policies"),
        engage, release),
      h("p", { class: "muted" }, `Agents frozen one by one: ${frozenAgents.length ? frozenAgents.join(", ") : "none"}. Engaging or releasing needs an admin and a fresh authenticator code.`)),
    h("h3", {}, "All agents"),
    tbl,
    pager("agents", "#/agents", params, agents, LIMIT.agents, (a) => a.agent_id));
}

// An agent's policy document: edit it as JSON, see what a change would do (dry run), save it.
async function policyPage(params) {
  const agent = params.agent || "";
  if (!agent) return pageSection("Policy", {}, h("p", {}, "No agent chosen: open an agent's policy from the ", h("a", { href: "#/agents" }, "Agents"), " page."));
  const path = `v1/agents/${encodeURIComponent(agent)}/policy`;
  const editor = h("textarea", { id: "policy-editor", name: "policy-editor", class: "editor", rows: 20, spellcheck: "false", autocomplete: "off", "aria-describedby": "policy-hint" });
  const version = h("p", { id: "policy-version", class: "muted" });
  const load = async () => {
    const r = await api("GET", path, undefined, { full: true });
    editor.value = JSON.stringify(r.data, null, 2);
    const v = r.headers.get("x-policy-version");
    version.textContent = v ? `Policy version ${v}.` : "";
  };
  await load();
  const parsed = () => {
    try { return JSON.parse(editor.value); } catch (e) { throw new Error(`The policy is not valid JSON: ${e.message}`); }
  };
  const dryResult = h("div", { id: "policy-dry-run-result", "aria-live": "polite" }, h("p", { class: "muted" }, "No dry run yet."));
  const saveResult = h("p", { id: "policy-save-result", "aria-live": "polite" });
  const dry = h("button", { id: "policy-dry-run", type: "button", class: "secondary" }, "Dry run");
  const save = h("button", { id: "policy-save", type: "button" }, "Save");
  dry.addEventListener("click", () => act(dry, async () => {
    const doc = parsed();
    Object.assign(dryResult.dataset, { would: "", loosens: "", http: "" });
    dryResult.replaceChildren(h("p", {}, "Running…"));
    let r;
    try { r = (await api("POST", `${path}/dry-run`, doc, { full: true })); } catch (e) {
      dryResult.dataset.http = String(e.status || "");
      dryResult.replaceChildren(h("p", { class: "error" }, `Dry run refused: ${e.message}`));
      throw e;
    }
    const d = r.data || {};
    // `loosens`: a flag, or the list of what loosens.
    const loosening = Array.isArray(d.loosens) ? d.loosens : [];
    const loosens = Array.isArray(d.loosens) ? d.loosens.length > 0 : Boolean(d.loosens);
    const sentence = { in_force: "Would be in force at once.", unchanged: "Would leave the policy unchanged.",
      pending: `Would be pending until ${fmtTime(d.effective_from_ms)} (${fmtIn(d.effective_from_ms)}).`,
      refused: `Would be refused: ${text(d.reason)}` }[d.would] || `Would: ${text(d.would)}${d.reason ? ` (${d.reason})` : ""}`;
    const changes = (d.changes || []).map((c) => (c && typeof c === "object"
      ? (c.path !== undefined ? `${c.path}: ${text(c.from)} → ${text(c.to)}` : Object.entries(c).map(([k, v]) => `${k}: ${text(v)}`).join(", "))
      : String(c)));
    Object.assign(dryResult.dataset, { would: String(d.would ?? ""), loosens: String(loosens), http: String(r.status) });
    dryResult.replaceChildren(
      h("p", { id: "policy-would", class: "state" }, sentence),
      h("p", { id: "policy-loosens" }, loosens
        ? `It loosens the policy${loosening.length ? ` (${loosening.join("; ")})` : ""}: a loosening needs the owners' signatures and may wait for its delay.`
        : "It does not loosen the policy: one owner signature puts it in force at once."),
      h("p", { class: "muted" }, `Owner signatures: ${text(d.signatures)} of ${text(d.needs_signatures)} needed. Envelope version ${text(d.current_version)} → ${text(d.next_version)}.`),
      h("h4", {}, `Changes (${changes.length})`),
      h("ul", { id: "policy-changes", class: "mono" }, changes.map((c) => h("li", {}, c))),
      h("p", { class: "muted", hidden: changes.length > 0 }, "No field changes."));
    dryResult.scrollIntoView({ block: "nearest" });
    return `Dry run: ${sentence}`;
  }, { again: false }));
  save.addEventListener("click", () => act(save, async () => {
    const doc = parsed();
    saveResult.dataset.http = "";
    saveResult.textContent = "Saving…";
    let r;
    try { r = await api("PUT", path, doc, { full: true }); } catch (e) {
      saveResult.dataset.http = String(e.status || "");
      saveResult.textContent = `Not saved: ${e.message}${e.field ? ` (field: ${e.field})` : ""}`;
      throw e;
    }
    saveResult.dataset.http = String(r.status);
    saveResult.scrollIntoView({ block: "nearest" });
    if (r.status === 202) {
      const from = r.data && r.data.effective_from_ms;
      saveResult.textContent = `Accepted but pending: the change loosens the policy and takes force ${from ? `at ${fmtTime(from)} (${fmtIn(from)})` : "once its delay has passed"}.`;
      return "Policy change accepted; it is pending.";
    }
    await load();
    saveResult.textContent = `Saved and in force.${version.textContent ? ` ${version.textContent}` : ""}`;
    return "Policy saved; it is in force.";
  }, { again: false }));
  return pageSection(`Policy of agent ${agent}`, {},
    h("p", {}, h("a", { href: "#/agents" }, "Back to the agents"), " · ", h("a", { href: `#/audit${qs({ agent })}` }, "This agent's audit log")),
    h("section", { class: "panel", "aria-labelledby": "policy-doc-title" },
      h("h3", { id: "policy-doc-title" }, "Document"),
      version,
      h("label", { for: "policy-editor" }, "Policy document (JSON)"),
      h("p", { id: "policy-hint", class: "muted" }, "Sections left out take the server default. A change that only tightens is in force at once; one that loosens needs the owners' signatures and may wait for a delay. Saving needs an admin and a fresh authenticator code."),
      editor,
      h("div", { class: "actions" }, dry, save)),
    h("section", { class: "panel", "aria-labelledby": "policy-dry-title" }, h("h3", { id: "policy-dry-title" }, "Dry run"), dryResult),
    h("section", { class: "panel", "aria-labelledby": "policy-save-title" }, h("h3", { id: "policy-save-title" }, "Save"), saveResult));
}

// What an approval would do, read defensively from whatever the server sent.
function decodeApproval(a) {
  const req = a.request || {};
  const fx = a.effects || req.effects || {};
  const recipients = new Set();
  for (const r of [fx.recipients, a.recipients, a.recipient, req.to, req.recipient].flat()) if (r) recipients.add(typeof r === "string" ? r : JSON.stringify(r));
  const amounts = [];
  if (req.amount !== undefined) amounts.push(`requested ${req.amount} ${req.asset || "native"}`);
  for (const c of fx.changes || []) {
    let line = `${c.delta} ${c.asset}`;
    const n = Number(c.delta) * Number(c.usd_price);
    if (c.usd_price !== null && c.usd_price !== undefined && isFinite(n)) line += ` (≈ $${Math.abs(n).toFixed(2)} at $${c.usd_price})`;
    amounts.push(line);
  }
  const usd = a.usd_value ?? a.usd ?? req.usd_value ?? null;
  return { id: a.id ?? a.approval_id, recipients: [...recipients], amounts, usd, chain: req.chain, summary: a.summary };
}

async function approvalsPage(params) {
  const all = params.status === "all";
  const list = await api("GET", `v1/approvals${qs({ status: all ? "all" : null })}`);
  const approvals = (list && list.approvals) || [];
  const rows = approvals.map((a) => {
    const d = decodeApproval(a);
    const pending = (a.status || "pending") === "pending";
    return h("tr", { dataset: { approvalRow: d.id } },
      h("td", { class: "mono" }, text(d.id)), h("td", { class: "mono" }, text(a.agent_id)),
      h("td", {}, text(a.action), d.chain ? ` on ${d.chain}` : "", d.summary ? h("div", { class: "muted" }, d.summary) : null),
      h("td", { class: "mono" }, d.recipients.length ? d.recipients.map((r) => h("div", {}, r)) : "—"),
      h("td", {}, d.amounts.length ? d.amounts.map((x) => h("div", {}, x)) : "—"),
      h("td", {}, d.usd === null ? "unpriced" : `$${d.usd}`),
      h("td", {}, text(a.status), a.quorum > 1 ? ` (${(a.approvers || []).length}/${a.quorum})` : ""),
      h("td", {}, fmtTime(a.expires_at_ms), h("div", { class: "muted" }, fmtIn(a.expires_at_ms))),
      h("td", {}, pending ? [
        h("button", { type: "button", class: "small", dataset: { action: "approve", approval: d.id }, "aria-label": `Approve ${d.id}` }, "Approve"), " ",
        h("button", { type: "button", class: "small danger", dataset: { action: "reject", approval: d.id }, "aria-label": `Reject ${d.id}` }, "Reject"),
      ] : "—"));
  });
  const tbl = table("approvals-table", all ? "Recent approvals, every status" : "Pending approvals",
    ["Approval", "Agent", "Action", "Recipients", "Amounts", "USD value", "Status", "Expires", "Decision"], rows,
    all ? "No approvals." : "Nothing waits for approval.");
  onRowAction(tbl, (b, { action, approval }) => act(b, async () => {
    const r = await api("POST", `v1/approvals/${encodeURIComponent(approval)}/${action}`, {});
    if (action === "reject") return `Approval ${approval} rejected.`;
    if (r && r.status === "pending_approval") return `Your approval of ${approval} is counted (${r.approvals}/${r.quorum}); more approvers are needed.`;
    return `Approval ${approval} approved; the action ran${r && (r.signature || r.tx || r.tx_hash) ? `: ${r.signature || r.tx || r.tx_hash}` : ""}.`;
  }));
  return pageSection("Approvals", {},
    h("p", {}, all ? h("a", { href: "#/approvals" }, "Show pending only") : h("a", { href: "#/approvals?status=all" }, "Show every status")),
    tbl);
}

async function auditPage(params) {
  const agent = params.agent || "";
  const list = await api("GET", `v1/audit${qs({ limit: LIMIT.audit, after: params.after, agent_id: agent })}`);
  const records = (list && list.records) || [];
  const result = h("p", { id: "audit-verify-result", "aria-live": "polite" });
  const verify = h("button", { id: "audit-verify", type: "button", class: "secondary" }, "Verify chain");
  verify.addEventListener("click", () => act(verify, async () => {
    result.textContent = "Verifying…";
    result.dataset.ok = "";
    const r = await api("GET", "v1/audit/verify").catch((e) => { result.textContent = ""; throw e; });
    result.dataset.ok = String(Boolean(r.ok));
    result.textContent = r.ok
      ? `Chain intact: ${r.records} records verified${r.checkpoints !== undefined ? `, ${r.checkpoints} signed checkpoints` : ""}.`
      : `Chain BROKEN at record ${r.broken_at}: ${r.reason}`;
    if (!r.ok) setStatus("error", result.textContent, { code: "audit_broken" });
  }, { again: false }));
  const onsubmit = submitted(() => go("#/audit" + qs({ agent: $("#audit-agent").value.trim() })));
  const rows = records.map((r) => h("tr", { dataset: { auditRow: r.id } },
    h("td", {}, text(r.id)), h("td", {}, fmtTime(r.time_ms)), h("td", { class: "mono" }, text(r.agent_id)),
    h("td", { class: "mono" }, text(r.operator)), h("td", {}, text(r.action)), h("td", {}, text(r.outcome)),
    h("td", {}, text(r.status)), h("td", {}, r.usd_amount ? `$${r.usd_amount}` : "—"),
    h("td", { class: "mono" }, text(r.tx)), h("td", {}, text(r.reason))));
  return pageSection("Audit log", {},
    h("div", { class: "panel" },
      h("form", { class: "inline", onsubmit, role: "search", "aria-label": "Filter the audit log" },
        h("div", {}, field("audit-agent", "Agent id", { value: agent, autocomplete: "off", spellcheck: "false" })),
        h("button", { id: "audit-filter", type: "submit" }, "Filter"),
        agent ? h("a", { href: "#/audit" }, "Clear filter") : null),
      h("div", { class: "actions" }, verify), result),
    table("audit-table", `Audit records, oldest first${agent ? `, agent ${agent}` : ""}`,
      ["Id", "Time", "Agent", "Operator", "Action", "Outcome", "HTTP status", "USD", "Transaction", "Reason"], rows, "No records."),
    pager("audit", "#/audit", { agent, after: params.after }, records, LIMIT.audit, (r) => r.id));
}

function alertSummary(body) {
  if (body && typeof body === "object") return body.summary || body.message || JSON.stringify(body);
  return text(body);
}

async function alertsPage(params) {
  const list = await api("GET", `v1/alerts${qs({ limit: LIMIT.alerts, after: params.after })}`);
  const alerts = (list && list.alerts) || [];
  const rows = alerts.map((a) => h("tr", { dataset: { alertRow: a.id } },
    h("td", {}, text(a.id)), h("td", {}, text(a.rule)), h("td", {}, text(a.status)), h("td", {}, text(a.attempts)),
    h("td", {}, text(a.last_http_status)), h("td", {}, fmtTime(a.created_at_ms)), h("td", {}, alertSummary(a.body))));
  return pageSection("Alerts", {},
    list && list.enabled === false ? h("p", { class: "notice" }, "Alerts are off on this server: no receiver is configured ([alerts] url).") : null,
    table("alerts-table", "Alerts raised, oldest first, with their delivery",
      ["Id", "Rule", "Delivery", "Attempts", "Last HTTP status", "Raised", "Summary"], rows, "No alerts."),
    pager("alerts", "#/alerts", params, alerts, LIMIT.alerts, (a) => a.id));
}

// The server's QR code: parsed as SVG, stripped of anything active, then inserted.
function safeSvg(markup) {
  const doc = new DOMParser().parseFromString(String(markup || ""), "image/svg+xml");
  const svg = doc.documentElement;
  if (!svg || svg.nodeName.toLowerCase() !== "svg" || doc.getElementsByTagName("parsererror").length) {
    throw new Error("The server sent a QR code this page cannot read; use the secret below.");
  }
  for (const n of svg.querySelectorAll("script, foreignObject, iframe, animate, set, image, style")) n.remove();
  for (const el of [svg, ...svg.querySelectorAll("*")]) {
    for (const a of [...el.attributes]) {
      if (/^on/i.test(a.name) || a.name.toLowerCase() === "style" || (/href$/i.test(a.name) && !a.value.startsWith("#"))) el.removeAttribute(a.name);
    }
  }
  const w = parseFloat(svg.getAttribute("width")), hgt = parseFloat(svg.getAttribute("height"));
  if (!svg.hasAttribute("viewBox") && w > 0 && hgt > 0) svg.setAttribute("viewBox", `0 0 ${w} ${hgt}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "QR code to scan with your authenticator app");
  return document.importNode(svg, true);
}

async function securityPage() {
  const me = await api("GET", "me");
  state.me = me;
  renderWho();
  const passkey = h("section", { class: "panel", "aria-labelledby": "pk-title" },
    h("h3", { id: "pk-title" }, "Passkey"),
    h("p", {}, `You sign in as ${me.email} (${me.role}) with the passkey registered at enrolment.`));
  if (!me.totp_enrolled) {
    const setup = h("div", { id: "totp-setup", hidden: true });
    const start = h("button", { id: "totp-enrol", type: "button" }, "Set up authenticator");
    start.addEventListener("click", () => act(start, async () => {
      const r = await api("POST", "totp/enrol", {});
      const qr = h("div", { id: "totp-qr", class: "qr" });
      try { qr.append(safeSvg(r.qr_svg)); } catch (e) { showError(e); }
      const confirm = h("button", { id: "totp-confirm", type: "submit" }, "Confirm");
      const onsubmit = submitted(() => act(confirm, async () => {
        await api("POST", "totp/confirm", { code: $("#totp-code").value.replace(/\s+/g, "") });
        if (state.me) state.me.totp_enrolled = true;
        return "Authenticator set up. Admin actions now ask for one of its codes.";
      }));
      setup.replaceChildren(
        h("p", {}, "Scan this code with your authenticator app, or type the secret into it, then enter the 6-digit code it shows."),
        qr,
        h("p", {}, "Secret: ", h("code", { id: "totp-secret", class: "secret" }, r.secret)),
        r.otpauth_uri ? h("p", {}, h("a", { href: r.otpauth_uri }, "Open in an authenticator app on this device")) : null,
        h("form", { class: "inline", onsubmit },
          h("div", {}, field("totp-code", "Code from the app", { inputmode: "numeric", autocomplete: "one-time-code", maxlength: 6 })),
          confirm));
      setup.hidden = false;
      start.textContent = "Start again with a new secret";
      $("#totp-code").focus();
    }, { again: false }));
    return pageSection("Security", {}, passkey,
      h("section", { class: "panel", "aria-labelledby": "totp-title" },
        h("h3", { id: "totp-title" }, "Authenticator app (TOTP)"),
        h("p", {}, "Not set up. Every change made from the console (approving, freezing, the kill switch, policies) needs a fresh code from an authenticator app."),
        start, setup));
  }
  const fresh = me.totp_fresh_until_ms && me.totp_fresh_until_ms > Date.now();
  const verify = h("button", { id: "totp-verify", type: "submit" }, "Verify");
  const onsubmit = submitted(() => act(verify, async () => {
    const r = await api("POST", "totp/verify", { code: $("#totp-verify-code").value.replace(/\s+/g, "") }, { stepUp: false });
    if (state.me) state.me.totp_fresh_until_ms = r.fresh_until_ms;
    return `Verified: admin actions are allowed until ${fmtTime(r.fresh_until_ms)}.`;
  }));
  return pageSection("Security", {}, passkey,
    h("section", { class: "panel", "aria-labelledby": "totp-title" },
      h("h3", { id: "totp-title" }, "Authenticator app (TOTP)"),
      h("p", {}, "Set up."),
      h("p", { id: "totp-fresh", dataset: { freshUntilMs: me.totp_fresh_until_ms ?? "" } },
        fresh ? `Step-up is fresh until ${fmtTime(me.totp_fresh_until_ms)} (${fmtIn(me.totp_fresh_until_ms)}).`
          : "No fresh step-up: admin actions will ask for a code."),
      h("form", { class: "inline", onsubmit },
        h("div", {}, field("totp-verify-code", "Code from the app", { inputmode: "numeric", autocomplete: "one-time-code", maxlength: 6 })),
        verify)));
}

// ---------------------------------------------------------------- routing

const routes = {
  "/login": { page: loginPage, open: true, title: "Sign in" },
  "/enrol": { page: enrolPage, open: true, title: "Enrol" },
  "/agents": { page: agentsPage, title: "Agents" },
  "/policy": { page: policyPage, title: "Policy" },
  "/approvals": { page: approvalsPage, title: "Approvals" },
  "/audit": { page: auditPage, title: "Audit log" },
  "/alerts": { page: alertsPage, title: "Alerts" },
  "/security": { page: securityPage, title: "Security" },
};

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = raw.split("?");
  return { path, params: Object.fromEntries(new URLSearchParams(query)) };
}

// Navigates from code: keeps the status line (a route change by the person clears it).
function go(hash) {
  state.keepStatus = true;
  if (location.hash === hash) return refresh();
  $("#main").dataset.loaded = "false";
  location.hash = hash;
}

function refresh() {
  state.refreshing = true;
  return route();
}

async function route() {
  const main = $("#main"), view = $("#view");
  const { path, params } = parseHash();
  const r = routes[path];
  const isRefresh = state.refreshing;
  state.refreshing = false;
  if (!r) return go(state.me ? "#/agents" : "#/login");
  if (!r.open && !state.me) return go("#/login");
  if (r.open && state.me) return go("#/agents");
  if (!state.keepStatus && !isRefresh) clearStatus();
  state.keepStatus = false;
  const seq = ++state.routeSeq;
  main.dataset.loaded = "false";
  main.dataset.route = path;
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.getAttribute("href") === `#${path}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  document.title = `${r.title} · Custos operator console`;
  let node;
  try {
    node = await r.page(params);
  } catch (e) {
    if (seq !== state.routeSeq) return;
    showError(e);
    node = pageSection(r.title, {}, h("p", {}, "This page could not be loaded. ",
      h("button", { type: "button", class: "secondary", onclick: () => refresh() }, "Try again")));
  }
  if (seq !== state.routeSeq) return;
  view.replaceChildren(node);
  main.dataset.renders = String(Number(main.dataset.renders || 0) + 1);
  main.dataset.loaded = "true";
  if (!isRefresh) {
    const t = $("#page-title");
    if (t && !$("#totp-dialog").open) t.focus({ preventScroll: true });
  }
}

async function boot() {
  $("#logout").addEventListener("click", logout);
  try {
    state.me = await request("GET", "me");
  } catch (e) {
    state.me = null;
    if (e.status !== 401) showError(e);
  }
  renderWho();
  window.addEventListener("hashchange", () => route());
  route();
}

boot();
