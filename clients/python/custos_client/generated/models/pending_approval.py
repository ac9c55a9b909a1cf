from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="PendingApproval")



@_attrs_define
class PendingApproval:
    """ `202`: parked for human approval.

        Attributes:
            approval_id (str): The approval to vote on.
            quorum (int): Approvals needed.
            status (str): `pending_approval`.
     """

    approval_id: str
    quorum: int
    status: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        approval_id = self.approval_id

        quorum = self.quorum

        status = self.status


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "approval_id": approval_id,
            "quorum": quorum,
            "status": status,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        approval_id = d.pop("approval_id")

        quorum = d.pop("quorum")

        status = d.pop("status")

        pending_approval = cls(
            approval_id=approval_id,
            quorum=quorum,
            status=status,
        )


        pending_approval.additional_properties = d
        return pending_approval

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
