"""The enums' Rust variant mapping and the CHECK text they build."""

from __future__ import annotations

from enum import StrEnum

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orbitpay.enums import (
    ContractEnum,
    ContractKind,
    ProposalStatus,
    ScheduleStatus,
    StreamStatus,
    VoteChoice,
    WithdrawalStatus,
    check_in,
)

# The Rust declarations in CONTRACTS.md, in declaration (= discriminant) order.
RUST_VARIANTS: dict[type[ContractEnum], tuple[str, ...]] = {
    WithdrawalStatus: ("Pending", "Approved", "Executed", "Cancelled"),
    StreamStatus: ("Active", "Paused", "Cancelled", "Completed"),
    ScheduleStatus: ("Active", "Revoked", "FullyClaimed"),
    ProposalStatus: ("Active", "Approved", "Rejected", "Executed", "Cancelled", "Expired"),
    VoteChoice: ("Yes", "No", "Abstain"),
}
CONTRACT_ENUMS = sorted(RUST_VARIANTS, key=lambda e: e.__name__)


@pytest.mark.parametrize("enum", CONTRACT_ENUMS, ids=lambda e: e.__name__)
def test_variants_are_the_rust_names_in_discriminant_order(enum: type[ContractEnum]) -> None:
    assert enum.variants() == RUST_VARIANTS[enum]
    for member, name in zip(enum, RUST_VARIANTS[enum], strict=True):
        assert member.variant == name
        assert enum.from_variant(name) is member


def test_fully_claimed_maps_both_ways() -> None:
    assert ScheduleStatus.FULLY_CLAIMED.variant == "FullyClaimed"
    assert ScheduleStatus.from_variant("FullyClaimed") is ScheduleStatus.FULLY_CLAIMED


@pytest.mark.parametrize("name", ["fully_claimed", "Fullyclaimed", "FULLY_CLAIMED", "Paused", ""])
def test_from_variant_rejects_what_is_not_a_variant(name: str) -> None:
    with pytest.raises(ValueError, match="not a ScheduleStatus variant"):
        ScheduleStatus.from_variant(name)


@given(st.sampled_from(CONTRACT_ENUMS).flatmap(lambda e: st.tuples(st.just(e), st.text())))
def test_from_variant_accepts_only_the_variant_names(case: tuple[type[ContractEnum], str]) -> None:
    enum, name = case
    if name in RUST_VARIANTS[enum]:
        assert enum.from_variant(name).variant == name
    else:
        with pytest.raises(ValueError):
            enum.from_variant(name)


def test_members_are_their_values() -> None:
    assert StreamStatus.ACTIVE == "active"
    assert f"{ProposalStatus.EXPIRED}" == "expired"
    assert StreamStatus("paused") is StreamStatus.PAUSED


def test_check_in_quotes_every_member_in_order() -> None:
    assert check_in("kind", ContractKind) == (
        "kind IN ('treasury', 'payroll', 'vesting', 'governance')"
    )

    class Quoted(StrEnum):
        PLAIN = "plain"
        QUOTE = "it's"

    assert check_in("x", Quoted) == "x IN ('plain', 'it''s')"
