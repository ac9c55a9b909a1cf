//! The `custos` binary: `serve` (the API server, supervising its enclave), `enclave` (the
//! custody boundary process), `devnet`, `demo`, the local data-dir tools (`admin token`, `audit
//! verify|export`, owner keys and `policy sign`), and the client of a running server
//! ([`client`]: `login`, operator and agent commands, completions and man pages).
#![forbid(unsafe_code)]

mod client;
mod commands;
mod demo;
mod docs;
mod owner_cmds;
mod supervise;

use clap::{CommandFactory as _, Parser, Subcommand};
use std::path::PathBuf;

/// mimalloc instead of glibc's malloc for both processes (server and enclave): every request
/// allocates and frees many small buffers on several threads, and glibc's arenas spent ~12 % of
/// the server's CPU on it under load (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "custos",
    version,
    about = "Wallet and signing service for autonomous agents"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// Options shared by every command that opens the data directory.
#[derive(clap::Args, Clone)]
struct Common {
    /// TOML configuration file (also `CUSTOS_CONFIG`).
    #[arg(long, env = "CUSTOS_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (default `./custos-data`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the API server (starts and supervises the enclave unless told not to).
    Serve {
        #[command(flatten)]
        common: Common,
        /// Address to listen on (default 127.0.0.1:8080; port 0 picks a free one).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
    },
    /// Run the custody boundary process.
    Enclave {
        /// Unix socket to listen on.
        #[arg(long)]
        socket: PathBuf,
        /// Enclave data directory (sealed keys).
        #[arg(long)]
        data_dir: PathBuf,
        /// Derive the master key with scrypt from the passphrase in this environment variable
        /// instead of using a key file.
        #[arg(long, conflicts_with = "openbao_addr")]
        kms_passphrase_env: Option<String>,
        #[command(flatten)]
        openbao: OpenBaoArgs,
        /// Exit when the parent process exits (set by `custos serve`).
        #[arg(long)]
        exit_with_parent: bool,
        /// An owner key (hex Ed25519) that may enrol a wallet's first policy; repeatable.
        /// Without any, a first envelope must be signed by its own authority's quorum.
        #[arg(long = "enrol-key", value_name = "HEX")]
        enrol_keys: Vec<String>,
        #[command(flatten)]
        pkcs11: Pkcs11Args,
    },
    /// Serve the embedded Solana devnet (LiteSVM, persisted in the data dir) over the standard
    /// Solana JSON-RPC subset, for the RPC back end and any Solana client.
    #[cfg(feature = "solana")]
    Devnet {
        /// Address to listen on (port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:8899")]
        listen: std::net::SocketAddr,
        /// The PubSub WebSocket's address (default: the HTTP port + 1, where web3.js looks).
        #[arg(long, value_name = "ADDR")]
        ws_listen: Option<std::net::SocketAddr>,
        /// A new slot and blockhash every this many milliseconds, as on a cluster (blockhashes
        /// expire after 150 slots); 0: slots pass only when transactions land.
        #[arg(long, default_value_t = 400, value_name = "MS")]
        slot_ms: u64,
        /// Devnet state directory.
        #[arg(long, default_value = "./custos-devnet")]
        data_dir: PathBuf,
    },
    /// Start Custos on embedded defaults and walk through login, airdrop, a transfer, a policy
    /// denial and `audit verify`.
    Demo {
        /// Keep the demo's data here (default: a temporary directory removed afterwards).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Operator administration.
    Admin {
        #[command(subcommand)]
        cmd: AdminCmd,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        cmd: AuditCmd,
    },
    /// Policies: read, change, compare and dry-run them on a server; sign them with an owner key.
    Policy {
        #[command(flatten)]
        target: client::Target,
        #[command(subcommand)]
        cmd: PolicyCmd,
    },
    #[command(flatten)]
    Client(client::args::ClientCmd),
}

#[derive(Subcommand)]
enum PolicyCmd {
    /// Sign a policy change with an owner key. Given a policy document and --current (the
    /// envelope in force, from `GET /v1/admin/agents/<id>/policy/envelope`), builds the next
    /// envelope — sections the document leaves out keep their current values — and signs it.
    /// Given an envelope, adds this key's signature (for a quorum). Prints the envelope to PUT.
    Sign {
        /// The owner key file (`custos admin key generate`).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The envelope in force (JSON), needed to sign a document.
        #[arg(long, value_name = "FILE")]
        current: Option<PathBuf>,
        /// A new authority for the next version: `{owners, quorum, loosen_delay_seconds}`.
        #[arg(long, value_name = "FILE")]
        authority: Option<PathBuf>,
        /// Not in force before this time (ms since the epoch); default now.
        #[arg(long, value_name = "MS")]
        not_before_ms: Option<i64>,
        /// Write the envelope here instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// A policy document, or an envelope to add a signature to.
        input: PathBuf,
    },
    #[command(flatten)]
    Remote(client::args::PolicyRemoteCmd),
}

/// A PKCS#11 token as the enclave's key store (needs the `pkcs11` build feature): keys are
/// generated on, and never leave, the token; the PIN is read from this process's environment.
#[derive(clap::Args, Clone, Default)]
struct Pkcs11Args {
    /// The PKCS#11 module (`.so`); selects the token as key store.
    #[arg(long, conflicts_with_all = ["kms_passphrase_env", "openbao_addr"])]
    pkcs11_module: Option<PathBuf>,
    /// Label of the initialised token.
    #[arg(long, requires = "pkcs11_module")]
    pkcs11_token_label: Option<String>,
    /// Environment variable holding the user PIN.
    #[arg(long, requires = "pkcs11_module")]
    pkcs11_pin_env: Option<String>,
    /// Logged-in sessions kept open.
    #[arg(long, default_value_t = 4)]
    pkcs11_sessions: usize,
}

/// OpenBao / Vault as the enclave's KMS (needs the `openbao` build feature).
#[derive(clap::Args, Clone, Default)]
struct OpenBaoArgs {
    /// OpenBao address; selects the OpenBao KMS (`https://`, or `http://` on loopback).
    #[arg(long)]
    openbao_addr: Option<String>,
    /// Environment variable holding the OpenBao token.
    #[arg(long, default_value = "BAO_TOKEN", requires = "openbao_addr")]
    openbao_token_env: String,
    /// Transit key that wraps the data keys (created if missing).
    #[arg(long, default_value = "custos", requires = "openbao_addr")]
    openbao_transit_key: String,
    /// KV v2 mount to keep sealed keys in instead of the enclave's disk.
    #[arg(long, requires = "openbao_addr")]
    openbao_kv_mount: Option<String>,
    /// Extra PEM CA certificate to trust.
    #[arg(long, requires = "openbao_addr")]
    openbao_ca_cert: Option<PathBuf>,
}

#[derive(Subcommand)]
enum AdminCmd {
    /// Print a new operator bearer token (shown once; only its hash is stored).
    Token {
        #[command(flatten)]
        common: Common,
        /// Role of the token.
        #[arg(long, default_value = "admin", value_parser = ["admin", "operator", "viewer"])]
        role: String,
    },
    /// Owner keys.
    Key {
        #[command(subcommand)]
        cmd: KeyCmd,
    },
    /// Operator accounts for the console (`/console`).
    Operator {
        #[command(subcommand)]
        cmd: OperatorCmd,
    },
    /// Print the secret alerts are signed with (`Custos-Signature`; from the data dir's webhook
    /// root key and `alerts.secret_version`), for the receiver `[alerts] url` names.
    AlertSecret {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand)]
enum OperatorCmd {
    /// Invite an operator: they enrol at /console with a code mailed to EMAIL and a passkey.
    Invite {
        #[command(flatten)]
        common: Common,
        /// Their email.
        #[arg(long)]
        email: String,
        /// Their role.
        #[arg(long, value_parser = ["admin", "operator", "viewer"])]
        role: String,
    },
    /// List operator accounts (email, role, passkeys, TOTP, disabled).
    List {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand)]
enum KeyCmd {
    /// Write a new Ed25519 owner key to FILE (mode 0600) and print its public half to enrol.
    Generate {
        /// Where to write the key (must not exist).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Verify the hash chain and signed checkpoints; exit 2 naming the first broken record.
    ///
    /// Give the enclave identity key with --trust-key or --trust-attestation: without one the
    /// checkpoints are checked only against the first key found in the database, which whoever
    /// can write the database chooses.
    Verify {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        source: client::args::AuditSource,
        /// The enclave identity key (hex Ed25519, 64 characters): every checkpoint must be
        /// signed by it.
        #[arg(long, value_name = "HEX")]
        trust_key: Option<String>,
        /// An attestation document saved from `GET /v1/attestation` (JSON): it must verify, and
        /// its `public_key` becomes the trusted key.
        #[arg(long, value_name = "FILE")]
        trust_attestation: Option<PathBuf>,
    },
    /// Verify a signer's own decision log (`<enclave data dir>/decisions.log`): sequence, hash
    /// chain, and every record signed by the given identity key; exit 2 naming the first broken
    /// record.
    VerifySigner {
        /// The log file.
        #[arg(long, value_name = "FILE")]
        log: PathBuf,
        /// The signer's identity key (hex Ed25519), e.g. the `public_key` of `GET /v1/attestation`.
        #[arg(long, value_name = "HEX")]
        trust_key: Option<String>,
        /// An attestation document (JSON) whose `public_key` becomes the trusted key.
        #[arg(long, value_name = "FILE")]
        trust_attestation: Option<PathBuf>,
    },
    /// Print every record as one JSON line.
    Export {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        source: client::args::AuditSource,
        /// Write to this file instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The last records, then (with --follow) new ones as they are written.
    Tail {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        source: client::args::AuditSource,
        /// Only this agent's records.
        #[arg(long, value_name = "AGENT_ID")]
        agent: Option<String>,
        /// How many.
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: usize,
        /// Keep printing new records.
        #[arg(long, short = 'f')]
        follow: bool,
    },
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CUSTOS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        match cli.cmd {
            Cmd::Serve { common, listen } => commands::serve(common, listen).await,
            Cmd::Enclave {
                socket,
                data_dir,
                kms_passphrase_env,
                openbao,
                exit_with_parent,
                enrol_keys,
                pkcs11,
            } => {
                commands::enclave(commands::EnclaveArgs {
                    socket,
                    data_dir,
                    passphrase_env: kms_passphrase_env,
                    openbao,
                    exit_with_parent,
                    enrol_keys,
                    pkcs11,
                })
                .await
            }
            #[cfg(feature = "solana")]
            Cmd::Devnet {
                listen,
                ws_listen,
                slot_ms,
                data_dir,
            } => commands::devnet(listen, ws_listen, slot_ms, data_dir).await,
            Cmd::Demo { data_dir } => demo::run(data_dir).await,
            Cmd::Admin {
                cmd: AdminCmd::Token { common, role },
            } => commands::admin_token(common, &role).await,
            Cmd::Admin {
                cmd: AdminCmd::AlertSecret { common },
            } => commands::alert_secret(common),
            Cmd::Admin {
                cmd:
                    AdminCmd::Operator {
                        cmd:
                            OperatorCmd::Invite {
                                common,
                                email,
                                role,
                            },
                    },
            } => commands::operator_invite(common, &email, &role).await,
            Cmd::Admin {
                cmd:
                    AdminCmd::Operator {
                        cmd: OperatorCmd::List { common },
                    },
            } => commands::operator_list(common).await,
            Cmd::Admin {
                cmd:
                    AdminCmd::Key {
                        cmd: KeyCmd::Generate { out },
                    },
            } => owner_cmds::key_generate(&out),
            Cmd::Policy {
                target,
                cmd: PolicyCmd::Remote(cmd),
            } => {
                client::operator::policy(
                    &client::Remote::connect_as(&target, client::profile::Kind::Operator)?,
                    cmd,
                )
                .await
            }
            Cmd::Policy {
                cmd:
                    PolicyCmd::Sign {
                        key,
                        current,
                        authority,
                        not_before_ms,
                        out,
                        input,
                    },
                ..
            } => owner_cmds::policy_sign(owner_cmds::SignArgs {
                key,
                input,
                current,
                authority,
                not_before_ms,
                out,
            }),
            Cmd::Audit {
                cmd:
                    AuditCmd::VerifySigner {
                        log,
                        trust_key,
                        trust_attestation,
                    },
            } => commands::audit_verify_signer(log, trust_key, trust_attestation),
            Cmd::Audit {
                cmd:
                    AuditCmd::Verify {
                        common,
                        source,
                        trust_key,
                        trust_attestation,
                    },
            } => {
                if source.remote {
                    let trusted = commands::trusted_key(trust_key, trust_attestation)?;
                    let r = client::Remote::connect_as(
                        &source.target,
                        client::profile::Kind::Operator,
                    )?;
                    client::operator::audit_verify(&r, trusted).await
                } else {
                    commands::audit_verify_trusted(common, trust_key, trust_attestation).await
                }
            }
            Cmd::Audit {
                cmd:
                    AuditCmd::Export {
                        common,
                        source,
                        out,
                    },
            } => {
                if source.remote {
                    client::operator::audit_export(
                        &client::Remote::connect_as(
                            &source.target,
                            client::profile::Kind::Operator,
                        )?,
                        out,
                    )
                    .await
                } else {
                    commands::audit_export(common, out).await
                }
            }
            Cmd::Audit {
                cmd:
                    AuditCmd::Tail {
                        common,
                        source,
                        agent,
                        lines,
                        follow,
                    },
            } => {
                if source.remote {
                    let r = client::Remote::connect_as(
                        &source.target,
                        client::profile::Kind::Operator,
                    )?;
                    client::operator::audit_tail(&r, agent.as_deref(), lines, follow).await
                } else {
                    commands::audit_tail(
                        common,
                        agent.as_deref(),
                        lines,
                        follow,
                        source.target.output,
                    )
                    .await
                }
            }
            Cmd::Client(client::args::ClientCmd::Completions { shell }) => {
                docs::completions(shell, Cli::command())
            }
            Cmd::Client(client::args::ClientCmd::Man { out }) => docs::man(&out, Cli::command()),
            Cmd::Client(client::args::ClientCmd::Openapi) => docs::openapi(),
            Cmd::Client(cmd) => client::run(cmd).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(client::exit_code_of(&e))
        }
    }
}
