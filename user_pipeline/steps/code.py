"""A step's code version: the source of what its job module imports, plus its config sections.

Which files count is read from the job's own imports (statically, so nothing heavy is imported),
followed transitively through the project's step-logic and job packages. The core that moves
data without changing it (``lineage``, ``user_pipeline.config``, ``user_pipeline.steps``) and
orchestration are not followed: editing how a manifest is written or a task is launched does not
change any output, so it must not make every partition look stale (docs/datasets-and-versions.md).
"""

from __future__ import annotations

import ast
import hashlib
import json
from functools import lru_cache
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from user_pipeline.config import PipelineConfig
from user_pipeline.steps.declare import Step

# Packages whose modules can change what a step computes.
FOLLOWED = ("transforms", "beam_jobs", "expectations", "user_pipeline")
NOT_FOLLOWED = ("user_pipeline.config", "user_pipeline.steps", "user_pipeline.runner")


def _followed(module: str, own: str = "") -> bool:
    """Whether ``module`` can change a step's output: step logic, jobs, and the job's own package
    (a deployment's step outside this project follows its own helpers)."""
    top = module.split(".", 1)[0]
    return top in (*FOLLOWED, own) and not any(module == n or module.startswith(n + ".") for n in NOT_FOLLOWED)


@lru_cache(maxsize=8)
def _package_dir(top: str) -> Path | None:
    spec = find_spec(top)  # imports only the top-level package's __init__ (light by design)
    return Path(spec.origin).parent if spec is not None and spec.origin else None


def _source_file(module: str) -> Path | None:
    """The file of a project module, found on disk: nothing is imported (a job's imports may be
    TensorFlow), and a name imported from a module (``from m import f``) is not a module."""
    top, _, rest = module.partition(".")
    base = _package_dir(top)
    if base is None:
        return None
    path = base.joinpath(*rest.split(".")) if rest else base
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(module: str, path: Path, own: str) -> set[str]:
    """Project modules ``path`` imports anywhere in its body (``from pkg import name`` counts
    ``pkg.name`` when that is a module, else ``pkg``)."""
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {m for m in found if _followed(m, own) and _source_file(m) is not None}


@lru_cache(maxsize=64)
def source_files(job: str) -> tuple[Path, ...]:
    """The job module's file and every project file it imports, transitively (sorted)."""
    seen: dict[str, Path] = {}
    own = job.split(".", 1)[0]
    todo = [job]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        path = _source_file(module)
        if path is None:
            raise ModuleNotFoundError(f"step job {module!r} has no Python source")
        seen[module] = path
        todo.extend(_imports(module, path, own) - seen.keys())
        # A package's modules are imported through its __init__: count the __init__ too.
        parent = module.rpartition(".")[0]
        if parent and _followed(parent, own) and parent not in seen:
            todo.append(parent)
    return tuple(sorted(set(seen.values())))


def config_part(cfg: PipelineConfig, paths: tuple[str, ...]) -> dict[str, Any]:
    """The named config sections (``a.b``), without the excluded parts (``!a.b.c``)."""
    dumped = cfg.model_dump(mode="json")
    chosen: dict[str, Any] = {}
    for path in paths:
        if path.startswith("!"):
            continue
        value: Any = dumped
        for key in path.split("."):
            value = value[key]
        chosen[path] = value
    for path in paths:
        if not path.startswith("!"):
            continue
        *parents, leaf = path[1:].split(".")
        for named, value in chosen.items():
            prefix = named.split(".")
            if parents[: len(prefix)] == prefix:
                target = value
                for key in parents[len(prefix):]:
                    target = target[key]
                target.pop(leaf, None)
    return chosen


def step_code_version(step: Step, cfg: PipelineConfig) -> str:
    """Hash of the sources ``step.job`` imports (names relative to the project) and its config."""
    digest = hashlib.sha256()
    for path in source_files(step.job):
        digest.update(_relative(path).encode())
        digest.update(path.read_bytes())
    digest.update(json.dumps(config_part(cfg, step.config), sort_keys=True, default=str).encode())
    for library in step.libraries:
        digest.update(f"{library}=={metadata.version(library)}".encode())
    return digest.hexdigest()[:16]


def _relative(path: Path) -> str:
    # Relative names: the same code checked out elsewhere has the same version.
    parts = path.parts
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] in FOLLOWED:
            return "/".join(parts[i:])
    return path.name
