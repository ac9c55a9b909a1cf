from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="TransferBody")



@_attrs_define
class TransferBody:
    """ The request body.

        Attributes:
            amount (str): Decimal string in whole units, e.g. `"1.25"`. Example: 0.1.
            asset (str): `SOL` or a token mint on Solana; the native symbol (`ETH`) or an ERC-20 contract on EVM. Example:
                SOL.
            chain (str): `solana` or `evm:<chain id>`. Example: solana.
            to (str): Recipient address. Example: 9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM.
     """

    amount: str
    asset: str
    chain: str
    to: str





    def to_dict(self) -> dict[str, Any]:
        amount = self.amount

        asset = self.asset

        chain = self.chain

        to = self.to


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "amount": amount,
            "asset": asset,
            "chain": chain,
            "to": to,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        amount = d.pop("amount")

        asset = d.pop("asset")

        chain = d.pop("chain")

        to = d.pop("to")

        transfer_body = cls(
            amount=amount,
            asset=asset,
            chain=chain,
            to=to,
        )

        return transfer_body

