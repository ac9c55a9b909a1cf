//! `custos-bench`: `suite` runs every scenario against servers it starts and writes
//! `<out>/<timestamp>.json`, `.txt` (table) and `.svg` (plot); `drive` loads one endpoint of a
//! server that is already running.
#![forbid(unsafe_code)]

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use custos_bench::cpu;
use custos_bench::http::Target;
use custos_bench::load::{self, RunLimits};
use custos_bench::report;
use custos_bench::suite::{self, SuiteParams};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "custos-bench",
    version,
    about = "Load generator and benchmark suite for Custos"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run every scenario (starts its own servers on temporary data directories).
    Suite {
        /// The `custos` binary (build it with --release).
        #[arg(long)]
        custos: PathBuf,
        /// The `bao` binary for the OpenBao comparison (skipped if absent).
        #[arg(long)]
        bao: Option<PathBuf>,
        /// The `anvil` binary for the EVM scenario (skipped if absent).
        #[arg(long)]
        anvil: Option<PathBuf>,
        /// Concurrencies, comma-separated.
        #[arg(long, default_value = "1,2,4,16", value_delimiter = ',')]
        concurrency: Vec<usize>,
        /// Time budget per measured slice, seconds.
        #[arg(long, default_value_t = 2.0)]
        seconds: f64,
        /// Request budget per measured slice.
        #[arg(long, default_value_t = 200_000)]
        max_requests: u64,
        /// Warm-up per slice (on its fresh connections), seconds.
        #[arg(long, default_value_t = 0.3)]
        warmup: f64,
        /// Time budget per raw signing slice, seconds.
        #[arg(long, default_value_t = 1.0)]
        raw_seconds: f64,
        /// Slices per side of every ratio, the two sides alternating.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Output directory.
        #[arg(long, default_value = "bench-results")]
        out: PathBuf,
    },
    /// Load one endpoint of a running server and print the measurement as JSON.
    Drive {
        /// Base URL, `http://127.0.0.1:PORT` (loopback only).
        #[arg(long)]
        url: String,
        /// Path, e.g. `/v1/wallets/me/actions/sign`.
        #[arg(long)]
        path: String,
        /// JSON body (makes it a POST).
        #[arg(long)]
        body: Option<String>,
        /// Bearer token (also `CUSTOS_BENCH_TOKEN`).
        #[arg(long, env = "CUSTOS_BENCH_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Concurrencies, comma-separated.
        #[arg(long, default_value = "1,2,4,16", value_delimiter = ',')]
        concurrency: Vec<usize>,
        /// Time budget per run, seconds.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Request budget per run.
        #[arg(long, default_value_t = 200_000)]
        max_requests: u64,
        /// Expected status.
        #[arg(long, default_value_t = 200)]
        expect: u16,
        /// Unmeasured warm-up before each run, seconds (its requests are not counted).
        #[arg(long, default_value_t = 0.5)]
        warmup: f64,
        /// Process ids whose CPU time per request to report beside each run (the server's and
        /// its enclave's, e.g. `--cpu-of $(pgrep -f 'custos serve'),$(pgrep -f 'custos enclave')`).
        #[arg(long, value_delimiter = ',')]
        cpu_of: Vec<u32>,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    // One thread for the generator: it shares the machine with the servers it measures.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(async move {
        match cli.cmd {
            Cmd::Suite {
                custos,
                bao,
                anvil,
                concurrency,
                seconds,
                max_requests,
                warmup,
                raw_seconds,
                rounds,
                out,
            } => {
                let params = SuiteParams {
                    custos_bin: custos,
                    bao_bin: bao,
                    anvil_bin: anvil,
                    concurrencies: concurrency,
                    seconds,
                    max_requests,
                    warmup_seconds: warmup,
                    raw_seconds,
                    rounds,
                };
                let progress = |line: &str| eprintln!("{line}");
                let rep = suite::run(&params, &progress).await?;
                std::fs::create_dir_all(&out)
                    .with_context(|| format!("creating {}", out.display()))?;
                let stem = out.join(format!("{}", rep.started_at_unix));
                let json = stem.with_extension("json");
                std::fs::write(&json, serde_json::to_string_pretty(&rep)?)?;
                let table = report::table(&rep);
                std::fs::write(stem.with_extension("txt"), &table)?;
                let svg = report::svg(
                    &rep,
                    &[
                        "custos_sign_store",
                        "custos_sign_memory",
                        "openbao_transit_sign",
                    ],
                    true,
                );
                std::fs::write(stem.with_extension("svg"), svg)?;
                println!("{table}");
                println!("wrote {} (.txt, .svg)", json.display());
                Ok(())
            }
            Cmd::Drive {
                url,
                path,
                body,
                token,
                concurrency,
                seconds,
                max_requests,
                expect,
                warmup,
                cpu_of,
            } => {
                let addr = url
                    .strip_prefix("http://")
                    .unwrap_or(&url)
                    .trim_end_matches('/')
                    .parse::<std::net::SocketAddr>()
                    .context("--url must be http://IP:PORT")?;
                if !addr.ip().is_loopback() {
                    bail!("custos-bench drives loopback servers only");
                }
                let mut t = match &body {
                    Some(b) => Target::post_json(
                        addr,
                        &path,
                        &serde_json::from_str(b).context("--body is not JSON")?,
                    ),
                    None => Target::get(addr, &path),
                };
                if let Some(tok) = &token {
                    t = t.bearer(tok)?;
                }
                for c in concurrency {
                    eprintln!("{path} at concurrency {c} ...");
                    let mut limits =
                        RunLimits::closed(c, max_requests, Duration::from_secs_f64(seconds))
                            .expecting(expect);
                    if !(warmup.is_finite() && warmup >= 0.0) {
                        bail!("--warmup must be zero or more seconds");
                    }
                    limits.warmup = Duration::from_secs_f64(warmup);
                    let before = cpu_of
                        .iter()
                        .map(|p| cpu::used(*p))
                        .collect::<Result<Vec<_>, _>>()?;
                    let m = load::run(&t, limits).await?;
                    let mut out = serde_json::to_value(&m)?;
                    // The warm-up's requests used CPU too; they ran at the measured rate.
                    let served = m.requests as f64 * (m.seconds + limits.warmup.as_secs_f64())
                        / m.seconds.max(1e-9);
                    let mut per_request = serde_json::Map::new();
                    for (pid, b) in cpu_of.iter().zip(before) {
                        let spent = cpu::used(*pid)?.saturating_sub(b);
                        per_request.insert(
                            pid.to_string(),
                            serde_json::json!(spent.as_secs_f64() * 1e6 / served.max(1.0)),
                        );
                    }
                    if !per_request.is_empty() {
                        out["cpu_us_per_request"] = serde_json::Value::Object(per_request);
                    }
                    println!("{out}");
                }
                Ok(())
            }
        }
    })
}
