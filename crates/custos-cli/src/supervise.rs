//! Runs the enclave as a child process of `custos serve` on embedded defaults, restarting it
//! if it dies, and stopping it after the server has flushed its audit log — the enclave is in
//! its own process group so that a signal meant for the server's group cannot end it first.
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::process::{Child, Command};

/// The running supervisor.
pub struct Supervisor {
    stopping: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
    stop_tx: tokio::sync::watch::Sender<bool>,
}

fn spawn(socket: &PathBuf, data_dir: &PathBuf, extra: &[String]) -> Result<Child> {
    let exe = std::env::current_exe().context("cannot find the custos executable")?;
    Command::new(exe)
        .arg("enclave")
        .arg("--socket")
        .arg(socket)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--exit-with-parent")
        .args(extra)
        .stdin(std::process::Stdio::null())
        // Its own process group: a signal to the server's group (Ctrl-C in a terminal, systemd's
        // `KillMode=control-group` SIGTERM, a test harness) reaches only the server, which then
        // drains, has the enclave sign the final audit checkpoint, and stops it itself. If the
        // server dies instead, `--exit-with-parent` ends the enclave with it.
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .context("cannot start the enclave process")
}

impl Supervisor {
    /// Starts the enclave and keeps it running.
    /// `extra` are further `custos enclave` arguments (the KMS choice).
    pub fn start(socket: PathBuf, data_dir: PathBuf, extra: Vec<String>) -> Result<Self> {
        let mut child = spawn(&socket, &data_dir, &extra)?;
        let stopping = Arc::new(AtomicBool::new(false));
        let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
        let flag = stopping.clone();
        let task = tokio::spawn(async move {
            let mut backoff = std::time::Duration::from_millis(100);
            loop {
                tokio::select! {
                    status = child.wait() => {
                        if flag.load(Ordering::SeqCst) {
                            return;
                        }
                        tracing::error!(?status, "enclave exited; restarting");
                        if let Some(c) = custos_server::metrics::ENCLAVE_RESTARTS.as_ref() {
                            c.inc();
                        }
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(std::time::Duration::from_secs(5));
                        match spawn(&socket, &data_dir, &extra) {
                            Ok(c) => child = c,
                            Err(e) => tracing::error!(error = %e, "enclave restart failed"),
                        }
                    }
                    _ = stop_rx.changed() => {
                        terminate(&mut child).await;
                        return;
                    }
                }
            }
        });
        Ok(Self {
            stopping,
            task,
            stop_tx,
        })
    }

    /// Stops the enclave (SIGTERM, then SIGKILL after 5 s).
    pub async fn stop(self) {
        self.stopping.store(true, Ordering::SeqCst);
        let _ = self.stop_tx.send(true);
        let _ = self.task.await;
    }
}

async fn terminate(child: &mut Child) {
    if let Some(pid) = child
        .id()
        .and_then(|p| rustix::process::Pid::from_raw(p as i32))
    {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        if tokio::time::timeout(std::time::Duration::from_secs(5), child.wait())
            .await
            .is_ok()
        {
            return;
        }
    }
    let _ = child.kill().await;
}
