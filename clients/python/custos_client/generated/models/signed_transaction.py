from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="SignedTransaction")



@_attrs_define
class SignedTransaction:
    """ `200` of `sign` with `broadcast: false`: the signed transaction, returned.

        Attributes:
            audit_id (int): Its audit record.
            signed_transaction (str): Base64 (Solana) or `0x` hex (EVM).
            status (str): `signed`.
            tx (str): Its id.
            usd_value (str): What it was valued at, USD.
     """

    audit_id: int
    signed_transaction: str
    status: str
    tx: str
    usd_value: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        audit_id = self.audit_id

        signed_transaction = self.signed_transaction

        status = self.status

        tx = self.tx

        usd_value = self.usd_value


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "audit_id": audit_id,
            "signed_transaction": signed_transaction,
            "status": status,
            "tx": tx,
            "usd_value": usd_value,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        audit_id = d.pop("audit_id")

        signed_transaction = d.pop("signed_transaction")

        status = d.pop("status")

        tx = d.pop("tx")

        usd_value = d.pop("usd_value")

        signed_transaction = cls(
            audit_id=audit_id,
            signed_transaction=signed_transaction,
            status=status,
            tx=tx,
            usd_value=usd_value,
        )


        signed_transaction.additional_properties = d
        return signed_transaction

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
