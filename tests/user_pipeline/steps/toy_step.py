"""The step of docs/adding-a-step.md, whole: users per country of a day's clean users.

Declaration, computation and entry point in one short file. It is light (pyarrow only), so the
DAG file that builds its task may import it at parse time.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from transforms.schema import FEATURE, IDENTIFIER, declare
from user_pipeline.steps.declare import Step
from user_pipeline.steps.harness import Job, StepContext
from user_pipeline.steps.registry import register

NAME = "tests.user_pipeline.steps.toy_step"
COUNTS = declare([("country", pa.string(), IDENTIFIER), ("users", pa.int64(), FEATURE)], key=["country"])

(STEP,) = register(Step("count_countries", NAME, "toy",
                        reads=("curated.users_clean",), writes=("toy.country_counts",)))


def compute(ctx: StepContext) -> str:
    """Count the day's users per country and commit the counts."""
    users = ctx.catalog.read_table("curated.users_clean", ctx.ds, columns=["country"])
    counts = users.group_by("country").aggregate([("country", "count")]).rename_columns(["country", "users"])
    counts = counts.sort_by("country").cast(COUNTS)
    manifest = ctx.write_table("toy.country_counts", None, counts)
    return f"{manifest.row_count} countries, {pc.sum(counts['users']).as_py()} users"


JOB = Job(NAME, compute)
run, main = JOB.run, JOB.main

if __name__ == "__main__":
    JOB.exit()
