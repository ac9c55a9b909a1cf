from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="TradeBody")



@_attrs_define
class TradeBody:
    """ The request body.

        Attributes:
            amount (str): How much is sold, whole units. Example: 0.01.
            chain (str): `solana` (through the configured Jupiter Swap API) or `evm:<chain id>` (with a configured
                `uniswap_v2_router`). Example: solana.
            from_asset (str): What is sold: the native symbol (`SOL`, `ETH`), a token symbol from `[solana.tokens]`
                (Solana), a mint (Solana) or an ERC-20 address (EVM). Example: SOL.
            to_asset (str): What is bought, named the same way. Example: USDC.
            slippage_bps (int | None | Unset): Largest acceptable shortfall below the quote, basis points (default 50 = 0.5
                %; at most
                the policy's `trading.max_slippage_bps`). Example: 50.
     """

    amount: str
    chain: str
    from_asset: str
    to_asset: str
    slippage_bps: int | None | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        amount = self.amount

        chain = self.chain

        from_asset = self.from_asset

        to_asset = self.to_asset

        slippage_bps: int | None | Unset
        if isinstance(self.slippage_bps, Unset):
            slippage_bps = UNSET
        else:
            slippage_bps = self.slippage_bps


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "amount": amount,
            "chain": chain,
            "from_asset": from_asset,
            "to_asset": to_asset,
        })
        if slippage_bps is not UNSET:
            field_dict["slippage_bps"] = slippage_bps

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        amount = d.pop("amount")

        chain = d.pop("chain")

        from_asset = d.pop("from_asset")

        to_asset = d.pop("to_asset")

        def _parse_slippage_bps(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        slippage_bps = _parse_slippage_bps(d.pop("slippage_bps", UNSET))


        trade_body = cls(
            amount=amount,
            chain=chain,
            from_asset=from_asset,
            to_asset=to_asset,
            slippage_bps=slippage_bps,
        )

        return trade_body

