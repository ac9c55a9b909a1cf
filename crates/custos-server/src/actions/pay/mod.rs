//! `pay`: an x402 payment for an HTTP resource (x402 v2, the `exact` scheme: on EVM chains an
//! EIP-3009 `transferWithAuthorization` ([`evm`]); on Solana an SPL `TransferChecked`
//! transaction the seller's facilitator co-signs as fee payer and sends ([`svm`])). Custos
//! fetches the URL; on `402 Payment Required` it reads the seller's requirements (the
//! `PAYMENT-REQUIRED` header), chooses the first option the policy allows, signs the payment
//! for exactly that option — amount, token, payee, network, and a validity window no longer
//! than the policy's — and fetches the URL again with the `PAYMENT-SIGNATURE` header,
//! returning the resource and the seller's settlement receipt (`PAYMENT-RESPONSE`).
//!
//! The checks, in order, before anything is signed: the URL's host is on `payments.domains`
//! (checked before the site is contacted at all); the option is `exact` on an enabled chain the
//! policy lists (an `eip155:<id>` this server has, or the Solana cluster it is on, by genesis
//! hash), for a priced token, and costs at most `payments.max_per_payment_usd`; when the agent
//! passes the `quote` it was shown, the seller still asks exactly that. The signature itself
//! goes through the same decision as a transfer — the `transfer` toggle, the payee against
//! `recipients`, the per-transaction and daily caps and the site's daily share (reserved,
//! race-free), and the custody boundary's own check — and is audited. The payment's outcome
//! and the receipt are a second audit record (`pay`). Redirects are not followed.
mod evm;
mod svm;

use super::Actor;
use crate::error::ApiError;
use crate::state::AppState;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use custos_core::Agent;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

/// The request body of `pay`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayBody {
    /// The resource (`http://` or `https://`), fetched with `GET`.
    #[schema(example = "https://api.example.com/weather")]
    pub url: String,
    /// The payment requirements the agent was quoted (one entry of a 402's `accepts`): Custos
    /// then pays only if the seller still asks exactly that (scheme, network, amount, asset,
    /// payee).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub quote: Option<Value>,
}

/// The largest resource (or 402 answer) read, bytes. Well under what an idempotent answer may
/// hold (`idempotency`), so a paid resource is always stored with its key: a retry gets it
/// again instead of paying again.
pub const MAX_RESOURCE_BYTES: usize = 256 * 1024;
/// How long one request to the seller may take.
const SELLER_TIMEOUT: Duration = Duration::from_secs(30);

/// Validates the body (before any side effect).
pub fn validate(body: &PayBody) -> Result<reqwest::Url, ApiError> {
    let url = reqwest::Url::parse(&body.url)
        .map_err(|e| ApiError::invalid("url", format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ApiError::invalid(
            "url",
            "must be an http:// or https:// URL with a host",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ApiError::invalid("url", "must not carry credentials"));
    }
    if body.quote.as_ref().is_some_and(|q| !q.is_object()) {
        return Err(ApiError::invalid(
            "quote",
            "must be one entry of a 402's `accepts`",
        ));
    }
    Ok(url)
}

/// One entry of a 402's `accepts` (x402 v2 `PaymentRequirements`), as read.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Requirement {
    scheme: String,
    network: String,
    amount: String,
    asset: String,
    pay_to: String,
    #[serde(default)]
    max_timeout_seconds: u64,
    #[serde(default)]
    extra: Value,
}

impl Requirement {
    /// Whether this is what `quote` describes (addresses compared case-insensitively).
    fn matches(&self, quote: &Value) -> Result<(), String> {
        let mut off = vec![];
        for (k, mine, ci) in [
            ("scheme", &self.scheme, false),
            ("network", &self.network, false),
            ("amount", &self.amount, false),
            ("asset", &self.asset, true),
            ("payTo", &self.pay_to, true),
        ] {
            let q = quote[k].as_str().unwrap_or_default();
            let same = if ci {
                q.eq_ignore_ascii_case(mine)
            } else {
                q == mine.as_str()
            };
            if !same {
                off.push(format!("{k} {mine} (quoted {q})"));
            }
        }
        if off.is_empty() {
            Ok(())
        } else {
            Err(off.join(", "))
        }
    }
}

/// A signing step's JSON answer, read back (it is this server's own response).
async fn body_json(r: Response) -> Result<Value, ApiError> {
    axum::body::to_bytes(r.into_body(), 64 * 1024)
        .await
        .map_err(ApiError::internal)
        .and_then(|b| serde_json::from_slice::<Value>(&b).map_err(ApiError::internal))
}

fn upstream(message: String, details: Option<Value>) -> ApiError {
    ApiError {
        status: StatusCode::BAD_GATEWAY,
        code: "upstream_error",
        details,
        ..ApiError::bad_request(message)
    }
}

/// The seller's answer: status, content type, body as JSON when it is JSON (else text).
async fn read(
    resp: reqwest::Response,
) -> Result<(u16, reqwest::header::HeaderMap, Value), ApiError> {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_RESOURCE_BYTES as u64)
    {
        return Err(upstream(
            format!("the seller's answer is larger than {MAX_RESOURCE_BYTES} bytes"),
            None,
        ));
    }
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| upstream(format!("the seller's answer could not be read: {e}"), None))?;
    if bytes.len() > MAX_RESOURCE_BYTES {
        return Err(upstream(
            format!("the seller's answer is larger than {MAX_RESOURCE_BYTES} bytes"),
            None,
        ));
    }
    // JSON as served; plain text as a string; anything else (or text that would escape to many
    // times its size) as base64, so the answer stays bounded.
    let body =
        serde_json::from_slice(&bytes).unwrap_or_else(|_| match std::str::from_utf8(&bytes) {
            Ok(t)
                if !t
                    .chars()
                    .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) =>
            {
                Value::String(t.to_owned())
            }
            _ => json!({"base64": base64::engine::general_purpose::STANDARD.encode(&bytes)}),
        });
    Ok((status, headers, body))
}

/// A base64 JSON header (`PAYMENT-REQUIRED`, `PAYMENT-RESPONSE`).
fn b64_json(headers: &reqwest::header::HeaderMap, name: &str) -> Option<Value> {
    let raw = headers.get(name)?.to_str().ok()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(raw.trim())
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Pays for `body.url` and returns what it serves; with `dry_run`, stops after the policy's
/// decision on the payment it would sign.
pub async fn run(
    state: &AppState,
    actor: &Actor<'_>,
    agent: Agent,
    body: PayBody,
    dry_run: bool,
) -> Result<Response, ApiError> {
    let url = validate(&body)?;
    let policy = state.policy_of(&agent)?;
    let host = url.host_str().unwrap_or_default().to_owned();
    if !policy.payments.allows_host(&host, url.port()) {
        return Err(ApiError::policy_denied(vec![(
            "payments.domains".into(),
            format!("{host} is not a site this wallet may pay (payments.domains)"),
        )]));
    }
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(SELLER_TIMEOUT)
        .build()
        .map_err(ApiError::internal)?;
    let first = client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| upstream(format!("the seller could not be reached: {e}"), None))?;
    let (status, headers, content) = read(first).await?;
    if status != 402 {
        let mut r =
            Json(json!({"status": "free", "http_status": status, "body": content})).into_response();
        r.extensions_mut()
            .insert(crate::audit_info::AuditInfo::with(
                "pay",
                json!({"url": url.as_str(), "paid": false, "http_status": status}),
            ));
        return Ok(r);
    }
    let required = b64_json(&headers, "payment-required").ok_or_else(|| {
        upstream(
            "the seller answered 402 without a readable PAYMENT-REQUIRED header (x402 v2)".into(),
            None,
        )
    })?;
    if required["x402Version"] != 2 {
        return Err(upstream(
            format!(
                "the seller speaks x402 version {}; Custos speaks version 2",
                required["x402Version"]
            ),
            None,
        ));
    }
    let mut accepts = required["accepts"].as_array().cloned().unwrap_or_default();
    // With a quote, only the option it describes may be paid: anything else the seller asks
    // now is a change since the quote, and nothing is signed.
    if let Some(q) = &body.quote {
        let mut diff = String::from("the seller offers no option");
        let quoted = accepts.iter().find(|raw| {
            match serde_json::from_value::<Requirement>((*raw).clone()).map(|r| r.matches(q)) {
                Ok(Ok(())) => true,
                Ok(Err(off)) => {
                    diff = off;
                    false
                }
                Err(_) => false,
            }
        });
        let Some(quoted) = quoted.cloned() else {
            return Err(ApiError::invalid(
                "quote",
                format!("the seller's requirements changed since the quote: now {diff}; nothing was signed"),
            ));
        };
        accepts = vec![quoted];
    }
    let (raw, req, usd) = choose(state, &policy, &accepts).await?;
    pay(
        state,
        actor,
        agent,
        &policy,
        Payment {
            url: &url,
            client: &client,
            required: &required,
            raw,
            req,
            usd,
        },
        dry_run,
    )
    .await
}

/// An option chosen, and where it goes.
struct Payment<'a> {
    url: &'a reqwest::Url,
    client: &'a reqwest::Client,
    required: &'a Value,
    raw: Value,
    req: Requirement,
    usd: custos_core::Decimal,
}

/// The first option the policy allows, with its USD value; a refusal names, per option, why.
async fn choose(
    state: &AppState,
    policy: &custos_policy::PolicyDocument,
    accepts: &[Value],
) -> Result<(Value, Requirement, custos_core::Decimal), ApiError> {
    let mut why: Vec<(String, String)> = vec![];
    for (i, raw) in accepts.iter().enumerate() {
        let req: Requirement = match serde_json::from_value(raw.clone()) {
            Ok(r) => r,
            Err(e) => {
                why.push((
                    "payments.option".into(),
                    format!("option {i} is unreadable: {e}"),
                ));
                continue;
            }
        };
        match judge(state, policy, &req).await {
            Ok(usd) => return Ok((raw.clone(), req, usd)),
            Err((rule, m)) => why.push((rule, format!("option {i}: {m}"))),
        }
    }
    if why.is_empty() {
        why.push((
            "payments.option".into(),
            "the seller offered no way to pay".into(),
        ));
    }
    Err(ApiError::policy_denied(why))
}

/// Why `req` cannot be paid, or its USD value: the scheme, then the chain's own checks.
async fn judge(
    state: &AppState,
    policy: &custos_policy::PolicyDocument,
    req: &Requirement,
) -> Result<custos_core::Decimal, (String, String)> {
    if req.scheme != "exact" {
        return Err((
            "payments.scheme".into(),
            format!("scheme {} is not `exact`", req.scheme),
        ));
    }
    let decimals = if req.network.starts_with("eip155:") {
        evm::judge(state, policy, req).await?
    } else if req.network.starts_with("solana:") {
        svm::judge(state, policy, req).await?
    } else {
        return Err((
            "chains".into(),
            format!(
                "network {} is neither an EVM chain (eip155:<id>) nor Solana (solana:<genesis>)",
                req.network
            ),
        ));
    };
    let value = custos_core::Atoms::parse_decimal(&req.amount).map_err(|e| {
        (
            "payments.amount".to_owned(),
            format!("amount {}: {e}", req.amount),
        )
    })?;
    let amount = value
        .to_whole(decimals)
        .map_err(|e| ("amount.out_of_range".to_owned(), e.to_string()))?;
    let usd = super::price(state, &custos_core::AssetId::new(req.asset.clone()))
        .await
        .times(amount)
        .known()
        .ok_or_else(|| {
            (
                "price.unavailable".to_owned(),
                format!("no price for {}", req.asset),
            )
        })?;
    if usd > policy.payments.max_per_payment_usd {
        return Err((
            "payments.max_per_payment_usd".into(),
            format!(
                "{usd} USD is more than the {} USD one payment may cost",
                policy.payments.max_per_payment_usd
            ),
        ));
    }
    Ok(usd)
}

/// What a chain's half of the scheme produced for the chosen option.
enum Signed {
    /// A dry run: the policy's explanation of the payment it would sign.
    DryRun(Value),
    /// The scheme's `payload` for the `PAYMENT-SIGNATURE` header, what was paid (for the
    /// answer and the audit record), and the audit id of the signature's own record.
    Payload {
        payload: Value,
        payment: Value,
        audit_id: Value,
    },
}

/// Signs the payment for `p`'s option (on its chain, through the policy and the boundary),
/// sends it, and answers with the resource and the receipt.
async fn pay(
    state: &AppState,
    actor: &Actor<'_>,
    agent: Agent,
    policy: &custos_policy::PolicyDocument,
    p: Payment<'_>,
    dry_run: bool,
) -> Result<Response, ApiError> {
    // The site's share of the budget, counted in the same reservation as the wallet's.
    let site = match p.url.port() {
        Some(port) => format!("{}:{port}", p.url.host_str().unwrap_or_default()),
        None => p.url.host_str().unwrap_or_default().to_owned(),
    }
    .to_ascii_lowercase();
    let bucket = policy
        .payments
        .daily_usd_per_domain
        .map(|daily_cap| custos_core::Bucket {
            key: format!("x402:{site}"),
            daily_cap,
        });
    let signed = if p.req.network.starts_with("solana:") {
        svm::sign(state, actor, agent, &p, bucket, dry_run).await?
    } else {
        evm::sign(state, actor, agent, policy, &p, bucket, dry_run).await?
    };
    let (payload, payment, audit_id) = match signed {
        Signed::DryRun(explanation) => {
            return Ok(Json(json!({"dry_run": true, "explanation": explanation})).into_response())
        }
        Signed::Payload {
            payload,
            payment,
            audit_id,
        } => (payload, payment, audit_id),
    };
    let header = json!({
        "x402Version": 2,
        "resource": p.required["resource"],
        "accepted": p.raw,
        "payload": payload,
    });
    let header = base64::engine::general_purpose::STANDARD.encode(header.to_string());
    let audit = |status: u16, receipt: &Value| {
        crate::audit_info::AuditInfo::with(
            "pay",
            json!({"url": p.url.as_str(), "paid": true, "http_status": status, "payment": payment,
                   "signature_audit_id": audit_id, "receipt": receipt}),
        )
    };
    // From here on the authorization is out of Custos' hands: every answer is final, so a retry
    // with the same Idempotency-Key gets it again instead of paying a second time.
    let handed_over = |mut e: ApiError, status: u16, receipt: &Value| {
        e.details = Some(
            json!({"http_status": status, "payment": payment, "signature_audit_id": audit_id}),
        );
        let mut r = e.into_response();
        r.extensions_mut().insert(crate::idempotency::Final);
        r.extensions_mut().insert(audit(status, receipt));
        r
    };
    let second = match p
        .client
        .get(p.url.clone())
        .header("PAYMENT-SIGNATURE", header)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => {
            return Ok(handed_over(
                upstream(format!("the seller could not be reached with the payment (it was signed and counted; it may still settle): {e}"), None),
                0,
                &Value::Null,
            ))
        }
    };
    let second_status = second.status().as_u16();
    let (status, headers, content) = match read(second).await {
        Ok(x) => x,
        Err(e) => {
            let message = format!(
                "{} (the payment was signed and sent, and is counted)",
                e.message
            );
            return Ok(handed_over(
                upstream(message, None),
                second_status,
                &Value::Null,
            ));
        }
    };
    let receipt = b64_json(&headers, "payment-response").unwrap_or(Value::Null);
    if !(200..300).contains(&status) {
        let seller_error = b64_json(&headers, "payment-required").map(|v| v["error"].clone());
        let r = handed_over(
            upstream(
                format!("the seller refused the payment (HTTP {status}): {}; it was signed and counted against the budget", seller_error.clone().unwrap_or(Value::Null)),
                None,
            ),
            status,
            &receipt,
        );
        return Ok(r);
    }
    let mut r = Json(json!({
        "status": "paid", "http_status": status, "body": content, "receipt": receipt,
        "payment": payment, "signature_audit_id": audit_id,
    }))
    .into_response();
    r.extensions_mut().insert(audit(status, &receipt));
    Ok(r)
}
