from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="LiquidityBody")



@_attrs_define
class LiquidityBody:
    """ The request body.

        Attributes:
            chain (str): `solana`. Example: solana.
            max_bin_id (int): The highest bin of the range (at most 69 above `min_bin_id`).
            min_bin_id (int): The lowest bin of the range.
            operation (str): `add`, `remove` or `claim`. Example: add.
            pool (str): The pool: a Meteora DLMM `LbPair` address.
            position (str): The wallet's position in the pool (a `PositionV2` account it owns).
            amount_x (None | str | Unset): `add`: the most of token X deposited, whole units.
            amount_y (None | str | Unset): `add`: the most of token Y deposited, whole units.
            bps (int | None | Unset): `remove`: basis points of the range's liquidity removed (1–10000).
            max_active_bin_slippage (int | None | Unset): `add`: how many bins the active bin may move before the deposit is
                refused (default 3).
            strategy (None | str | Unset): `add`: `spot` (default), `curve` or `bid_ask`.
     """

    chain: str
    max_bin_id: int
    min_bin_id: int
    operation: str
    pool: str
    position: str
    amount_x: None | str | Unset = UNSET
    amount_y: None | str | Unset = UNSET
    bps: int | None | Unset = UNSET
    max_active_bin_slippage: int | None | Unset = UNSET
    strategy: None | str | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        chain = self.chain

        max_bin_id = self.max_bin_id

        min_bin_id = self.min_bin_id

        operation = self.operation

        pool = self.pool

        position = self.position

        amount_x: None | str | Unset
        if isinstance(self.amount_x, Unset):
            amount_x = UNSET
        else:
            amount_x = self.amount_x

        amount_y: None | str | Unset
        if isinstance(self.amount_y, Unset):
            amount_y = UNSET
        else:
            amount_y = self.amount_y

        bps: int | None | Unset
        if isinstance(self.bps, Unset):
            bps = UNSET
        else:
            bps = self.bps

        max_active_bin_slippage: int | None | Unset
        if isinstance(self.max_active_bin_slippage, Unset):
            max_active_bin_slippage = UNSET
        else:
            max_active_bin_slippage = self.max_active_bin_slippage

        strategy: None | str | Unset
        if isinstance(self.strategy, Unset):
            strategy = UNSET
        else:
            strategy = self.strategy


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "chain": chain,
            "max_bin_id": max_bin_id,
            "min_bin_id": min_bin_id,
            "operation": operation,
            "pool": pool,
            "position": position,
        })
        if amount_x is not UNSET:
            field_dict["amount_x"] = amount_x
        if amount_y is not UNSET:
            field_dict["amount_y"] = amount_y
        if bps is not UNSET:
            field_dict["bps"] = bps
        if max_active_bin_slippage is not UNSET:
            field_dict["max_active_bin_slippage"] = max_active_bin_slippage
        if strategy is not UNSET:
            field_dict["strategy"] = strategy

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        chain = d.pop("chain")

        max_bin_id = d.pop("max_bin_id")

        min_bin_id = d.pop("min_bin_id")

        operation = d.pop("operation")

        pool = d.pop("pool")

        position = d.pop("position")

        def _parse_amount_x(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        amount_x = _parse_amount_x(d.pop("amount_x", UNSET))


        def _parse_amount_y(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        amount_y = _parse_amount_y(d.pop("amount_y", UNSET))


        def _parse_bps(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        bps = _parse_bps(d.pop("bps", UNSET))


        def _parse_max_active_bin_slippage(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        max_active_bin_slippage = _parse_max_active_bin_slippage(d.pop("max_active_bin_slippage", UNSET))


        def _parse_strategy(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        strategy = _parse_strategy(d.pop("strategy", UNSET))


        liquidity_body = cls(
            chain=chain,
            max_bin_id=max_bin_id,
            min_bin_id=min_bin_id,
            operation=operation,
            pool=pool,
            position=position,
            amount_x=amount_x,
            amount_y=amount_y,
            bps=bps,
            max_active_bin_slippage=max_active_bin_slippage,
            strategy=strategy,
        )

        return liquidity_body

