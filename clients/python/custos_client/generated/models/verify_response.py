from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="VerifyResponse")



@_attrs_define
class VerifyResponse:
    """ A new session.

        Attributes:
            agent_id (str): The agent.
            expires_at (str): RFC 3339 expiry.
            new_agent (bool): Whether this login provisioned the agent (its wallet was created just now).
            token (str): Bearer token (EdDSA JWT).
     """

    agent_id: str
    expires_at: str
    new_agent: bool
    token: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        agent_id = self.agent_id

        expires_at = self.expires_at

        new_agent = self.new_agent

        token = self.token


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "agent_id": agent_id,
            "expires_at": expires_at,
            "new_agent": new_agent,
            "token": token,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        agent_id = d.pop("agent_id")

        expires_at = d.pop("expires_at")

        new_agent = d.pop("new_agent")

        token = d.pop("token")

        verify_response = cls(
            agent_id=agent_id,
            expires_at=expires_at,
            new_agent=new_agent,
            token=token,
        )


        verify_response.additional_properties = d
        return verify_response

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
