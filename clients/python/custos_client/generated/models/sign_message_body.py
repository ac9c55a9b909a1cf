from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="SignMessageBody")



@_attrs_define
class SignMessageBody:
    """ `sign` body for off-chain messages.

        Attributes:
            chain (str): `message` (chain transactions arrive with the chain adapters). Example: message.
            message (str): UTF-8 text to sign. Example: I control this wallet.
     """

    chain: str
    message: str





    def to_dict(self) -> dict[str, Any]:
        chain = self.chain

        message = self.message


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "chain": chain,
            "message": message,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        chain = d.pop("chain")

        message = d.pop("message")

        sign_message_body = cls(
            chain=chain,
            message=message,
        )

        return sign_message_body

