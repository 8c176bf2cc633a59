"""The CDK app: every stack of the pipeline, built from one `PipelineConfig`.

    CDC_INFRA_CONFIG=pipeline.json CDK_OUTDIR=build/cdk.out .venv/bin/python -m infra.app   # synth, offline
    cd infra && cdk deploy --all                                                             # infra/cdk.json

Stacks (dependencies point left): `<name>-lake` <- `<name>-stream` <- `<name>-streamer` <- `<name>-initial-load`;
`<name>-lake` <- `<name>-merge`; `<name>-monitoring` watches them all. Resources pass between stacks as constructor
arguments; CDK turns each reference into a CloudFormation export/import.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script (infra/cdk.json): import from the repository root, not infra/
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import aws_cdk as cdk

from infra.assets import REPO_ROOT
from infra.config import ENV_VAR, PipelineConfig, load_config
from infra.initial_load_stack import InitialLoadStack
from infra.lake_stack import LakeStack
from infra.merge_stack import MergeStack
from infra.monitoring_stack import MonitoringStack
from infra.stream_stack import StreamStack
from infra.streamer_stack import StreamerStack

TRANSFORM_ASSET_DIR = REPO_ROOT / "build" / "lambda" / "firehose_transform"
REFERENCES_CONTEXT = "@aws-cdk/core:defaultCrossStackReferences"


@dataclass(frozen=True, slots=True)
class Pipeline:
    lake: LakeStack
    stream: StreamStack
    streamer: StreamerStack
    merge: MergeStack
    initial_load: InitialLoadStack
    monitoring: MonitoringStack

    @property
    def stacks(self) -> tuple[cdk.Stack, ...]:
        return (self.lake, self.stream, self.streamer, self.merge, self.initial_load, self.monitoring)


def build_pipeline(
    app: cdk.App,
    config: PipelineConfig,
    *,
    docker_context: Path = REPO_ROOT,
    transform_asset_dir: Path = TRANSFORM_ASSET_DIR,
) -> Pipeline:
    """Add the pipeline's stacks to `app`. `docker_context` holds the Dockerfile the images are built from (the
    repository root); `transform_asset_dir` is where the transform Lambda's code is staged (emptied first)."""
    config.validate()
    if app.node.try_get_context(REFERENCES_CONTEXT) is None:
        # Cross-stack references as CloudFormation exports/imports (the producer stack is protected while in use).
        app.node.set_context(REFERENCES_CONTEXT, "strong")
    env = cdk.Environment(account=config.account, region=config.region)
    name = config.name
    tags = {"pipeline": name}

    def stack_props(suffix: str, description: str) -> dict[str, Any]:
        return {"stack_name": f"{name}-{suffix}", "env": env, "description": description, "tags": tags}

    lake = LakeStack(
        app, f"{name}-lake", config=config, **stack_props("lake", "CDC lake: KMS key, bucket, Glue, Athena")
    )
    stream = StreamStack(
        app,
        f"{name}-stream",
        config=config,
        lake=lake,
        transform_asset_dir=transform_asset_dir,
        **stack_props("stream", "CDC stream: Kinesis, transform Lambda, Firehose to Parquet"),
    )
    streamer = StreamerStack(
        app,
        f"{name}-streamer",
        config=config,
        lake=lake,
        stream=stream,
        docker_context=docker_context,
        **stack_props("streamer", "CDC streamer: VPC, checkpoint table, ECS Fargate service"),
    )
    merge = MergeStack(
        app,
        f"{name}-merge",
        config=config,
        lake=lake,
        docker_context=docker_context,
        **stack_props("merge", "CDC merge: scheduled Athena merge into the master tables"),
    )
    initial_load = InitialLoadStack(
        app,
        f"{name}-initial-load",
        config=config,
        lake=lake,
        streamer=streamer,
        docker_context=docker_context,
        **stack_props("initial-load", "CDC initial load: position, Aurora export, load, start the streamer"),
    )
    monitoring = MonitoringStack(
        app,
        f"{name}-monitoring",
        config=config,
        lake=lake,
        stream=stream,
        streamer=streamer,
        merge=merge,
        initial_load=initial_load,
        **stack_props("monitoring", "CDC monitoring: alarms and their SNS topic"),
    )
    # Explicit, so the deploy order holds even where a reference is a literal (a named bucket).
    stream.add_stack_dependency(lake)
    streamer.add_stack_dependency(stream)
    merge.add_stack_dependency(lake)
    initial_load.add_stack_dependency(streamer)
    for stack in (stream, streamer, merge, initial_load):
        monitoring.add_stack_dependency(stack)
    return Pipeline(lake, stream, streamer, merge, initial_load, monitoring)


def main() -> None:
    try:
        config = load_config(os.environ.get(ENV_VAR))
    except ValueError as error:
        print(f"infra: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    app = cdk.App()
    try:
        build_pipeline(app, config)
    except FileNotFoundError as error:
        print(f"infra: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    app.synth()


if __name__ == "__main__":
    main()
