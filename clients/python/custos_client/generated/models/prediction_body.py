from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="PredictionBody")



@_attrs_define
class PredictionBody:
    """ The request body.

        Attributes:
            operation (str): `buy` (a limit order for contracts of one outcome) or `cancel` (a resting order). Example: buy.
            count (int | None | Unset): `buy`: contracts, at least 1.
            limit_price (None | str | Unset): `buy`: the most paid per contract, USD, `0.01` to `0.99` in whole cents.
                Example: 0.40.
            order_id (None | str | Unset): `cancel`: Kalshi's order id.
            side (None | str | Unset): `buy`: `yes` or `no`.
            ticker (None | str | Unset): `buy`: the market ticker. Example: KXFED-26DEC-T4.00.
     """

    operation: str
    count: int | None | Unset = UNSET
    limit_price: None | str | Unset = UNSET
    order_id: None | str | Unset = UNSET
    side: None | str | Unset = UNSET
    ticker: None | str | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        operation = self.operation

        count: int | None | Unset
        if isinstance(self.count, Unset):
            count = UNSET
        else:
            count = self.count

        limit_price: None | str | Unset
        if isinstance(self.limit_price, Unset):
            limit_price = UNSET
        else:
            limit_price = self.limit_price

        order_id: None | str | Unset
        if isinstance(self.order_id, Unset):
            order_id = UNSET
        else:
            order_id = self.order_id

        side: None | str | Unset
        if isinstance(self.side, Unset):
            side = UNSET
        else:
            side = self.side

        ticker: None | str | Unset
        if isinstance(self.ticker, Unset):
            ticker = UNSET
        else:
            ticker = self.ticker


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "operation": operation,
        })
        if count is not UNSET:
            field_dict["count"] = count
        if limit_price is not UNSET:
            field_dict["limit_price"] = limit_price
        if order_id is not UNSET:
            field_dict["order_id"] = order_id
        if side is not UNSET:
            field_dict["side"] = side
        if ticker is not UNSET:
            field_dict["ticker"] = ticker

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        operation = d.pop("operation")

        def _parse_count(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        count = _parse_count(d.pop("count", UNSET))


        def _parse_limit_price(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        limit_price = _parse_limit_price(d.pop("limit_price", UNSET))


        def _parse_order_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        order_id = _parse_order_id(d.pop("order_id", UNSET))


        def _parse_side(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        side = _parse_side(d.pop("side", UNSET))


        def _parse_ticker(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        ticker = _parse_ticker(d.pop("ticker", UNSET))


        prediction_body = cls(
            operation=operation,
            count=count,
            limit_price=limit_price,
            order_id=order_id,
            side=side,
            ticker=ticker,
        )

        return prediction_body

