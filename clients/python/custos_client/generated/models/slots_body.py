from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="SlotsBody")



@_attrs_define
class SlotsBody:
    """ `POST /v1/dev/slots` body.

        Attributes:
            advance (int): Empty slots to let pass (1–100000), each with a new blockhash: 151 expire every
                blockhash handed out before.
     """

    advance: int





    def to_dict(self) -> dict[str, Any]:
        advance = self.advance


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "advance": advance,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        advance = d.pop("advance")

        slots_body = cls(
            advance=advance,
        )

        return slots_body

