"""Great Expectations suites and the gate (DESIGN §5); built in a later issue."""
