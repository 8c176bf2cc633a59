"""The permissions of a Lambda that runs Athena statements on the lake (the merge and the initial load): Athena in
the pipeline's workgroup, Glue on the lake's own database and the source databases the tables filter names, S3 on
the lake bucket. Athena reads and writes S3 and Glue with the caller's credentials, so these are also what its
queries can touch."""

from __future__ import annotations

from aws_cdk import aws_iam as iam

from .config import PipelineConfig
from .lake_stack import LakeStack
from .names import GLUE_DATABASE

ATHENA_ACTIONS = (
    "athena:GetQueryExecution",
    "athena:GetQueryResults",
    "athena:GetWorkGroup",
    "athena:StartQueryExecution",
    "athena:StopQueryExecution",
)
# Master tables (Iceberg), _live views, the lake's meta tables: created, evolved, merged into, dropped on --rebuild.
GLUE_ACTIONS = (
    "glue:BatchCreatePartition",
    "glue:BatchDeletePartition",
    "glue:BatchGetPartition",
    "glue:CreateDatabase",
    "glue:CreatePartition",
    "glue:CreateTable",
    "glue:DeletePartition",
    "glue:DeleteTable",
    "glue:GetDatabase",
    "glue:GetDatabases",
    "glue:GetPartition",
    "glue:GetPartitions",
    "glue:GetTable",
    "glue:GetTables",
    "glue:UpdatePartition",
    "glue:UpdateTable",
)
BUCKET_ACTIONS = ("s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads")
OBJECT_ACTIONS = (
    "s3:AbortMultipartUpload",
    "s3:DeleteObject",
    "s3:GetObject",
    "s3:ListMultipartUploadParts",
    "s3:PutObject",
)


def lake_databases(config: PipelineConfig) -> tuple[str, ...]:
    """The Glue databases the merge touches: its own, `default` (Athena's session default), and the source
    databases (master tables are named after them); `*` when the tables filter names none."""
    sources = config.source_databases
    return (GLUE_DATABASE, "default", *(sources if sources is not None else ("*",)))


def lake_statements(config: PipelineConfig, lake: LakeStack) -> list[iam.PolicyStatement]:
    databases = lake_databases(config)
    return [
        iam.PolicyStatement(sid="RunAthenaQueries", actions=list(ATHENA_ACTIONS), resources=[lake.workgroup_arn]),
        iam.PolicyStatement(
            sid="LakeCatalog",
            actions=list(GLUE_ACTIONS),
            resources=[
                lake.glue_catalog_arn,
                *(lake.glue_database_arn(database) for database in databases),
                *(lake.glue_table_arn(database, "*") for database in databases),
            ],
        ),
        iam.PolicyStatement(sid="LakeBucket", actions=list(BUCKET_ACTIONS), resources=[lake.bucket.bucket_arn]),
        iam.PolicyStatement(sid="LakeObjects", actions=list(OBJECT_ACTIONS), resources=[lake.objects_arn()]),
    ]
