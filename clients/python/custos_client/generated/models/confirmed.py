from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="Confirmed")



@_attrs_define
class Confirmed:
    """ `200` of `transfer`, `trade` and broadcast `sign`: the transaction landed.

        Attributes:
            audit_id (int): Its audit record.
            status (str): `confirmed`.
            tx (str): Solana signature or EVM transaction hash.
            usd_value (str): What it was valued at, USD.
            block (int | None | Unset): EVM: the block it landed in.
            recovered (bool | None | Unset): Answered by crash recovery rather than by the request itself.
            slot (int | None | Unset): Solana: the slot it landed in.
     """

    audit_id: int
    status: str
    tx: str
    usd_value: str
    block: int | None | Unset = UNSET
    recovered: bool | None | Unset = UNSET
    slot: int | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        audit_id = self.audit_id

        status = self.status

        tx = self.tx

        usd_value = self.usd_value

        block: int | None | Unset
        if isinstance(self.block, Unset):
            block = UNSET
        else:
            block = self.block

        recovered: bool | None | Unset
        if isinstance(self.recovered, Unset):
            recovered = UNSET
        else:
            recovered = self.recovered

        slot: int | None | Unset
        if isinstance(self.slot, Unset):
            slot = UNSET
        else:
            slot = self.slot


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "audit_id": audit_id,
            "status": status,
            "tx": tx,
            "usd_value": usd_value,
        })
        if block is not UNSET:
            field_dict["block"] = block
        if recovered is not UNSET:
            field_dict["recovered"] = recovered
        if slot is not UNSET:
            field_dict["slot"] = slot

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        audit_id = d.pop("audit_id")

        status = d.pop("status")

        tx = d.pop("tx")

        usd_value = d.pop("usd_value")

        def _parse_block(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        block = _parse_block(d.pop("block", UNSET))


        def _parse_recovered(data: object) -> bool | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(bool | None | Unset, data)

        recovered = _parse_recovered(d.pop("recovered", UNSET))


        def _parse_slot(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        slot = _parse_slot(d.pop("slot", UNSET))


        confirmed = cls(
            audit_id=audit_id,
            status=status,
            tx=tx,
            usd_value=usd_value,
            block=block,
            recovered=recovered,
            slot=slot,
        )


        confirmed.additional_properties = d
        return confirmed

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
