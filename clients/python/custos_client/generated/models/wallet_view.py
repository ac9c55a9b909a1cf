from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.wallet_view_addresses import WalletViewAddresses





T = TypeVar("T", bound="WalletView")



@_attrs_define
class WalletView:
    """ The agent as it sees itself.

        Attributes:
            addresses (WalletViewAddresses): Addresses by chain family.
            agent_id (str): Id.
            email (str): Login email.
            frozen (bool): Whether actions are refused.
     """

    addresses: WalletViewAddresses
    agent_id: str
    email: str
    frozen: bool
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.wallet_view_addresses import WalletViewAddresses # noqa: PLC0415
        addresses = self.addresses.to_dict()

        agent_id = self.agent_id

        email = self.email

        frozen = self.frozen


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "addresses": addresses,
            "agent_id": agent_id,
            "email": email,
            "frozen": frozen,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.wallet_view_addresses import WalletViewAddresses # noqa: PLC0415
        d = dict(src_dict)
        addresses = WalletViewAddresses.from_dict(d.pop("addresses"))




        agent_id = d.pop("agent_id")

        email = d.pop("email")

        frozen = d.pop("frozen")

        wallet_view = cls(
            addresses=addresses,
            agent_id=agent_id,
            email=email,
            frozen=frozen,
        )


        wallet_view.additional_properties = d
        return wallet_view

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
