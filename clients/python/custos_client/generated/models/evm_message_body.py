from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.evm_message_body_typed_data_type_0 import EvmMessageBodyTypedDataType0





T = TypeVar("T", bound="EvmMessageBody")



@_attrs_define
class EvmMessageBody:
    """ The request body of `sign-message` on an EVM chain: exactly one of `message`, `typed_data`
    and `hash`.

        Attributes:
            chain (str): `evm:<chain id>`. Example: evm:1.
            hash_ (None | str | Unset): A 32-byte hash, `0x` + 64 hex digits (policy `actions.sign_raw_hash` only).
            message (None | str | Unset): UTF-8 text, signed as an EIP-191 personal message. Example: Sign in to
                example.com.
            typed_data (EvmMessageBodyTypedDataType0 | None | Unset): An EIP-712 document (`types`, `primaryType`, `domain`,
                `message`).
     """

    chain: str
    hash_: None | str | Unset = UNSET
    message: None | str | Unset = UNSET
    typed_data: EvmMessageBodyTypedDataType0 | None | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        from ..models.evm_message_body_typed_data_type_0 import EvmMessageBodyTypedDataType0 # noqa: PLC0415
        chain = self.chain

        hash_: None | str | Unset
        if isinstance(self.hash_, Unset):
            hash_ = UNSET
        else:
            hash_ = self.hash_

        message: None | str | Unset
        if isinstance(self.message, Unset):
            message = UNSET
        else:
            message = self.message

        typed_data: dict[str, Any] | None | Unset
        if isinstance(self.typed_data, Unset):
            typed_data = UNSET
        elif isinstance(self.typed_data, EvmMessageBodyTypedDataType0):
            typed_data = self.typed_data.to_dict()
        else:
            typed_data = self.typed_data


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "chain": chain,
        })
        if hash_ is not UNSET:
            field_dict["hash"] = hash_
        if message is not UNSET:
            field_dict["message"] = message
        if typed_data is not UNSET:
            field_dict["typed_data"] = typed_data

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.evm_message_body_typed_data_type_0 import EvmMessageBodyTypedDataType0 # noqa: PLC0415
        d = dict(src_dict)
        chain = d.pop("chain")

        def _parse_hash_(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        hash_ = _parse_hash_(d.pop("hash", UNSET))


        def _parse_message(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        message = _parse_message(d.pop("message", UNSET))


        def _parse_typed_data(data: object) -> EvmMessageBodyTypedDataType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                typed_data_type_0 = EvmMessageBodyTypedDataType0.from_dict(data)



                return typed_data_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(EvmMessageBodyTypedDataType0 | None | Unset, data)

        typed_data = _parse_typed_data(d.pop("typed_data", UNSET))


        evm_message_body = cls(
            chain=chain,
            hash_=hash_,
            message=message,
            typed_data=typed_data,
        )

        return evm_message_body

