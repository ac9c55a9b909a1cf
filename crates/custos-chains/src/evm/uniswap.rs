//! Uniswap V2 router calls: quotes (`getAmountsOut`) and exact-input swaps with a minimum
//! output. Any router with the V2 interface works (SushiSwap, PancakeSwap, …).
use alloy_primitives::{keccak256, Address, U256};
use alloy_sol_types::{sol_data, SolType};

/// The 4-byte selector of a function signature.
pub fn selector(signature: &str) -> [u8; 4] {
    let h = keccak256(signature.as_bytes());
    [h[0], h[1], h[2], h[3]]
}

type AmountsOutArgs = (sol_data::Uint<256>, sol_data::Array<sol_data::Address>);
type AmountsOut = (sol_data::Array<sol_data::Uint<256>>,);
type EthForTokens = (
    sol_data::Uint<256>,
    sol_data::Array<sol_data::Address>,
    sol_data::Address,
    sol_data::Uint<256>,
);
type TokensFor = (
    sol_data::Uint<256>,
    sol_data::Uint<256>,
    sol_data::Array<sol_data::Address>,
    sol_data::Address,
    sol_data::Uint<256>,
);

/// Calldata of `WETH()`.
pub fn weth_call() -> Vec<u8> {
    selector("WETH()").to_vec()
}

/// Calldata of `getAmountsOut(amount_in, path)`.
pub fn amounts_out_call(amount_in: U256, path: &[Address]) -> Vec<u8> {
    let mut out = selector("getAmountsOut(uint256,address[])").to_vec();
    out.extend_from_slice(&AmountsOutArgs::abi_encode_params(&(
        amount_in,
        path.to_vec(),
    )));
    out
}

/// The last amount of a `getAmountsOut` answer.
pub fn decode_amount_out(ret: &[u8]) -> Option<U256> {
    AmountsOut::abi_decode_params(ret)
        .ok()
        .and_then(|(v,)| v.last().copied())
}

/// The minimum output for `quote` with `slippage_bps` tolerance, rounded down.
pub fn min_out(quote: U256, slippage_bps: u32) -> U256 {
    quote.saturating_mul(U256::from(10_000u32.saturating_sub(slippage_bps))) / U256::from(10_000u32)
}

/// The swap: which router function, and its calldata and value.
pub struct Swap {
    /// Wei sent with the call (the input amount when selling ETH).
    pub value: U256,
    /// Calldata.
    pub data: Vec<u8>,
}

/// An exact-input swap of `amount_in` along `path` to `to`, refusing less than `min_out`.
/// `eth_in` / `eth_out` say whether the first / last hop is the native coin (through WETH).
pub fn swap_exact_in(
    amount_in: U256,
    min_out: U256,
    path: &[Address],
    to: Address,
    deadline: U256,
    eth_in: bool,
    eth_out: bool,
) -> Swap {
    if eth_in {
        let mut data =
            selector("swapExactETHForTokens(uint256,address[],address,uint256)").to_vec();
        data.extend_from_slice(&EthForTokens::abi_encode_params(&(
            min_out,
            path.to_vec(),
            to,
            deadline,
        )));
        return Swap {
            value: amount_in,
            data,
        };
    }
    let sig = if eth_out {
        "swapExactTokensForETH(uint256,uint256,address[],address,uint256)"
    } else {
        "swapExactTokensForTokens(uint256,uint256,address[],address,uint256)"
    };
    let mut data = selector(sig).to_vec();
    data.extend_from_slice(&TokensFor::abi_encode_params(&(
        amount_in,
        min_out,
        path.to_vec(),
        to,
        deadline,
    )));
    Swap {
        value: U256::ZERO,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_selectors_and_slippage() {
        assert_eq!(
            selector("swapExactETHForTokens(uint256,address[],address,uint256)"),
            [0x7f, 0xf3, 0x6a, 0xb5]
        );
        assert_eq!(
            selector("getAmountsOut(uint256,address[])"),
            [0xd0, 0x6c, 0xa6, 0x1f]
        );
        assert_eq!(min_out(U256::from(10_000u32), 50), U256::from(9_950u32));
        assert_eq!(min_out(U256::from(999u32), 10_000), U256::ZERO);
    }
}
