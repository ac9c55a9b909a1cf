from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="AuditRecord")



@_attrs_define
class AuditRecord:
    """ One record of the agent's audit trail.

        Attributes:
            action (str): What was done (`transfer`, `transfer.signed`, `wallet.get`, …).
            endpoint (str): Method and route template.
            hash_ (str): Hash of this record (the chain `custos audit verify` checks).
            id (int): Sequence number in the whole log, from 1, without gaps.
            outcome (str): `success`, `denied`, `invalid`, `error` or `pending`.
            params (Any): The request's parameters, secrets removed.
            prev_hash (str): Hash of the previous record.
            request_id (str): The request's `x-request-id`.
            status (int): The HTTP status answered.
            time_ms (int): Milliseconds since the Unix epoch.
            token_amounts (Any): Token amounts moved.
            agent_id (None | str | Unset): The agent acted for or by.
            operator (None | str | Unset): The operator token that acted, if an operator did.
            reason (None | str | Unset): Error code or denial reasons.
            tx (None | str | Unset): Transaction signature or hash.
            usd_amount (None | str | Unset): Its USD value, when it moved value.
     """

    action: str
    endpoint: str
    hash_: str
    id: int
    outcome: str
    params: Any
    prev_hash: str
    request_id: str
    status: int
    time_ms: int
    token_amounts: Any
    agent_id: None | str | Unset = UNSET
    operator: None | str | Unset = UNSET
    reason: None | str | Unset = UNSET
    tx: None | str | Unset = UNSET
    usd_amount: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        action = self.action

        endpoint = self.endpoint

        hash_ = self.hash_

        id = self.id

        outcome = self.outcome

        params = self.params

        prev_hash = self.prev_hash

        request_id = self.request_id

        status = self.status

        time_ms = self.time_ms

        token_amounts = self.token_amounts

        agent_id: None | str | Unset
        if isinstance(self.agent_id, Unset):
            agent_id = UNSET
        else:
            agent_id = self.agent_id

        operator: None | str | Unset
        if isinstance(self.operator, Unset):
            operator = UNSET
        else:
            operator = self.operator

        reason: None | str | Unset
        if isinstance(self.reason, Unset):
            reason = UNSET
        else:
            reason = self.reason

        tx: None | str | Unset
        if isinstance(self.tx, Unset):
            tx = UNSET
        else:
            tx = self.tx

        usd_amount: None | str | Unset
        if isinstance(self.usd_amount, Unset):
            usd_amount = UNSET
        else:
            usd_amount = self.usd_amount


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "action": action,
            "endpoint": endpoint,
            "hash": hash_,
            "id": id,
            "outcome": outcome,
            "params": params,
            "prev_hash": prev_hash,
            "request_id": request_id,
            "status": status,
            "time_ms": time_ms,
            "token_amounts": token_amounts,
        })
        if agent_id is not UNSET:
            field_dict["agent_id"] = agent_id
        if operator is not UNSET:
            field_dict["operator"] = operator
        if reason is not UNSET:
            field_dict["reason"] = reason
        if tx is not UNSET:
            field_dict["tx"] = tx
        if usd_amount is not UNSET:
            field_dict["usd_amount"] = usd_amount

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        action = d.pop("action")

        endpoint = d.pop("endpoint")

        hash_ = d.pop("hash")

        id = d.pop("id")

        outcome = d.pop("outcome")

        params = d.pop("params")

        prev_hash = d.pop("prev_hash")

        request_id = d.pop("request_id")

        status = d.pop("status")

        time_ms = d.pop("time_ms")

        token_amounts = d.pop("token_amounts")

        def _parse_agent_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        agent_id = _parse_agent_id(d.pop("agent_id", UNSET))


        def _parse_operator(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        operator = _parse_operator(d.pop("operator", UNSET))


        def _parse_reason(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        reason = _parse_reason(d.pop("reason", UNSET))


        def _parse_tx(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        tx = _parse_tx(d.pop("tx", UNSET))


        def _parse_usd_amount(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        usd_amount = _parse_usd_amount(d.pop("usd_amount", UNSET))


        audit_record = cls(
            action=action,
            endpoint=endpoint,
            hash_=hash_,
            id=id,
            outcome=outcome,
            params=params,
            prev_hash=prev_hash,
            request_id=request_id,
            status=status,
            time_ms=time_ms,
            token_amounts=token_amounts,
            agent_id=agent_id,
            operator=operator,
            reason=reason,
            tx=tx,
            usd_amount=usd_amount,
        )


        audit_record.additional_properties = d
        return audit_record

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
