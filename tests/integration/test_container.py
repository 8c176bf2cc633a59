"""The Dockerfile's install steps, performed here without a Docker engine: build the wheel as the build stage
does, install it (and nothing else of the repository) into a fresh virtual environment, and check that the image's
entrypoint, health check command and Lambda handlers exist there.

The fresh environment borrows the third-party dependencies from the project's environment through a path file,
so the test needs no network; the project's own code comes only from the wheel."""

from __future__ import annotations

import re
import subprocess
import sys
import sysconfig
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def stage(name: str) -> str:
    match = re.search(rf"^FROM \S+ AS {name}\n(.*?)(?=^FROM |\Z)", DOCKERFILE, re.M | re.S)
    assert match, f"no stage {name!r} in the Dockerfile"
    return match.group(1)


def instruction(text: str, name: str) -> list[str]:
    return [line.split(None, 1)[1] for line in text.splitlines() if line.startswith(name + " ")]


def test_runtime_stage_is_slim_non_root_and_installs_the_wheel_only() -> None:
    assert re.search(r"^FROM python:3\.11-slim AS runtime$", DOCKERFILE, re.M)
    runtime = stage("runtime")
    assert instruction(runtime, "USER") == ["10001"]
    assert instruction(runtime, "ENTRYPOINT") == ['["cdc-streamer"]']
    assert instruction(runtime, "CMD") == ['["run"]']
    assert 'CMD ["cdc-streamer", "health"]' in instruction(runtime, "HEALTHCHECK")[0]
    assert instruction(runtime, "COPY") == ["--from=build /wheels /wheels"]  # no sources in the image
    assert "--no-index --find-links /wheels cdc-pipeline" in instruction(runtime, "RUN")[-1]
    assert "gcc" in instruction(stage("build"), "RUN")[0]  # the compiled decoder is built into the wheel
    assert "pip wheel" in instruction(stage("build"), "RUN")[-1]
    assert instruction(stage("lambda"), "CMD") == ['["cdc_lake.lambda_handlers.merge"]']


@pytest.fixture(scope="module")
def image_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    work = tmp_path_factory.mktemp("container")
    wheels = work / "wheels"
    # the build stage's `pip wheel .`, without dependencies (they come from the project's environment below)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(wheels), "."],
        cwd=ROOT,
        check=True,
        timeout=300,
    )
    target = work / "image"
    venv.create(target, with_pip=False)
    python = target / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # the runtime stage's install: the project only from the built wheel
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--find-links",
            str(wheels),
            "cdc-pipeline",
        ],
        check=True,
        timeout=300,
    )
    # after the install: with the project's environment visible, pip would find it installed there already
    (Path(site) / "borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    yield target


def run(env: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(env / "bin" / args[0]), *args[1:]], capture_output=True, text=True, timeout=60, cwd="/", check=False
    )


def test_entrypoint_and_health_command_exist_in_the_installed_image(image_env: Path) -> None:
    version = run(image_env, "cdc-streamer", "--version")
    assert version.returncode == 0 and version.stdout.startswith("cdc-streamer ")
    assert "health" in run(image_env, "cdc-streamer", "--help").stdout
    # HEALTHCHECK with nothing listening: exit 1 and one line, as Docker and ECS expect of a failing check
    unhealthy = run(image_env, "cdc-streamer", "health", "--url", "http://127.0.0.1:9/healthcheck", "--timeout", "2")
    assert unhealthy.returncode == 1 and unhealthy.stderr.count("\n") == 1, unhealthy.stderr
    assert run(image_env, "cdc-lake", "--help").returncode == 0


def test_the_code_comes_from_the_wheel_and_the_lambda_handlers_import(image_env: Path) -> None:
    probe = run(
        image_env,
        "python",
        "-c",
        "import cdc_streamer, cdc_lake.lambda_handlers as l, cdc_streamer.lambda_handlers as s, "
        "firehose_transform.handler as f; "
        "print(cdc_streamer.__file__); print(callable(l.merge) and callable(l.load_export) and "
        "callable(s.record_position) and callable(f.handler))",
    )
    assert probe.returncode == 0, probe.stderr
    location, handlers = probe.stdout.split()
    assert location.startswith(str(image_env)) and "site-packages" in location
    assert handlers == "True"
