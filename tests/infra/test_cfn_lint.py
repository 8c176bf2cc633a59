"""cfn-lint over every synthesized template: no errors, no warnings.

Ignored, with the reason:
- W3005 (DependsOn already enforced by a GetAtt): CDK adds an explicit DependsOn on a role's default policy next to
  the GetAtt of the role, so the policy exists before the resource that uses the role. Redundant, harmless.
- W3010 (hard-coded availability zones): the zones come from the config on purpose, so synth needs no AZ lookup
  (it stays offline); they must match the imported subnets.
Informational (I*) findings are not reported (cfn-lint's default).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import Synth

IGNORED = ("W3005", "W3010")


def lint(synth: Synth) -> subprocess.Popen[str]:
    templates = sorted(str(path) for path in Path(synth.outdir).glob("*.template.json"))
    assert len(templates) == 6
    command = [
        str(Path(sys.executable).with_name("cfn-lint")),
        "--format",
        "parseable",
        "--regions",
        synth.config.region,
        "--ignore-checks",
        *IGNORED,
        "--",
        *templates,
    ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_templates_are_cfn_lint_clean(default: Synth, production: Synth) -> None:
    runs = [lint(default), lint(production)]  # in parallel: each takes several seconds
    for run in runs:
        stdout, stderr = run.communicate(timeout=180)
        assert run.returncode == 0, stdout + stderr
        assert stdout.strip() == ""
