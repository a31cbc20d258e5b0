"""ID-merge normalisation: comparison-ready identifying fields and the parts blocking keys are built from."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

# The identifying fields a record may have. Our sources have the first six; FEBRL adds an
# address, a suburb and a social-security number (national_id). Missing columns are null.
FIELDS = ("first_name", "last_name", "email", "phone", "date_of_birth", "postcode",
          "address", "city", "national_id")


_SOUNDEX = str.maketrans("bfpvcgjkqsxzdtlmnr", "111122222222334556")


def _fold(text: str) -> str:
    """Lower case, accents removed (é -> e); non-Latin letters are kept as they are."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def _clean_one(value: Any) -> str | None:
    # ASCII text is its own NFKD form with nothing to drop: lower() is the fold, much cheaper.
    text = str(value)
    text = text.lower() if text.isascii() else _fold(text)
    return " ".join(text.replace("-", " ").replace("'", "").split()) or None


def _per_distinct(values: pd.Series, fn: Callable[[Any], Any]) -> pd.Series:
    """``fn`` of every non-null value, computed once per distinct value (names repeat a lot);
    null -> None. Object dtype, same index."""
    codes, uniques = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=True)
    mapped = np.empty(len(uniques) + 1, dtype=object)  # the last slot (code -1) stays None
    mapped[:len(uniques)] = [fn(v) for v in uniques]
    return pd.Series(mapped[codes], index=values.index, dtype=object)


def _clean_text(values: pd.Series) -> pd.Series:
    """Folded, whitespace-collapsed strings; empty -> None (missing is explicit)."""
    return _per_distinct(values, _clean_one)


def soundex(name: str | None) -> str | None:
    """American Soundex of the first word (``robert`` -> ``r163``); None for non-Latin/empty input."""
    if not name:
        return None
    word = "".join(ch for ch in name.split(" ")[0] if "a" <= ch <= "z")
    if not word:
        return None
    coded = word.translate(_SOUNDEX)
    out, last = [word[0]], coded[0]
    for ch, code in zip(word[1:], coded[1:], strict=True):
        if code.isdigit() and code != last:
            out.append(code)
        if ch not in "hw":
            last = code
    return ("".join(out) + "000")[:4]


def _digits(values: pd.Series) -> pd.Series:
    return values.astype("string").str.replace(r"\D", "", regex=True).replace("", pd.NA)


def _iso_date(values: pd.Series) -> pd.Series:
    """ISO date strings; FEBRL's ``19560513`` and real dates both accepted; absurd -> None."""
    text = values.astype("string").str.strip()
    compact = text.str.fullmatch(r"\d{8}", na=False)
    text = text.mask(compact, text.str[:4] + "-" + text.str[4:6] + "-" + text.str[6:8])
    parsed = pd.to_datetime(text, errors="coerce", format="ISO8601")
    ok = parsed.notna() & (parsed.dt.year >= 1900) & (parsed.dt.year <= 2100)
    return pd.Series(np.where(ok, parsed.dt.strftime("%Y-%m-%d"), None), index=values.index, dtype=object)


def normalise(records: pd.DataFrame) -> pd.DataFrame:
    """Comparison-ready columns of ``FIELDS`` plus the derived blocking parts; never raises on
    bad values (they become None) and keeps the input's row order and length."""
    out = pd.DataFrame(index=records.index)
    for name in FIELDS:
        column = records[name] if name in records.columns else pd.Series(None, index=records.index, dtype=object)
        if name == "phone" or name == "national_id":
            out[name] = _digits(column).astype(object).where(lambda s: s.notna(), None)
        elif name == "date_of_birth":
            out[name] = _iso_date(column)
        elif name == "postcode":
            out[name] = _clean_text(column).str.replace(" ", "", regex=False)
        else:
            out[name] = _clean_text(column)
    email = out["email"].where(out["email"].str.contains("@", na=False, regex=False), None)
    out["email"] = email
    out["email_local"] = _per_distinct(email, _email_local)
    phone = out["phone"]
    # The last 9 digits: national and international spellings of one number agree there.
    out["phone_tail"] = phone.str[-9:].where(phone.str.len() >= 7, None)
    out["phone"] = phone.str[-10:]
    out["first_sound"] = _per_distinct(out["first_name"], soundex)
    out["last_sound"] = _per_distinct(out["last_name"], soundex)
    first_initial, last_initial = out["first_name"].str[0], out["last_name"].str[0]
    out["initials"] = _sorted_join(first_initial, last_initial)
    out["names_sound"] = _sorted_join(out["first_sound"], out["last_sound"])
    # The house number (first token of the address): with the town, a household key.
    out["house"] = _per_distinct(out["address"], lambda address: address.split(" ")[0])
    out["street"] = _per_distinct(out["address"], _street)
    out["birth_year"] = out["date_of_birth"].str[:4]
    return out


def _email_local(email: str) -> str | None:
    """The local part without dots or +tags ("j.smith+jobs@x" and "jsmith@y" block together);
    None when shorter than 3 characters."""
    local = email.split("@")[0].replace(".", "").split("+")[0]
    return local if len(local) >= 3 else None


def _street(address: str) -> str | None:
    """The first 4 characters of the address's second token (the street name after the house
    number); None for a one-token address."""
    tokens = address.split(" ")
    return tokens[1][:4] if len(tokens) > 1 else None


def _sorted_join(a: pd.Series, b: pd.Series) -> pd.Series:
    """``a|b`` with the two in sorted order; None when either is missing."""
    a, b = a.astype("string"), b.astype("string")
    low, high = a.where(a <= b, b), b.where(a <= b, a)
    joined = low + "|" + high
    return joined.astype(object).where(joined.notna(), None)
