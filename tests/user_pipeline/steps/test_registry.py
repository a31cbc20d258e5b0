"""The step registry is consistent with the config, the job modules and the DAG files.

These check the project's own declarations (``registry.STEPS``): a step another test registers
(the toy of docs/adding-a-step.md) brings its own dataset and config."""

from __future__ import annotations

import ast

import pytest

from user_pipeline.steps import registry
from user_pipeline.steps.code import _source_file, config_part, step_code_version
from user_pipeline.steps.declare import Step


def test_every_step_names_datasets_of_the_config_and_steps_of_its_own_dag(cfg):
    for step in registry.STEPS:
        for dataset in (*step.reads, *step.writes, *step.outlets, *([step.dataset] if step.dataset else [])):
            cfg.dataset(dataset)  # raises for an unknown dataset
        names = {s.name for s in registry.STEPS if s.dag == step.dag}
        assert set(step.after) <= names, (step.name, set(step.after) - names)
        assert bool(step.version_flag) == bool(step.version_pin), step.name
        config_part(cfg, step.config)  # every config path exists
        if step.version_pin:
            config_part(cfg, (step.version_pin,))


def test_step_names_are_unique_per_dag_and_each_dataset_has_one_writing_step():
    keys = [(s.dag, s.name) for s in registry.STEPS]
    assert len(keys) == len(set(keys))
    for dataset in {d for s in registry.STEPS for d in s.writes} - set(registry.upstream_datasets()):
        registry.writer_of(dataset)


def test_upstream_datasets_are_what_the_pipeline_reads_and_never_computes_each_with_its_fix_dag():
    assert registry.upstream_datasets() == ["raw.job_outcomes", "raw.users_mobile", "raw.users_partner",
                                            "raw.users_web", "reference.id_pairs", "reference.spam_label_spec",
                                            "reference.spam_labels"]
    fixes = {s.dag: s for s in registry.STEPS if s.job == registry.FIX_JOB}
    assert sorted(fixes) == [registry.fix_dag(d) for d in registry.upstream_datasets()]
    assert fixes["fix_reference_id_pairs"].outlets == ("reference.id_pairs",)
    with pytest.raises(KeyError, match="no step"):
        registry.writer_of("raw.users_partner")


def test_every_job_module_declares_the_harness_job_of_its_own_name():
    for job in {s.job for s in registry.STEPS}:
        path = _source_file(job)
        assert path is not None, job
        tree = ast.parse(path.read_text())
        names = {t.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                 for t in node.targets if isinstance(t, ast.Name)}
        assert "JOB" in names and "NAME" in names, job
        assert ast.literal_eval(names["NAME"]) == job


def test_code_versions_change_with_the_config_sections_a_step_declares_and_no_other(cfg):
    clean = registry.step("clean")
    before = step_code_version(clean, cfg)
    assert step_code_version(clean, cfg.model_copy(update={"train": cfg.train.model_copy(update={"epochs": 99})})) \
        == before
    changed = cfg.model_copy(update={"clean": cfg.clean.model_copy(update={"min_age": cfg.clean.min_age + 1})})
    assert step_code_version(clean, changed) != before


def test_excluded_parts_of_a_config_section_do_not_count(cfg):
    part = config_part(cfg, registry.step("id_merge").config)
    assert "model" not in part["id_merge"] and "pairs_version" not in part["id_merge"]
    assert "threshold" in part["id_merge"]


def test_a_second_declaration_under_the_same_name_is_refused():
    clean = registry.step("clean")
    registry.register(clean)  # the same declaration: a no-op
    with pytest.raises(ValueError, match="declared twice"):
        registry.register(Step("clean", "beam_jobs.other", registry.DAILY))
