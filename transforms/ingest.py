"""Map each source's raw drop onto the one typed schema (``schema.STAGED_USERS``).

Each source has its own format, encoding and column names (``SOURCES``). A raw file goes through
three stages, each of which turns what it cannot accept into a dead letter with the reason (never
an exception, never a silently wrong value):

1. **Bytes to text** (``check_encoding``): the file is decoded with its source's declared
   encoding, strictly (no replacement characters). A byte-order mark overrides the declaration (it
   is the file's own, unambiguous one: UTF-8, UTF-16 or UTF-32). A file that does not decode, that
   holds NUL bytes (UTF-16 without a mark), or that is valid non-ASCII UTF-8 under a declared
   single-byte encoding (which would mangle it), is dead-lettered whole: every record, with the
   reason and the encoding charset detection suggests.
2. **Text to records** (``split_records``): physical lines end at ``\\n``, ``\\r\\n`` or ``\\r``. A
   JSON-lines record is one line. A CSV record is one line, or several when a quoted field holds
   line breaks; a quoted field that never closes into a valid record (an unclosed quote, a field
   over ``csv.field_size_limit()``, 128 KiB) dead-letters its first line, and reading resumes at the
   next line, so one bad quote costs one line. Blank lines between records are not records.
   A record's line number is that of its first line. **Lines read** (the ingest accounting,
   ``lines read = ingested + dead-lettered``) counts records: a multi-line record counts once.
   The first record of a CSV file is its header; a header that repeats a column name or lacks a
   column of its source's format dead-letters the file whole (an ambiguous or incomplete header
   cannot map any row).
3. **Records to typed rows** (``parse_records``): a record is dead-lettered, with every reason
   joined, when it has the wrong number of fields, is not a JSON object (invalid JSON, a duplicate
   key, ``NaN``, nesting too deep for the parser), holds a JSON value of the wrong type (an array,
   an object, ``true``, where a string or number belongs; an id that is not a string or an
   integer), has no id, or holds a value that is not of its column's type or not representable in
   it: an integer outside int64 (``2^63``, ``1e30``, ``inf``), a date or timestamp outside what
   pandas holds in nanoseconds (1677-09-22 .. 2262-04-11; ``0001-01-01``, year 2300), a timestamp
   with trailing text. Timestamps with a UTC offset are converted to UTC; those without one are
   UTC (the sources send UTC). Values of the right type but implausible (an age of 150) are kept:
   cleaning decides about them.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date

import charset_normalizer
import numpy as np
import pandas as pd
import pyarrow as pa

from transforms.schema import DEAD_LETTER, STAGED_USERS

# (line number of its first line, raw text without its last line ending, CSV fields or None for a
# JSON line, the reason it cannot be a row or "")
Record = tuple[int, str, list[str] | None, str]


@dataclass(frozen=True)
class SourceFormat:
    """How one source writes its drop."""

    name: str
    dataset: str
    kind: str  # "csv" or "jsonl"
    delimiter: str
    id_column: str
    columns: tuple[str, ...]  # the columns (CSV header / flattened JSON keys) the source sends
    to_staged: Callable[[pd.DataFrame, date], tuple[pd.DataFrame, pd.Series]]
    encoding: str  # the declared text encoding of the drop (a Python codec name)


# -- typed parsing helpers (vectorised; each returns values and a per-row error message) -------

# What pandas holds in datetime64[ns], which every later step converts dates to.
EARLIEST = pd.Timestamp.min
LATEST = pd.Timestamp.max
FIRST_DATE = EARLIEST.ceil("D").date()
LAST_DATE = LATEST.floor("D").date()
_OUT_OF_RANGE = f"out of the representable range {FIRST_DATE}..{LAST_DATE}"

# Integers as digits, optionally with a zero fraction ("12.0": JSON writers emit whole floats).
_INTEGER = r"[+-]?[0-9]+(?:\.0*)?"
# ISO 8601 date and time to the second, optional fraction, optional UTC offset; nothing after it.
_ISO_TIMESTAMP = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:Z|[+-][0-9]{2}:?[0-9]{2})?"
_INT64 = (-(2**63), 2**63 - 1)


def _stripped(values: pd.Series) -> pd.Series:
    return values.astype("string").str.strip()


def _blank(text: pd.Series) -> pd.Series:
    return (text.isna() | (text == "")).astype(bool)


def _as_int(values: pd.Series, column: str) -> tuple[pd.Series, pd.Series]:
    """Int64 values; text that is not a whole number, or one outside int64, is an error."""
    text = _stripped(values)
    whole = text.str.fullmatch(_INTEGER).fillna(False).astype(bool)
    digits = text.where(whole)
    if digits.str.contains(".", regex=False).any():
        digits = digits.str.replace(r"\.0*$", "", regex=True)
    # Up to 18 characters always fit in int64; longer ones are compared exactly (rare, so in Python).
    long = (digits.str.len() > 18).fillna(False).astype(bool)
    too_big = pd.Series(False, index=text.index)
    if long.any():
        too_big[long] = [not _INT64[0] <= int(d) <= _INT64[1] for d in digits[long]]
    parsed = pd.to_numeric(digits.where(~too_big), errors="coerce").astype("Int64")
    bad = ~_blank(text) & parsed.isna().astype(bool)
    errors = _merge(_reason(too_big, column, "out of the int64 range", text),
                    _reason(bad & ~too_big, column, "not an integer", text))
    return parsed, errors


def _as_float(values: pd.Series, column: str) -> tuple[pd.Series, pd.Series]:
    """Finite Float64 values; anything else (text, inf, nan) is an error."""
    text = _stripped(values)
    parsed = pd.to_numeric(text, errors="coerce").astype("Float64")
    finite = parsed.notna() & np.isfinite(parsed.fillna(0.0).to_numpy(dtype=float))
    bad = ~_blank(text) & ~finite.astype(bool)
    return parsed.where(finite, None), _reason(bad, column, "not a finite number", text)


def _to_int64(values: pd.Series, column: str, text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Finite floats rounded into Int64; one outside int64 is an error."""
    as_float = values.to_numpy(dtype=float, na_value=np.nan)
    # 2**63 is exact as a float; anything rounding to it or beyond does not fit.
    fits = np.isnan(as_float) | (np.abs(np.round(as_float)) < 2.0**63)
    out = pd.Series(np.where(fits, np.round(as_float), np.nan), index=values.index).astype("Int64")
    return out, _reason(pd.Series(~fits, index=values.index), column, "out of the int64 range", text)


def _as_date(values: pd.Series, column: str, fmt: str) -> tuple[pd.Series, pd.Series]:
    text = _stripped(values)
    parsed = pd.to_datetime(text, format=fmt, errors="coerce")
    blank = _blank(text)
    wrong = ~blank & parsed.isna()
    outside = ((parsed < pd.Timestamp(FIRST_DATE)) | (parsed > pd.Timestamp(LAST_DATE))).fillna(False).astype(bool)
    ok = ~wrong & ~outside & parsed.notna()
    errors = _merge(_reason(wrong, column, f"not a date ({fmt})", text), _reason(outside, column, _OUT_OF_RANGE, text))
    return parsed.dt.date.where(ok, None), errors


def _as_timestamp(values: pd.Series, column: str) -> tuple[pd.Series, pd.Series]:
    """UTC timestamps to the second from ISO 8601 text (an offset is applied; none means UTC)."""
    text = _stripped(values)
    shaped = text.str.fullmatch(_ISO_TIMESTAMP).fillna(False).astype(bool)
    # To the second: without the fraction, pandas parses at a resolution that holds every year,
    # so a date outside the range is reported as such whatever else is in the batch.
    seconds = text.where(shaped).str.replace(r"(T[0-9]{2}:[0-9]{2}:[0-9]{2})\.[0-9]+", r"\1", regex=True)
    parsed = pd.to_datetime(seconds, format="ISO8601", errors="coerce", utc=True)
    blank = _blank(text)
    wrong = ~blank & parsed.isna()
    outside = ((parsed < EARLIEST.tz_localize("UTC")) | (parsed > LATEST.tz_localize("UTC"))).fillna(False)
    outside = outside.astype(bool)
    ok = ~wrong & ~outside
    errors = _merge(_reason(wrong, column, "not an ISO 8601 timestamp", text),
                    _reason(outside, column, _OUT_OF_RANGE, text))
    return parsed.where(ok), errors


def _epoch_ms(values: pd.Series, column: str) -> tuple[pd.Series, pd.Series]:
    """UTC timestamps to the second from epoch milliseconds."""
    epoch, errors = _as_int(values, column)
    stamps = pd.to_datetime(epoch, unit="ms", errors="coerce", utc=True)
    outside = (epoch.notna() & stamps.isna()).astype(bool)
    errors = _merge(errors, _reason(outside, column, _OUT_OF_RANGE, _stripped(values)))
    return stamps.dt.floor("s"), errors


def _reason(bad: pd.Series, column: str, what: str, text: pd.Series) -> pd.Series:
    out = pd.Series("", index=bad.index, dtype="string")
    if bad.any():
        out[bad] = column + ": " + what + ": '" + text[bad].fillna("").str.slice(0, 40) + "'"
    return out


def _merge(first: pd.Series, second: pd.Series) -> pd.Series:
    """Per row, the first error message, else the second."""
    return first.where(first != "", second)


def _text(values: pd.Series) -> pd.Series:
    text = _stripped(values)
    return text.where(text != "", None)


def _days_before(ds: date, dates: pd.Series) -> pd.Series:
    stamps = pd.to_datetime(dates, errors="coerce")
    return (pd.Timestamp(ds) - stamps).dt.days.astype("Int64")


def _join_reasons(parts: Sequence[pd.Series], index: pd.Index) -> pd.Series:
    joined = pd.Series("", index=index, dtype="string")
    for part in parts:
        has = part != ""
        joined = joined.where(~has, joined.where(joined == "", joined + "; ") + part)
    return joined


# -- per-source mappings ---------------------------------------------------------------------

_PARTNER_EMPLOYMENT = {"E": "employed", "U": "unemployed", "S": "student", "F": "self_employed",
                       "R": "retired"}


def _web_to_staged(raw: pd.DataFrame, ds: date) -> tuple[pd.DataFrame, pd.Series]:
    errors = []
    out = pd.DataFrame(index=raw.index)
    out["source_record_id"] = "web:" + raw["user_id"].astype("string").str.strip()
    for target, column in [("first_name", "first_name"), ("last_name", "last_name"), ("email", "email"),
                           ("phone", "phone"), ("country", "country"), ("postcode", "zip"),
                           ("signup_channel", "channel"), ("employment_status", "employment"),
                           ("profile_text", "about")]:
        out[target] = _text(raw[column])
    out["date_of_birth"], err = _as_date(raw["birth_date"], "birth_date", "%Y-%m-%d")
    errors.append(err)
    signup, err = _as_timestamp(raw["signup_ts"], "signup_ts")
    out["signup_ts"] = signup
    out["signup_date"] = signup.dt.date.where(signup.notna(), None)
    errors.append(err)
    for target, column in [("tenure_months", "tenure_months"), ("job_page_views_7d", "job_views_7d"),
                           ("applications_30d", "applications_30d"),
                           ("resume_updated_days_ago", "resume_updated_days"),
                           ("last_login_days_ago", "last_login_days")]:
        out[target], err = _as_int(raw[column], column)
        errors.append(err)
    return out, _join_reasons(errors, raw.index)


def _mobile_to_staged(raw: pd.DataFrame, ds: date) -> tuple[pd.DataFrame, pd.Series]:
    errors = []
    out = pd.DataFrame(index=raw.index)
    out["source_record_id"] = "mobile:" + raw["uid"].astype("string").str.strip()
    for target, column in [("first_name", "name.given"), ("last_name", "name.family"),
                           ("email", "contact.email"), ("phone", "contact.mobile"),
                           ("country", "country_code"), ("postcode", "postal_code"),
                           ("signup_channel", "channel"), ("employment_status", "employment_status"),
                           ("profile_text", "bio")]:
        out[target] = _text(raw[column])
    out["date_of_birth"], err = _as_date(raw["dob"], "dob", "%d/%m/%Y")
    errors.append(err)
    signup, err = _epoch_ms(raw["signup_epoch_ms"], "signup_epoch_ms")
    errors.append(err)
    out["signup_ts"] = signup
    out["signup_date"] = signup.dt.date.where(signup.notna(), None)
    tenure_years, err = _as_float(raw["tenure_years"], "tenure_years")
    errors.append(err)
    out["tenure_months"], err = _to_int64(tenure_years * 12, "tenure_years", _stripped(raw["tenure_years"]))
    errors.append(err)
    for target, column in [("job_page_views_7d", "activity.job_views_7d"),
                           ("applications_30d", "activity.applications_30d"),
                           ("resume_updated_days_ago", "activity.resume_age_days"),
                           ("last_login_days_ago", "activity.last_seen_days")]:
        out[target], err = _as_int(raw[column], column)
        errors.append(err)
    return out, _join_reasons(errors, raw.index)


def _partner_to_staged(raw: pd.DataFrame, ds: date) -> tuple[pd.DataFrame, pd.Series]:
    errors = []
    out = pd.DataFrame(index=raw.index)
    out["source_record_id"] = "partner:" + raw["PARTNER_REF"].astype("string").str.strip()
    # "Last, First"; a name without a comma is kept whole as the last name.
    names = raw["FULL_NAME"].astype("string").str.split(",", n=1, expand=True).reindex(columns=[0, 1])
    has_comma = names[1].notna()
    out["last_name"] = _text(names[0])
    out["first_name"] = _text(names[1].where(has_comma, None))
    for target, column in [("email", "EMAIL_ADDR"), ("phone", "TEL"), ("country", "COUNTRY"),
                           ("postcode", "POSTCODE"), ("profile_text", "NOTES")]:
        out[target] = _text(raw[column])
    out["signup_channel"] = "partner"
    code = raw["EMP_STATUS"].astype("string").str.strip().str.upper()
    # Unknown codes are kept as sent: cleaning flags values outside the vocabulary.
    out["employment_status"] = _text(code.map(_PARTNER_EMPLOYMENT).fillna(code))
    out["date_of_birth"], err = _as_date(raw["DOB"], "DOB", "%Y%m%d")
    errors.append(err)
    out["signup_date"], err = _as_date(raw["REGISTERED"], "REGISTERED", "%Y-%m-%d")
    out["signup_ts"] = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns, UTC]")  # a date only
    errors.append(err)
    for target, column in [("tenure_months", "TENURE_M"), ("job_page_views_7d", "VIEWS7"),
                           ("applications_30d", "APPS30")]:
        out[target], err = _as_int(raw[column], column)
        errors.append(err)
    for target, column in [("resume_updated_days_ago", "CV_UPDATED"), ("last_login_days_ago", "LAST_ACTIVE")]:
        parsed, err = _as_date(raw[column], column, "%Y-%m-%d")
        out[target] = _days_before(ds, parsed)
        errors.append(err)
    return out, _join_reasons(errors, raw.index)


SOURCES: dict[str, SourceFormat] = {
    "web": SourceFormat(
        "web", "raw.users_web", "csv", ",", "user_id",
        ("user_id", "first_name", "last_name", "email", "phone", "birth_date", "country", "zip",
         "signup_ts", "channel", "employment", "tenure_months", "job_views_7d", "applications_30d",
         "resume_updated_days", "last_login_days", "about"),
        _web_to_staged, encoding="utf-8",
    ),
    "mobile": SourceFormat(
        "mobile", "raw.users_mobile", "jsonl", "", "uid",
        ("uid", "name.given", "name.family", "contact.email", "contact.mobile", "dob", "country_code",
         "postal_code", "signup_epoch_ms", "channel", "employment_status", "tenure_years",
         "activity.job_views_7d", "activity.applications_30d", "activity.resume_age_days",
         "activity.last_seen_days", "bio"),
        _mobile_to_staged, encoding="utf-8",
    ),
    "partner": SourceFormat(
        "partner", "raw.users_partner", "csv", ";", "PARTNER_REF",
        ("PARTNER_REF", "FULL_NAME", "EMAIL_ADDR", "TEL", "DOB", "COUNTRY", "POSTCODE", "REGISTERED",
         "EMP_STATUS", "TENURE_M", "VIEWS7", "APPS30", "CV_UPDATED", "LAST_ACTIVE", "NOTES"),
        _partner_to_staged, encoding="utf-8",
    ),
}


def source_of(dataset: str) -> SourceFormat | None:
    """The source whose raw drops ``dataset`` holds (``raw.users_partner``), or None."""
    return next((fmt for fmt in SOURCES.values() if fmt.dataset == dataset), None)


def drop_file_check(fmt: SourceFormat, data: bytes) -> tuple[int, str]:
    """(records after the header, why ingest could map none of them or "") of one file of a drop,
    read as ingest reads it: decoded strictly in the source's declared encoding
    (``check_encoding``), its header checked against the source's format (``read_header``), its
    records split (``split_records``). Records are counted, not parsed: a record ingest would
    dead-letter still counts."""
    decoding = check_encoding(fmt.encoding, [data])
    if decoding.problem:
        return 0, decoding.problem
    with io.TextIOWrapper(io.BytesIO(data), encoding=decoding.encoding, newline="") as text:
        _, problem, records = records_of(fmt, text)
        return (0, problem) if problem else (sum(1 for _ in records), "")


# -- bytes to text -----------------------------------------------------------------------------

# A byte-order mark is the file's own declaration of its encoding; the longer marks first (the
# UTF-32 little-endian mark begins with the UTF-16 one).
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_WIDE = ("utf-16", "utf-32")


@dataclass(frozen=True)
class Decoding:
    """How a file's bytes become text: the codec to read it with, and why it cannot be ("" if it can)."""

    encoding: str
    problem: str = ""


def check_encoding(declared: str, chunks: Iterable[bytes]) -> Decoding:
    """Decide how a file is read as text by decoding all of it strictly (``chunks``: its bytes, in
    order; every chunk is consumed, so a caller may hash them on the way).

    A byte-order mark wins over ``declared``. The problem names the first byte that does not
    decode and the encoding charset detection suggests; a declared single-byte encoding (cp1252,
    latin-1) decodes any bytes, so a file whose non-ASCII bytes are all valid UTF-8 is taken for a
    wrong declaration (genuine cp1252 text is practically never valid UTF-8).
    """
    chunks = iter(chunks)
    head = b""
    for chunk in chunks:  # enough bytes to see a byte-order mark
        head += chunk
        if len(head) >= 4:
            break
    encoding = next((name for bom, name in _BOMS if head.startswith(bom)), None)
    marked = encoding is not None
    if encoding is None:
        encoding = "utf-8-sig" if codecs.lookup(declared).name == "utf-8" else declared
        if codecs.lookup(encoding).name in _WIDE:
            # A declared UTF-16/32 without its mark is big-endian (RFC 2781); Python's codec
            # would refuse the whole stream instead.
            encoding = f"{codecs.lookup(encoding).name}-be"
    codec = codecs.lookup(encoding).name
    label = f"{codec.removesuffix('-sig')}{' (by its byte-order mark)' if marked else ''}"
    wide = codec.startswith(_WIDE)
    # A non-Unicode encoding (cp1252, latin-1) decodes nearly any bytes: a UTF-8 file would pass.
    legacy = not wide and codec not in ("utf-8", "utf-8-sig")
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    as_utf8 = codecs.getincrementaldecoder("utf-8")("strict") if legacy else None
    lines, non_ascii, problem = 0, False, ""
    for chunk in _chain(head, chunks):
        if problem:
            continue  # keep consuming: the caller hashes every byte
        if not wide and b"\x00" in chunk:
            at = chunk.index(b"\x00")
            problem = (f"not {label} text: a NUL byte at line {lines + _line_count(chunk[:at], encoding) + 1} "
                       f"(UTF-16 or UTF-32 without a byte-order mark?){_suggestion(chunk)}")
            continue
        try:
            text = decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            line = lines + _line_count(chunk[: exc.start], encoding) + 1
            problem = (f"not {label} text: byte 0x{chunk[exc.start]:02x} at line {line} does not decode "
                       f"({exc.reason}){_suggestion(chunk)}")
            continue
        lines += text.count("\n") + text.count("\r") - text.count("\r\n")
        if as_utf8 is not None:
            non_ascii = non_ascii or not chunk.isascii()
            try:
                as_utf8.decode(chunk)
            except UnicodeDecodeError:
                as_utf8 = None
    if not problem:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            problem = f"not {label} text: the file ends inside a character ({exc.reason})"
    if not problem and as_utf8 is not None and non_ascii:
        try:
            as_utf8.decode(b"", final=True)
            problem = (f"declared {label}, but the file is UTF-8: its non-ASCII bytes are valid UTF-8, "
                       f"which {label} would turn into other characters")
        except UnicodeDecodeError:
            pass
    return Decoding(encoding, problem)


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def _line_count(prefix: bytes, encoding: str) -> int:
    text = prefix.decode(encoding, errors="ignore")
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def _suggestion(sample: bytes) -> str:
    best = charset_normalizer.from_bytes(sample[:1_000_000]).best()
    return f"; charset detection guesses {best.encoding}" if best is not None else ""


# -- text to records ---------------------------------------------------------------------------


def split_records(fmt: SourceFormat, lines: Iterable[str]) -> Iterator[Record]:
    """Records of a file from its physical lines, each with its line ending (what
    ``io.TextIOWrapper(..., newline="")`` yields). For CSV, the first record is the header."""
    numbered = enumerate(lines, start=1)
    if fmt.kind == "csv":
        yield from _csv_records(fmt, numbered)
        return
    for number, text in numbered:
        text = text.rstrip("\r\n")
        if text.strip():
            yield number, text, None, ""


class _Lines:
    """The numbered lines a ``csv.reader`` pulls, remembering which ones make the current record;
    lines pushed back are read again (after a quoted field that did not close)."""

    def __init__(self, numbered: Iterator[tuple[int, str]]):
        self.numbered = numbered
        self.pending: deque[tuple[int, str]] = deque()
        self.taken: list[tuple[int, str]] = []

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        item = self.pending.popleft() if self.pending else next(self.numbered)
        self.taken.append(item)
        return item[1]


def _csv_records(fmt: SourceFormat, numbered: Iterator[tuple[int, str]]) -> Iterator[Record]:
    lines = _Lines(numbered)
    # strict: a quote in the wrong place is an error, not silently part of a value.
    reader = csv.reader(lines, delimiter=fmt.delimiter, strict=True)
    width = None  # the header's, once read
    limit = csv.field_size_limit()
    while True:
        item = lines.pending.popleft() if lines.pending else next(numbered, None)
        if item is None:
            return
        number, text = item
        if '"' not in text and len(text) <= limit:
            # Without a quote a line is one record and its fields are what lies between the
            # delimiters (what csv.reader would return, several times faster; a line that could
            # hold a field over the limit goes to csv.reader, which refuses it).
            if text.strip():
                fields = text.rstrip("\r\n").split(fmt.delimiter)
                width = len(fields) if width is None else width
                yield number, text.rstrip("\r\n"), fields, ""
            continue
        # A quoted field may run on over the next lines: csv.reader pulls them through ``lines``.
        lines.pending.appendleft(item)
        lines.taken = []
        try:
            fields, error = next(reader), ""
        except csv.Error as exc:
            fields, error = None, str(exc)
        taken = lines.taken
        if len(taken) > 1 and (error or (width is not None and len(fields) != width)):
            # A quote opened on the first line runs on into lines that do not close into a valid
            # record: only that line is lost; the next ones are read again as records of their own.
            found = error or f"{len(fields)} fields where {width} are expected"
            lines.pending.extendleft(reversed(taken[1:]))
            yield number, text.rstrip("\r\n"), None, (
                f"malformed CSV: the quoted field opened on this line does not close into a valid record "
                f"({found}, lines {number}-{taken[-1][0]})")
            continue
        raw = "".join(t for _, t in taken).rstrip("\r\n")
        if error:
            if error == "unexpected end of data":
                error = "unclosed quote at the end of the file"
            yield number, raw, None, f"malformed CSV: {error}"
            continue
        width = len(fields) if width is None else width
        yield number, raw, fields, ""


def records_of(fmt: SourceFormat, lines: Iterable[str]) -> tuple[list[str], str, Iterator[Record]]:
    """(header, why the file's rows cannot be mapped or "", its records after the header) of a
    file's physical lines (``split_records``); the header is read at once, the records lazily."""
    records = split_records(fmt, lines)
    header, problem = read_header(fmt, next(records, None) if fmt.kind == "csv" else None)
    return header, problem, records


def read_header(fmt: SourceFormat, first: Record | None) -> tuple[list[str], str]:
    """(column names, why the file's rows cannot be mapped or "") from a file's first record.

    JSON lines carry their names in every record. A CSV header that cannot be read, or that
    ``header_problem`` finds fault with, makes every record of the file a dead letter.
    """
    if fmt.kind != "csv":
        return list(fmt.columns), ""
    if first is None:
        return [], ""
    _, _, fields, error = first
    if error:
        return [], f"unreadable header: {error}"
    header = [c.strip() for c in fields or []]
    return header, header_problem(fmt, header)


def header_problem(fmt: SourceFormat, header: Sequence[str]) -> str:
    """Why no row under this CSV header can be mapped, or "": it repeats a name (which of the
    two columns would be meant?) or lacks a column of the source's format."""
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        return f"file header repeats column(s) {repeated}"
    missing = [c for c in fmt.columns if c not in header]
    if missing:
        return f"file header lacks column(s) {missing} of the {fmt.name} format"
    return ""


# -- JSON values ---------------------------------------------------------------------------------


class _DuplicateKey(ValueError):
    pass


def _object(pairs: list[tuple[str, object]]) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        raise _DuplicateKey(next(k for k, _ in pairs if k in seen or seen.add(k)))
    return obj


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is out of range")
    return value


# One decoder for every line (json.loads with hooks builds a new one per call).
_JSON = json.JSONDecoder(object_pairs_hook=_object, parse_constant=_no_constant, parse_float=_finite)


def load_json(text: str) -> tuple[dict | None, str]:
    """A JSON line as an object, or None and why it is not one."""
    try:
        value = _JSON.decode(text)
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc.msg} at column {exc.colno}"
    except _DuplicateKey as exc:
        return None, f"duplicate JSON key {exc.args[0]!r}"
    except RecursionError:
        return None, "invalid JSON: nested too deeply"
    except ValueError as exc:  # NaN / Infinity, 1e400, an integer of more than 4300 digits
        return None, f"invalid JSON: {exc}"
    if not isinstance(value, dict):
        return None, f"JSON value is {_json_type(value)}, not an object"
    return value, ""


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return {dict: "an object", list: "an array", str: "a string"}.get(type(value), type(value).__name__)


JsonPaths = list[tuple[tuple[str, ...], list[tuple[str, str]]]]


def json_paths(fmt: SourceFormat) -> JsonPaths:
    """A JSON source's columns grouped by the object they lie in: (the keys leading to the object,
    [(column, its key in the object), ...]), so each object is looked up once per record."""
    groups: dict[tuple[str, ...], list[tuple[str, str]]] = {}
    for column in fmt.columns:
        *parents, key = column.split(".")
        groups.setdefault(tuple(parents), []).append((column, key))
    return list(groups.items())


def flatten(fmt: SourceFormat, obj: dict, paths: JsonPaths | None = None) -> tuple[list[str | None], str]:
    """The values of ``fmt.columns`` (dotted paths) in a JSON object as text, in ``fmt.columns``
    order, or why not (``paths``: ``json_paths(fmt)``, computed once per batch).

    A missing key or null is a missing value; a string is kept; a number becomes its JSON text
    (the column's parser checks it); a boolean, array or object where a value belongs, an object
    path through a non-object, an id that is not a string or an integer, or a string that is not
    valid Unicode (a lone surrogate from a ``\\ud800`` escape) is an error.
    """
    found: dict[str, str | None] = {}
    errors: list[str] = []
    for parents, columns in paths or json_paths(fmt):
        node = obj
        for depth, parent in enumerate(parents):
            node = node.get(parent)
            if node is None:
                break
            if type(node) is not dict:
                errors.append(f"{'.'.join(parents[: depth + 1])}: expected an object, got {_json_type(node)}")
                node = None
                break
        for column, key in columns:
            value = None if node is None else node.get(key)
            kind = type(value)  # exactly: a bool is not an int here
            if kind is str:
                if not value.isascii() and not _valid_unicode(value):
                    errors.append(f"{column}: not valid Unicode (a lone surrogate)")
                found[column] = value
            elif value is None:
                found[column] = None
            elif kind is int:
                found[column] = str(value)
            elif kind is float and column != fmt.id_column:
                found[column] = repr(value)
            elif kind is float:
                errors.append(f"{column}: expected a string or an integer, got {value!r}")
            else:
                errors.append(f"{column}: expected a string or a number, got {_json_type(value)}")
    return [found.get(column) for column in fmt.columns], "; ".join(errors)


def _valid_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# -- records to typed rows -----------------------------------------------------------------------


def parse_records(
    fmt: SourceFormat,
    header: list[str],
    records: Sequence[Record],
    *,
    ds: str,
    run_id: str,
    source_file: str,
    problem: str = "",
) -> tuple[pa.Table, pa.Table]:
    """Parse a batch of one source's records into (staged users, dead letters).

    ``problem``: why the whole file cannot be read (its encoding, its header); then every record
    is a dead letter with that reason. Every record ends in exactly one of the two tables.
    """
    day = date.fromisoformat(ds)
    if not problem and fmt.kind == "csv":
        problem = header_problem(fmt, header)
    if problem:
        return _empty_users(), _dead(fmt, source_file, [(n, t, problem) for n, t, _, _ in records], ds, run_id)

    bad = [(n, t, r) for n, t, _, r in records if r]
    good = [rec for rec in records if not rec[3]]
    if fmt.kind == "csv":
        frame, kept, more = _csv_frame(header, good)
    else:
        frame, kept, more = _json_frame(fmt, good)
    bad += more
    if kept:
        staged, reasons = fmt.to_staged(frame, day)
        no_id = _blank(_stripped(frame[fmt.id_column]))
        reasons = reasons.where(~no_id, f"missing {fmt.id_column}")
        rejected = (reasons != "").to_numpy(dtype=bool)
        for i in np.flatnonzero(rejected):
            bad.append((kept[i][0], kept[i][1], str(reasons.iloc[i])))
        staged = staged.loc[~rejected].copy()
        staged["source"] = fmt.name
        staged["ds"] = ds
        staged["ingest_run_id"] = run_id
        users = _users_table(staged)
    else:
        users = _empty_users()
    bad.sort(key=lambda b: b[0])
    return users, _dead(fmt, source_file, bad, ds, run_id)


def _csv_frame(header: list[str], records: Sequence[Record]):
    rows, kept, bad = [], [], []
    width = len(header)
    for number, text, fields, _ in records:
        if len(fields) != width:
            bad.append((number, text, f"expected {width} fields, found {len(fields)}"))
        elif not text.isascii() and not _valid_unicode(text):
            bad.append((number, text, "not valid Unicode (a lone surrogate)"))
        else:
            rows.append(fields)
            kept.append((number, text))
    return pd.DataFrame(rows, columns=header, dtype="string"), kept, bad


def _json_frame(fmt: SourceFormat, records: Sequence[Record]):
    rows, kept, bad = [], [], []
    paths = json_paths(fmt)
    for number, text, _, _ in records:
        obj, error = load_json(text)
        if obj is not None:
            values, error = flatten(fmt, obj, paths)
        if error:
            bad.append((number, text, error))
        else:
            rows.append(values)
            kept.append((number, text))
    return pd.DataFrame(rows, columns=list(fmt.columns), dtype="string"), kept, bad


def _users_table(frame: pd.DataFrame) -> pa.Table:
    frame = frame.reindex(columns=STAGED_USERS.names)
    return pa.Table.from_pandas(frame, schema=STAGED_USERS, preserve_index=False)


def _empty_users() -> pa.Table:
    return STAGED_USERS.empty_table()


def _dead(fmt: SourceFormat, source_file: str, bad, ds: str, run_id: str) -> pa.Table:
    return pa.table(
        {
            "source": [fmt.name] * len(bad),
            "source_file": [source_file] * len(bad),
            "line_number": [n for n, _, _ in bad],
            # Text decoded from a file is valid Unicode; a lone surrogate (only in text handed in
            # otherwise) is kept as its escape rather than failing the batch.
            "raw": [t if t.isascii() or _valid_unicode(t) else t.encode("utf-8", "backslashreplace").decode()
                    for _, t, _ in bad],
            "reason": [r for _, _, r in bad],
            "ds": [ds] * len(bad),
            "run_id": [run_id] * len(bad),
        },
        schema=DEAD_LETTER,
    )
