from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.dry_run_explanation import DryRunExplanation
  from ..models.dry_run_simulated_type_0 import DryRunSimulatedType0





T = TypeVar("T", bound="DryRun")



@_attrs_define
class DryRun:
    """ `200` of any action with `?dry_run=true`.

        Attributes:
            dry_run (bool): `true`.
            explanation (DryRunExplanation): Every rule evaluated and the decision.
            simulated (DryRunSimulatedType0 | None | Unset): What simulation says the transaction does (chain transactions;
                absent for messages).
     """

    dry_run: bool
    explanation: DryRunExplanation
    simulated: DryRunSimulatedType0 | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.dry_run_explanation import DryRunExplanation # noqa: PLC0415
        from ..models.dry_run_simulated_type_0 import DryRunSimulatedType0 # noqa: PLC0415
        dry_run = self.dry_run

        explanation = self.explanation.to_dict()

        simulated: dict[str, Any] | None | Unset
        if isinstance(self.simulated, Unset):
            simulated = UNSET
        elif isinstance(self.simulated, DryRunSimulatedType0):
            simulated = self.simulated.to_dict()
        else:
            simulated = self.simulated


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "dry_run": dry_run,
            "explanation": explanation,
        })
        if simulated is not UNSET:
            field_dict["simulated"] = simulated

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.dry_run_explanation import DryRunExplanation # noqa: PLC0415
        from ..models.dry_run_simulated_type_0 import DryRunSimulatedType0 # noqa: PLC0415
        d = dict(src_dict)
        dry_run = d.pop("dry_run")

        explanation = DryRunExplanation.from_dict(d.pop("explanation"))




        def _parse_simulated(data: object) -> DryRunSimulatedType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                simulated_type_0 = DryRunSimulatedType0.from_dict(data)



                return simulated_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(DryRunSimulatedType0 | None | Unset, data)

        simulated = _parse_simulated(d.pop("simulated", UNSET))


        dry_run = cls(
            dry_run=dry_run,
            explanation=explanation,
            simulated=simulated,
        )


        dry_run.additional_properties = d
        return dry_run

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
