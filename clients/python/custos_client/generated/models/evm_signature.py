from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="EvmSignature")



@_attrs_define
class EvmSignature:
    """ `200` of `sign-message` on an EVM chain.

        Attributes:
            address (str): The agent's EVM address.
            audit_id (int): Its audit record.
            kind (str): `eip191`, `eip712` or `raw_hash`.
            scheme (str): `secp256k1_ecdsa`.
            signature (str): `0x` r‖s‖v, v = 27/28.
            status (str): `signed`.
            usd_value (str): Value of the permits it grants, USD.
     """

    address: str
    audit_id: int
    kind: str
    scheme: str
    signature: str
    status: str
    usd_value: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        address = self.address

        audit_id = self.audit_id

        kind = self.kind

        scheme = self.scheme

        signature = self.signature

        status = self.status

        usd_value = self.usd_value


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "address": address,
            "audit_id": audit_id,
            "kind": kind,
            "scheme": scheme,
            "signature": signature,
            "status": status,
            "usd_value": usd_value,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        address = d.pop("address")

        audit_id = d.pop("audit_id")

        kind = d.pop("kind")

        scheme = d.pop("scheme")

        signature = d.pop("signature")

        status = d.pop("status")

        usd_value = d.pop("usd_value")

        evm_signature = cls(
            address=address,
            audit_id=audit_id,
            kind=kind,
            scheme=scheme,
            signature=signature,
            status=status,
            usd_value=usd_value,
        )


        evm_signature.additional_properties = d
        return evm_signature

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
