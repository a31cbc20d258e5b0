"""Unit tests of the ID-merge step logic (transforms.id_merge)."""

import numpy as np
import pandas as pd
import pytest

from transforms import id_merge as im


def records(rows):
    return pd.DataFrame(rows, columns=list(im.FIELDS))


def test_soundex_groups_spellings_and_ignores_non_latin():
    assert im.soundex("robert") == im.soundex("rupert") == "r163"
    assert im.soundex("smith") == im.soundex("smyth")
    assert im.soundex("петров") is None
    assert im.soundex(None) is None


def test_normalise_never_raises_and_makes_missing_explicit():
    raw = records([
        ["  José ", "O'Neil", "J.Smith+jobs@X.com", "+44 (0)7700 900123", "19800102", "sw1a 1aa", None, None, None],
        ["", None, "not-an-email", "abc", "3000-13-45", "", None, None, None],
        [None] * len(im.FIELDS),
        ["Иван", "Петров", None, None, "1980-01-02", None, None, None, None],
    ])
    norm = im.normalise(raw)
    assert len(norm) == 4
    assert norm.loc[0, "first_name"] == "jose"
    assert norm.loc[0, "last_name"] == "oneil"
    assert norm.loc[0, "email_local"] == "jsmith"
    assert norm.loc[0, "date_of_birth"] == "1980-01-02"
    assert norm.loc[0, "postcode"] == "sw1a1aa"
    assert norm.loc[1, ["first_name", "email", "phone", "date_of_birth", "postcode"]].isna().all()
    assert norm.loc[2].isna().all()
    assert norm.loc[3, "last_name"] == "петров"


def test_compare_scores_similar_high_different_low_and_missing_as_nan():
    norm = im.normalise(records([
        ["john", "smith", "js@x.com", "07700900123", "1980-01-02", "SW1 1AA", None, None, None],
        ["jon", "smyth", "js@x.com", "+447700900123", "1980-02-01", "SW11AA", None, None, None],
        ["mary", "jones", "mj@y.com", "07999111222", "1990-05-05", "E1 6AN", None, None, None],
        ["smith", "john", None, None, None, None, None, None, None],
    ]))
    features = im.compare(norm, np.array([[0, 1], [0, 2], [0, 3]]))
    same, other, swapped = features.iloc[0], features.iloc[1], features.iloc[2]
    assert list(features.columns) == list(im.FEATURES)
    assert same["first_jw"] > 0.9 and other["first_jw"] < 0.7
    assert same["email_exact"] == 1 and other["email_exact"] == 0
    assert same["phone_tail_match"] == 1  # national and international spellings
    assert same["dob_exact"] == 0 and same["dob_parts"] == 1  # day and month swapped
    assert same["postcode_exact"] == 1
    assert np.isnan(swapped["email_exact"]) and np.isnan(swapped["dob_parts"])
    assert swapped["names_swapped_jw"] == 1
    assert swapped["n_missing"] > same["n_missing"]


def test_candidate_pairs_union_of_passes_without_duplicates():
    keys = pd.DataFrame({
        "a": ["x", "x", "y", None, "y"],
        "b": ["p", "p", None, "p", None],
    })
    report = im.BlockingReport()
    pairs = im.candidate_pairs(keys, report=report)
    expected = {(0, 1), (2, 4), (0, 3), (1, 3)}
    assert {tuple(p) for p in pairs.tolist()} == expected
    assert len(pairs) == len(expected)  # (0, 1) is in both passes, kept once
    assert report.pairs_per_pass == {"a": 2, "b": 3}


def test_candidate_pairs_skips_oversized_blocks_and_reports_them():
    keys = pd.DataFrame({"a": ["x"] * 6 + ["y", "y"]})
    report = im.BlockingReport()
    pairs = im.candidate_pairs(keys, max_block_size=5, report=report)
    assert pairs.tolist() == [[6, 7]]
    assert report.oversized_blocks == {"a": 1}


def test_candidate_pairs_linkage_only_across_sides():
    keys = pd.DataFrame({"a": ["x", "x", "x", "x"]})
    sides = np.array([0, 0, 1, 1])
    pairs = im.candidate_pairs(keys, sides=sides)
    assert {tuple(p) for p in pairs.tolist()} == {(0, 2), (0, 3), (1, 2), (1, 3)}


def test_cluster_connected_components_above_threshold():
    pairs = np.array([[0, 1], [1, 2], [3, 4], [2, 3]])
    scores = np.array([0.9, 0.8, 0.95, 0.1])
    result = im.cluster(6, pairs, scores, threshold=0.5, max_cluster_size=10)
    labels = result.labels
    assert labels[0] == labels[1] == labels[2]
    assert labels[3] == labels[4] != labels[0]
    assert len(set(labels)) == 3
    assert np.isnan(result.join_score[5])
    assert result.join_score[2] == pytest.approx(0.8)


def test_cluster_splits_giant_cluster_at_weakest_link():
    # A chain 0-1-2 and 3-4-5 joined by one weak link 2-3: with a limit of 3 that link is refused.
    pairs = np.array([[0, 1], [1, 2], [3, 4], [4, 5], [2, 3]])
    scores = np.array([0.99, 0.98, 0.97, 0.96, 0.6])
    result = im.cluster(6, pairs, scores, threshold=0.5, max_cluster_size=3)
    assert len(set(result.labels[:3])) == 1 and len(set(result.labels[3:])) == 1
    assert result.labels[0] != result.labels[3]
    assert result.refused.tolist() == [[2, 3]]
    assert np.bincount(result.labels).max() <= 3


def test_split_loose_clusters_cuts_a_chain_through_one_look_alike():
    # 0-1-2 linked as a chain (0-1 and 1-2 above the threshold) but 0 and 2 are strangers: average
    # linkage keeps the strong pair 0-1 and cuts 2 off; 3-4-5 agree pairwise and stay together.
    known = {(0, 1): 0.95, (1, 2): 0.8, (0, 2): 0.05, (3, 4): 0.9, (3, 5): 0.85, (4, 5): 0.9}
    found = im.cluster(7, np.array(list(known)), np.array(list(known.values())), threshold=0.7,
                       max_cluster_size=10)
    assert len(set(found.labels[:3])) == 1

    def score(pairs):
        return np.array([known[(int(a), int(b))] for a, b in pairs])

    labels, split = im.split_loose_clusters(found.labels, score, threshold=0.7)
    assert split == 1
    assert labels[0] == labels[1] != labels[2]
    assert labels[3] == labels[4] == labels[5] != labels[0]
    assert labels[6] == found.labels[6]  # a singleton is never asked about
    assert len(set(labels)) == 4


def test_merge_with_linkage_reports_the_split_and_clears_the_join_score_of_the_cut_record():
    known = {(0, 1): 0.95, (1, 2): 0.8, (0, 2): 0.05}
    result = im.merge(["a", "b", "c"], 3, np.array(list(known)), np.array(list(known.values())), threshold=0.7,
                      max_cluster_size=10, previous={},
                      pair_score=lambda pairs: np.array([known[(int(a), int(b))] for a, b in pairs]))
    assert result.loose_clusters_split == 1
    assert result.canonical_id[0] == result.canonical_id[1] != result.canonical_id[2]
    assert result.cluster_size.tolist() == [2, 2, 1]
    assert np.isnan(result.match_score[2])


def test_assign_ids_reuses_previous_ids_and_is_deterministic():
    ids = ["a", "b", "c", "d"]
    labels = np.array([0, 0, 1, 2])
    first = im.assign_ids(ids, labels, {})
    assert first[0] == first[1] and len(set(first)) == 3
    assert (im.assign_ids(ids, labels, {}) == first).all()
    # Next day: "c" joins a's cluster; the old id survives, "e" is new.
    labels2 = np.array([0, 0, 0, 2, 3])
    second = im.assign_ids(ids + ["e"], labels2, dict(zip(ids, first, strict=True)))
    assert second[0] == second[1] == second[2] == first[0]
    assert second[3] == first[3]
    assert second[4] not in set(first)


def test_assign_ids_gives_a_previous_id_to_one_cluster_only():
    previous = {"a": "u-1", "b": "u-1", "c": "u-1"}
    out = im.assign_ids(["a", "b", "c"], np.array([0, 0, 1]), previous)
    assert out[0] == out[1] == "u-1"
    assert out[2] != "u-1"


def test_survivors_most_recent_non_null_then_source_priority():
    frame = pd.DataFrame({
        "source_record_id": ["web:1", "mobile:1", "partner:1"],
        "source": ["web", "mobile", "partner"],
        "first_name": ["Jon", "John", None],
        "email": [None, "old@x", "new@x"],
        "signup_date": pd.to_datetime(["2026-01-01", "2026-01-01", "2026-01-03"]),
    })
    out = im.survivors(frame, np.array(["u", "u", "u"]), fields=["first_name", "email"],
                       recency="signup_date", source_priority=["web", "mobile", "partner"])
    assert len(out) == 1
    row = out.iloc[0]
    assert row["email"] == "new@x"          # most recent non-null
    assert row["first_name"] == "Jon"       # tie on date: web before mobile
    assert row["merged_records"] == 3


def test_keyed_pairs_long_format_matches_candidate_pairs():
    keys = pd.DataFrame({"a": ["x", "x", "y", None, "y", "z"], "b": ["p", "p", None, "p", None, "q"]})
    long_keys = np.concatenate([(name + "|" + keys[name].astype("string")).to_numpy(dtype=object)
                                for name in keys.columns])
    members = np.tile(np.arange(len(keys)), len(keys.columns))
    pairs, oversized = im.keyed_pairs(long_keys, members, max_block_size=500)
    assert pairs.tolist() == im.candidate_pairs(keys).tolist()
    assert oversized == 0
    _, oversized = im.keyed_pairs(long_keys, members, max_block_size=2)
    assert oversized == 1  # the three-member "b|p" block


def test_survivors_keeps_single_records_as_they_are_beside_merged_ones():
    frame = pd.DataFrame({
        "source_record_id": ["web:9", "web:1", "mobile:1"],
        "source": ["web", "web", "mobile"],
        "first_name": ["Ann", "Jon", "John"],
        "email": [None, "a@x", None],
        "signup_date": pd.to_datetime(["2026-01-05", "2026-01-01", "2026-01-02"]),
    })
    out = im.survivors(frame, np.array(["u-b", "u-a", "u-a"]), fields=["source_record_id", "first_name", "email"],
                       recency="signup_date", source_priority=["web", "mobile", "partner"])
    assert out["canonical_id"].tolist() == ["u-a", "u-b"]  # one row per id, sorted
    merged, single = out.iloc[0], out.iloc[1]
    assert (merged["first_name"], merged["email"], merged["merged_records"]) == ("John", "a@x", 2)
    assert (single["source_record_id"], single["first_name"], single["merged_records"]) == ("web:9", "Ann", 1)
    assert pd.isna(single["email"])  # a missing value stays missing


def test_pairs_within_blocks_counts_a_repeated_member_once_and_skips_oversized_blocks():
    codes = np.array([7, 7, 7, 3, 3, 3, 3, 5])
    members = np.array([4, 1, 4, 0, 2, 6, 8, 9])  # member 4 listed twice in block 7
    left, right, oversized = im.pairs_within_blocks(codes, members, max_block_size=3)
    assert list(zip(left.tolist(), right.tolist(), strict=True)) == [(1, 4)]
    assert oversized == 1  # block 3 has four members
    assert im.unique_pairs(np.array([2, 1, 2]), np.array([5, 3, 5])).tolist() == [[1, 3], [2, 5]]
    assert im.sorted_unique(np.array([3, 1, 3, 2])).tolist() == [1, 2, 3]


def test_compare_across_two_frames_equals_compare_within_their_concatenation():
    left = im.normalise(records([("Jon", "Smith", "j@x.com", "0123456789", "1990-02-03", "AB1", None, None, None)]))
    right = im.normalise(records([("John", "Smyth", None, "44123456789", "1990-03-02", "AB1", None, None, None),
                                  ("Smith", "Jon", "j@x.com", None, None, None, None, None, None)]))
    across = im.compare(left, np.array([[0, 0], [0, 1]]), right)
    within = im.compare(pd.concat([left, right], ignore_index=True), np.array([[0, 1], [0, 2]]))
    pd.testing.assert_frame_equal(across, within)
    assert across.loc[0, "dob_parts"] == 1.0  # day and month swapped count as agreeing
    assert across.loc[1, "names_swapped_jw"] == 1.0
