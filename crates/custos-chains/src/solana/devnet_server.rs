//! Serving the embedded devnet: the JSON-RPC listener ([`super::rpc_server`]), the PubSub
//! WebSocket listener ([`super::pubsub`]) on the HTTP port + 1 — where web3.js and most clients
//! look for it; the WebSocket is also served on the HTTP port itself, for clients given one URL
//! — and the slot clock.
//!
//! With a slot interval ([`DevnetServerConfig::slot_interval`]) a new slot and blockhash come on
//! a clock as on a cluster, so block height moves and a blockhash expires 150 slots (a minute at
//! 400 ms) after it is handed out; without one, slots pass only when transactions land. The
//! clock does not write the snapshot: passed slots are saved with the next transaction.
//!
//! Development only: anyone who can reach it can airdrop. Bind it to loopback.
use super::devnet::{DevnetError, EmbeddedDevnet};
use super::{pubsub, rpc_server};
use axum::routing::post;
use axum::Router;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How many times a free HTTP port is drawn when the port after it (the WebSocket's) is taken.
const PORT_PAIR_ATTEMPTS: usize = 32;

/// What both listeners serve: the devnet, and the signal that tells open WebSockets to close.
#[derive(Clone)]
pub(super) struct ServerState {
    pub devnet: Arc<EmbeddedDevnet>,
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

/// The axum router serving `devnet` at `/`: JSON-RPC on POST, the PubSub WebSocket on GET.
pub fn router(devnet: Arc<EmbeddedDevnet>) -> Router {
    // No shutdown signal: WebSockets stay open until their clients close them.
    let (_, shutdown) = tokio::sync::watch::channel(false);
    router_with(ServerState { devnet, shutdown })
}

fn router_with(state: ServerState) -> Router {
    Router::new()
        .route("/", post(rpc_server::handle).get(pubsub::upgrade))
        .with_state(state)
}

/// How the devnet is served.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DevnetServerConfig {
    /// The JSON-RPC (HTTP) address; port 0 picks a free one.
    pub listen: SocketAddr,
    /// The PubSub WebSocket's address; `None`: the HTTP port + 1, which is where web3.js and
    /// most clients look for it (with port 0, a free pair of adjacent ports is picked).
    pub ws_listen: Option<SocketAddr>,
    /// A new slot (and blockhash) this often, as on a cluster; zero: slots pass only when
    /// transactions land.
    pub slot_interval: Duration,
}

impl DevnetServerConfig {
    /// HTTP on `listen`, the WebSocket on the next port, no slot clock.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            ws_listen: None,
            slot_interval: Duration::ZERO,
        }
    }

    /// With the PubSub WebSocket on `addr` instead of the HTTP port + 1.
    pub fn ws_listen(mut self, addr: Option<SocketAddr>) -> Self {
        self.ws_listen = addr;
        self
    }

    /// With a new slot every `interval` (zero: none).
    pub fn slot_interval(mut self, interval: Duration) -> Self {
        self.slot_interval = interval;
        self
    }
}

/// A running devnet RPC server.
pub struct RpcServerHandle {
    addr: SocketAddr,
    ws_addr: SocketAddr,
    devnet: Arc<EmbeddedDevnet>,
    shutdown: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    clock: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for RpcServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcServerHandle")
            .field("addr", &self.addr)
            .field("ws_addr", &self.ws_addr)
            .finish_non_exhaustive()
    }
}

impl RpcServerHandle {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The PubSub WebSocket's address.
    pub fn ws_addr(&self) -> SocketAddr {
        self.ws_addr
    }

    /// `ws://<ws addr>`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.ws_addr)
    }

    /// The devnet it serves.
    pub fn devnet(&self) -> &Arc<EmbeddedDevnet> {
        &self.devnet
    }

    /// Stops the slot clock, closes WebSockets, stops accepting requests, waits for in-flight
    /// ones and writes the snapshot (with the slots the clock added).
    pub async fn shutdown(mut self) {
        if let Some(clock) = self.clock.take() {
            clock.abort();
        }
        let _ = self.shutdown.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
        let devnet = self.devnet.clone();
        match tokio::task::spawn_blocking(move || devnet.save()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "devnet snapshot on shutdown failed"),
            Err(e) => tracing::warn!(error = %e, "devnet snapshot on shutdown failed"),
        }
    }
}

impl Drop for RpcServerHandle {
    fn drop(&mut self) {
        if let Some(clock) = self.clock.take() {
            clock.abort();
        }
    }
}

/// Opens the devnet persisted in `data_dir` and serves it on `addr` (e.g. `127.0.0.1:8899`; port
/// 0 picks one) with the WebSocket on the next port and no slot clock. Returns once listening.
pub async fn serve_devnet(
    addr: SocketAddr,
    data_dir: &Path,
) -> Result<RpcServerHandle, DevnetError> {
    serve_devnet_with(DevnetServerConfig::new(addr), data_dir).await
}

/// Opens the devnet persisted in `data_dir` and serves it as `config` says.
pub async fn serve_devnet_with(
    config: DevnetServerConfig,
    data_dir: &Path,
) -> Result<RpcServerHandle, DevnetError> {
    let dir = data_dir.to_path_buf();
    let devnet = tokio::task::spawn_blocking(move || EmbeddedDevnet::open(&dir))
        .await
        .map_err(|e| DevnetError::Storage(format!("open task: {e}")))??;
    spawn_server_with(config, Arc::new(devnet)).await
}

/// Serves an already open devnet on `addr` (the WebSocket on the next port, no slot clock).
pub async fn spawn_server(
    addr: SocketAddr,
    devnet: Arc<EmbeddedDevnet>,
) -> Result<RpcServerHandle, DevnetError> {
    spawn_server_with(DevnetServerConfig::new(addr), devnet).await
}

async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, std::io::Error> {
    tokio::net::TcpListener::bind(addr).await
}

fn local(l: &tokio::net::TcpListener) -> Result<SocketAddr, DevnetError> {
    l.local_addr()
        .map_err(|e| DevnetError::Storage(format!("local addr: {e}")))
}

/// The HTTP listener and the WebSocket's, on the HTTP port + 1 unless told otherwise.
async fn bind_pair(
    config: &DevnetServerConfig,
) -> Result<(tokio::net::TcpListener, tokio::net::TcpListener), DevnetError> {
    let http_err = |e| DevnetError::Storage(format!("bind {}: {e}", config.listen));
    if let Some(ws) = config.ws_listen {
        let http = bind(config.listen).await.map_err(http_err)?;
        let ws = bind(ws)
            .await
            .map_err(|e| DevnetError::Storage(format!("bind the WebSocket on {ws}: {e}")))?;
        return Ok((http, ws));
    }
    let attempts = if config.listen.port() == 0 {
        PORT_PAIR_ATTEMPTS
    } else {
        1
    };
    let mut last = String::new();
    for _ in 0..attempts {
        let http = bind(config.listen).await.map_err(http_err)?;
        let port = local(&http)?.port();
        let Some(next) = port.checked_add(1) else {
            last = format!("HTTP port {port} has no next port");
            continue;
        };
        let ws_addr = SocketAddr::new(config.listen.ip(), next);
        match bind(ws_addr).await {
            Ok(ws) => return Ok((http, ws)),
            Err(e) => last = format!("{ws_addr}: {e}"),
        }
    }
    Err(DevnetError::Storage(format!(
        "cannot bind the PubSub WebSocket on the HTTP port + 1, where web3.js looks for it \
         ({last}); choose another HTTP port or give the WebSocket its own address"
    )))
}

/// Serves an already open devnet as `config` says.
pub async fn spawn_server_with(
    config: DevnetServerConfig,
    devnet: Arc<EmbeddedDevnet>,
) -> Result<RpcServerHandle, DevnetError> {
    let (http, ws) = bind_pair(&config).await?;
    let (addr, ws_addr) = (local(&http)?, local(&ws)?);
    let (shutdown, stop) = tokio::sync::watch::channel(false);
    let state = ServerState {
        devnet: devnet.clone(),
        shutdown: stop.clone(),
    };
    let mut tasks = Vec::new();
    for (listener, what) in [(http, "JSON-RPC"), (ws, "PubSub")] {
        let app = router_with(state.clone());
        let mut stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let r = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
            if let Err(e) = r {
                tracing::error!(error = %e, server = what, "devnet server stopped");
            }
        }));
    }
    let clock = (!config.slot_interval.is_zero()).then(|| {
        let devnet = devnet.clone();
        let interval = config.slot_interval;
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let d = devnet.clone();
                // The devnet's lock may be held by a transaction: wait off the async workers.
                let _ = tokio::task::spawn_blocking(move || d.advance_slots(1)).await;
            }
        })
    });
    Ok(RpcServerHandle {
        addr,
        ws_addr,
        devnet,
        shutdown,
        tasks,
        clock,
    })
}
