from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.paid_body import PaidBody
  from ..models.paid_payment_type_0 import PaidPaymentType0
  from ..models.paid_receipt_type_0 import PaidReceiptType0





T = TypeVar("T", bound="Paid")



@_attrs_define
class Paid:
    """ `200` of `pay`: the resource, and — when it cost something — the payment and the seller's
    settlement receipt.

        Attributes:
            body (PaidBody): The resource: JSON as served, anything else as text.
            http_status (int): The seller's HTTP status for the resource.
            status (str): `paid`, or `free` when the resource asked for no payment.
            payment (None | PaidPaymentType0 | Unset): What was paid: `{network, asset, amount, pay_to, usd_value,
                valid_before}`.
            receipt (None | PaidReceiptType0 | Unset): The seller's `PAYMENT-RESPONSE` (`{success, transaction, network,
                payer}`), decoded.
            signature_audit_id (int | None | Unset): The audit record of the authorization's signature.
     """

    body: PaidBody
    http_status: int
    status: str
    payment: None | PaidPaymentType0 | Unset = UNSET
    receipt: None | PaidReceiptType0 | Unset = UNSET
    signature_audit_id: int | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.paid_body import PaidBody # noqa: PLC0415
        from ..models.paid_payment_type_0 import PaidPaymentType0 # noqa: PLC0415
        from ..models.paid_receipt_type_0 import PaidReceiptType0 # noqa: PLC0415
        body = self.body.to_dict()

        http_status = self.http_status

        status = self.status

        payment: dict[str, Any] | None | Unset
        if isinstance(self.payment, Unset):
            payment = UNSET
        elif isinstance(self.payment, PaidPaymentType0):
            payment = self.payment.to_dict()
        else:
            payment = self.payment

        receipt: dict[str, Any] | None | Unset
        if isinstance(self.receipt, Unset):
            receipt = UNSET
        elif isinstance(self.receipt, PaidReceiptType0):
            receipt = self.receipt.to_dict()
        else:
            receipt = self.receipt

        signature_audit_id: int | None | Unset
        if isinstance(self.signature_audit_id, Unset):
            signature_audit_id = UNSET
        else:
            signature_audit_id = self.signature_audit_id


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "body": body,
            "http_status": http_status,
            "status": status,
        })
        if payment is not UNSET:
            field_dict["payment"] = payment
        if receipt is not UNSET:
            field_dict["receipt"] = receipt
        if signature_audit_id is not UNSET:
            field_dict["signature_audit_id"] = signature_audit_id

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.paid_body import PaidBody # noqa: PLC0415
        from ..models.paid_payment_type_0 import PaidPaymentType0 # noqa: PLC0415
        from ..models.paid_receipt_type_0 import PaidReceiptType0 # noqa: PLC0415
        d = dict(src_dict)
        body = PaidBody.from_dict(d.pop("body"))




        http_status = d.pop("http_status")

        status = d.pop("status")

        def _parse_payment(data: object) -> None | PaidPaymentType0 | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                payment_type_0 = PaidPaymentType0.from_dict(data)



                return payment_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | PaidPaymentType0 | Unset, data)

        payment = _parse_payment(d.pop("payment", UNSET))


        def _parse_receipt(data: object) -> None | PaidReceiptType0 | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                receipt_type_0 = PaidReceiptType0.from_dict(data)



                return receipt_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | PaidReceiptType0 | Unset, data)

        receipt = _parse_receipt(d.pop("receipt", UNSET))


        def _parse_signature_audit_id(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        signature_audit_id = _parse_signature_audit_id(d.pop("signature_audit_id", UNSET))


        paid = cls(
            body=body,
            http_status=http_status,
            status=status,
            payment=payment,
            receipt=receipt,
            signature_audit_id=signature_audit_id,
        )


        paid.additional_properties = d
        return paid

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
