"""The code the stacks deploy: the transform Lambda's zip and the repository's container images.

- The transform zip holds only `firehose_transform` and the repository modules it imports (found by reading the
  import statements with `ast`, never by importing them): stdlib-only Python, a few dozen KB.
- The images are built from the repository's root Dockerfile (targets `runtime` for the streamer, `lambda` for the
  merge/load/record-position Lambdas) when the config names no ECR image. At synth, CDK only copies the build
  context into the cloud assembly and hashes it; Docker runs at `cdk deploy` time. `DOCKER_EXCLUDES` keeps the
  virtualenv, caches, build output and the assembly itself out of the context.
"""

from __future__ import annotations

import ast
import shutil
import typing
from pathlib import Path

from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from .config import EcrImage
from .names import LAMBDA_TARGET, RUNTIME_TARGET, TRANSFORM_PACKAGE

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCAL_PACKAGES = frozenset({"firehose_transform", "cdc_lake", "cdc_streamer"})
DOCKER_EXCLUDES: tuple[str, ...] = (
    ".git",
    ".venv",
    "venv",
    "build",
    "dist",
    "cdk.out",
    ".demo",
    "node_modules",
    "**/__pycache__",
    "**/*.pyc",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    "*.egg-info",
    "infra",  # the image never runs the CDK app; editing it must not change the images' hash
)
PLATFORM = ecr_assets.Platform.LINUX_AMD64  # Fargate and the Lambdas run x86_64, whatever machine builds


def module_file(root: Path, module: str) -> Path | None:
    """The source file of `module` under `root` (a package's `__init__.py`), or None when it is not there."""
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path, module: str) -> set[str]:
    """Absolute names of the modules `path` (module `module`) imports, at any depth of the file."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base_parts = parts[: len(parts) - node.level + 1]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return found


def local_closure(root: Path, entry: str) -> list[Path]:
    """The files of `entry` and of every repository module it imports, transitively, plus their packages'
    `__init__.py` files; relative to `root`, sorted. Imports of other top-level packages (stdlib, boto3) are
    left to the runtime."""
    seen: set[str] = set()
    files: set[Path] = set()
    pending = [entry]
    while pending:
        module = pending.pop()
        if module in seen or module.split(".")[0] not in LOCAL_PACKAGES:
            continue
        seen.add(module)
        path = module_file(root, module)
        if path is None:
            continue  # `from pkg import name` where name is not a module
        files.add(path)
        parts = module.split(".")
        pending.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # parent packages
        pending.extend(_imports(path, module))
    return sorted(path.relative_to(root) for path in files)


def stage_transform(destination: Path, root: Path = REPO_ROOT) -> Path:
    """Copy the transform Lambda's code into `destination` (emptied first); returns `destination`."""
    files = local_closure(root, f"{TRANSFORM_PACKAGE}.handler")
    if not files:
        raise FileNotFoundError(f"{root / TRANSFORM_PACKAGE}: the transform package is missing")
    if destination.exists():
        shutil.rmtree(destination)
    for relative in files:
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / relative, target)
    return destination


def _repository(scope: Construct, image: EcrImage) -> ecr.IRepository:
    """The ECR repository of `image`, imported once per scope."""
    id_ = "Repository-" + image.repository.replace("/", "-")
    existing = scope.node.try_find_child(id_)
    if existing is not None:
        return typing.cast(ecr.IRepository, existing)
    return ecr.Repository.from_repository_attributes(
        scope,
        id_,
        repository_name=image.repository,
        repository_arn=f"arn:aws:ecr:{image.region}:{image.account}:repository/{image.repository}",
    )


def _check_context(context: Path) -> None:
    if not (context / "Dockerfile").is_file():
        raise FileNotFoundError(
            f"{context / 'Dockerfile'} not found: the images are built from the repository's root Dockerfile "
            "(targets runtime and lambda); or set streamer_image and lambda_image in the config to ECR images"
        )


def streamer_image(scope: Construct, uri: str | None, context: Path) -> ecs.ContainerImage:
    """The streamer's image: the ECR image `uri`, or the Dockerfile's `runtime` target built at deploy time."""
    if uri is not None:
        image = EcrImage.parse(uri)
        if image is None:
            raise ValueError(f"streamer_image: not an ECR image URI: {uri!r}")
        return ecs.ContainerImage.from_ecr_repository(_repository(scope, image), image.tag_or_digest)
    _check_context(context)
    return ecs.ContainerImage.from_asset(
        str(context), target=RUNTIME_TARGET, platform=PLATFORM, exclude=list(DOCKER_EXCLUDES)
    )


def lambda_image(scope: Construct, uri: str | None, context: Path, handler: str) -> lambda_.DockerImageCode:
    """A Lambda's image running `handler`: the ECR image `uri`, or the Dockerfile's `lambda` target."""
    if uri is not None:
        image = EcrImage.parse(uri)
        if image is None:
            raise ValueError(f"lambda_image: not an ECR image URI: {uri!r}")
        return lambda_.DockerImageCode.from_ecr(
            _repository(scope, image), tag_or_digest=image.tag_or_digest, cmd=[handler]
        )
    _check_context(context)
    return lambda_.DockerImageCode.from_image_asset(
        str(context), target=LAMBDA_TARGET, cmd=[handler], platform=PLATFORM, exclude=list(DOCKER_EXCLUDES)
    )
