from pathlib import Path

import user_pipeline.labels.experiment
from tests.user_pipeline.labels.helpers import SEED, commit_spam_labels
from user_pipeline.datagen import reference


def test_experiment_compares_the_three_arms_and_saves_the_table(cfg):
    commit_spam_labels(cfg, "v1", reference.spam_labels(SEED).slice(0, 2000))
    table = user_pipeline.labels.experiment.run(["--labels-version", "v1", "--repeats", "1"])
    arms = table.set_index("arm")
    assert list(arms.index) == ["(a) noisy labels", "(b) cleaned by the detector", "(c) twice as many noisy labels"]
    assert arms.loc["(c) twice as many noisy labels", "messages"] > 1.5 * arms.loc["(a) noisy labels", "messages"]
    assert arms.loc["(b) cleaned by the detector", "labels_changed"] > 0
    assert (table["roc_auc"] > 0.9).all()
    saved = Path(f"{cfg.data_root}/reports/labels/experiment_v1.md").read_text()
    assert "(b) cleaned by the detector" in saved
    assert Path(f"{cfg.data_root}/reports/labels/experiment_v1.csv").exists()
