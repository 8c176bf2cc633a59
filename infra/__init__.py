"""infra: the AWS CDK (Python) app that deploys the pipeline. Stacks and constructs only: it imports the runtime
packages' shared constants (schemas, names; `infra.names`) and points at their code by path, never runs it.

`python -m infra.app` synthesizes every stack from the config named by CDC_INFRA_CONFIG (docs/deploy.md).
"""
