//! The chains this server acts on, built from `[solana]` configuration: the Solana adapter over
//! the embedded LiteSVM devnet (default) or a JSON-RPC cluster, and — on the embedded devnet
//! only — a development faucet. The pipeline sees only `ChainAdapter` and `DevFaucet` objects;
//! the Solana crates are touched here alone, behind the `solana` feature.
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
    /// Compute-unit price in micro-lamports (0 = none).
    pub priority_fee_micro_lamports: u64,
    /// Confirmation level: `processed`, `confirmed`, `finalized`.
    pub commitment: String,
    /// How long to wait for confirmation.
    pub confirm_timeout_seconds: u64,
}

impl Default for SolanaSettings {
    fn default() -> Self {
        Self {
            backend: SolanaBackendKind::Embedded,
            rpc_url: String::new(),
            priority_fee_micro_lamports: 0,
            commitment: "confirmed".into(),
            confirm_timeout_seconds: 30,
        }
    }
}

/// Funds agents on a development chain.
#[async_trait::async_trait]
pub trait DevFaucet: Send + Sync {
    /// Sends `amount` of `asset` (`SOL` or a mint the faucet controls) to `to`; returns the tx id.
    async fn airdrop(&self, to: &str, asset: &str, amount: Decimal) -> Result<String, String>;
    /// Creates a token mint the faucet controls; returns its address.
    async fn create_mint(&self, decimals: u8, token_2022: bool) -> Result<String, String>;
}

/// The configured chains.
#[derive(Clone, Default)]
pub struct Chains {
    /// Solana, if enabled.
    pub solana: Option<Arc<dyn ChainAdapter>>,
    /// The development faucet (embedded devnet only).
    pub faucet: Option<Arc<dyn DevFaucet>>,
}

impl Chains {
    /// The adapter for `chain`, if this server acts on it.
    pub fn adapter(&self, chain: Chain) -> Option<&Arc<dyn ChainAdapter>> {
        match chain {
            Chain::Solana => self.solana.as_ref(),
            _ => None,
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
            Ok(Chains {
                solana: Some(Arc::new(SolanaAdapter::new(backend, config))),
                faucet: Some(Arc::new(devnet_faucet::Faucet(devnet))),
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
            Ok(Chains {
                solana: Some(Arc::new(SolanaAdapter::new(backend, config))),
                faucet: None,
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
