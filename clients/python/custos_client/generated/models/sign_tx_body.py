from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="SignTxBody")



@_attrs_define
class SignTxBody:
    """ The request body.

        Attributes:
            chain (str): `solana` or `evm:<chain id>`. Example: solana.
            transaction (str): Solana: the serialized transaction (legacy or v0), base64, with the agent's address among
                its required signers; signature slots may be zero. EVM: the unsigned EIP-1559 transaction
                `0x02 || rlp(fields)` as hex, with the request's chain id. With `broadcast: true` Custos
                sets the nonce; otherwise the nonce is signed as given. Example: <the serialized transaction, base64>.
            amount (None | str | Unset): Optional declared amount, whole units; with `asset`.
            asset (None | str | Unset): Optional declared asset (`SOL` or a mint); with `amount`.
            broadcast (bool | Unset): Broadcast and confirm it (`true`), or return it signed (`false`, the default).
                Example: True.
            to (None | str | Unset): Optional declared recipient.
     """

    chain: str
    transaction: str
    amount: None | str | Unset = UNSET
    asset: None | str | Unset = UNSET
    broadcast: bool | Unset = UNSET
    to: None | str | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        chain = self.chain

        transaction = self.transaction

        amount: None | str | Unset
        if isinstance(self.amount, Unset):
            amount = UNSET
        else:
            amount = self.amount

        asset: None | str | Unset
        if isinstance(self.asset, Unset):
            asset = UNSET
        else:
            asset = self.asset

        broadcast = self.broadcast

        to: None | str | Unset
        if isinstance(self.to, Unset):
            to = UNSET
        else:
            to = self.to


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "chain": chain,
            "transaction": transaction,
        })
        if amount is not UNSET:
            field_dict["amount"] = amount
        if asset is not UNSET:
            field_dict["asset"] = asset
        if broadcast is not UNSET:
            field_dict["broadcast"] = broadcast
        if to is not UNSET:
            field_dict["to"] = to

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        chain = d.pop("chain")

        transaction = d.pop("transaction")

        def _parse_amount(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        amount = _parse_amount(d.pop("amount", UNSET))


        def _parse_asset(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        asset = _parse_asset(d.pop("asset", UNSET))


        broadcast = d.pop("broadcast", UNSET)

        def _parse_to(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        to = _parse_to(d.pop("to", UNSET))


        sign_tx_body = cls(
            chain=chain,
            transaction=transaction,
            amount=amount,
            asset=asset,
            broadcast=broadcast,
            to=to,
        )

        return sign_tx_body

