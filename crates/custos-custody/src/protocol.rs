//! The wire protocol between the API server and the enclave: length-prefixed, versioned JSON
//! messages over a byte stream (a Unix socket today, vsock later).
//!
//! A frame is a 4-byte big-endian length followed by that many bytes of JSON. Frames longer
//! than [`MAX_FRAME`] are refused before anything is allocated for them. A request is
//! `{"v":1,"id":N,"op":{...}}`; its response carries the same `id` and either `{"ok":...}` or
//! `{"err":{"code":...}}`, where the error mirrors [`CustodyError`] plus the protocol's own
//! failures (bad version, malformed request). Decoding never panics on any input.
use custos_core::custody::hex_bytes;
use custos_core::{
    AgentId, AttestationDocument, AuditCheckpoint, CustodyError, HeldPolicy, KeyScheme,
    PolicyApplied, PolicyJson, PublicKeyInfo, SignRequest, Signature,
};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;
/// Largest frame body accepted or sent: 1 MiB.
pub const MAX_FRAME: usize = 1 << 20;

/// One operation.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    /// Create (or return the existing active) key.
    CreateKey {
        /// Agent.
        agent: AgentId,
        /// Scheme.
        scheme: KeyScheme,
    },
    /// The active public key, if any.
    PublicKey {
        /// Agent.
        agent: AgentId,
        /// Scheme.
        scheme: KeyScheme,
    },
    /// Sign after the enclave's own checks, under the policy it holds for the agent.
    Sign(SignRequest),
    /// An owner-signed policy envelope for the enclave to verify and keep.
    SubmitPolicy {
        /// The envelope.
        envelope: PolicyJson,
    },
    /// The envelope the enclave holds for an agent.
    HeldPolicy {
        /// Agent.
        agent: AgentId,
    },
    /// A `dev` (or platform) attestation document bound to `nonce`.
    Attestation {
        /// Caller's nonce (hex on the wire).
        #[serde(with = "hex_bytes")]
        nonce: Vec<u8>,
    },
    /// Rotate the agent's key.
    Rotate {
        /// Agent.
        agent: AgentId,
        /// Scheme.
        scheme: KeyScheme,
    },
    /// Sign an audit chain head with the identity key.
    SignCheckpoint {
        /// Head sequence number.
        seq: u64,
        /// Head hash, 32 bytes (hex on the wire).
        #[serde(with = "hex_bytes")]
        head_hash: Vec<u8>,
    },
    /// Freeze or unfreeze an agent, or every agent (the kill switch).
    SetFrozen {
        /// Whom.
        target: custos_core::FreezeTarget,
        /// Frozen or not.
        frozen: bool,
    },
    /// What is frozen.
    Frozen,
    /// Liveness.
    Health,
}

/// A request frame.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Protocol version.
    pub v: u32,
    /// Caller-chosen id, echoed in the response.
    pub id: u64,
    /// The operation.
    pub op: Op,
}

/// A successful result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Reply {
    /// From `create_key` and `rotate`.
    PublicKey(PublicKeyInfo),
    /// From `public_key`.
    MaybePublicKey(Option<PublicKeyInfo>),
    /// From `sign`.
    Signature(Signature),
    /// From `submit_policy`.
    PolicyApplied(PolicyApplied),
    /// From `held_policy`.
    HeldPolicy(Option<HeldPolicy>),
    /// From `attestation`.
    Attestation(AttestationDocument),
    /// From `sign_checkpoint`.
    Checkpoint(AuditCheckpoint),
    /// From `set_frozen` and `frozen`.
    Frozen(custos_core::FreezeState),
    /// From `health`.
    Healthy,
}

/// A refusal or failure, as sent on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum WireError {
    /// [`CustodyError::NoKey`].
    NoKey {
        /// Agent.
        agent: AgentId,
        /// Scheme.
        scheme: KeyScheme,
    },
    /// [`CustodyError::InvalidPayload`].
    InvalidPayload {
        /// Why.
        message: String,
    },
    /// [`CustodyError::PolicyRefused`].
    PolicyRefused {
        /// Which rule.
        message: String,
    },
    /// [`CustodyError::EnvelopeRefused`].
    EnvelopeRefused {
        /// Why.
        message: String,
    },
    /// [`CustodyError::Integrity`].
    Integrity,
    /// [`CustodyError::Unavailable`].
    Unavailable {
        /// Why.
        message: String,
    },
    /// [`CustodyError::Internal`].
    Internal {
        /// What.
        message: String,
    },
    /// The request's protocol version is not spoken here.
    UnsupportedVersion {
        /// The version received.
        got: u64,
        /// The version spoken.
        supported: u32,
    },
    /// The request could not be parsed.
    BadRequest {
        /// Why.
        message: String,
    },
    /// The frame's length prefix exceeded [`MAX_FRAME`]; the connection is closed after this.
    FrameTooLarge {
        /// Announced length.
        len: u64,
        /// Limit.
        max: u64,
    },
}

impl From<CustodyError> for WireError {
    fn from(e: CustodyError) -> Self {
        match e {
            CustodyError::NoKey { agent, scheme } => Self::NoKey { agent, scheme },
            CustodyError::InvalidPayload(message) => Self::InvalidPayload { message },
            CustodyError::PolicyRefused(message) => Self::PolicyRefused { message },
            CustodyError::EnvelopeRefused(message) => Self::EnvelopeRefused { message },
            CustodyError::Integrity => Self::Integrity,
            CustodyError::Unavailable(message) => Self::Unavailable { message },
            CustodyError::Internal(message) => Self::Internal { message },
            other => Self::Internal {
                message: other.to_string(),
            },
        }
    }
}

impl From<WireError> for CustodyError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::NoKey { agent, scheme } => Self::NoKey { agent, scheme },
            WireError::InvalidPayload { message } => Self::InvalidPayload(message),
            WireError::PolicyRefused { message } => Self::PolicyRefused(message),
            WireError::EnvelopeRefused { message } => Self::EnvelopeRefused(message),
            WireError::Integrity => Self::Integrity,
            WireError::Unavailable { message } => Self::Unavailable(message),
            WireError::Internal { message } => Self::Internal(message),
            WireError::UnsupportedVersion { got, supported } => Self::Unavailable(format!(
                "protocol: enclave speaks v{supported}, request was v{got}"
            )),
            WireError::BadRequest { message } => {
                Self::Unavailable(format!("protocol: bad request: {message}"))
            }
            WireError::FrameTooLarge { len, max } => {
                Self::Unavailable(format!("protocol: frame of {len} bytes exceeds {max}"))
            }
        }
    }
}

/// What a response carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Outcome {
    /// Success.
    Ok(Reply),
    /// Refusal or failure.
    Err(WireError),
}

/// A response frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Response {
    /// Protocol version.
    pub v: u32,
    /// The request's id (0 when the request was too broken to have one).
    pub id: u64,
    /// The outcome.
    pub outcome: Outcome,
}

impl Response {
    /// A response to request `id`.
    pub fn new(id: u64, outcome: Outcome) -> Self {
        Self {
            v: PROTOCOL_VERSION,
            id,
            outcome,
        }
    }
}

/// Framing and encoding failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// Transport failure (including EOF in the middle of a frame).
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// Length prefix above [`MAX_FRAME`].
    #[error("frame of {0} bytes exceeds the limit")]
    TooLarge(u64),
    /// JSON encoding or decoding failed.
    #[error("json: {0}")]
    Json(String),
}

/// Reads one frame body. `Ok(None)` on a clean EOF between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<Vec<u8>>, FrameError> {
    let mut header = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let n = r.read(&mut header[got..]).await?;
        if n == 0 {
            if got == 0 {
                return Ok(None);
            }
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
        got += n;
    }
    let len = u32::from_be_bytes(header) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len as u64));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await?;
    Ok(Some(body))
}

/// Writes one frame.
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, body: &[u8]) -> Result<(), FrameError> {
    if body.len() > MAX_FRAME {
        return Err(FrameError::TooLarge(body.len() as u64));
    }
    let len = u32::try_from(body.len()).map_err(|_| FrameError::TooLarge(body.len() as u64))?;
    let mut buf = Vec::with_capacity(4 + body.len());
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(body);
    w.write_all(&buf).await?;
    w.flush().await?;
    Ok(())
}

/// Serializes a message to a frame body.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, FrameError> {
    serde_json::to_vec(msg).map_err(|e| FrameError::Json(e.to_string()))
}

/// Decodes a request body. On failure returns the id to answer with (0 if none could be read)
/// and the error to send.
pub fn decode_request(body: &[u8]) -> Result<Request, (u64, WireError)> {
    // The common case in one pass; anything else is parsed again to say what is wrong with it.
    if let Ok(req) = serde_json::from_slice::<Request>(body) {
        if req.v == PROTOCOL_VERSION {
            return Ok(req);
        }
    }
    #[derive(Deserialize)]
    struct Head {
        v: Option<serde_json::Value>,
        id: Option<serde_json::Value>,
    }
    let head: Head = serde_json::from_slice(body).map_err(|e| {
        (
            0,
            WireError::BadRequest {
                message: short(&e.to_string()),
            },
        )
    })?;
    let id = head.id.as_ref().and_then(|v| v.as_u64()).unwrap_or(0);
    match head.v.as_ref().and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(PROTOCOL_VERSION) => {}
        Some(got) => {
            return Err((
                id,
                WireError::UnsupportedVersion {
                    got,
                    supported: PROTOCOL_VERSION,
                },
            ))
        }
        None => {
            return Err((
                id,
                WireError::BadRequest {
                    message: "missing or non-integer version field v".into(),
                },
            ))
        }
    }
    serde_json::from_slice(body).map_err(|e| {
        (
            id,
            WireError::BadRequest {
                message: short(&e.to_string()),
            },
        )
    })
}

/// Decodes a response body.
pub fn decode_response(body: &[u8]) -> Result<Response, FrameError> {
    serde_json::from_slice(body).map_err(|e| FrameError::Json(short(&e.to_string())))
}

fn short(s: &str) -> String {
    s.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use custos_core::SignPayload;
    use rand::{Rng, SeedableRng};

    fn sample_requests() -> Vec<Request> {
        let agent = AgentId::new_random();
        let ops = vec![
            Op::CreateKey {
                agent,
                scheme: KeyScheme::Ed25519,
            },
            Op::PublicKey {
                agent,
                scheme: KeyScheme::Secp256k1Ecdsa,
            },
            Op::Sign(SignRequest {
                agent_id: agent,
                scheme: KeyScheme::Secp256k1Schnorr,
                payload: SignPayload::Message {
                    bytes: b"hello".to_vec(),
                },
                action: None,
            }),
            Op::Attestation { nonce: vec![1, 2] },
            Op::Rotate {
                agent,
                scheme: KeyScheme::Ed25519,
            },
            Op::SignCheckpoint {
                seq: 9,
                head_hash: vec![3; 32],
            },
            Op::Health,
            Op::SubmitPolicy {
                envelope: serde_json::json!({"format": "custos-policy-envelope/1"}).into(),
            },
            Op::HeldPolicy { agent },
            Op::SetFrozen {
                target: custos_core::FreezeTarget::Agent(agent),
                frozen: true,
            },
            Op::SetFrozen {
                target: custos_core::FreezeTarget::All,
                frozen: false,
            },
            Op::Frozen,
            Op::Sign(SignRequest {
                agent_id: agent,
                scheme: KeyScheme::RsaPssSha256,
                payload: SignPayload::KalshiRequest {
                    request: Box::new(custos_core::KalshiRequest {
                        timestamp_ms: 1,
                        method: custos_core::KalshiMethod::Get,
                        path: "/trade-api/v2/portfolio/balance".into(),
                        order: None,
                    }),
                },
                action: Some(custos_core::Action::Prediction),
            }),
        ];
        ops.into_iter()
            .enumerate()
            .map(|(i, op)| Request {
                v: PROTOCOL_VERSION,
                id: i as u64 + 1,
                op,
            })
            .collect()
    }

    #[test]
    fn requests_round_trip() {
        for r in sample_requests() {
            let body = encode(&r).unwrap();
            let back = decode_request(&body).unwrap();
            assert_eq!(encode(&back).unwrap(), body);
        }
        let text = String::from_utf8(encode(&sample_requests()[6]).unwrap()).unwrap();
        assert_eq!(text, r#"{"v":1,"id":7,"op":"health"}"#);
    }

    #[test]
    fn unknown_version_and_fields_are_refused_with_the_id() {
        let err = decode_request(br#"{"v":2,"id":5,"op":"health"}"#).unwrap_err();
        assert_eq!(
            err,
            (
                5,
                WireError::UnsupportedVersion {
                    got: 2,
                    supported: 1
                }
            )
        );
        let err = decode_request(br#"{"v":1,"id":6,"op":"health","x":1}"#).unwrap_err();
        assert!(matches!(err, (6, WireError::BadRequest { .. })));
        let err = decode_request(br#"{"id":6,"op":"health"}"#).unwrap_err();
        assert!(matches!(err, (6, WireError::BadRequest { .. })));
        // A signing request cannot bring its own policy: the field no longer exists, and an
        // unknown field is refused rather than ignored.
        let agent = AgentId::new_random();
        let sign = format!(
            r#"{{"v":1,"id":8,"op":{{"sign":{{"agent_id":"{}","scheme":"ed25519","payload":{{"kind":"message","bytes":"00"}},"policy":{{}}}}}}}}"#,
            agent.0
        );
        let err = decode_request(sign.as_bytes()).unwrap_err();
        assert!(matches!(err, (8, WireError::BadRequest { .. })), "{err:?}");
    }

    #[test]
    fn errors_round_trip_through_the_wire() {
        let agent = AgentId::new_random();
        for e in [
            CustodyError::NoKey {
                agent,
                scheme: KeyScheme::Ed25519,
            },
            CustodyError::InvalidPayload("x".into()),
            CustodyError::PolicyRefused("y".into()),
            CustodyError::EnvelopeRefused("v".into()),
            CustodyError::Integrity,
            CustodyError::Unavailable("z".into()),
            CustodyError::Internal("w".into()),
        ] {
            let resp = Response::new(1, Outcome::Err(e.clone().into()));
            let back = decode_response(&encode(&resp).unwrap()).unwrap();
            let Outcome::Err(w) = back.outcome else {
                unreachable!()
            };
            assert_eq!(CustodyError::from(w), e);
        }
    }

    #[tokio::test]
    async fn oversize_length_is_refused_without_reading_the_body() {
        let mut input: &[u8] = &[0xff, 0xff, 0xff, 0xff, 1, 2, 3];
        assert!(matches!(
            read_frame(&mut input).await,
            Err(FrameError::TooLarge(0xffff_ffff))
        ));
        let too_big = (MAX_FRAME as u32 + 1).to_be_bytes();
        let mut input: &[u8] = &too_big;
        assert!(matches!(
            read_frame(&mut input).await,
            Err(FrameError::TooLarge(_))
        ));
        let mut input: &[u8] = &[0, 0];
        assert!(matches!(
            read_frame(&mut input).await,
            Err(FrameError::Io(_))
        ));
        let mut input: &[u8] = &[];
        assert!(read_frame(&mut input).await.unwrap().is_none());
    }

    /// Random bytes, random frames, and valid frames with random corruption: decoding returns
    /// errors, never panics.
    #[tokio::test]
    async fn garbage_never_panics() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x00C0_5705);
        let valid: Vec<Vec<u8>> = sample_requests()
            .iter()
            .map(|r| encode(r).unwrap())
            .collect();
        for round in 0..20_000 {
            let body: Vec<u8> = match round % 3 {
                0 => (0..rng.gen_range(0..64)).map(|_| rng.gen()).collect(),
                1 => {
                    let mut b = valid[rng.gen_range(0..valid.len())].clone();
                    for _ in 0..rng.gen_range(1..4) {
                        let i = rng.gen_range(0..b.len());
                        b[i] = rng.gen();
                    }
                    if rng.gen_bool(0.3) {
                        b.truncate(rng.gen_range(0..b.len()));
                    }
                    b
                }
                _ => {
                    let b = &valid[rng.gen_range(0..valid.len())];
                    let alphabet = br#"{}[]":,0123456789aeflnrstuv-.\ "#;
                    let mut b = b.clone();
                    let i = rng.gen_range(0..b.len());
                    b.insert(i, alphabet[rng.gen_range(0..alphabet.len())]);
                    b
                }
            };
            let _ = decode_request(&body);
            let _ = decode_response(&body);
            // And the same bytes as a raw stream with a random prefix.
            let mut stream = Vec::new();
            stream.extend_from_slice(&(rng.gen::<u32>() >> rng.gen_range(0..32)).to_be_bytes());
            stream.extend_from_slice(&body);
            let mut r: &[u8] = &stream;
            while let Ok(Some(frame)) = read_frame(&mut r).await {
                let _ = decode_request(&frame);
            }
        }
        // Deep nesting is bounded by serde_json's recursion limit.
        let deep = "[".repeat(100_000);
        assert!(decode_request(deep.as_bytes()).is_err());
    }
}
