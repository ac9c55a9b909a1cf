//! The request a virtual user sends, and one-shot exchanges for set-up steps (login, mounting
//! OpenBao engines) on a fresh connection each.
use crate::BenchError;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;

/// One request, sent again and again by the load generator.
#[derive(Clone, Debug)]
pub struct Target {
    /// The server (loopback).
    pub addr: SocketAddr,
    /// Method.
    pub method: Method,
    /// Path and query.
    pub path: String,
    /// Extra headers (a bearer token, `X-Vault-Token`, …).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Body; a non-empty body is sent as `application/json`.
    pub body: Bytes,
    /// When set, every `__N__` in the body becomes the next value of this counter, five digits
    /// zero-padded (mod 100000), so requests that must differ (transfers) can.
    pub vary: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
}

impl Target {
    /// A `GET` with no headers.
    pub fn get(addr: SocketAddr, path: &str) -> Self {
        Self {
            addr,
            method: Method::GET,
            path: path.to_owned(),
            headers: vec![],
            body: Bytes::new(),
            vary: None,
        }
    }

    /// A `POST` of a JSON body.
    pub fn post_json(addr: SocketAddr, path: &str, body: &serde_json::Value) -> Self {
        Self {
            addr,
            method: Method::POST,
            path: path.to_owned(),
            headers: vec![],
            body: Bytes::from(body.to_string()),
            vary: None,
        }
    }

    /// Adds a header; a value that is not a valid header value is refused.
    pub fn header(mut self, name: &'static str, value: &str) -> Result<Self, BenchError> {
        let v = HeaderValue::from_str(value)
            .map_err(|_| BenchError::Invalid(format!("header {name} has an invalid value")))?;
        self.headers.push((HeaderName::from_static(name), v));
        Ok(self)
    }

    /// Makes every request's body distinct (see [`Target::vary`]).
    pub fn varying(mut self) -> Self {
        self.vary = Some(std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0)));
        self
    }

    /// Adds `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Result<Self, BenchError> {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// The request as hyper wants it.
    pub fn build(&self) -> Result<Request<Full<Bytes>>, BenchError> {
        let mut b = Request::builder()
            .method(self.method.clone())
            .uri(self.path.as_str())
            .header(HOST, self.addr.to_string());
        if !self.body.is_empty() {
            b = b.header(CONTENT_TYPE, "application/json");
        }
        for (k, v) in &self.headers {
            b = b.header(k, v);
        }
        let body = match &self.vary {
            Some(counter) => {
                let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 100_000;
                let text = String::from_utf8_lossy(&self.body).replace("__N__", &format!("{n:05}"));
                Bytes::from(text)
            }
            None => self.body.clone(),
        };
        b.body(Full::new(body))
            .map_err(|e| BenchError::Http(format!("building the request: {e}")))
    }
}

/// An open HTTP/1.1 keep-alive connection.
pub struct Connection {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Connection {
    /// Connects (with `TCP_NODELAY`) and performs the HTTP/1.1 handshake; the connection's
    /// driver runs as a task on the current runtime.
    pub async fn open(addr: SocketAddr) -> Result<Self, BenchError> {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| BenchError::io(format!("connecting to {addr}"), e))?;
        stream
            .set_nodelay(true)
            .map_err(|e| BenchError::io("setting TCP_NODELAY", e))?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| BenchError::Http(format!("handshake: {e}")))?;
        tokio::spawn(async move {
            // The connection ends when the sender is dropped or the peer closes; either way
            // the next send reports it.
            let _ = conn.await;
        });
        Ok(Self { sender })
    }

    /// Whether the peer closed the connection.
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    /// Sends one request and reads the whole response body.
    pub async fn send(&mut self, req: Request<Full<Bytes>>) -> Result<(u16, Bytes), BenchError> {
        self.sender
            .ready()
            .await
            .map_err(|e| BenchError::Http(format!("connection not ready: {e}")))?;
        let resp = self
            .sender
            .send_request(req)
            .await
            .map_err(|e| BenchError::Http(e.to_string()))?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| BenchError::Http(format!("reading the body: {e}")))?
            .to_bytes();
        Ok((status, body))
    }
}

/// One request on a fresh connection: `(status, body)`.
pub async fn once(target: &Target) -> Result<(u16, Bytes), BenchError> {
    let mut c = Connection::open(target.addr).await?;
    c.send(target.build()?).await
}

/// One request that must answer `expect`; returns the body parsed as JSON (`Null` if empty).
pub async fn expect_json(
    what: &str,
    target: &Target,
    expect: &[u16],
) -> Result<serde_json::Value, BenchError> {
    let (status, body) = once(target).await?;
    if !expect.contains(&status) {
        return Err(BenchError::Unexpected {
            what: what.to_owned(),
            status,
            body: String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
        });
    }
    if body.is_empty() {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_slice(&body)
        .map_err(|e| BenchError::Http(format!("{what}: body is not JSON: {e}")))
}
