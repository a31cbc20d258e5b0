"""Deterministic edits that make a second record of the same person look different.

Each function takes the value and pre-drawn random numbers (so the caller draws them
vectorised from its own stream) and returns the edited value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from user_pipeline.datagen import vocab
from user_pipeline.datagen.people import ascii_fold

NAME_EDITS = ("none", "none", "swap", "drop", "double", "lower")
EMAIL_EDITS = ("none", "case", "dots", "domain", "new")


def edit_name(name: str, kind: str, where: float) -> str:
    """Swap two adjacent letters, drop or double one, or lower-case the whole name."""
    if not isinstance(name, str) or len(name) < 3 or kind == "none":
        return name
    i = 1 + int(where * (len(name) - 2))  # never the first letter: typos rarely hit it
    if kind == "swap" and i + 1 < len(name):
        return name[:i] + name[i + 1] + name[i] + name[i + 2:]
    if kind == "drop":
        return name[:i] + name[i + 1:]
    if kind == "double":
        return name[:i + 1] + name[i] + name[i + 1:]
    if kind == "lower":
        return name.lower()
    return name


def edit_email(email: str, kind: str, where: float, first: str, last: str) -> str:
    """Case changes, dots added or removed, another provider, or a different address altogether."""
    if not isinstance(email, str) or "@" not in email or kind == "none":
        return email
    local, domain = email.split("@", 1)
    if kind == "case":
        return ".".join(p.capitalize() for p in local.split(".")) + "@" + domain.capitalize()
    if kind == "dots":
        if "." in local:
            return local.replace(".", "", 1) + "@" + domain
        cut = max(1, int(where * len(local)))
        return local[:cut] + "." + local[cut:] + "@" + domain
    if kind == "domain":
        options = [d for d in vocab.EMAIL_DOMAINS if d != domain]
        return local + "@" + options[int(where * len(options)) % len(options)]
    if kind == "new":  # a work or older address: same person, unrelated string
        return f"{ascii_fold(first)[:1]}{ascii_fold(last)}{int(where * 90) + 10}@{vocab.EMAIL_DOMAINS[0]}"
    return email


def swap_day_month(dob: np.datetime64) -> np.datetime64:
    """The classic DD/MM vs MM/DD mix-up; only where the result is still a valid date."""
    if pd.isna(dob):
        return dob
    y, m, d = (int(p) for p in str(np.datetime64(dob, "D")).split("-"))
    if d > 12 or d == m:
        return dob
    return np.datetime64(f"{y:04d}-{d:02d}-{m:02d}", "D")


def vary_postcode(code: str, kind: int) -> str:
    """Spacing and case differences between systems."""
    if not isinstance(code, str):
        return code
    if kind == 1:
        return code.replace(" ", "")
    if kind == 2:
        return code.lower()
    return code


def apply_typos(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """The same people as ``frame``, re-typed into another system with typical differences."""
    out = frame.copy()
    n = len(out)
    first_kind = np.asarray(NAME_EDITS, dtype=object)[rng.integers(0, len(NAME_EDITS), n)]
    last_kind = np.asarray(NAME_EDITS, dtype=object)[rng.integers(0, len(NAME_EDITS), n)]
    email_kind = rng.choice(np.asarray(EMAIL_EDITS, dtype=object), n, p=[0.3, 0.25, 0.2, 0.15, 0.1])
    where = rng.random((n, 3))
    swap_dob = rng.random(n) < 0.08
    post_kind = rng.integers(0, 4, n)
    firsts, lasts = out["first_name"].tolist(), out["last_name"].tolist()
    out["first_name"] = [edit_name(v, k, w) for v, k, w in zip(firsts, first_kind, where[:, 0], strict=True)]
    out["last_name"] = [edit_name(v, k, w) for v, k, w in zip(lasts, last_kind, where[:, 1], strict=True)]
    out["email"] = [edit_email(e, k, w, f, la) for e, k, w, f, la in
                    zip(out["email"].tolist(), email_kind, where[:, 2], firsts, lasts, strict=True)]
    dob = out["date_of_birth"].to_numpy(dtype="datetime64[D]").copy()
    for i in np.flatnonzero(swap_dob):
        dob[i] = swap_day_month(dob[i])
    out["date_of_birth"] = dob
    out["postcode"] = [vary_postcode(v, k) for v, k in zip(out["postcode"].tolist(), post_kind, strict=True)]
    return out
