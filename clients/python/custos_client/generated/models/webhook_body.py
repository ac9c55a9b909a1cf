from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="WebhookBody")



@_attrs_define
class WebhookBody:
    """ The body of `PUT /v1/wallets/me/webhook`.

        Attributes:
            url (str): Where events are posted: https (http only to a loopback address), on a host this
                server's `webhooks.allow_hosts` lists. Example: https://hooks.example.com/custos.
     """

    url: str





    def to_dict(self) -> dict[str, Any]:
        url = self.url


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "url": url,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        url = d.pop("url")

        webhook_body = cls(
            url=url,
        )

        return webhook_body

