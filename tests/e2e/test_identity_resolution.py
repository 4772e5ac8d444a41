"""Identity resolution against the generator's truth: which CRM records are the same person."""

from __future__ import annotations

import itertools

import pandas as pd


def _same_person_pairs(frame: pd.DataFrame, group: str) -> set[tuple[str, str]]:
    pairs: set[tuple[str, str]] = set()
    for _, members in frame.groupby(group):
        numbers = sorted(members["customer_number"])
        pairs.update(itertools.combinations(numbers, 2))
    return pairs


def test_precision_and_recall_of_merges_are_at_least_0_99(demo_build):
    resolved = demo_build.query(
        "select customer_number, customer_id from intermediate.int_customer_identities_resolved"
    )
    truth = demo_build.truth_table("records").drop_duplicates("customer_number")
    joined = resolved.merge(truth, on="customer_number", how="outer", indicator=True)
    assert (joined["_merge"] == "both").all(), "every CRM record is resolved exactly once"

    predicted = _same_person_pairs(joined, "customer_id")
    actual = _same_person_pairs(joined, "person_id")
    assert len(actual) > 100, "the generator planted duplicates to find"
    true_positives = len(predicted & actual)
    precision = true_positives / len(predicted)
    recall = true_positives / len(actual)
    assert precision >= 0.99, precision
    assert recall >= 0.99, recall


def test_households_sharing_a_landline_stay_apart(demo_build):
    truth = demo_build.truth_table("records")
    households = truth[truth["household_of"].notna()].drop_duplicates("customer_number")
    assert len(households) > 0
    resolved = demo_build.query(
        "select customer_number, customer_id from intermediate.int_customer_identities_resolved"
    ).set_index("customer_number")["customer_id"]
    primary = truth[truth["record_kind"] == "primary"].set_index("person_id")["customer_number"]
    for row in households.itertuples():
        other = primary[row.household_of]
        assert resolved[row.customer_number] != resolved[other]


def test_every_merge_is_explained(demo_build):
    unexplained = demo_build.query(
        "select customer_id from marts.dim_customers where record_count > 1 "
        "except "
        "select customer_id from quality.rpt_identity_merges where link_type = 'crm_record'"
    )
    assert unexplained.empty


def test_devices_link_anonymous_visits_except_shared_ones(demo_build):
    devices = demo_build.query(
        "select anonymous_id, customer_id, is_shared_device from intermediate.int_devices_resolved"
    )
    truth = demo_build.truth_table("devices")
    shared_truth = set(truth.loc[truth["is_shared"], "anonymous_id"])
    shared_found = set(devices.loc[devices["is_shared_device"], "anonymous_id"])
    assert shared_found <= shared_truth
    assert devices.loc[devices["is_shared_device"], "customer_id"].isna().all()
    # A linked device belongs to the person who owns it.
    linked = devices[devices["customer_id"].notna()].merge(truth, on="anonymous_id")
    persons = demo_build.query(
        "select customer_number, customer_id from intermediate.int_customer_identities_resolved"
    ).merge(
        demo_build.truth_table("records").drop_duplicates("customer_number"), on="customer_number"
    )
    person_of_customer = persons.drop_duplicates("customer_id").set_index("customer_id")[
        "person_id"
    ]
    assert (linked["customer_id"].map(person_of_customer) == linked["person_id"]).mean() >= 0.99
