//! The effects of a transaction read from the node's call trace (`debug_traceCall` with the
//! call tracer and logs): every wei moved between call frames, every ERC-20 / ERC-721 `Transfer`,
//! WETH `Deposit` / `Withdrawal`, and every `Approval` / `ApprovalForAll` the agent's assets get.
//! Frames that revert are skipped with everything under them, as the chain would.
use super::wire::checksum;
use alloy_primitives::{b256, Address, B256, U256};
use custos_core::{ApprovalEffect, ApprovalKind, AssetRef};
use serde_json::Value;
use std::collections::BTreeMap;

const TRANSFER: B256 = b256!("ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef");
const APPROVAL: B256 = b256!("8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925");
const APPROVAL_FOR_ALL: B256 =
    b256!("17307eab39ab6107e8899845ad3d59bd9653c200f220920489ca2b5937696c31");
const DEPOSIT: B256 = b256!("e1fffcc4923d04b559f4d29a8bfc6cda04eb5b0d3c460751c2402c5c5cc9109c");
const WITHDRAWAL: B256 = b256!("7fcf532c15f0a6db0bd6d0e038bea71d30d808c7d98cb3bf7268a95bf5081b65");

/// Base units that reach and leave the agent, each summed exactly (saturating only past
/// `2^256 - 1`, which overstates the outflow and is refused by valuation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flow {
    /// Received.
    pub inflow: U256,
    /// Sent.
    pub outflow: U256,
}

impl Flow {
    /// Counts `v` received.
    pub fn receive(&mut self, v: U256) {
        self.inflow = self.inflow.saturating_add(v);
    }

    /// Counts `v` sent.
    pub fn send(&mut self, v: U256) {
        self.outflow = self.outflow.saturating_add(v);
    }

    /// True when nothing moved on net.
    pub fn is_neutral(&self) -> bool {
        self.inflow == self.outflow
    }

    /// The balance after, from the balance before: never below zero (an agent cannot lose more
    /// than it holds), and an overflowing inflow overstates the outflow rather than hiding it.
    pub fn apply(&self, pre: U256) -> U256 {
        pre.saturating_add(self.inflow).saturating_sub(self.outflow)
    }
}

/// What one traced transaction does to `agent`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceEffects {
    /// The top frame succeeded.
    pub success: bool,
    /// The revert reason or error, when it failed.
    pub error: Option<String>,
    /// Gas used by the whole transaction.
    pub gas_used: u64,
    /// Wei to and from the agent in value transfers (fees not included).
    pub native: Flow,
    /// Movement per token contract; `(flow, is_nft)`.
    pub token_deltas: BTreeMap<Address, (Flow, bool)>,
    /// Approvals over the agent's tokens the logs show.
    pub approvals: Vec<ApprovalEffect>,
    /// Addresses that receive wei or tokens from the agent and are not contracts the
    /// transaction calls.
    pub recipients: Vec<Address>,
    /// Every contract a frame with calldata runs, in first-seen order.
    pub contracts: Vec<Address>,
}

fn addr(v: &Value) -> Option<Address> {
    v.as_str().and_then(|s| s.parse().ok())
}

fn topic_addr(t: &B256) -> Address {
    Address::from_slice(&t[12..])
}

fn word(data: &[u8]) -> Option<U256> {
    (data.len() == 32).then(|| U256::from_be_slice(data))
}

fn push_unique(list: &mut Vec<Address>, a: Address) {
    if !list.contains(&a) {
        list.push(a);
    }
}

/// Reads a call-tracer result for `agent`.
pub fn read(trace: &Value, agent: Address) -> TraceEffects {
    let mut out = TraceEffects {
        success: trace.get("error").is_none(),
        gas_used: trace
            .get("gasUsed")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<U256>().ok())
            .and_then(|g| u64::try_from(g).ok())
            .unwrap_or(0),
        ..TraceEffects::default()
    };
    if !out.success {
        let why = trace
            .get("revertReason")
            .or_else(|| trace.get("error"))
            .and_then(Value::as_str)
            .unwrap_or("reverted");
        out.error = Some(why.to_owned());
        return out;
    }
    let mut receivers: Vec<Address> = Vec::new();
    walk(trace, agent, &mut out, &mut receivers);
    out.recipients = receivers
        .into_iter()
        .filter(|r| *r != agent && !out.contracts.contains(r))
        .collect();
    out
}

fn walk(frame: &Value, agent: Address, out: &mut TraceEffects, receivers: &mut Vec<Address>) {
    if frame.get("error").is_some() {
        return; // reverted: nothing under it happened
    }
    let kind = frame.get("type").and_then(Value::as_str).unwrap_or("CALL");
    let from = frame.get("from").and_then(addr);
    let to = frame.get("to").and_then(addr);
    let has_input = frame
        .get("input")
        .and_then(Value::as_str)
        .is_some_and(|i| i.len() > 2);
    if let (Some(t), true) = (to, has_input) {
        if matches!(kind, "CALL" | "STATICCALL" | "DELEGATECALL" | "CALLCODE") {
            push_unique(&mut out.contracts, t);
        }
    }
    let value = frame
        .get("value")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<U256>().ok())
        .unwrap_or_default();
    let moves_value = matches!(kind, "CALL" | "CREATE" | "CREATE2" | "SELFDESTRUCT");
    if moves_value && !value.is_zero() {
        if from == Some(agent) {
            out.native.send(value);
            if let Some(t) = to {
                push_unique(receivers, t);
            }
        }
        if to == Some(agent) {
            out.native.receive(value);
        }
    }
    if let Some(logs) = frame.get("logs").and_then(Value::as_array) {
        for log in logs {
            read_log(log, agent, out, receivers);
        }
    }
    if let Some(calls) = frame.get("calls").and_then(Value::as_array) {
        for c in calls {
            walk(c, agent, out, receivers);
        }
    }
}

fn read_log(log: &Value, agent: Address, out: &mut TraceEffects, receivers: &mut Vec<Address>) {
    let Some(contract) = log.get("address").and_then(addr) else {
        return;
    };
    let topics: Vec<B256> = log
        .get("topics")
        .and_then(Value::as_array)
        .map(|t| {
            t.iter()
                .filter_map(|x| x.as_str().and_then(|s| s.parse().ok()))
                .collect()
        })
        .unwrap_or_default();
    let data = log
        .get("data")
        .and_then(Value::as_str)
        .and_then(|s| alloy_primitives::hex::decode(s).ok())
        .unwrap_or_default();
    let Some(topic0) = topics.first() else { return };
    let token = checksum(&contract);
    let credit = |who: Address, v: U256, incoming: bool, nft: bool, out: &mut TraceEffects| {
        if who == agent {
            let e = out
                .token_deltas
                .entry(contract)
                .or_insert((Flow::default(), nft));
            if incoming {
                e.0.receive(v);
            } else {
                e.0.send(v);
            }
        }
    };
    match (*topic0, topics.len()) {
        (TRANSFER, 3) => {
            let Some(v) = word(&data) else { return };
            let (from, to) = (topic_addr(&topics[1]), topic_addr(&topics[2]));
            credit(from, v, false, false, out);
            credit(to, v, true, false, out);
            if from == agent {
                push_unique(receivers, to);
            }
        }
        (TRANSFER, 4) => {
            let (from, to) = (topic_addr(&topics[1]), topic_addr(&topics[2]));
            credit(from, U256::from(1u8), false, true, out);
            credit(to, U256::from(1u8), true, true, out);
            if from == agent {
                push_unique(receivers, to);
            }
        }
        (DEPOSIT, 2) => {
            if let Some(v) = word(&data) {
                credit(topic_addr(&topics[1]), v, true, false, out);
            }
        }
        (WITHDRAWAL, 2) => {
            if let Some(v) = word(&data) {
                credit(topic_addr(&topics[1]), v, false, false, out);
            }
        }
        (APPROVAL, 3) if topic_addr(&topics[1]) == agent => {
            let Some(v) = word(&data) else { return };
            if v.is_zero() {
                return;
            }
            out.approvals.push(ApprovalEffect {
                kind: ApprovalKind::Delegate,
                account: token.clone(),
                asset: Some(AssetRef::Token(token)),
                grantee: Some(checksum(&topic_addr(&topics[2]))),
                amount: super::calldata::allowance(v, U256::MAX),
            });
        }
        (APPROVAL, 4) if topic_addr(&topics[1]) == agent => {
            let spender = topic_addr(&topics[2]);
            if spender != Address::ZERO {
                out.approvals.push(ApprovalEffect {
                    kind: ApprovalKind::Delegate,
                    account: token.clone(),
                    asset: Some(AssetRef::Token(token)),
                    grantee: Some(checksum(&spender)),
                    amount: None,
                });
            }
        }
        (APPROVAL_FOR_ALL, 3)
            if topic_addr(&topics[1]) == agent && word(&data).is_some_and(|v| !v.is_zero()) =>
        {
            out.approvals.push(ApprovalEffect {
                kind: ApprovalKind::Operator,
                account: token.clone(),
                asset: Some(AssetRef::Token(token)),
                grantee: Some(checksum(&topic_addr(&topics[2]))),
                amount: None,
            });
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn pad(a: &str) -> String {
        format!("0x000000000000000000000000{}", &a[2..])
    }

    #[test]
    fn swap_trace_gives_eth_out_token_in_and_skips_reverted_frames() {
        let agent = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8";
        let router = "0x5fbdb2315678afecb367f032d93f642f64180aa3";
        let pair = "0xe7f1725e7734ce288f8367e1bb143e90bb3f0512";
        let token = "0x9fe46736679d2d9a65f0992f2272de9f3c7fa6e0";
        let trace = json!({
            "type": "CALL", "from": agent, "to": router, "value": "0x64", "input": "0x7ff36ab5", "gasUsed": "0x1d4c0",
            "calls": [
                {"type": "CALL", "from": router, "to": pair, "value": "0x0", "input": "0x022c0d9f",
                 "logs": [{"address": token, "topics": [format!("0x{}", alloy_primitives::hex::encode(TRANSFER)), pad(pair), pad(agent)], "data": format!("0x{:064x}", 500)}]},
                {"type": "CALL", "from": router, "to": agent, "value": "0x5", "input": "0x", "error": "execution reverted"},
            ]
        });
        let e = read(&trace, agent.parse().unwrap());
        assert!(e.success);
        assert_eq!(e.gas_used, 120_000);
        assert_eq!(
            e.native,
            Flow {
                inflow: U256::ZERO,
                outflow: U256::from(100u8)
            },
            "the reverted refund does not count"
        );
        assert_eq!(
            e.token_deltas.get(&token.parse::<Address>().unwrap()),
            Some(&(
                Flow {
                    inflow: U256::from(500u16),
                    outflow: U256::ZERO
                },
                false
            ))
        );
        assert!(
            e.recipients.is_empty(),
            "the router is a called contract, not a recipient"
        );
        assert_eq!(e.contracts.len(), 2);
    }

    #[test]
    fn failed_top_frame_reports_the_reason() {
        let e = read(
            &json!({"type": "CALL", "error": "execution reverted", "revertReason": "UniswapV2Router: EXPIRED"}),
            Address::ZERO,
        );
        assert!(!e.success);
        assert_eq!(e.error.as_deref(), Some("UniswapV2Router: EXPIRED"));
    }
}
