from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="MintBody")



@_attrs_define
class MintBody:
    """ `POST /v1/dev/mints` body.

        Attributes:
            decimals (int): Token decimals (0–9).
            program (None | str | Unset): `token` (SPL Token, default) or `token-2022`.
     """

    decimals: int
    program: None | str | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        decimals = self.decimals

        program: None | str | Unset
        if isinstance(self.program, Unset):
            program = UNSET
        else:
            program = self.program


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "decimals": decimals,
        })
        if program is not UNSET:
            field_dict["program"] = program

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        decimals = d.pop("decimals")

        def _parse_program(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        program = _parse_program(d.pop("program", UNSET))


        mint_body = cls(
            decimals=decimals,
            program=program,
        )

        return mint_body

