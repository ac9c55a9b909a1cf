from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="AirdropBody")



@_attrs_define
class AirdropBody:
    """ `POST /v1/dev/airdrop` body.

        Attributes:
            amount (str): Decimal string. Example: 1.
            asset (str): `SOL` or a mint created with `/v1/dev/mints`. Example: SOL.
            chain (str): `solana`. Example: solana.
     """

    amount: str
    asset: str
    chain: str





    def to_dict(self) -> dict[str, Any]:
        amount = self.amount

        asset = self.asset

        chain = self.chain


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "amount": amount,
            "asset": asset,
            "chain": chain,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        amount = d.pop("amount")

        asset = d.pop("asset")

        chain = d.pop("chain")

        airdrop_body = cls(
            amount=amount,
            asset=asset,
            chain=chain,
        )

        return airdrop_body

