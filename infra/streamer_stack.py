"""`<name>-streamer`: the one process that reads the binlog. The network it runs in, its checkpoint table, and an
ECS Fargate service of at most one task (`cdc-streamer run --sink kinesis`).

The service is deployed with desired count 0: the initial-load state machine sets it to 1 once the export is loaded
(then set `streamer_desired_count` to 1 in the config). Deployments stop the old task before starting the new one
(minimum healthy 0 %, maximum 100 %): two streamers would both read the binlog; the checkpoint table's lease refuses
the second one anyway.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from .assets import streamer_image
from .config import PipelineConfig
from .lake_stack import LakeStack
from .names import CLAIM_CHECK, HEALTH_COMMAND, METRICS_PORT
from .retention import log_retention
from .stream_stack import StreamStack


def mysql_url(config: PipelineConfig) -> str:
    """The source as the streamer's CDC_MYSQL_URL: host and port only; user and password come from the secret."""
    return f"mysql://{config.aurora_endpoint}:{config.aurora_port}"


class StreamerStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: PipelineConfig,
        lake: LakeStack,
        stream: StreamStack,
        docker_context: Path,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        self.config = config
        self.vpc = self._vpc(config)
        if config.streamer_security_group_id is not None:
            self.security_group = ec2.SecurityGroup.from_security_group_id(
                self, "SecurityGroup", config.streamer_security_group_id
            )
        else:
            self.security_group = ec2.SecurityGroup(
                self,
                "SecurityGroup",
                vpc=self.vpc,
                description=f"{config.name} streamer and VPC Lambdas: out to MySQL and AWS APIs",
                allow_all_outbound=True,
            )
        if config.aurora_security_group_id is not None:
            ec2.CfnSecurityGroupIngress(
                self,
                "AuroraIngress",
                group_id=config.aurora_security_group_id,
                ip_protocol="tcp",
                from_port=config.aurora_port,
                to_port=config.aurora_port,
                source_security_group_id=self.security_group.security_group_id,
                description=f"{config.name} CDC streamer and initial-load Lambdas",
            )
        self.subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)

        self.checkpoints = dynamodb.Table(
            self,
            "Checkpoints",
            table_name=f"{config.name}-checkpoints",
            partition_key=dynamodb.Attribute(name="pipeline", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            deletion_protection=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        # `dynamodb:TABLE/KEY`: one item per pipeline, KEY = the pipeline's name (cdc_streamer.checkpoint).
        self.position_store = f"dynamodb:{self.checkpoints.table_name}/{config.name}"

        self.cluster = ecs.Cluster(self, "Cluster", cluster_name=config.name, vpc=self.vpc)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=log_retention(config.log_retention_days),
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )

        self.task_role = iam.Role(
            self,
            "TaskRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description=f"{config.name} streamer: write the stream, the checkpoint and claim checks, read the secret",
        )
        statements = [
            iam.PolicyStatement(
                sid="WriteTheStream",
                actions=[
                    "kinesis:PutRecord",
                    "kinesis:PutRecords",
                    "kinesis:DescribeStreamSummary",
                    "kinesis:ListShards",
                ],
                resources=[stream.stream.stream_arn],
            ),
            iam.PolicyStatement(
                sid="EncryptForTheStream",
                actions=["kms:GenerateDataKey", "kms:Encrypt"],
                resources=[lake.key.key_arn],
            ),
            iam.PolicyStatement(
                sid="Checkpoint",
                actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
                resources=[self.checkpoints.table_arn],
            ),
            iam.PolicyStatement(
                sid="ReadTheSourceSecret",
                actions=["secretsmanager:GetSecretValue"],
                resources=[config.aurora_secret_arn],
            ),
            iam.PolicyStatement(
                sid="ClaimChecks",
                actions=["s3:PutObject", "s3:GetObject"],
                resources=[lake.objects_arn(CLAIM_CHECK)],
            ),
        ]
        if config.aurora_secret_kms_key_arn is not None:
            statements.append(
                iam.PolicyStatement(
                    sid="DecryptTheSourceSecret",
                    actions=["kms:Decrypt"],
                    resources=[config.aurora_secret_kms_key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"secretsmanager.{self.region}.amazonaws.com"}},
                )
            )
        iam.Policy(self, "TaskPolicy", roles=[self.task_role], statements=statements)

        self.task_definition = ecs.FargateTaskDefinition(
            self,
            "Task",
            family=f"{config.name}-streamer",
            cpu=config.streamer_cpu,
            memory_limit_mib=config.streamer_memory_mib,
            task_role=self.task_role,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        self.container = self.task_definition.add_container(
            "streamer",
            image=streamer_image(self, config.streamer_image, docker_context),
            # Set both, so the image's own ENTRYPOINT/CMD cannot change what runs.
            entry_point=["cdc-streamer"],
            command=["run"],
            linux_parameters=ecs.LinuxParameters(self, "LinuxParameters", init_process_enabled=True),
            essential=True,
            environment=self.container_environment(config, lake, stream),
            port_mappings=[ecs.PortMapping(container_port=METRICS_PORT, protocol=ecs.Protocol.TCP, name="metrics")],
            health_check=ecs.HealthCheck(
                command=list(HEALTH_COMMAND),
                interval=cdk.Duration.seconds(30),
                timeout=cdk.Duration.seconds(5),
                retries=3,
                start_period=cdk.Duration.seconds(60),
            ),
            logging=ecs.LogDriver.aws_logs(stream_prefix="streamer", log_group=self.log_group),
            stop_timeout=cdk.Duration.seconds(60),  # the final checkpoint flush on SIGTERM
        )

        self.service = ecs.FargateService(
            self,
            "Service",
            service_name=f"{config.name}-streamer",
            cluster=self.cluster,
            task_definition=self.task_definition,
            desired_count=config.streamer_desired_count,
            min_healthy_percent=0,
            max_healthy_percent=100,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            assign_public_ip=False,
            security_groups=[self.security_group],
            vpc_subnets=self.subnets,
            platform_version=ecs.FargatePlatformVersion.LATEST,
            enable_execute_command=False,
        )

        cdk.CfnOutput(self, "ClusterName", value=self.cluster.cluster_name)
        cdk.CfnOutput(self, "ServiceName", value=self.service.service_name)
        cdk.CfnOutput(self, "CheckpointTable", value=self.checkpoints.table_name)
        cdk.CfnOutput(self, "StreamerLogGroup", value=self.log_group.log_group_name)

    def container_environment(self, config: PipelineConfig, lake: LakeStack, stream: StreamStack) -> dict[str, str]:
        """The container's CDC_* variables (cdc-streamer reads every flag from one; docs/configuration.md)."""
        environment = {
            "CDC_SINK": "kinesis",
            "CDC_STREAM_NAME": stream.stream.stream_name,
            "CDC_REGION": self.region,
            "CDC_POSITION_STORE": self.position_store,
            "CDC_MYSQL_URL": mysql_url(config),
            "CDC_MYSQL_SECRET_ARN": config.aurora_secret_arn,
            "CDC_SERVER_ID": str(config.server_id),
            "CDC_OVERSIZE": f"claim-check:s3://{lake.bucket_name}/{CLAIM_CHECK}",
            "CDC_METRICS_PORT": str(METRICS_PORT),
            "CDC_LOG_FORMAT": "json",
        }
        if config.tables:
            environment["CDC_INCLUDE_TABLES"] = config.tables
        if config.heartbeat_table is not None:
            environment["CDC_HEARTBEAT_TABLE"] = config.heartbeat_table
        return environment

    def _vpc(self, config: PipelineConfig) -> ec2.IVpc:
        if config.vpc_id is not None:
            # Imported by attributes (no lookup: synth stays offline). The subnets need a route to the AWS APIs
            # (NAT gateway or VPC endpoints) and to the cluster.
            return ec2.Vpc.from_vpc_attributes(
                self,
                "Vpc",
                vpc_id=config.vpc_id,
                availability_zones=list(config.zones),
                private_subnet_ids=list(config.private_subnet_ids),
            )
        # A small new VPC: one NAT gateway. The cluster must be reachable from it (peering, or use vpc_id).
        return ec2.Vpc(
            self,
            "Vpc",
            availability_zones=list(config.zones),
            nat_gateways=1,
            restrict_default_security_group=False,  # nothing here uses the default group
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22),
            ],
        )
