//! The client commands' command-line shape (clap definitions), apart from what they do.
use super::Target;
use std::path::PathBuf;

/// Client commands, flattened into `custos`'s top level.
#[derive(clap::Subcommand)]
pub enum ClientCmd {
    /// Log in to a server and save the token as a profile (made current).
    Login {
        #[command(flatten)]
        target: Target,
        /// The profile's name.
        #[arg(long = "name", default_value = "default", value_name = "NAME")]
        name: String,
        #[command(subcommand)]
        who: LoginCmd,
    },
    /// Agents (operator).
    Agents {
        #[command(flatten)]
        target: Target,
        #[command(subcommand)]
        cmd: AgentsCmd,
    },
    /// Freeze an agent, or every agent: all their actions are refused (operator).
    Freeze {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        which: Which,
    },
    /// Unfreeze an agent, or every agent (operator).
    Unfreeze {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        which: Which,
    },
    /// The kill switch: freeze every agent at once in the custody boundary itself, present and
    /// future (`engage`, admin), lift it (`release`, admin; agents frozen one by one stay
    /// frozen), or show what the boundary holds frozen (`status`).
    KillSwitch {
        #[command(flatten)]
        target: Target,
        /// `engage`, `release` or `status`.
        #[arg(value_parser = ["engage", "release", "status"])]
        action: String,
    },
    /// Operator alerts: the delivery log (`log`, viewer), or a test alert to check the
    /// receiver (`test`, admin).
    Alerts {
        #[command(flatten)]
        target: Target,
        /// `log` or `test`.
        #[arg(value_parser = ["log", "test"])]
        action: String,
        /// `log`: after this alert id.
        #[arg(long, default_value_t = 0)]
        after: u64,
    },
    /// Actions parked for human approval (operator).
    Approvals {
        #[command(flatten)]
        target: Target,
        #[command(subcommand)]
        cmd: ApprovalsCmd,
    },
    /// An agent's API keys (operator).
    ApiKeys {
        #[command(flatten)]
        target: Target,
        #[command(subcommand)]
        cmd: ApiKeysCmd,
    },
    /// An agent's signing keys (operator).
    Keys {
        #[command(flatten)]
        target: Target,
        #[command(subcommand)]
        cmd: KeysCmd,
    },
    /// The custody boundary's attestation.
    Attestation {
        #[command(flatten)]
        target: Target,
        #[command(subcommand)]
        cmd: AttestationCmd,
    },
    /// The agent's own wallet (agent).
    Wallet {
        #[command(flatten)]
        target: Target,
        #[command(subcommand)]
        cmd: WalletCmd,
    },
    /// Transfer funds (agent).
    Transfer {
        #[command(flatten)]
        target: Target,
        /// `solana` or `evm:<chain id>`.
        #[arg(long, default_value = "solana")]
        chain: String,
        /// Recipient address.
        #[arg(long)]
        to: String,
        /// Decimal amount in whole units, e.g. `1.25`.
        #[arg(long)]
        amount: String,
        /// `SOL`, a mint, the native symbol (`ETH`) or an ERC-20 address.
        #[arg(long, default_value = "SOL")]
        asset: String,
        #[command(flatten)]
        opts: ActionOpts,
    },
    /// Sign (and optionally broadcast) a chain transaction (agent).
    Sign {
        #[command(flatten)]
        target: Target,
        /// `solana` or `evm:<chain id>`.
        #[arg(long, default_value = "solana")]
        chain: String,
        /// The transaction: Solana base64, EVM `0x…` hex; `@FILE` reads it from a file.
        #[arg(long)]
        transaction: String,
        /// Broadcast and confirm it instead of returning it signed.
        #[arg(long)]
        broadcast: bool,
        /// Declared recipient.
        #[arg(long)]
        to: Option<String>,
        /// Declared asset (with --amount).
        #[arg(long, requires = "amount")]
        asset: Option<String>,
        /// Declared amount, whole units (with --asset).
        #[arg(long, requires = "asset")]
        amount: Option<String>,
        #[command(flatten)]
        opts: ActionOpts,
    },
    /// Sign an off-chain message, EIP-191 text, EIP-712 typed data or a raw hash (agent).
    SignMessage {
        #[command(flatten)]
        target: Target,
        /// `message` (Solana off-chain envelope, Ed25519) or `evm:<chain id>`.
        #[arg(long, default_value = "message")]
        chain: String,
        /// The text.
        #[arg(long, conflicts_with_all = ["typed_data", "hash"])]
        message: Option<String>,
        /// A JSON file of EIP-712 typed data (EVM).
        #[arg(long, value_name = "FILE", conflicts_with = "hash")]
        typed_data: Option<PathBuf>,
        /// A 32-byte hash, hex (EVM).
        #[arg(long)]
        hash: Option<String>,
        #[command(flatten)]
        opts: ActionOpts,
    },
    /// Swap one asset for another (agent).
    Trade {
        #[command(flatten)]
        target: Target,
        /// `solana` (Jupiter) or `evm:<chain id>` with a configured router.
        #[arg(long)]
        chain: String,
        /// What is sold: the native symbol, a token symbol (Solana) or a token address / mint.
        #[arg(long = "from")]
        from_asset: String,
        /// What is bought.
        #[arg(long = "to")]
        to_asset: String,
        /// How much is sold, whole units.
        #[arg(long)]
        amount: String,
        /// Largest shortfall below the quote, basis points.
        #[arg(long)]
        slippage_bps: Option<u32>,
        #[command(flatten)]
        opts: ActionOpts,
    },
    /// Provide liquidity to a Meteora DLMM pool on Solana (agent): add to a position the wallet
    /// has, remove a share of it, or claim its fees, within the policy's `liquidity` rules.
    Liquidity {
        #[command(flatten)]
        target: Target,
        /// `add`, `remove` or `claim`.
        #[arg(value_parser = ["add", "remove", "claim"])]
        operation: String,
        /// The pool's `LbPair` address.
        #[arg(long)]
        pool: String,
        /// The wallet's position in the pool.
        #[arg(long)]
        position: String,
        /// The lowest bin of the range.
        #[arg(long, allow_hyphen_values = true)]
        min_bin: i32,
        /// The highest bin of the range (at most 69 above `--min-bin`).
        #[arg(long, allow_hyphen_values = true)]
        max_bin: i32,
        /// `add`: the most of token X deposited, whole units.
        #[arg(long)]
        amount_x: Option<String>,
        /// `add`: the most of token Y deposited, whole units.
        #[arg(long)]
        amount_y: Option<String>,
        /// `add`: `spot`, `curve` or `bid_ask`.
        #[arg(long)]
        strategy: Option<String>,
        /// `remove`: basis points of the range's liquidity.
        #[arg(long)]
        bps: Option<u16>,
        #[command(flatten)]
        opts: ActionOpts,
    },
    /// Kalshi prediction markets (agent): the agent's Kalshi API key (made in the custody
    /// boundary), limit orders within the policy's `prediction` rules, cancellations, and the
    /// account's balance, positions and orders.
    Prediction {
        #[command(flatten)]
        target: Target,
        #[command(subcommand)]
        cmd: PredictionCmd,
    },
    /// Pay for an HTTP resource with x402 (agent): fetch the URL and, on `402 Payment
    /// Required`, pay it within the policy's `payments` rules; prints the resource and the
    /// seller's settlement receipt.
    Pay {
        #[command(flatten)]
        target: Target,
        /// The resource (`http://` or `https://`), fetched with GET.
        #[arg(value_name = "URL")]
        resource: String,
        /// The requirement you were quoted (one entry of a 402's `accepts`, a JSON file or `-`):
        /// pay only if the seller still asks exactly that.
        #[arg(long, value_name = "FILE")]
        quote: Option<PathBuf>,
        #[command(flatten)]
        opts: ActionOpts,
    },
    /// Fund the wallet on the embedded devnet (development servers only).
    Airdrop {
        #[command(flatten)]
        target: Target,
        /// `solana`.
        #[arg(long, default_value = "solana")]
        chain: String,
        /// `SOL` or a mint the devnet created (`POST /v1/dev/mints`).
        #[arg(long, default_value = "SOL")]
        asset: String,
        /// Whole units.
        #[arg(long)]
        amount: String,
    },
    /// The agent's transactions (agent).
    Tx {
        #[command(flatten)]
        target: Target,
        #[command(subcommand)]
        cmd: TxCmd,
    },
    /// Serve MCP (Model Context Protocol) on stdin/stdout for a local agent host (agent): every
    /// tool call is a request to the server with this agent's token, so its scopes, rate limits,
    /// policy and audit apply. Logs go to stderr.
    Mcp {
        #[command(flatten)]
        target: Target,
    },
    /// Print a shell completion script.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the OpenAPI document (what `GET /openapi.json` serves), for client generators.
    Openapi,
    /// Write man pages (one per command) into a directory.
    Man {
        /// The directory (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

/// `--idempotency-key` and `--dry-run` of every agent action.
#[derive(clap::Args, Clone, Debug)]
pub struct ActionOpts {
    /// Makes a retry safe: the same key returns the same result. Generated and printed (to
    /// stderr) when not given.
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
    /// Ask what the policy would say; nothing is signed.
    #[arg(long)]
    pub dry_run: bool,
}

/// One agent or all of them.
#[derive(clap::Args, Clone, Debug)]
#[group(required = true, multiple = false)]
pub struct Which {
    /// The agent's id.
    pub agent: Option<String>,
    /// Every agent.
    #[arg(long)]
    pub all: bool,
}

/// `custos login …`.
#[derive(clap::Subcommand)]
pub enum LoginCmd {
    /// As an operator: paste a token from `custos admin token` on stdin.
    Operator,
    /// As an agent: an email code (sent now, read from --code or stdin), or an API key on stdin.
    Agent {
        /// The agent's email.
        #[arg(long, required_unless_present = "api_key_stdin")]
        email: Option<String>,
        /// The code from the email (asked for on stdin when not given).
        #[arg(long, requires = "email")]
        code: Option<String>,
        /// Read an API key from stdin instead.
        #[arg(long, conflicts_with_all = ["email", "code"])]
        api_key_stdin: bool,
    },
}

/// `custos agents …`.
#[derive(clap::Subcommand)]
pub enum AgentsCmd {
    /// Every agent.
    List,
    /// One agent, with its API keys and signing keys.
    Show {
        /// The agent's id.
        agent: String,
    },
}

/// `custos approvals …`.
#[derive(clap::Subcommand)]
pub enum ApprovalsCmd {
    /// Approvals (pending by default).
    List {
        /// `pending`, `approved`, `rejected`, `expired`, `executed` or `all`.
        #[arg(long, default_value = "pending")]
        status: String,
    },
    /// One approval and what its transaction does.
    Show {
        /// The approval's id.
        id: String,
    },
    /// Approve; at the quorum the action executes now.
    Approve {
        /// The approval's id.
        id: String,
    },
    /// Reject; the action never executes.
    Reject {
        /// The approval's id.
        id: String,
    },
}

/// `custos api-keys …`.
#[derive(clap::Subcommand)]
pub enum ApiKeysCmd {
    /// Create a key for an agent (shown once).
    Create {
        /// The agent's id.
        agent: String,
        /// Limit the key to these scopes (repeat, or separate with commas): wallet:read,
        /// policy:read, audit:read, transfer, trade, sign, sign:message, liquidity, prediction,
        /// policy:tighten, x402:pay.
        /// Without any, the key has every scope.
        #[arg(long = "scope", value_delimiter = ',')]
        scopes: Vec<String>,
    },
    /// An agent's keys.
    List {
        /// The agent's id.
        agent: String,
    },
    /// Revoke a key.
    Revoke {
        /// The agent's id.
        agent: String,
        /// The key's id.
        key_id: String,
    },
}

/// `custos keys …`.
#[derive(clap::Subcommand)]
pub enum KeysCmd {
    /// An agent's active signing keys, their age and whether rotation is due.
    List {
        /// The agent's id.
        agent: String,
    },
    /// Rotate one of an agent's keys (admin).
    Rotate {
        /// The agent's id.
        agent: String,
        /// Which key (`rsa_pss_sha256`: the Kalshi key).
        #[arg(value_parser = ["ed25519", "secp256k1_ecdsa", "rsa_pss_sha256"])]
        scheme: String,
    },
}

/// `custos attestation …`.
#[derive(clap::Subcommand)]
pub enum AttestationCmd {
    /// Fetch the boundary's attestation with a fresh nonce and verify it; exit 2 if it does not
    /// verify or its measurement is not the expected one.
    Verify {
        /// The measurement it must carry (hex).
        #[arg(long, value_name = "HEX")]
        expect_measurement: Option<String>,
        /// Also save the verified document here (for `audit verify --trust-attestation`).
        #[arg(long, value_name = "FILE")]
        save: Option<PathBuf>,
    },
}

/// `custos wallet …`.
#[derive(clap::Subcommand)]
pub enum WalletCmd {
    /// Id, email, addresses, frozen.
    Show,
    /// Balances on every enabled chain.
    Balances,
}

/// `custos prediction …`.
#[derive(clap::Subcommand)]
pub enum PredictionCmd {
    /// The agent's Kalshi API key: created in the custody boundary on first use; prints the
    /// PEM public key to register with Kalshi (then set `prediction.kalshi_key_id`).
    Key,
    /// Buy contracts of one outcome with a limit order.
    Buy {
        /// The market ticker, e.g. KXFED-26DEC-T4.00.
        ticker: String,
        /// `yes` or `no`.
        #[arg(value_parser = ["yes", "no"])]
        side: String,
        /// Contracts.
        #[arg(long)]
        count: u32,
        /// The most paid per contract, USD (0.01–0.99).
        #[arg(long)]
        limit_price: String,
        #[command(flatten)]
        opts: ActionOpts,
    },
    /// Cancel a resting order.
    Cancel {
        /// Kalshi's order id.
        order_id: String,
        #[command(flatten)]
        opts: ActionOpts,
    },
    /// The Kalshi balance.
    Balance,
    /// Positions.
    Positions,
    /// Orders (`--status resting|canceled|executed`).
    Orders {
        /// Only orders in this status.
        #[arg(long, value_parser = ["resting", "canceled", "executed"])]
        status: Option<String>,
    },
}

/// `custos tx …`.
#[derive(clap::Subcommand)]
pub enum TxCmd {
    /// Transactions, oldest first.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Continue after this audit record id (the previous page's `next_after`).
        #[arg(long)]
        after: Option<u64>,
    },
    /// One transaction: its records and what the chain says now.
    Status {
        /// Solana signature or EVM transaction hash.
        tx: String,
    },
    /// Replace a pending EVM transaction with the same one paying higher fees (same nonce).
    SpeedUp {
        /// The pending transaction's hash (or an earlier replacement's).
        tx: String,
        #[command(flatten)]
        opts: ReplaceOpts,
    },
    /// Replace a pending EVM transaction with one that sends nothing to the wallet itself
    /// (same nonce, higher fees): if it lands, the original never does.
    Cancel {
        /// The pending transaction's hash (or an earlier replacement's).
        tx: String,
        #[command(flatten)]
        opts: ReplaceOpts,
    },
}

/// Options of `custos tx speed-up|cancel`.
#[derive(clap::Args, Clone, Debug)]
pub struct ReplaceOpts {
    /// Raise both fees by at least this much, percent (10-500; the server's default is 25).
    #[arg(long, value_name = "PERCENT")]
    pub fee_bump_percent: Option<u32>,
    /// Makes a retry safe: the same key returns the same result. Generated and printed (to
    /// stderr) when not given.
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
}

/// `custos policy …` subcommands that talk to a server.
#[derive(clap::Subcommand)]
pub enum PolicyRemoteCmd {
    /// An agent's policy document (or, with --envelope, the signed envelope in force).
    Get {
        /// The agent's id.
        agent: String,
        /// The owner-signed envelope in force and any pending one.
        #[arg(long)]
        envelope: bool,
    },
    /// Submit a policy (a document in JSON or TOML, or a signed envelope) and show the outcome.
    Set {
        /// The agent's id.
        agent: String,
        /// The file (`-` for stdin).
        file: PathBuf,
    },
    /// What a proposed policy changes against the one in force.
    Diff {
        /// The agent's id.
        agent: String,
        /// The file (`-` for stdin).
        file: PathBuf,
    },
    /// What submitting a proposed policy would do: changes, loosenings, signatures needed.
    DryRun {
        /// The agent's id.
        agent: String,
        /// The file (`-` for stdin).
        file: PathBuf,
    },
}

/// Where `audit tail|export|verify` read the log: the local data dir, or a server.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct AuditSource {
    /// Read the log from a server (operator token) instead of the local data dir.
    #[arg(long)]
    pub remote: bool,
    #[command(flatten)]
    pub target: Target,
}
