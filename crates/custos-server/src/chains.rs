//! The chains this server acts on, built from configuration: `[solana]` — the Solana adapter over
//! the embedded LiteSVM devnet (default) or a JSON-RPC cluster, and, on the embedded devnet only,
//! a development faucet — and `[[evm.chains]]`, one EVM adapter per chain id over its node's
//! JSON-RPC. The pipeline sees only `ChainAdapter` and `DevFaucet` objects (the `trade` action
//! also reaches the EVM adapter's router helpers); the chain SDKs are touched here alone, behind
//! the `solana` and `evm` features.
use custos_core::{Chain, ChainAdapter, Decimal};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Which Solana backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SolanaBackendKind {
    /// LiteSVM in-process, state in `<data-dir>/solana` (the default).
    Embedded,
    /// JSON-RPC to a real cluster at `solana.rpc_url`.
    Rpc,
    /// No Solana.
    Off,
}

/// `[solana]`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SolanaSettings {
    /// Backend.
    pub backend: SolanaBackendKind,
    /// Cluster URL for `backend = "rpc"`.
    pub rpc_url: String,
    /// Compute-unit price in micro-lamports (0 = none); with `priority_fee_percentile`, the
    /// least paid.
    pub priority_fee_micro_lamports: u64,
    /// Pay this percentile (1–100) of the cluster's recent priority fees for the accounts a
    /// transaction writes (`getRecentPrioritizationFees`); unset: the fixed price above.
    pub priority_fee_percentile: Option<u8>,
    /// Never pay more than this per compute unit, whatever the cluster reports.
    pub max_priority_fee_micro_lamports: u64,
    /// Confirmation level: `processed`, `confirmed`, `finalized`.
    pub commitment: String,
    /// How long to wait for confirmation.
    pub confirm_timeout_seconds: u64,
    /// Token symbols and the SPL mints they name (`USDC = "EPjF…"`): where an interface takes
    /// a symbol (the Knot-compatible API's `mint`), it resolves through this table. The default
    /// holds the mainnet mints of USDC, USDT, JUP, BONK, WIF, RAY and ORCA; `SOL` is the
    /// native coin and is not a table entry.
    pub tokens: std::collections::BTreeMap<String, String>,
    /// The Jupiter Swap API `trade` quotes and builds Solana swaps with (its `/quote` and
    /// `/swap` are under this URL).
    pub jupiter_url: String,
}

/// Jupiter's public Swap API.
pub const JUPITER_URL: &str = "https://lite-api.jup.ag/swap/v1";

/// Mainnet mints of the tokens agents name most, by symbol.
pub const MAINNET_MINTS: [(&str, &str); 7] = [
    ("USDC", "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"),
    ("USDT", "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB"),
    ("JUP", "JUPyiwrYJFskUPiHa7hkeR8VUtAeFoSYbKedZNsDvCN"),
    ("BONK", "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263"),
    ("WIF", "EKpQGSJtjMFqKZ9KQanSqYXRcF8fBopzLHYxdM65zcjm"),
    ("RAY", "4k3Dyjzvzp8eMZWUXbBCjEvwSkkk59S5iCNLY3QrkX6R"),
    ("ORCA", "orcaEKTdK7LKz57vaAYr9QeNsVEPfiu6QeMU1kektZE"),
];

impl SolanaSettings {
    /// Checks the token table: symbols are 1–12 letters or digits (not `SOL`), mints are
    /// 32-byte base58 addresses.
    pub fn validate(&self) -> Result<(), (String, String)> {
        for (sym, mint) in &self.tokens {
            let k = format!("solana.tokens.{sym}");
            if sym.is_empty()
                || sym.len() > 12
                || !sym.bytes().all(|b| b.is_ascii_alphanumeric())
                || sym.eq_ignore_ascii_case("SOL")
            {
                return Err((
                    k,
                    "a symbol is 1 to 12 letters or digits, and not SOL".into(),
                ));
            }
            if bs58::decode(mint).into_vec().map(|v| v.len()) != Ok(32) {
                return Err((k, format!("{mint:?} is not a base58 mint address")));
            }
        }
        match reqwest::Url::parse(&self.jupiter_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(()),
            _ => Err((
                "solana.jupiter_url".into(),
                format!("{:?} is not an http(s) URL", self.jupiter_url),
            )),
        }
    }

    /// The mint `symbol` names (case-insensitive), if the table has it.
    pub fn mint_of(&self, symbol: &str) -> Option<&str> {
        self.tokens
            .iter()
            .find(|(s, _)| s.eq_ignore_ascii_case(symbol))
            .map(|(_, m)| m.as_str())
    }

    /// The symbol the table gives `mint`, if any.
    pub fn symbol_of(&self, mint: &str) -> Option<&str> {
        self.tokens
            .iter()
            .find(|(_, m)| m.as_str() == mint)
            .map(|(s, _)| s.as_str())
    }
}

impl Default for SolanaSettings {
    fn default() -> Self {
        Self {
            backend: SolanaBackendKind::Embedded,
            rpc_url: String::new(),
            priority_fee_micro_lamports: 0,
            priority_fee_percentile: None,
            max_priority_fee_micro_lamports: 1_000_000,
            commitment: "confirmed".into(),
            confirm_timeout_seconds: 30,
            jupiter_url: JUPITER_URL.into(),
            tokens: MAINNET_MINTS
                .iter()
                .map(|(s, m)| ((*s).to_owned(), (*m).to_owned()))
                .collect(),
        }
    }
}

/// `[evm]`: the EVM chains, each `[[evm.chains]]` a chain id and its node.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvmSettings {
    /// The chains.
    pub chains: Vec<EvmChainSettings>,
}

fn default_eth() -> String {
    "ETH".into()
}
fn default_one() -> u64 {
    1
}
fn default_fee_cap_gwei() -> u64 {
    500
}
fn default_tip_cap_gwei() -> u64 {
    5
}
fn default_evm_timeout() -> u64 {
    60
}

/// `[[evm.chains]]`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvmChainSettings {
    /// EIP-155 chain id (1 Ethereum, 42161 Arbitrum One, 8453 Base, 31337 anvil).
    pub chain_id: u64,
    /// The node's JSON-RPC URL.
    pub rpc_url: String,
    /// The native coin's symbol, as requests and prices name it.
    #[serde(default = "default_eth")]
    pub native_symbol: String,
    /// Blocks (the transaction's own included) before a transaction counts as confirmed.
    #[serde(default = "default_one")]
    pub confirmations: u64,
    /// Never pay more than this per gas, gwei.
    #[serde(default = "default_fee_cap_gwei")]
    pub max_fee_per_gas_gwei: u64,
    /// Never tip more than this per gas, gwei.
    #[serde(default = "default_tip_cap_gwei")]
    pub max_priority_fee_gwei: u64,
    /// How long to wait for confirmations.
    #[serde(default = "default_evm_timeout")]
    pub confirm_timeout_seconds: u64,
    /// ERC-20 contracts whose balances `GET /v1/wallets/me/balances` reports.
    #[serde(default)]
    pub tokens: Vec<String>,
    /// A Uniswap V2 router for the `trade` action.
    #[serde(default)]
    pub uniswap_v2_router: Option<String>,
}

impl EvmSettings {
    /// Checks every chain's settings, naming the key.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let addr = |a: &str| {
            a.len() == 42 && a.starts_with("0x") && a[2..].bytes().all(|b| b.is_ascii_hexdigit())
        };
        let mut seen = std::collections::HashSet::new();
        for (i, c) in self.chains.iter().enumerate() {
            let k = |f: &str| format!("evm.chains[{i}].{f}");
            if c.chain_id == 0 {
                return Err((k("chain_id"), "must be at least 1".into()));
            }
            if !seen.insert(c.chain_id) {
                return Err((
                    k("chain_id"),
                    format!("chain {} is configured twice", c.chain_id),
                ));
            }
            if !(c.rpc_url.starts_with("http://") || c.rpc_url.starts_with("https://")) {
                return Err((k("rpc_url"), "must be an http:// or https:// URL".into()));
            }
            if c.native_symbol.is_empty()
                || c.native_symbol.len() > 12
                || !c.native_symbol.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                return Err((k("native_symbol"), "1 to 12 letters or digits".into()));
            }
            if !(1..=64).contains(&c.confirmations) {
                return Err((k("confirmations"), "must be between 1 and 64".into()));
            }
            if c.max_fee_per_gas_gwei == 0 || c.max_priority_fee_gwei == 0 {
                return Err((
                    k("max_fee_per_gas_gwei"),
                    "fee caps must be at least 1 gwei".into(),
                ));
            }
            if !(1..=3600).contains(&c.confirm_timeout_seconds) {
                return Err((
                    k("confirm_timeout_seconds"),
                    "must be between 1 and 3600".into(),
                ));
            }
            for (j, t) in c.tokens.iter().enumerate() {
                if !addr(t) {
                    return Err((format!("{}[{j}]", k("tokens")), "not an EVM address".into()));
                }
            }
            if let Some(r) = &c.uniswap_v2_router {
                if !addr(r) {
                    return Err((k("uniswap_v2_router"), "not an EVM address".into()));
                }
            }
        }
        Ok(())
    }

    /// The settings of `chain_id`.
    pub fn chain(&self, chain_id: u64) -> Option<&EvmChainSettings> {
        self.chains.iter().find(|c| c.chain_id == chain_id)
    }
}

/// Funds agents on a development chain.
#[async_trait::async_trait]
pub trait DevFaucet: Send + Sync {
    /// Sends `amount` of `asset` (`SOL` or a mint the faucet controls) to `to`; returns the tx id.
    async fn airdrop(&self, to: &str, asset: &str, amount: Decimal) -> Result<String, String>;
    /// Creates a token mint the faucet controls; returns its address.
    async fn create_mint(&self, decimals: u8, token_2022: bool) -> Result<String, String>;
    /// Lets `n` empty slots pass (each with a new blockhash); returns the slot reached.
    async fn advance_slots(&self, n: u64) -> Result<u64, String>;
}

/// The configured chains.
#[derive(Clone, Default)]
pub struct Chains {
    /// Solana, if enabled.
    pub solana: Option<Arc<dyn ChainAdapter>>,
    /// The development faucet (embedded devnet only).
    pub faucet: Option<Arc<dyn DevFaucet>>,
    /// EVM chains by chain id, as the pipeline sees them.
    pub evm: std::collections::BTreeMap<u64, Arc<dyn ChainAdapter>>,
    /// The Solana adapter with its Solana-only helpers (x402 payment transactions).
    #[cfg(feature = "solana")]
    pub solana_adapter: Option<Arc<custos_chains::solana::SolanaAdapter>>,
    /// The same EVM adapters with their EVM-only helpers (router quotes).
    #[cfg(feature = "evm")]
    pub evm_adapters: std::collections::BTreeMap<u64, Arc<custos_chains::evm::EvmAdapter>>,
}

impl Chains {
    /// The adapter for `chain`, if this server acts on it.
    pub fn adapter(&self, chain: Chain) -> Option<&Arc<dyn ChainAdapter>> {
        match chain {
            Chain::Solana => self.solana.as_ref(),
            Chain::Evm(id) => self.evm.get(&id),
            _ => None,
        }
    }

    /// Solana's adapter with its Solana-only helpers, and as the pipeline sees it.
    #[cfg(feature = "solana")]
    pub fn solana_pair(
        &self,
    ) -> Option<(
        Arc<custos_chains::solana::SolanaAdapter>,
        Arc<dyn ChainAdapter>,
    )> {
        Some((self.solana_adapter.clone()?, self.solana.clone()?))
    }

    /// Every enabled chain's adapter.
    pub fn all(&self) -> Vec<&Arc<dyn ChainAdapter>> {
        self.solana.iter().chain(self.evm.values()).collect()
    }

    /// Adds the `[[evm.chains]]` adapters.
    #[cfg(feature = "evm")]
    pub fn with_evm(mut self, evm: &EvmSettings) -> Result<Self, String> {
        use custos_chains::evm::{EvmAdapter, EvmConfig};
        for c in &evm.chains {
            let mut cfg = EvmConfig::new(c.chain_id, &c.rpc_url);
            cfg.native_symbol = c.native_symbol.clone();
            cfg.confirmations = c.confirmations;
            cfg.max_fee_per_gas_cap = u128::from(c.max_fee_per_gas_gwei) * 1_000_000_000;
            cfg.max_priority_fee_cap = u128::from(c.max_priority_fee_gwei) * 1_000_000_000;
            cfg.default_priority_fee = cfg.default_priority_fee.min(cfg.max_priority_fee_cap);
            cfg.tokens = c.tokens.clone();
            let a = Arc::new(
                EvmAdapter::new(cfg).map_err(|e| format!("evm chain {}: {e}", c.chain_id))?,
            );
            self.evm.insert(c.chain_id, a.clone());
            self.evm_adapters.insert(c.chain_id, a);
        }
        Ok(self)
    }

    /// Without the `evm` feature no EVM chain can be configured.
    #[cfg(not(feature = "evm"))]
    pub fn with_evm(self, evm: &EvmSettings) -> Result<Self, String> {
        if evm.chains.is_empty() {
            Ok(self)
        } else {
            Err("this build has no EVM support; remove [[evm.chains]] or rebuild with the `evm` feature".into())
        }
    }
}

/// Builds the chains from configuration.
#[cfg(feature = "solana")]
pub fn open(s: &SolanaSettings, data_dir: &std::path::Path) -> Result<Chains, String> {
    use custos_chains::solana::{
        EmbeddedBackend, EmbeddedDevnet, RpcBackend, SolanaAdapter, SolanaBackend, SolanaConfig,
    };
    let commitment = parse_commitment(&s.commitment)?;
    let config = SolanaConfig {
        priority_fee_micro_lamports: s.priority_fee_micro_lamports,
        priority_fee_percentile: s.priority_fee_percentile,
        max_priority_fee_micro_lamports: s.max_priority_fee_micro_lamports,
        ..SolanaConfig::default()
    };
    match s.backend {
        SolanaBackendKind::Off => Ok(Chains::default()),
        SolanaBackendKind::Embedded => {
            let dir = data_dir.join("solana");
            std::fs::create_dir_all(&dir).map_err(|e| format!("solana data dir: {e}"))?;
            let devnet =
                Arc::new(EmbeddedDevnet::open(&dir).map_err(|e| format!("embedded devnet: {e}"))?);
            let backend: Arc<dyn SolanaBackend> = Arc::new(EmbeddedBackend::new(devnet.clone()));
            let adapter = Arc::new(SolanaAdapter::new(backend, config));
            Ok(Chains {
                solana: Some(adapter.clone()),
                solana_adapter: Some(adapter),
                faucet: Some(Arc::new(devnet_faucet::Faucet(devnet))),
                ..Chains::default()
            })
        }
        SolanaBackendKind::Rpc => {
            if s.rpc_url.is_empty() {
                return Err("solana.rpc_url is required when solana.backend = \"rpc\"".into());
            }
            let backend: Arc<dyn SolanaBackend> = Arc::new(
                RpcBackend::new(&s.rpc_url, commitment)
                    .map_err(|e| format!("solana.rpc_url: {e}"))?,
            );
            let adapter = Arc::new(SolanaAdapter::new(backend, config));
            Ok(Chains {
                solana: Some(adapter.clone()),
                solana_adapter: Some(adapter),
                ..Chains::default()
            })
        }
    }
}

/// Without the `solana` feature only `backend = "off"` is possible.
#[cfg(not(feature = "solana"))]
pub fn open(s: &SolanaSettings, _: &std::path::Path) -> Result<Chains, String> {
    match s.backend {
        SolanaBackendKind::Off => Ok(Chains::default()),
        _ => Err("this build has no Solana support; set solana.backend = \"off\" or rebuild with the `solana` feature".into()),
    }
}

/// The configured confirmation level.
pub fn parse_commitment(s: &str) -> Result<custos_core::Commitment, String> {
    use custos_core::Commitment;
    match s {
        "processed" => Ok(Commitment::Processed),
        "confirmed" => Ok(Commitment::Confirmed),
        "finalized" => Ok(Commitment::Finalized),
        other => Err(format!(
            "solana.commitment: `{other}` is not processed, confirmed or finalized"
        )),
    }
}

#[cfg(feature = "solana")]
mod devnet_faucet {
    use super::DevFaucet;
    use custos_chains::solana::{parse_address, token, EmbeddedDevnet, SOL_DECIMALS};
    use custos_core::{to_base_units, Decimal};
    use std::sync::Arc;

    /// The embedded devnet's faucet.
    pub struct Faucet(pub Arc<EmbeddedDevnet>);

    #[async_trait::async_trait]
    impl DevFaucet for Faucet {
        async fn airdrop(&self, to: &str, asset: &str, amount: Decimal) -> Result<String, String> {
            let devnet = self.0.clone();
            let to = parse_address(to, "to").map_err(|e| e.to_string())?;
            let asset = asset.to_owned();
            tokio::task::spawn_blocking(move || {
                if asset == "SOL" {
                    let lamports =
                        to_base_units(amount, SOL_DECIMALS).map_err(|e| e.to_string())?;
                    let lamports =
                        u64::try_from(lamports).map_err(|_| "amount too large".to_string())?;
                    return devnet
                        .airdrop(&to, lamports)
                        .map(|s| s.to_string())
                        .map_err(|e| e.to_string());
                }
                let mint = parse_address(&asset, "asset").map_err(|e| e.to_string())?;
                let acct = devnet
                    .get_account(&mint)
                    .ok_or_else(|| format!("no mint {asset} on the devnet"))?;
                let decimals = token::parse_mint_decimals(&acct.owner, &acct.data)
                    .ok_or_else(|| format!("{asset} is not a token mint"))?;
                let units = to_base_units(amount, decimals).map_err(|e| e.to_string())?;
                let units = u64::try_from(units).map_err(|_| "amount too large".to_string())?;
                devnet
                    .mint_to(&mint, &to, units, &acct.owner)
                    .map(|ata| ata.to_string())
                    .map_err(|e| e.to_string())
            })
            .await
            .map_err(|e| e.to_string())?
        }

        async fn advance_slots(&self, n: u64) -> Result<u64, String> {
            let devnet = self.0.clone();
            tokio::task::spawn_blocking(move || devnet.advance_slots(n))
                .await
                .map_err(|e| e.to_string())
        }

        async fn create_mint(&self, decimals: u8, token_2022: bool) -> Result<String, String> {
            let devnet = self.0.clone();
            tokio::task::spawn_blocking(move || {
                let program = if token_2022 {
                    token::token_2022_program()
                } else {
                    token::token_program()
                };
                devnet
                    .create_mint(decimals, &program)
                    .map(|m| m.to_string())
                    .map_err(|e| e.to_string())
            })
            .await
            .map_err(|e| e.to_string())?
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_token_table_is_valid_and_resolves_both_ways() {
        let s = SolanaSettings::default();
        assert_eq!(s.validate(), Ok(()));
        assert_eq!(
            s.mint_of("usdc"),
            Some("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v")
        );
        assert_eq!(
            s.symbol_of("orcaEKTdK7LKz57vaAYr9QeNsVEPfiu6QeMU1kektZE"),
            Some("ORCA")
        );
        assert_eq!(s.mint_of("SOL"), None);
        let mut bad = SolanaSettings::default();
        bad.tokens.insert("SOL".into(), MAINNET_MINTS[0].1.into());
        assert!(bad.validate().is_err());
        let mut short = SolanaSettings::default();
        short.tokens.insert("X".into(), "abc".into());
        assert_eq!(
            short.validate().map_err(|(k, _)| k),
            Err("solana.tokens.X".to_owned())
        );
    }
}
