from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="SignedMessage")



@_attrs_define
class SignedMessage:
    """ A message signature.

        Attributes:
            audit_id (int): The audit record of this signature.
            public_key (str): Hex public key (32 bytes).
            scheme (str): `ed25519`.
            signature (str): Hex signature (64 bytes).
            signed_bytes (str): Hex of the exact bytes signed (the off-chain envelope).
            status (str): `signed`.
     """

    audit_id: int
    public_key: str
    scheme: str
    signature: str
    signed_bytes: str
    status: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        audit_id = self.audit_id

        public_key = self.public_key

        scheme = self.scheme

        signature = self.signature

        signed_bytes = self.signed_bytes

        status = self.status


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "audit_id": audit_id,
            "public_key": public_key,
            "scheme": scheme,
            "signature": signature,
            "signed_bytes": signed_bytes,
            "status": status,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        audit_id = d.pop("audit_id")

        public_key = d.pop("public_key")

        scheme = d.pop("scheme")

        signature = d.pop("signature")

        signed_bytes = d.pop("signed_bytes")

        status = d.pop("status")

        signed_message = cls(
            audit_id=audit_id,
            public_key=public_key,
            scheme=scheme,
            signature=signature,
            signed_bytes=signed_bytes,
            status=status,
        )


        signed_message.additional_properties = d
        return signed_message

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
