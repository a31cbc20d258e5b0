"""``make bench``: step timings on 100k users against plain pandas (not part of the tests)."""
