from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.pay_body_quote_type_0 import PayBodyQuoteType0





T = TypeVar("T", bound="PayBody")



@_attrs_define
class PayBody:
    """ The request body of `pay`.

        Attributes:
            url (str): The resource (`http://` or `https://`), fetched with `GET`. Example: https://api.example.com/weather.
            quote (None | PayBodyQuoteType0 | Unset): The payment requirements the agent was quoted (one entry of a 402's
                `accepts`): Custos
                then pays only if the seller still asks exactly that (scheme, network, amount, asset,
                payee).
     """

    url: str
    quote: None | PayBodyQuoteType0 | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        from ..models.pay_body_quote_type_0 import PayBodyQuoteType0 # noqa: PLC0415
        url = self.url

        quote: dict[str, Any] | None | Unset
        if isinstance(self.quote, Unset):
            quote = UNSET
        elif isinstance(self.quote, PayBodyQuoteType0):
            quote = self.quote.to_dict()
        else:
            quote = self.quote


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "url": url,
        })
        if quote is not UNSET:
            field_dict["quote"] = quote

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.pay_body_quote_type_0 import PayBodyQuoteType0 # noqa: PLC0415
        d = dict(src_dict)
        url = d.pop("url")

        def _parse_quote(data: object) -> None | PayBodyQuoteType0 | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                quote_type_0 = PayBodyQuoteType0.from_dict(data)



                return quote_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | PayBodyQuoteType0 | Unset, data)

        quote = _parse_quote(d.pop("quote", UNSET))


        pay_body = cls(
            url=url,
            quote=quote,
        )

        return pay_body

