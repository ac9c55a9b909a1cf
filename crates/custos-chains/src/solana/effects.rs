//! Effects of a Solana transaction on an agent, computed from account state before and after a
//! simulation — never from the instruction list alone.
//!
//! "The agent's accounts" are its wallet (native SOL) and every token account whose owner field
//! is the agent before or after. Wrapped SOL counts as the token it is (the native mint). Control
//! handed to someone else is read from the state diff (delegate set or raised, owner or close
//! authority changed, the wallet assigned to another program) and from the decoded instructions
//! on the agent's accounts, deduplicated.
use super::token::{self, TokenAccount};
use crate::solana_wire::DecodedSolanaTx;
use custos_core::{
    ApprovalEffect, ApprovalKind, AssetRef, Atoms, BalanceChange, Chain, SimulatedEffects,
};
use solana_account::Account;
use solana_address::Address;
use std::collections::BTreeMap;

/// Everything effects are computed from.
pub struct EffectsInput<'a> {
    /// The agent's wallet.
    pub agent: &'a Address,
    /// Every account the transaction references (static and loaded), in order.
    pub keys: &'a [Address],
    /// State before, aligned with `keys`.
    pub pre: &'a [Option<Account>],
    /// State after, aligned with `keys`. Ignored when the simulation failed.
    pub post: &'a [Option<Account>],
    /// Decimals of every mint involved.
    pub decimals: &'a BTreeMap<Address, u8>,
    /// The transaction as decoded without chain access.
    pub decoded: &'a DecodedSolanaTx,
    /// Programs run by inner instructions.
    pub inner_programs: &'a [Address],
    /// The simulation's error, if it failed.
    pub error: Option<String>,
    /// Fee charged.
    pub fee: u64,
    /// Compute units consumed.
    pub units_consumed: u64,
    /// Logs.
    pub logs: Vec<String>,
}

/// Accounts whose creation `agent` pays for in a top-level instruction: the System program's
/// `CreateAccount` / `CreateAccountWithSeed` and the Associated Token Account program's
/// `Create` / `CreateIdempotent` with it as the funder (account 0) of the new account (account
/// 1). Only their rent is the agent's deposit: an account someone else funds (a market maker
/// creating the agent's token account) costs the agent nothing, and its lamports must not be
/// counted as the agent's network cost.
fn funded_by<'a>(decoded: &'a DecodedSolanaTx, agent: &str) -> std::collections::HashSet<&'a str> {
    const SYSTEM: &str = "11111111111111111111111111111111";
    const ATA: &str = "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL";
    decoded
        .instructions
        .iter()
        .filter(|ix| match ix.program_id.as_str() {
            SYSTEM => matches!(ix.data.get(..4), Some([0 | 3, 0, 0, 0])),
            ATA => matches!(ix.data.as_slice(), [] | [0] | [1]),
            _ => false,
        })
        .filter(|ix| ix.accounts.first().and_then(|a| a.key()) == Some(agent))
        .filter_map(|ix| ix.accounts.get(1).and_then(|a| a.key()))
        .collect()
}

/// Mints whose decimals are needed to express the token changes of `agent`.
pub fn mints_involved(
    agent: &Address,
    pre: &[Option<Account>],
    post: &[Option<Account>],
) -> Vec<Address> {
    let mut out: Vec<Address> = Vec::new();
    for a in pre.iter().chain(post.iter()).flatten() {
        if let Some(t) = token::parse_token_account(&a.owner, &a.data) {
            if t.owner == *agent && !out.contains(&t.mint) {
                out.push(t.mint);
            }
        }
    }
    out
}

fn agent_token(agent: &Address, a: &Option<Account>) -> Option<TokenAccount> {
    a.as_ref()
        .and_then(|a| token::parse_token_account(&a.owner, &a.data))
        .filter(|t| t.owner == *agent)
}

fn any_token(a: &Option<Account>) -> Option<TokenAccount> {
    a.as_ref()
        .and_then(|a| token::parse_token_account(&a.owner, &a.data))
}

/// Computes the effects.
pub fn compute(input: EffectsInput<'_>) -> SimulatedEffects {
    let agent = input.agent;
    let success = input.error.is_none();
    let n = input.keys.len();
    let pre = |i: usize| input.pre.get(i).cloned().flatten();
    let post = |i: usize| {
        if success {
            input.post.get(i).cloned().flatten()
        } else {
            input.pre.get(i).cloned().flatten()
        }
    };

    let mut programs: Vec<String> = input.decoded.programs();
    for p in input.inner_programs {
        let s = p.to_string();
        if !programs.contains(&s) {
            programs.push(s);
        }
    }

    let mut changes: BTreeMap<AssetRef, (u8, u128, u128)> = BTreeMap::new();
    let mut approvals: Vec<ApprovalEffect> = Vec::new();
    let mut created = Vec::new();
    let mut closed = Vec::new();
    let mut agent_accounts: Vec<String> = vec![agent.to_string()];
    let mut seen = std::collections::HashSet::new();
    let mut recipients: Vec<String> = Vec::new();
    let mut rent_deposits: u64 = 0;
    let funded = funded_by(input.decoded, &agent.to_string());
    let add_recipient = |w: String, recipients: &mut Vec<String>| {
        if w != agent.to_string() && !recipients.contains(&w) {
            recipients.push(w);
        }
    };

    for i in 0..n {
        let key = input.keys[i];
        if !seen.insert(key) {
            continue;
        }
        let (before, after) = (pre(i), post(i));
        match (&before, &after) {
            (None, Some(a)) => {
                created.push(key.to_string());
                if !a.data.is_empty() && funded.contains(key.to_string().as_str()) {
                    rent_deposits = rent_deposits.saturating_add(a.lamports);
                }
            }
            (Some(_), None) => closed.push(key.to_string()),
            _ => {}
        }
        // Who gains: wallets whose lamports rise, owners of token accounts whose amount rises.
        if key != *agent {
            let lamports = |a: &Option<Account>| a.as_ref().map(|a| a.lamports).unwrap_or(0);
            let tb_any = any_token(&before);
            let ta_any = any_token(&after);
            match &ta_any {
                Some(t) => {
                    if t.amount > tb_any.as_ref().map(|b| b.amount).unwrap_or(0) {
                        add_recipient(t.owner.to_string(), &mut recipients);
                    }
                }
                None => {
                    let is_wallet = after.as_ref().is_some_and(|a| a.data.is_empty());
                    if is_wallet && lamports(&after) > lamports(&before) {
                        add_recipient(key.to_string(), &mut recipients);
                    }
                }
            }
        }
        if key == *agent {
            let e = changes
                .entry(AssetRef::Native)
                .or_insert((super::SOL_DECIMALS, 0, 0));
            e.1 += u128::from(before.as_ref().map(|a| a.lamports).unwrap_or(0));
            e.2 += u128::from(after.as_ref().map(|a| a.lamports).unwrap_or(0));
            let owner_before = before.as_ref().map(|a| a.owner);
            let owner_after = after.as_ref().map(|a| a.owner);
            if let (Some(b), Some(a)) = (owner_before, owner_after) {
                if a != b {
                    approvals.push(ApprovalEffect {
                        kind: ApprovalKind::OwnerChange,
                        account: key.to_string(),
                        asset: Some(AssetRef::Native),
                        grantee: Some(a.to_string()),
                        amount: None,
                    });
                }
            }
            continue;
        }
        let tb = agent_token(agent, &before);
        let ta = agent_token(agent, &after);
        if tb.is_some() || ta.is_some() {
            agent_accounts.push(key.to_string());
        }
        for (t, is_pre) in [(&tb, true), (&ta, false)] {
            if let Some(t) = t {
                let asset = AssetRef::Token(t.mint.to_string());
                let dec = input.decimals.get(&t.mint).copied().unwrap_or(0);
                let e = changes.entry(asset).or_insert((dec, 0, 0));
                if is_pre {
                    e.1 += u128::from(t.amount);
                } else {
                    e.2 += u128::from(t.amount);
                }
            }
        }
        // Control over an account the agent owned before.
        if let Some(b) = &tb {
            let asset = Some(AssetRef::Token(b.mint.to_string()));
            if let Some(a) = any_token(&after) {
                if a.owner != *agent {
                    approvals.push(ApprovalEffect {
                        kind: ApprovalKind::OwnerChange,
                        account: key.to_string(),
                        asset: asset.clone(),
                        grantee: Some(a.owner.to_string()),
                        amount: None,
                    });
                }
                if a.delegate.is_some()
                    && (a.delegate != b.delegate || a.delegated_amount > b.delegated_amount)
                {
                    approvals.push(ApprovalEffect {
                        kind: ApprovalKind::Delegate,
                        account: key.to_string(),
                        asset: asset.clone(),
                        grantee: a.delegate.map(|d| d.to_string()),
                        amount: Some(Atoms::from(a.delegated_amount)),
                    });
                }
                if a.close_authority != b.close_authority
                    && a.close_authority.is_some_and(|c| c != *agent)
                {
                    approvals.push(ApprovalEffect {
                        kind: ApprovalKind::AuthorityChange,
                        account: key.to_string(),
                        asset,
                        grantee: a.close_authority.map(|c| c.to_string()),
                        amount: None,
                    });
                }
            }
        }
    }

    // Instruction-level approvals on the agent's accounts that the state diff did not show
    // (e.g. granted and used within the same transaction).
    for a in &input.decoded.approvals {
        if !agent_accounts.contains(&a.account) {
            continue;
        }
        let dup = approvals
            .iter()
            .any(|x| x.kind == a.kind && x.account == a.account && x.grantee == a.grantee);
        if !dup {
            approvals.push(a.clone());
        }
    }

    let balance_changes = changes
        .into_iter()
        .filter(|(_, (_, pre, post))| pre != post)
        .map(|(asset, (decimals, pre, post))| BalanceChange {
            asset,
            decimals,
            pre: pre.into(),
            post: post.into(),
        })
        .collect();

    SimulatedEffects {
        chain: Chain::Solana,
        agent: agent.to_string(),
        success,
        error: input.error,
        balance_changes: if success { balance_changes } else { Vec::new() },
        programs,
        methods: Vec::new(),
        approvals,
        accounts_created: if success { created } else { Vec::new() },
        accounts_closed: if success { closed } else { Vec::new() },
        recipients: if success { recipients } else { Vec::new() },
        fee: input.fee,
        rent_deposits: if success { rent_deposits } else { 0 },
        units_consumed: input.units_consumed,
        logs: input.logs,
    }
}
