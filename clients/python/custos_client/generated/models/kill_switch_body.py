from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="KillSwitchBody")



@_attrs_define
class KillSwitchBody:
    """ Body of `POST /v1/admin/kill-switch`.

        Attributes:
            engaged (bool): `true` freezes every agent, present and future, in the custody boundary itself; `false`
                lifts that (agents frozen one by one stay frozen).
     """

    engaged: bool





    def to_dict(self) -> dict[str, Any]:
        engaged = self.engaged


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "engaged": engaged,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        engaged = d.pop("engaged")

        kill_switch_body = cls(
            engaged=engaged,
        )

        return kill_switch_body

