//! The policy document of `API.md`: parsing with unknown fields refused, validation that names
//! the offending field, and the merge of a partial document over the server default.
use crate::prediction::PredictionRules;
use custos_core::{Chain, Decimal};
use serde::{Deserialize, Serialize};

/// The newest document version this build understands.
pub const CURRENT_VERSION: u32 = 1;

/// A complete, validated policy document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDocument {
    /// Document format version.
    pub version: u32,
    /// Lifetime of an agent session token.
    pub session_expiration_hours: u32,
    /// Which actions the agent may take.
    pub actions: ActionToggles,
    /// Chains the agent may act on (`solana`, `evm:<id>`, `bitcoin`).
    pub chains: Vec<Chain>,
    /// USD and velocity limits.
    pub limits: Limits,
    /// Recipient rules.
    pub recipients: Recipients,
    /// Human approval rule, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvals: Option<Approvals>,
    /// Programs / contracts a transaction may run beyond the chain's built-in set.
    #[serde(default)]
    pub programs: Programs,
    /// Who may receive a token approval, delegation or authority from the agent.
    #[serde(default)]
    pub spenders: Spenders,
    /// How closely simulated effects must match the declared intent.
    #[serde(default)]
    pub simulation: SimulationRules,
    /// Rules for EIP-712 typed data.
    #[serde(default, skip_serializing_if = "TypedDataRules::is_default")]
    pub typed_data: TypedDataRules,
    /// x402 payments for HTTP resources (`POST /v1/wallets/me/actions/pay`).
    #[serde(default, skip_serializing_if = "Payments::is_default")]
    pub payments: Payments,
    /// Rules for `trade`.
    #[serde(default, skip_serializing_if = "Trading::is_default")]
    pub trading: Trading,
    /// Rules for `liquidity` (Meteora DLMM pools).
    #[serde(default, skip_serializing_if = "LiquidityRules::is_default")]
    pub liquidity: LiquidityRules,
    /// Rules for `prediction` (Kalshi markets).
    #[serde(default, skip_serializing_if = "PredictionRules::is_default")]
    pub prediction: PredictionRules,
}

/// Rules for `liquidity`, beyond the `actions.liquidity` toggle and the caps every action
/// meets. Nothing is allowed by default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiquidityRules {
    /// Pools (their `LbPair` addresses) the agent may provide liquidity to. Empty: none.
    #[serde(default)]
    pub pools: Vec<String>,
    /// The most one deposit may be worth, USD (both tokens at the oracle's prices).
    #[serde(default)]
    pub max_usd_per_tx: Decimal,
    /// The most the agent may deposit in a rolling 24 hours, USD — counted in the same budget
    /// ledger as `limits.daily_usd`, which still bounds everything together. Unset: only that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_usd: Option<Decimal>,
}

impl LiquidityRules {
    /// True when nothing is set, so the section is left out of serialized documents.
    pub fn is_default(&self) -> bool {
        self == &Self::default()
    }
}

/// Rules for `trade`, beyond the toggle and the caps every action meets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trading {
    /// The largest slippage a trade may accept below its quote, basis points (0–5000; default
    /// 100 = 1 %): a request asking for more is refused before a quote is asked for, and a
    /// quote whose minimum output is further below its output is refused.
    #[serde(default = "default_max_slippage")]
    pub max_slippage_bps: u32,
}

fn default_max_slippage() -> u32 {
    100
}

impl Default for Trading {
    fn default() -> Self {
        Self {
            max_slippage_bps: default_max_slippage(),
        }
    }
}

impl Trading {
    /// True when nothing is set, so the section is left out of serialized documents.
    pub fn is_default(&self) -> bool {
        self == &Self::default()
    }
}

/// x402 payments: which sites the agent may pay, how much one payment may cost and how long its
/// authorization may stay valid. The payment itself is an EIP-3009 transfer and is held to every
/// transfer rule too (the `transfer` toggle, the payee against `recipients`, the per-transaction
/// and daily caps). Nothing is allowed by default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payments {
    /// Hosts the agent may pay (`api.example.com`, or `127.0.0.1:8402` with a port), compared
    /// case-insensitively with the URL's host (and port, when the entry names one). Empty: none.
    #[serde(default)]
    pub domains: Vec<String>,
    /// The most one payment may cost, USD.
    #[serde(default)]
    pub max_per_payment_usd: Decimal,
    /// The most the agent may pay one site (host, with its port if the URL names one) in a
    /// rolling 24 hours, USD — counted in the same budget ledger as `limits.daily_usd`, which
    /// still bounds all payments together. Unset: only that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_usd_per_domain: Option<Decimal>,
    /// The longest an authorization may stay valid, seconds (1–3600; default 300): a seller
    /// asking for longer gets this long.
    #[serde(default = "default_payment_validity")]
    pub max_validity_seconds: u32,
}

fn default_payment_validity() -> u32 {
    300
}

impl Default for Payments {
    fn default() -> Self {
        Self {
            domains: Vec::new(),
            max_per_payment_usd: Decimal::ZERO,
            daily_usd_per_domain: None,
            max_validity_seconds: default_payment_validity(),
        }
    }
}

impl Payments {
    /// True when nothing is set, so the section is left out of serialized documents.
    pub fn is_default(&self) -> bool {
        self == &Self::default()
    }

    /// Whether `host` (and `port`) is one the agent may pay.
    pub fn allows_host(&self, host: &str, port: Option<u16>) -> bool {
        self.domains.iter().any(|d| match d.rsplit_once(':') {
            Some((h, p)) if p.parse::<u16>().is_ok() => {
                h.eq_ignore_ascii_case(host) && port.map(|x| x.to_string()).as_deref() == Some(p)
            }
            _ => d.eq_ignore_ascii_case(host),
        })
    }
}

/// Rules for EIP-712 typed-data signatures.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypedDataRules {
    /// Sign a document whose domain has no `chainId`. Off by default: such a signature is
    /// valid on every chain where the verifying contract exists, so the chain allowlist
    /// cannot hold it.
    #[serde(default)]
    pub allow_missing_chain_id: bool,
}

impl TypedDataRules {
    /// True when nothing is set, so the section is left out of serialized documents.
    pub fn is_default(&self) -> bool {
        self == &Self::default()
    }
}

/// Program / contract allowlist. On Solana the well-known system and token programs
/// ([`crate::rules::SOLANA_BUILTIN_PROGRAMS`]) are always allowed; everything else must be listed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Programs {
    /// Additional allowed program ids / contract addresses (every method).
    #[serde(default)]
    pub allow: Vec<String>,
    /// EVM contracts allowed for some methods only: contract address → 4-byte selectors
    /// (`"0xa9059cbb"`), read from the calldata (inside `multicall` too).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub methods: std::collections::BTreeMap<String, Vec<String>>,
}

/// Approval / delegation grantees the agent may hand control to. Empty (the default) means a
/// transaction that grants any approval or delegation is denied.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spenders {
    /// Allowed spender / delegate addresses.
    #[serde(default)]
    pub allow: Vec<String>,
}

/// Simulation rules.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulationRules {
    /// How far (in basis points of the declared amount) the simulated outflow of the declared
    /// asset may differ from the declared amount. Default 0: exact.
    #[serde(default)]
    pub outflow_tolerance_bps: u32,
}

/// Per-action switches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionToggles {
    /// Transfers.
    #[serde(default)]
    pub transfer: bool,
    /// DEX trades.
    #[serde(default)]
    pub trade: bool,
    /// Liquidity provision.
    #[serde(default)]
    pub liquidity: bool,
    /// Prediction markets.
    #[serde(default)]
    pub prediction: bool,
    /// Signing arbitrary transactions (judged by simulation).
    #[serde(default)]
    pub sign: bool,
    /// Signing off-chain messages (domain-separated so they can never be a transaction).
    #[serde(default)]
    pub sign_message: bool,
    /// Signing a bare 32-byte hash (EVM), which nothing can decode or judge. Off by default.
    #[serde(default)]
    pub sign_raw_hash: bool,
}

/// USD limits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Largest single transaction in USD.
    pub per_tx_usd: Decimal,
    /// Rolling 24-hour cap in USD.
    pub daily_usd: Decimal,
    /// Transactions per rolling hour.
    pub max_tx_per_hour: u32,
    /// Per-transaction caps in base units, by `"<chain>:<asset>"` where the asset is `native` or
    /// a token's address (`"solana:native"`, `"evm:1:0xA0b8…"`): the most of that asset one
    /// transaction may send (network fees aside), an allowance it may grant included. Unlike the
    /// USD caps these need no price, so every signer enforces them on what it decodes.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub per_tx_atoms: std::collections::BTreeMap<String, custos_core::Atoms>,
}

/// The key of a per-asset cap: `"<chain>:<asset>"`, the asset being `native` or a token address.
pub fn cap_key(chain: Chain, asset: &str) -> String {
    format!("{chain}:{asset}")
}

/// Splits a cap key into its chain and asset, or says what is wrong with it.
pub fn parse_cap_key(key: &str) -> Result<(Chain, &str), String> {
    let (chain, asset) = key
        .rsplit_once(':')
        .ok_or_else(|| format!("{key:?} is not \"<chain>:<asset>\""))?;
    let chain: Chain = chain
        .parse()
        .map_err(|_| format!("{key:?}: {chain:?} is not a chain"))?;
    if asset.is_empty() {
        return Err(format!(
            "{key:?}: the asset is empty (`native` or a token address)"
        ));
    }
    Ok((chain, asset))
}

/// Whether recipients must be listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecipientMode {
    /// Any recipient not denied.
    Any,
    /// Only listed recipients.
    Allowlist,
}

/// Recipient rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipients {
    /// Mode.
    pub mode: RecipientMode,
    /// Allowed addresses (used in allowlist mode).
    #[serde(default)]
    pub allow: Vec<String>,
    /// Always refused addresses.
    #[serde(default)]
    pub deny: Vec<String>,
}

/// Approval rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approvals {
    /// Actions above this USD value need approval.
    pub above_usd: Decimal,
    /// Approvers needed.
    pub quorum: u32,
}

/// A document refused, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PolicyError {
    /// Dotted path of the offending field.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl Default for PolicyDocument {
    /// The conservative server default: transfers and off-chain messages only, on Solana, with
    /// small caps.
    fn default() -> Self {
        Self {
            version: CURRENT_VERSION,
            session_expiration_hours: 168,
            actions: ActionToggles {
                transfer: true,
                trade: false,
                liquidity: false,
                prediction: false,
                sign: false,
                sign_message: true,
                sign_raw_hash: false,
            },
            chains: vec![Chain::Solana],
            limits: Limits {
                per_tx_usd: Decimal::from_atoms(25 * 10u128.pow(18)),
                daily_usd: Decimal::from_atoms(100 * 10u128.pow(18)),
                max_tx_per_hour: 20,
                per_tx_atoms: Default::default(),
            },
            recipients: Recipients {
                mode: RecipientMode::Any,
                allow: vec![],
                deny: vec![],
            },
            approvals: None,
            programs: Programs::default(),
            spenders: Spenders::default(),
            simulation: SimulationRules::default(),
            typed_data: TypedDataRules::default(),
            payments: Payments::default(),
            trading: Trading::default(),
            liquidity: LiquidityRules::default(),
            prediction: PredictionRules::default(),
        }
    }
}

fn err(field: impl Into<String>, message: impl Into<String>) -> PolicyError {
    PolicyError {
        field: field.into(),
        message: message.into(),
    }
}

impl PolicyDocument {
    /// Parses a (possibly partial) JSON document: sections it omits take `base`'s values;
    /// unknown fields and bad values are refused naming the field.
    pub fn from_json_over(
        value: &serde_json::Value,
        base: &PolicyDocument,
    ) -> Result<Self, PolicyError> {
        let obj = value
            .as_object()
            .ok_or_else(|| err("$", "policy must be a JSON object"))?;
        let mut merged = serde_json::to_value(base).map_err(|e| err("$", e.to_string()))?;
        if let Some(m) = merged.as_object_mut() {
            for (k, v) in obj {
                m.insert(k.clone(), v.clone());
            }
        }
        let doc: PolicyDocument = serde_path_to_error::deserialize(&merged).map_err(|e| {
            let path = e.path().to_string();
            let msg = e.inner().to_string();
            // serde_path_to_error already ends the path with an unknown field's name.
            let field = match unknown_field_name(&msg) {
                Some(name) if path == "." => name,
                Some(name) if !path.ends_with(&name) => format!("{path}.{name}"),
                _ => path,
            };
            err(field, msg)
        })?;
        doc.validate()?;
        Ok(doc)
    }

    /// Checks the cross-field and range rules serde cannot express.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.version != CURRENT_VERSION {
            return Err(err(
                "version",
                format!(
                    "unsupported version {}; this server understands {CURRENT_VERSION}",
                    self.version
                ),
            ));
        }
        if !(1..=8760).contains(&self.session_expiration_hours) {
            return Err(err(
                "session_expiration_hours",
                "must be between 1 and 8760",
            ));
        }
        if self.limits.per_tx_usd > self.limits.daily_usd {
            return Err(err("limits.per_tx_usd", "must not exceed limits.daily_usd"));
        }
        if self.limits.max_tx_per_hour == 0 {
            return Err(err("limits.max_tx_per_hour", "must be at least 1"));
        }
        for key in self.limits.per_tx_atoms.keys() {
            parse_cap_key(key).map_err(|m| err(format!("limits.per_tx_atoms.{key}"), m))?;
        }
        for (name, list) in [
            ("recipients.allow", &self.recipients.allow),
            ("recipients.deny", &self.recipients.deny),
            ("programs.allow", &self.programs.allow),
            ("spenders.allow", &self.spenders.allow),
            ("liquidity.pools", &self.liquidity.pools),
        ] {
            if list.len() > 10_000 {
                return Err(err(name, "at most 10000 entries"));
            }
            for (i, a) in list.iter().enumerate() {
                if !plausible_address(a) {
                    return Err(err(
                        format!("{name}[{i}]"),
                        "not a Solana (base58) or EVM (0x + 40 hex) address",
                    ));
                }
            }
        }
        if self.programs.methods.len() > 10_000 {
            return Err(err("programs.methods", "at most 10000 contracts"));
        }
        for (contract, selectors) in &self.programs.methods {
            let field = format!("programs.methods.{contract}");
            if !is_evm_address(contract) {
                return Err(err(field, "not an EVM (0x + 40 hex) contract address"));
            }
            if selectors.is_empty() || selectors.len() > 256 {
                return Err(err(field, "list 1 to 256 selectors"));
            }
            for (i, sel) in selectors.iter().enumerate() {
                let ok = sel.len() == 10
                    && sel.starts_with("0x")
                    && sel[2..].bytes().all(|b| b.is_ascii_hexdigit());
                if !ok {
                    return Err(err(
                        format!("{field}[{i}]"),
                        "not a 4-byte selector (0x + 8 hex digits)",
                    ));
                }
            }
        }
        if self.recipients.mode == RecipientMode::Allowlist && self.recipients.allow.is_empty() {
            return Err(err(
                "recipients.allow",
                "allowlist mode needs at least one address",
            ));
        }
        if let Some(a) = &self.approvals {
            if a.quorum == 0 || a.quorum > 16 {
                return Err(err("approvals.quorum", "must be between 1 and 16"));
            }
        }
        if self.simulation.outflow_tolerance_bps > 10_000 {
            return Err(err(
                "simulation.outflow_tolerance_bps",
                "must be between 0 and 10000",
            ));
        }
        if self.trading.max_slippage_bps > 5_000 {
            return Err(err(
                "trading.max_slippage_bps",
                "must be between 0 and 5000 (50 %)",
            ));
        }
        if !(1..=3600).contains(&self.payments.max_validity_seconds) {
            return Err(err(
                "payments.max_validity_seconds",
                "must be between 1 and 3600",
            ));
        }
        for (i, d) in self.payments.domains.iter().enumerate() {
            let ok = !d.is_empty()
                && d.len() <= 253
                && d.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'));
            if !ok {
                return Err(err(
                    format!("payments.domains[{i}]"),
                    "a host name or address, optionally with :port (no scheme, no path)",
                ));
            }
        }
        self.prediction
            .validate()
            .map_err(|(field, message)| err(field, message))?;
        let mut seen = std::collections::HashSet::new();
        for (i, c) in self.chains.iter().enumerate() {
            if !seen.insert(*c) {
                return Err(err(
                    format!("chains[{i}]"),
                    format!("`{c}` is listed twice"),
                ));
            }
        }
        Ok(())
    }
}

fn is_evm_address(a: &str) -> bool {
    a.len() == 42 && a.starts_with("0x") && a[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// Address syntax only; chain adapters check checksums and curve membership.
fn plausible_address(a: &str) -> bool {
    let evm = is_evm_address(a);
    let b58 = (32..=44).contains(&a.len())
        && a.bytes()
            .all(|b| b.is_ascii_alphanumeric() && !matches!(b, b'0' | b'O' | b'I' | b'l'));
    evm || b58
}

/// serde's "unknown field `x`, expected …" → `x`.
fn unknown_field_name(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("unknown field `")?;
    rest.split('`').next().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn partial_document_takes_defaults_and_round_trips() {
        let base = PolicyDocument::default();
        let doc = PolicyDocument::from_json_over(
            &json!({"limits": {"per_tx_usd": "5", "daily_usd": "50", "max_tx_per_hour": 3}}),
            &base,
        )
        .unwrap();
        assert_eq!(doc.limits.max_tx_per_hour, 3);
        assert_eq!(doc.actions, base.actions);
        let again =
            PolicyDocument::from_json_over(&serde_json::to_value(&doc).unwrap(), &base).unwrap();
        assert_eq!(again, doc);
    }

    #[test]
    fn documents_without_the_newer_sections_still_load() {
        // The first released format had no programs / spenders / simulation sections.
        let v1 = json!({
            "version": 1,
            "session_expiration_hours": 168,
            "actions": {"transfer": true, "trade": false, "liquidity": false, "prediction": false, "sign": false},
            "chains": ["solana", "evm:31337"],
            "limits": {"per_tx_usd": "100", "daily_usd": "1000", "max_tx_per_hour": 60},
            "recipients": {"mode": "any", "allow": [], "deny": []},
            "approvals": {"above_usd": "500", "quorum": 1}
        });
        let doc = PolicyDocument::from_json_over(&v1, &PolicyDocument::default()).unwrap();
        assert!(doc.programs.allow.is_empty());
        assert!(doc.spenders.allow.is_empty());
        assert_eq!(doc.simulation.outflow_tolerance_bps, 0);
        let with = PolicyDocument::from_json_over(
            &json!({"programs": {"allow": ["JUP6LkbZbjS1jKKwapdHNy74zcZ3tLUZoi5QNyVTaV4"]}}),
            &PolicyDocument::default(),
        )
        .unwrap();
        assert_eq!(with.programs.allow.len(), 1);
    }

    #[test]
    fn bad_documents_name_the_field() {
        let base = PolicyDocument::default();
        let cases = [
            (json!({"bogus": 1}), "bogus"),
            (
                json!({"limits": {"per_tx_usd": "5", "daily_usd": "50", "max_tx_per_hour": 3, "extra": 1}}),
                "limits.extra",
            ),
            (
                json!({"limits": {"per_tx_usd": "-5", "daily_usd": "50", "max_tx_per_hour": 3}}),
                "limits.per_tx_usd",
            ),
            (
                json!({"limits": {"per_tx_usd": "500", "daily_usd": "50", "max_tx_per_hour": 3}}),
                "limits.per_tx_usd",
            ),
            (json!({"chains": ["solana", "dogechain"]}), "chains[1]"),
            (
                json!({"session_expiration_hours": 0}),
                "session_expiration_hours",
            ),
            (json!({"version": 2}), "version"),
            (
                json!({"recipients": {"mode": "allowlist"}}),
                "recipients.allow",
            ),
            (
                json!({"recipients": {"mode": "any", "deny": ["nope!"]}}),
                "recipients.deny[0]",
            ),
            (
                json!({"approvals": {"above_usd": "1", "quorum": 0}}),
                "approvals.quorum",
            ),
            (json!({"programs": {"allow": ["x"]}}), "programs.allow[0]"),
            (json!({"programs": {"deny": []}}), "programs.deny"),
            (
                json!({"spenders": {"allow": ["0x12"]}}),
                "spenders.allow[0]",
            ),
            (
                json!({"simulation": {"outflow_tolerance_bps": 10001}}),
                "simulation.outflow_tolerance_bps",
            ),
        ];
        for (v, field) in cases {
            let e = PolicyDocument::from_json_over(&v, &base).unwrap_err();
            assert_eq!(e.field, field, "{v} -> {e}");
        }
        assert_eq!(
            PolicyDocument::from_json_over(&json!([1]), &base)
                .unwrap_err()
                .field,
            "$"
        );
    }
}
