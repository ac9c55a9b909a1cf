//! Strict request extraction: JSON bodies with unknown fields refused and every error naming
//! the field, before any handler code runs.
use crate::error::ApiError;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// A JSON body parsed strictly (types should use `deny_unknown_fields`).
pub struct StrictJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for StrictJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let _ = state;
        require_json(req.headers())?;
        let bytes = read_body(req).await?;
        parse_json(&bytes).map(StrictJson)
    }
}

/// A body declared as JSON, read within the size limit; errors in the documented format.
pub struct JsonBytes(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let _ = state;
        require_json(req.headers())?;
        read_body(req).await.map(JsonBytes)
    }
}

/// A body that may be absent (every field optional): read within the size limit like
/// [`JsonBytes`]; one with content must be declared JSON. Empty (or only whitespace) when absent.
pub struct OptionalJsonBytes(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for OptionalJsonBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let _ = state;
        let headers = req.headers().clone();
        let body = read_body(req).await?;
        if !body.iter().all(u8::is_ascii_whitespace) {
            require_json(&headers)?;
        }
        Ok(OptionalJsonBytes(body))
    }
}

/// `server.max_body_bytes`, put in every request's extensions by the router.
#[derive(Clone, Copy, Debug)]
pub struct MaxBody(pub usize);

/// `server.body_read_timeout_seconds`, put in every request's extensions by the router.
#[derive(Clone, Copy, Debug)]
pub struct BodyTimeout(pub std::time::Duration);

/// How much of an oversized body is read and thrown away before answering `413`.
const DRAIN_MAX: usize = 16 * 1024 * 1024;
/// How long draining may take.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(5);

/// Reads the body, at most [`MaxBody`] bytes, within [`BodyTimeout`]. A body whose declared
/// `Content-Length` is beyond 16 MiB is refused with `413` at once, without waiting for it; a
/// smaller one over the limit is refused after it has been read and discarded (within 5 s), so
/// a client still sending receives the documented error instead of a connection reset
/// mid-upload. A body still incomplete at the deadline is answered `408`.
pub async fn read_body(req: Request) -> Result<axum::body::Bytes, ApiError> {
    let limit = req.extensions().get::<MaxBody>().map_or(64 * 1024, |m| m.0);
    let deadline = req
        .extensions()
        .get::<BodyTimeout>()
        .map_or(std::time::Duration::from_secs(30), |t| t.0);
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // A declared length past what would ever be drained is refused before a byte of it is
    // read; a smaller oversized body is drained first (below), so its sender can read the 413.
    if declared.is_some_and(|n| n > DRAIN_MAX as u64) {
        return Err(too_large(limit));
    }
    match tokio::time::timeout(deadline, read_limited(req, limit)).await {
        Ok(r) => r,
        Err(_) => Err(ApiError {
            status: axum::http::StatusCode::REQUEST_TIMEOUT,
            ..ApiError::bad_request(format!(
                "the body did not arrive within {} s",
                deadline.as_secs()
            ))
        }),
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError {
        status: axum::http::StatusCode::PAYLOAD_TOO_LARGE,
        ..ApiError::bad_request(format!("the body is larger than {limit} bytes"))
    }
}

async fn read_limited(req: Request, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    use http_body_util::BodyExt;
    let mut body = req.into_body();
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::bad_request(format!("cannot read body: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if buf.len() + data.len() > limit {
            let mut seen = buf.len() + data.len();
            let drain = async {
                while let Some(Ok(f)) = body.frame().await {
                    seen += f.data_ref().map_or(0, |d| d.len());
                    if seen > DRAIN_MAX {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(DRAIN_TIME, drain).await;
            return Err(too_large(limit));
        }
        buf.extend_from_slice(&data);
    }
    Ok(axum::body::Bytes::from(buf))
}

/// Refuses a body that is not declared as JSON.
pub fn require_json(headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    let is_json = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
    if is_json {
        Ok(())
    } else {
        Err(
            ApiError::bad_request("Content-Type must be application/json")
                .with_field("Content-Type"),
        )
    }
}

/// Parses `bytes` as `T`, naming the field on any error.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Syntax first, so a malformed body (`{...}}`, truncated, trailing text) is always `400`
    // whatever its fields; then the shape: every body is a JSON object.
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::invalid("$", "the body must be a JSON object"));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let result: Result<T, _> = serde_path_to_error::deserialize(&mut *de);
    result.map_err(|e| {
        let path = e.path().to_string();
        let inner = e.inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::bad_request(format!("malformed JSON: {inner}"));
        }
        let msg = inner.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        let named = |prefix: &str| {
            msg.strip_prefix(prefix)
                .and_then(|r| r.split('`').next())
                .map(str::to_owned)
        };
        let field = if let Some(name) = named("unknown field `") {
            if path == "." || path.ends_with(&name) {
                if path == "." {
                    name
                } else {
                    path
                }
            } else {
                format!("{path}.{name}")
            }
        } else if let Some(name) = named("missing field `") {
            if path == "." {
                name
            } else {
                format!("{path}.{name}")
            }
        } else if path == "." {
            "$".to_owned()
        } else {
            path
        };
        ApiError::invalid(field, msg)
    })
}

/// The optional `Idempotency-Key` header, validated.
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Some(v) = parts.headers.get("idempotency-key") else {
            return Ok(Self(None));
        };
        let s = v.to_str().map_err(|_| {
            ApiError::bad_request("must be printable ASCII").with_field("Idempotency-Key")
        })?;
        if s.is_empty() || s.len() > 255 || !s.bytes().all(|b| (0x21..0x7f).contains(&b)) {
            return Err(ApiError::bad_request(
                "must be 1 to 255 printable ASCII characters without spaces",
            )
            .with_field("Idempotency-Key"));
        }
        Ok(Self(Some(s.to_owned())))
    }
}

/// Reads a whole number given as a JSON integer or as an integral float (`3.0`): JSON Schema,
/// and so the OpenAPI document, counts both as integers. `3.5`, negatives and out-of-range
/// values are refused.
pub fn whole_number<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    use serde::Deserialize;
    let n = serde_json::Number::deserialize(d)?;
    let whole = n.as_u64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= 9_007_199_254_740_991.0)
            .map(|f| f as u64)
    });
    whole
        .and_then(|v| T::try_from(v).ok())
        .ok_or_else(|| serde::de::Error::custom(format!("`{n}` is not a whole number in range")))
}

/// [`whole_number`] for an optional field.
pub fn optional_whole_number<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    #[derive(serde::Deserialize)]
    struct Wrap<U: TryFrom<u64>>(#[serde(deserialize_with = "whole_number")] U);
    use serde::Deserialize;
    Option::<Wrap<T>>::deserialize(d).map(|w| w.map(|Wrap(v)| v))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        email: String,
        inner: Option<Inner>,
    }
    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        n: u32,
    }

    #[test]
    fn errors_name_fields() {
        let f = |s: &str| parse_json::<Body>(s.as_bytes()).unwrap_err();
        assert_eq!(f(r#"{"email":"a","zzz":1}"#).field.as_deref(), Some("zzz"));
        assert_eq!(f(r#"{}"#).field.as_deref(), Some("email"));
        assert_eq!(f(r#"{"email":5}"#).field.as_deref(), Some("email"));
        assert_eq!(
            f(r#"{"email":"a","inner":{"n":-1}}"#).field.as_deref(),
            Some("inner.n")
        );
        assert_eq!(
            f(r#"{"email":"a","inner":{"n":1,"q":2}}"#).field.as_deref(),
            Some("inner.q")
        );
        assert_eq!(f(r#"[1]"#).field.as_deref(), Some("$"));
        assert_eq!(f(r#"{"email":"a"}}"#).status, 400);
        assert_eq!(f(r#"{"email":"a"} x"#).status, 400);
        let e = f(r#"{"email":"#);
        assert_eq!(e.status, 400);
        assert_eq!(e.field, None);
    }

    #[test]
    fn whole_numbers_may_be_written_as_integral_floats_only() {
        #[derive(serde::Deserialize)]
        struct N {
            #[serde(deserialize_with = "whole_number")]
            n: u8,
            #[serde(default, deserialize_with = "optional_whole_number")]
            o: Option<u32>,
        }
        let read = |j: &str| serde_json::from_str::<N>(j).map(|v| (v.n, v.o));
        assert_eq!(read(r#"{"n": 3}"#).ok(), Some((3, None)));
        assert_eq!(read(r#"{"n": 3.0, "o": 50.0}"#).ok(), Some((3, Some(50))));
        assert_eq!(read(r#"{"n": 3, "o": null}"#).ok(), Some((3, None)));
        for bad in [
            r#"{"n": 3.5}"#,
            r#"{"n": -1}"#,
            r#"{"n": 256}"#,
            r#"{"n": "3"}"#,
            r#"{"n": 1e300}"#,
        ] {
            assert!(read(bad).is_err(), "{bad}");
        }
    }
}
