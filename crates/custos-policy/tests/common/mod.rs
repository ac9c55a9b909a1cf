//! Fixtures shared by the policy tests: a policy, and a SOL transfer with the effects an honest
//! simulation of it produces.
#![allow(dead_code, missing_docs, clippy::unwrap_used)]
use custos_core::{
    Action, AssetDelta, AssetId, Chain, Decimal, Effects, Intent, NetworkCost, Usage, UsdValue,
};
use custos_policy::PolicyDocument;
use serde_json::json;

pub const AGENT_TO: &str = "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin";
pub const OTHER: &str = "4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T";
pub const SYSTEM: &str = "11111111111111111111111111111111";
pub const TOKEN: &str = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA";
pub const USDC: &str = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v";
pub const JUPITER: &str = "JUP6LkbZbjS1jKKwapdHNy74zcZ3tLUZoi5QNyVTaV4";
pub const FEE: u128 = 5000;

pub fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// transfer on, solana, per-tx 100, daily 1000, 60/h, approval above 50 (quorum 2).
pub fn policy() -> PolicyDocument {
    PolicyDocument::from_json_over(
        &json!({
            "actions": {"transfer": true, "sign": true, "sign_message": true},
            "chains": ["solana"],
            "limits": {"per_tx_usd": "100", "daily_usd": "1000", "max_tx_per_hour": 60},
            "recipients": {"mode": "any", "deny": [OTHER]},
            "approvals": {"above_usd": "50", "quorum": 2}
        }),
        &PolicyDocument::default(),
    )
    .unwrap()
}

pub fn sol() -> AssetId {
    AssetId::new("SOL")
}

/// A transfer of `amount` SOL at 150 USD/SOL.
pub fn sol_transfer(amount: &str) -> (Intent, Effects) {
    let amount = d(amount);
    let lamports = amount.atoms() / 1_000_000_000;
    let intent = Intent {
        action: Action::Transfer,
        chain: Chain::Solana,
        recipient: Some(AGENT_TO.into()),
        asset: Some(sol()),
        amount,
        declared_usd: UsdValue::Known(amount.checked_mul(d("150")).unwrap()),
    };
    let effects = Effects {
        changes: vec![AssetDelta {
            asset: sol(),
            decimals: 9,
            delta_atoms: -i128::try_from(lamports + FEE).unwrap(),
        }],
        programs: vec![SYSTEM.into()],
        methods: vec![],
        delegations: vec![],
        recipients: vec![AGENT_TO.into()],
        network_cost: Some(NetworkCost {
            asset: sol(),
            atoms: FEE,
        }),
        prices: [(sol(), UsdValue::Known(d("150")))].into_iter().collect(),
        native: Some(sol()),
    };
    (intent, effects)
}

pub fn usage(spent: &str, tx: u32) -> Usage {
    Usage {
        frozen: false,
        spent_usd_24h: d(spent),
        tx_last_hour: tx,
    }
}
