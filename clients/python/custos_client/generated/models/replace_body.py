from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="ReplaceBody")



@_attrs_define
class ReplaceBody:
    """ The body of a speed-up or cancel (optional: `{}` or none at all).

        Attributes:
            fee_bump_percent (int | None | Unset): How much both fees rise at least, percent of the pending transaction's
                (10-500, default
                25); never below what a new transaction would pay now, never above the chain's caps. Example: 25.
     """

    fee_bump_percent: int | None | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        fee_bump_percent: int | None | Unset
        if isinstance(self.fee_bump_percent, Unset):
            fee_bump_percent = UNSET
        else:
            fee_bump_percent = self.fee_bump_percent


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if fee_bump_percent is not UNSET:
            field_dict["fee_bump_percent"] = fee_bump_percent

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        def _parse_fee_bump_percent(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        fee_bump_percent = _parse_fee_bump_percent(d.pop("fee_bump_percent", UNSET))


        replace_body = cls(
            fee_bump_percent=fee_bump_percent,
        )

        return replace_body

