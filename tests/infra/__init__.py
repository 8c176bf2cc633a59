"""Infra tests: CDK template assertions, IAM and cfn-lint checks over the synthesized app (docs/deploy.md)."""
