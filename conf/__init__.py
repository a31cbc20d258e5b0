"""The one pipeline configuration (DESIGN §9): ``from conf import load_config``."""

from conf.config import DatasetSpec, PipelineConfig, load_config

__all__ = ["DatasetSpec", "PipelineConfig", "load_config"]
