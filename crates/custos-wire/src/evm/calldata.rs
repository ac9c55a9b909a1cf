//! What calldata says, read without chain access: the contract methods a transaction calls
//! (through `multicall` and Multicall3 too), the approvals it grants, and the ERC-20 transfers it
//! makes. The policy's method allowlist and the boundary's approval check read this; the
//! simulated effects are judged separately.
use super::wire::checksum;
use alloy_primitives::{Address, U256};
use alloy_sol_types::{sol_data, SolType};
use custos_core::{ApprovalEffect, ApprovalKind, AssetRef, Atoms, MethodCall};

/// `transfer(address,uint256)`.
pub const TRANSFER: [u8; 4] = [0xa9, 0x05, 0x9c, 0xbb];
/// `approve(address,uint256)`.
pub const APPROVE: [u8; 4] = [0x09, 0x5e, 0xa7, 0xb3];
/// `increaseAllowance(address,uint256)`.
pub const INCREASE_ALLOWANCE: [u8; 4] = [0x39, 0x50, 0x93, 0x51];
/// `setApprovalForAll(address,bool)`.
pub const SET_APPROVAL_FOR_ALL: [u8; 4] = [0xa2, 0x2c, 0xb4, 0x65];
/// Permit2 `approve(address,address,uint160,uint48)`.
pub const PERMIT2_APPROVE: [u8; 4] = [0x87, 0x51, 0x7c, 0x45];
/// `multicall(bytes[])`.
pub const MULTICALL: [u8; 4] = [0xac, 0x96, 0x50, 0xd8];
/// `multicall(uint256,bytes[])` (with a deadline).
pub const MULTICALL_DEADLINE: [u8; 4] = [0x5a, 0xe4, 0x01, 0xdc];
/// Multicall3 `aggregate((address,bytes)[])`.
pub const AGGREGATE: [u8; 4] = [0x25, 0x2d, 0xba, 0x42];
/// Multicall3 `aggregate3((address,bool,bytes)[])`.
pub const AGGREGATE3: [u8; 4] = [0x82, 0xad, 0x56, 0xcb];

/// How deep nested multicalls are followed; deeper nesting is refused as undecodable.
const MAX_DEPTH: usize = 4;

/// One call: a contract and its calldata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// The contract called.
    pub to: Address,
    /// The calldata.
    pub data: Vec<u8>,
}

impl Call {
    /// The 4-byte selector, when the calldata has one.
    pub fn selector(&self) -> Option<[u8; 4]> {
        self.data.get(..4).and_then(|s| s.try_into().ok())
    }
}

/// Why calldata could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("calldata: {0}")]
pub struct CalldataError(pub String);

type MulticallArgs = sol_data::Array<sol_data::Bytes>;
type MulticallDeadlineArgs = (sol_data::Uint<256>, sol_data::Array<sol_data::Bytes>);
type AggregateArgs = (sol_data::Array<(sol_data::Address, sol_data::Bytes)>,);
type Aggregate3Args = (sol_data::Array<(sol_data::Address, sol_data::Bool, sol_data::Bytes)>,);
type AddressAmount = (sol_data::Address, sol_data::Uint<256>);
type AddressBool = (sol_data::Address, sol_data::Bool);
type Permit2Approve = (
    sol_data::Address,
    sol_data::Address,
    sol_data::Uint<160>,
    sol_data::Uint<48>,
);

fn undecodable(what: &str, e: impl std::fmt::Display) -> CalldataError {
    CalldataError(format!("cannot decode {what} arguments: {e}"))
}

/// Every call the transaction makes as its calldata states it: the top-level call, or, for a
/// multicall, each inner call (a `multicall` calls its own contract; Multicall3 names targets).
/// Malformed multicall arguments are an error, never skipped: what cannot be read is not signed.
pub fn flatten(to: Address, data: &[u8]) -> Result<Vec<Call>, CalldataError> {
    let mut out = Vec::new();
    flatten_into(to, data, 0, &mut out)?;
    Ok(out)
}

fn flatten_into(
    to: Address,
    data: &[u8],
    depth: usize,
    out: &mut Vec<Call>,
) -> Result<(), CalldataError> {
    let call = Call {
        to,
        data: data.to_vec(),
    };
    let Some(sel) = call.selector() else {
        out.push(call);
        return Ok(());
    };
    let args = &data[4..];
    let inner: Vec<(Address, Vec<u8>)> = match sel {
        MULTICALL => MulticallArgs::abi_decode_params(args)
            .map_err(|e| undecodable("multicall", e))?
            .into_iter()
            .map(|d| (to, d.to_vec()))
            .collect(),
        MULTICALL_DEADLINE => MulticallDeadlineArgs::abi_decode_params(args)
            .map_err(|e| undecodable("multicall", e))?
            .1
            .into_iter()
            .map(|d| (to, d.to_vec()))
            .collect(),
        AGGREGATE => AggregateArgs::abi_decode_params(args)
            .map_err(|e| undecodable("aggregate", e))?
            .0
            .into_iter()
            .map(|(t, d)| (t, d.to_vec()))
            .collect(),
        AGGREGATE3 => Aggregate3Args::abi_decode_params(args)
            .map_err(|e| undecodable("aggregate3", e))?
            .0
            .into_iter()
            .map(|(t, _, d)| (t, d.to_vec()))
            .collect(),
        _ => {
            out.push(call);
            return Ok(());
        }
    };
    if depth >= MAX_DEPTH {
        return Err(CalldataError(format!(
            "multicalls nested deeper than {MAX_DEPTH}"
        )));
    }
    // The multicall itself is a call to its contract too.
    out.push(Call {
        to,
        data: sel.to_vec(),
    });
    for (t, d) in inner {
        flatten_into(t, &d, depth + 1, out)?;
    }
    Ok(())
}

/// The methods called, for the policy's allowlist.
pub fn methods(calls: &[Call]) -> Vec<MethodCall> {
    let mut out: Vec<MethodCall> = Vec::new();
    for c in calls {
        let m = MethodCall {
            contract: checksum(&c.to),
            selector: c.selector().map(|s| format!("0x{}", hex_lower(&s))),
        };
        if !out.contains(&m) {
            out.push(m);
        }
    }
    out
}

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// An allowance of `v` base units, exact; `None` (unlimited) only at the standard's own
/// "unlimited" value `unlimited_at` (`2^256 - 1` for ERC-20, `2^160 - 1` for Permit2). Every
/// other amount, however large, is kept as it is and valued as it is.
pub fn allowance(v: U256, unlimited_at: U256) -> Option<Atoms> {
    (v < unlimited_at).then(|| Atoms::from_u256(v))
}

/// Permit2's "unlimited": `2^160 - 1`.
pub fn permit2_unlimited() -> U256 {
    (U256::from(1u8) << 160) - U256::from(1u8)
}

/// Approvals the calls grant on their face: ERC-20 `approve` / `increaseAllowance`,
/// `setApprovalForAll(…, true)`, Permit2 `approve`. A revocation (`approve(x, 0)`,
/// `setApprovalForAll(x, false)`) grants nothing.
pub fn approvals(calls: &[Call]) -> Result<Vec<ApprovalEffect>, CalldataError> {
    let mut out = Vec::new();
    for c in calls {
        let Some(sel) = c.selector() else { continue };
        let args = &c.data[4..];
        let token = checksum(&c.to);
        match sel {
            APPROVE | INCREASE_ALLOWANCE => {
                let (spender, amount) = AddressAmount::abi_decode_params(args)
                    .map_err(|e| undecodable("approve", e))?;
                if amount.is_zero() {
                    continue;
                }
                out.push(ApprovalEffect {
                    kind: ApprovalKind::Delegate,
                    account: token.clone(),
                    asset: Some(AssetRef::Token(token)),
                    grantee: Some(checksum(&spender)),
                    amount: allowance(amount, U256::MAX),
                });
            }
            SET_APPROVAL_FOR_ALL => {
                let (operator, approved) = AddressBool::abi_decode_params(args)
                    .map_err(|e| undecodable("setApprovalForAll", e))?;
                if approved {
                    out.push(ApprovalEffect {
                        kind: ApprovalKind::Operator,
                        account: token.clone(),
                        asset: Some(AssetRef::Token(token)),
                        grantee: Some(checksum(&operator)),
                        amount: None,
                    });
                }
            }
            PERMIT2_APPROVE => {
                let (tok, spender, amount, _exp) = Permit2Approve::abi_decode_params(args)
                    .map_err(|e| undecodable("permit2 approve", e))?;
                if amount.is_zero() {
                    continue;
                }
                out.push(ApprovalEffect {
                    kind: ApprovalKind::Delegate,
                    account: token,
                    asset: Some(AssetRef::Token(checksum(&tok))),
                    grantee: Some(checksum(&spender)),
                    amount: allowance(U256::from(amount), permit2_unlimited()),
                });
            }
            _ => {}
        }
    }
    Ok(out)
}

/// An ERC-20 `transfer(to, amount)` read from one call: `(token, to, amount)`.
pub fn erc20_transfer(call: &Call) -> Option<(Address, Address, U256)> {
    if call.selector()? != TRANSFER {
        return None;
    }
    let (to, amount) = AddressAmount::abi_decode_params(&call.data[4..]).ok()?;
    Some((call.to, to, amount))
}

/// Calldata of `transfer(to, amount)`.
pub fn encode_transfer(to: Address, amount: U256) -> Vec<u8> {
    let mut out = TRANSFER.to_vec();
    out.extend_from_slice(&AddressAmount::abi_encode_params(&(to, amount)));
    out
}

/// Calldata of `approve(spender, amount)`.
pub fn encode_approve(spender: Address, amount: U256) -> Vec<u8> {
    let mut out = APPROVE.to_vec();
    out.extend_from_slice(&AddressAmount::abi_encode_params(&(spender, amount)));
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use alloy_primitives::keccak256;

    #[test]
    fn selectors_are_the_keccak_of_their_signatures() {
        for (sel, sig) in [
            (TRANSFER, "transfer(address,uint256)"),
            (APPROVE, "approve(address,uint256)"),
            (INCREASE_ALLOWANCE, "increaseAllowance(address,uint256)"),
            (SET_APPROVAL_FOR_ALL, "setApprovalForAll(address,bool)"),
            (PERMIT2_APPROVE, "approve(address,address,uint160,uint48)"),
            (MULTICALL, "multicall(bytes[])"),
            (MULTICALL_DEADLINE, "multicall(uint256,bytes[])"),
            (AGGREGATE, "aggregate((address,bytes)[])"),
            (AGGREGATE3, "aggregate3((address,bool,bytes)[])"),
        ] {
            assert_eq!(&keccak256(sig)[..4], &sel, "{sig}");
        }
    }

    #[test]
    fn approve_max_hidden_in_a_multicall_is_found() {
        let router = Address::repeat_byte(0x11);
        let spender = Address::repeat_byte(0x22);
        let inner = encode_approve(spender, U256::MAX);
        let mut data = MULTICALL.to_vec();
        data.extend_from_slice(&MulticallArgs::abi_encode_params(&vec![
            alloy_primitives::Bytes::from(encode_transfer(spender, U256::from(5u8))),
            alloy_primitives::Bytes::from(inner),
        ]));
        let calls = flatten(router, &data).unwrap();
        assert_eq!(calls.len(), 3);
        let m = methods(&calls);
        assert_eq!(m[0].selector.as_deref(), Some("0xac9650d8"));
        assert_eq!(m[1].selector.as_deref(), Some("0xa9059cbb"));
        assert_eq!(m[2].selector.as_deref(), Some("0x095ea7b3"));
        let a = approvals(&calls).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].grantee.as_deref(), Some(checksum(&spender).as_str()));
        assert_eq!(a[0].amount, None, "max approval is unlimited");
        // Truncated multicall arguments are an error, not an empty list.
        assert!(flatten(router, &data[..data.len() - 64]).is_err());
    }

    #[test]
    fn aggregate3_targets_other_contracts_and_revocations_grant_nothing() {
        let mc = Address::repeat_byte(0x33);
        let token = Address::repeat_byte(0x44);
        let spender = Address::repeat_byte(0x55);
        let mut data = AGGREGATE3.to_vec();
        data.extend_from_slice(&Aggregate3Args::abi_encode_params(&(vec![
            (
                token,
                true,
                alloy_primitives::Bytes::from(encode_approve(spender, U256::from(7u8))),
            ),
            (
                token,
                true,
                alloy_primitives::Bytes::from(encode_approve(spender, U256::ZERO)),
            ),
        ],)));
        let calls = flatten(mc, &data).unwrap();
        assert_eq!(calls[1].to, token);
        let a = approvals(&calls).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].amount, Some(Atoms::from(7u64)));
        assert_eq!(a[0].account, checksum(&token));
    }
}
