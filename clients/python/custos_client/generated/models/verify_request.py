from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="VerifyRequest")



@_attrs_define
class VerifyRequest:
    """ `POST /v1/auth/verify` body.

        Attributes:
            code (str): The 6-digit code. Example: 123456.
            email (str): The agent's email. Example: agent@example.com.
     """

    code: str
    email: str





    def to_dict(self) -> dict[str, Any]:
        code = self.code

        email = self.email


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "code": code,
            "email": email,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        code = d.pop("code")

        email = d.pop("email")

        verify_request = cls(
            code=code,
            email=email,
        )

        return verify_request

