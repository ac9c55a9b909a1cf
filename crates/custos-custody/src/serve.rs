//! The boundary's socket server, whatever holds the keys behind it (the enclave's sealed
//! keystore, or a PKCS#11 token): binds the Unix socket owner-only, accepts up to a limit, and
//! answers each connection's pipelined, framed requests. Requests that need no disk or device
//! are answered on the connection's task; the rest run on the blocking pool.
use crate::keystore::create_private_dir;
use crate::protocol::{
    decode_request, encode, read_frame, write_frame, FrameError, Op, Outcome, Response, WireError,
    MAX_FRAME,
};
use custos_core::CustodyError;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::warn;

/// Requests one connection may have in flight before the server stops reading from it.
const MAX_IN_FLIGHT_PER_CONNECTION: usize = 32;

/// What answers the protocol's operations.
pub(crate) trait Boundary: Send + Sync + 'static {
    /// Answers `op` at once when that is pure CPU (no disk, KMS or device); otherwise hands it
    /// back for [`Boundary::handle`] on the blocking pool.
    fn answer_now(&self, op: Op) -> Result<Outcome, Op> {
        Err(op)
    }
    /// Answers one operation (may block).
    fn handle(&self, op: Op) -> Outcome;
}

pub(crate) async fn bind(path: &Path) -> Result<UnixListener, CustodyError> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            create_private_dir(dir)?;
        }
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if UnixStream::connect(path).await.is_ok() {
                return Err(CustodyError::Unavailable(format!(
                    "another enclave is already listening on {}",
                    path.display()
                )));
            }
            std::fs::remove_file(path)
                .map_err(|e| CustodyError::Internal(format!("remove stale socket: {e}")))?;
        }
        Ok(_) => {
            return Err(CustodyError::Internal(format!(
                "{} exists and is not a socket; refusing to replace it",
                path.display()
            )))
        }
        Err(_) => {}
    }
    let listener = UnixListener::bind(path)
        .map_err(|e| CustodyError::Unavailable(format!("bind {}: {e}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| CustodyError::Internal(format!("chmod socket: {e}")))?;
    Ok(listener)
}

pub(crate) async fn serve<B: Boundary>(
    listener: UnixListener,
    enclave: Arc<B>,
    max_connections: usize,
) -> Result<(), CustodyError> {
    let slots = Arc::new(Semaphore::new(max_connections.max(1)));
    // Owning the connection tasks here means dropping `run` ends every connection too.
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            warn!("connection limit reached; closing new connection");
            continue;
        };
        let enclave = enclave.clone();
        connections.spawn(async move {
            connection(stream, enclave).await;
            drop(slot);
        });
    }
}

async fn connection<B: Boundary>(stream: UnixStream, enclave: Arc<B>) {
    let (rd, wr) = stream.into_split();
    // Buffered: a request's length prefix and body usually arrive in one read.
    let mut rd = tokio::io::BufReader::new(rd);
    // Replies are written by whoever produced them, one frame at a time.
    let wr = Arc::new(tokio::sync::Mutex::new(wr));
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT_PER_CONNECTION));
    let mut requests = JoinSet::new();
    loop {
        while requests.try_join_next().is_some() {}
        match read_frame(&mut rd).await {
            Ok(None) => break,
            Ok(Some(body)) => match decode_request(&body) {
                Err((id, err)) => {
                    if reply(&wr, Response::new(id, Outcome::Err(err)))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
                Ok(req) => {
                    let id = req.id;
                    // A signature with an unsealed key is tens of microseconds of CPU: answered
                    // here, without a hand-off to the blocking pool and back.
                    let op = match enclave.answer_now(req.op) {
                        Ok(outcome) => {
                            if reply(&wr, Response::new(id, outcome)).await.is_err() {
                                break;
                            }
                            continue;
                        }
                        Err(op) => op,
                    };
                    // Anything that may touch disk or the KMS runs on the blocking pool.
                    let Ok(permit) = in_flight.clone().acquire_owned().await else {
                        break;
                    };
                    let (enclave, wr) = (enclave.clone(), wr.clone());
                    requests.spawn(async move {
                        let outcome = tokio::task::spawn_blocking(move || enclave.handle(op))
                            .await
                            .unwrap_or_else(|_| {
                                Outcome::Err(WireError::Internal {
                                    message: "request handler failed".into(),
                                })
                            });
                        let _ = reply(&wr, Response::new(id, outcome)).await;
                        drop(permit);
                    });
                }
            },
            Err(FrameError::TooLarge(len)) => {
                // The stream cannot be resynchronised after an unread body: answer, then close.
                let _ = reply(
                    &wr,
                    Response::new(
                        0,
                        Outcome::Err(WireError::FrameTooLarge {
                            len,
                            max: MAX_FRAME as u64,
                        }),
                    ),
                )
                .await;
                break;
            }
            Err(_) => break,
        }
    }
    while requests.join_next().await.is_some() {}
}

/// Writes one reply frame on the connection.
async fn reply(
    wr: &tokio::sync::Mutex<tokio::net::unix::OwnedWriteHalf>,
    resp: Response,
) -> Result<(), FrameError> {
    let body = encode(&resp)?;
    let mut wr = wr.lock().await;
    write_frame(&mut *wr, &body).await
}
