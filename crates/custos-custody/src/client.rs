//! [`EnclaveClient`]: the API server's side of the boundary, an implementation of
//! [`custos_core::Custody`] that forwards every call to the enclave process over its socket.
//!
//! It keeps idle connections for reuse, so an enclave restart costs one reconnect rather than
//! an error: an idempotent call that fails on a reused connection before any reply is sent
//! again on a fresh one, and the one call that is not idempotent (rotation) first probes the
//! connection it reuses. Every call has a timeout. Transport and protocol
//! failures surface as [`CustodyError::Unavailable`]; the enclave's own refusals pass through
//! unchanged.
use crate::protocol::{
    decode_response, encode, read_frame, write_frame, FrameError, Op, Outcome, Reply, Request,
    PROTOCOL_VERSION,
};
use custos_core::{
    AgentId, AttestationDocument, AuditCheckpoint, Custody, CustodyError, FreezeState,
    FreezeTarget, HeldPolicy, KeyScheme, PolicyApplied, PolicyJson, PublicKeyInfo, SignRequest,
    Signature,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::net::UnixStream;

/// Default per-call timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle connections kept; at least the concurrency the server signs at, so a busy server does
/// not close and reopen connections between calls.
const MAX_IDLE: usize = 64;

/// A connection to the enclave; buffered, so a reply's length prefix and body are one read.
type Conn = tokio::io::BufReader<UnixStream>;

/// A [`Custody`] backend that talks to a `custos enclave` process.
pub struct EnclaveClient {
    socket_path: PathBuf,
    timeout: Duration,
    idle: Mutex<Vec<Conn>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for EnclaveClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnclaveClient")
            .field("socket_path", &self.socket_path)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Which connection an exchange may use.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reuse {
    /// Any idle one: a failure before the reply is retried on a fresh connection.
    Any,
    /// An idle one that passes a liveness probe: for calls that must not be sent twice.
    Probed,
    /// A new connection.
    Fresh,
}

impl Reuse {
    fn idle(retryable: bool) -> Self {
        if retryable {
            Self::Any
        } else {
            Self::Probed
        }
    }
}

enum CallError {
    /// Failed on a reused connection before any reply: safe to retry idempotent ops.
    Stale(String),
    /// Anything else.
    Failed(CustodyError),
}

impl EnclaveClient {
    /// A client for the enclave listening on `socket_path`. Connects lazily.
    pub fn new(socket_path: impl Into<PathBuf>) -> Self {
        Self {
            socket_path: socket_path.into(),
            timeout: DEFAULT_TIMEOUT,
            idle: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
        }
    }

    /// Sets the per-call timeout (connect, retry and reply included).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The socket this client talks to.
    pub fn socket_path(&self) -> &Path {
        &self.socket_path
    }

    async fn call(&self, op: Op) -> Result<Reply, CustodyError> {
        // Rotation is the one operation that is not idempotent; never send it twice.
        let retryable = !matches!(op, Op::Rotate { .. });
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = encode(&Request {
            v: PROTOCOL_VERSION,
            id,
            op,
        })
        .map_err(|e| CustodyError::Internal(format!("encode request: {e}")))?;
        let attempt = async {
            match self.exchange(id, &body, Reuse::idle(retryable)).await {
                Err(CallError::Stale(_)) if retryable => {
                    self.exchange(id, &body, Reuse::Fresh).await
                }
                other => other,
            }
        };
        let outcome = match tokio::time::timeout(self.timeout, attempt).await {
            Err(_) => {
                return Err(CustodyError::Unavailable(format!(
                    "enclave did not answer within {:?}",
                    self.timeout
                )))
            }
            Ok(Err(CallError::Stale(e))) => return Err(CustodyError::Unavailable(e)),
            Ok(Err(CallError::Failed(e))) => return Err(e),
            Ok(Ok(o)) => o,
        };
        match outcome {
            Outcome::Ok(reply) => Ok(reply),
            Outcome::Err(e) => Err(e.into()),
        }
    }

    async fn exchange(&self, id: u64, body: &[u8], reuse: Reuse) -> Result<Outcome, CallError> {
        let (mut conn, reused) = match self.take_idle(reuse) {
            Some(c) => (c, true),
            None => (
                Conn::new(UnixStream::connect(&self.socket_path).await.map_err(|e| {
                    CallError::Failed(CustodyError::Unavailable(format!(
                        "connect {}: {e}",
                        self.socket_path.display()
                    )))
                })?),
                false,
            ),
        };
        let io_failure = |e: FrameError| {
            let msg = format!("enclave connection: {e}");
            if reused {
                CallError::Stale(msg)
            } else {
                CallError::Failed(CustodyError::Unavailable(msg))
            }
        };
        write_frame(&mut conn, body).await.map_err(io_failure)?;
        let reply = match read_frame(&mut conn).await {
            Ok(Some(b)) => b,
            Ok(None) => {
                return Err(io_failure(FrameError::Io(std::io::Error::from(
                    std::io::ErrorKind::UnexpectedEof,
                ))))
            }
            Err(e) => return Err(io_failure(e)),
        };
        let resp = decode_response(&reply)
            .map_err(|e| CallError::Failed(CustodyError::Unavailable(format!("protocol: {e}"))))?;
        if resp.v != PROTOCOL_VERSION || resp.id != id {
            // A stray or mismatched reply: this connection can no longer be trusted in sync.
            // Protocol-level errors (e.g. unsupported version) may carry id 0.
            if let Outcome::Err(e) = resp.outcome {
                return Err(CallError::Failed(e.into()));
            }
            if reused {
                // A reused connection that was out of step (the probe is skipped for
                // idempotent calls): dropped here; the call goes again on a fresh one.
                return Err(CallError::Stale(format!(
                    "protocol: reply id {} to request id {id} on a reused connection",
                    resp.id
                )));
            }
            return Err(CallError::Failed(CustodyError::Unavailable(format!(
                "protocol: reply v{} id {} to request v{PROTOCOL_VERSION} id {id}",
                resp.v, resp.id
            ))));
        }
        self.put_idle(conn);
        Ok(resp.outcome)
    }

    /// An idle connection, as `reuse` says: any, or only one the enclave has not closed in the
    /// meantime (one `recv` more), or none.
    fn take_idle(&self, reuse: Reuse) -> Option<Conn> {
        if reuse == Reuse::Fresh {
            return None;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(conn) = idle.pop() {
            if !conn.buffer().is_empty() {
                // Bytes nobody asked for: out of sync with the enclave.
                continue;
            }
            if reuse == Reuse::Any {
                return Some(conn);
            }
            let mut probe = [0u8; 1];
            match conn.get_ref().try_read(&mut probe) {
                // Nothing to read and not closed: usable.
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Some(conn),
                // EOF (enclave restarted), unexpected bytes, or an error: discard.
                _ => continue,
            }
        }
        None
    }

    fn put_idle(&self, conn: Conn) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }
}

fn unexpected(reply: &Reply) -> CustodyError {
    let kind = match reply {
        Reply::PublicKey(_) => "public_key",
        Reply::MaybePublicKey(_) => "maybe_public_key",
        Reply::Signature(_) => "signature",
        Reply::Attestation(_) => "attestation",
        Reply::Checkpoint(_) => "checkpoint",
        Reply::Healthy => "healthy",
        Reply::PolicyApplied(_) => "policy_applied",
        Reply::HeldPolicy(_) => "held_policy",
        Reply::Frozen(_) => "frozen",
    };
    CustodyError::Unavailable(format!("protocol: unexpected {kind} reply"))
}

#[async_trait::async_trait]
impl Custody for EnclaveClient {
    async fn create_key(
        &self,
        agent: AgentId,
        scheme: KeyScheme,
    ) -> Result<PublicKeyInfo, CustodyError> {
        match self.call(Op::CreateKey { agent, scheme }).await? {
            Reply::PublicKey(k) => Ok(k),
            other => Err(unexpected(&other)),
        }
    }

    async fn public_key(
        &self,
        agent: AgentId,
        scheme: KeyScheme,
    ) -> Result<Option<PublicKeyInfo>, CustodyError> {
        match self.call(Op::PublicKey { agent, scheme }).await? {
            Reply::MaybePublicKey(k) => Ok(k),
            other => Err(unexpected(&other)),
        }
    }

    async fn sign(&self, req: SignRequest) -> Result<Signature, CustodyError> {
        match self.call(Op::Sign(req)).await? {
            Reply::Signature(s) => Ok(s),
            other => Err(unexpected(&other)),
        }
    }

    async fn submit_policy(&self, envelope: PolicyJson) -> Result<PolicyApplied, CustodyError> {
        match self.call(Op::SubmitPolicy { envelope }).await? {
            Reply::PolicyApplied(a) => Ok(a),
            other => Err(unexpected(&other)),
        }
    }

    async fn held_policy(&self, agent: AgentId) -> Result<Option<HeldPolicy>, CustodyError> {
        match self.call(Op::HeldPolicy { agent }).await? {
            Reply::HeldPolicy(h) => Ok(h),
            other => Err(unexpected(&other)),
        }
    }

    async fn attestation(&self, nonce: &[u8]) -> Result<AttestationDocument, CustodyError> {
        match self
            .call(Op::Attestation {
                nonce: nonce.to_vec(),
            })
            .await?
        {
            Reply::Attestation(d) => Ok(d),
            other => Err(unexpected(&other)),
        }
    }

    async fn rotate(
        &self,
        agent: AgentId,
        scheme: KeyScheme,
    ) -> Result<PublicKeyInfo, CustodyError> {
        match self.call(Op::Rotate { agent, scheme }).await? {
            Reply::PublicKey(k) => Ok(k),
            other => Err(unexpected(&other)),
        }
    }

    async fn sign_audit_checkpoint(
        &self,
        seq: u64,
        head_hash: [u8; 32],
    ) -> Result<AuditCheckpoint, CustodyError> {
        match self
            .call(Op::SignCheckpoint {
                seq,
                head_hash: head_hash.to_vec(),
            })
            .await?
        {
            Reply::Checkpoint(c) => Ok(c),
            other => Err(unexpected(&other)),
        }
    }

    async fn health(&self) -> Result<(), CustodyError> {
        match self.call(Op::Health).await? {
            Reply::Healthy => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    async fn set_frozen(
        &self,
        target: FreezeTarget,
        frozen: bool,
    ) -> Result<FreezeState, CustodyError> {
        match self.call(Op::SetFrozen { target, frozen }).await? {
            Reply::Frozen(s) => Ok(s),
            other => Err(unexpected(&other)),
        }
    }

    async fn frozen(&self) -> Result<FreezeState, CustodyError> {
        match self.call(Op::Frozen).await? {
            Reply::Frozen(s) => Ok(s),
            other => Err(unexpected(&other)),
        }
    }
}
