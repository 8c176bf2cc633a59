# Every routine task has a target. `make test` needs nothing but Python 3.11+ (and root/apt for MariaDB).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install mariadb lint typecheck unit integration test chaos demo synth clean

$(STAMP): pyproject.toml setup.py cdc_streamer/_fastpath.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,infra]'
	touch $(STAMP)

install: $(STAMP)

mariadb:
	@scripts/ensure-mariadb.sh

lint: $(STAMP)
	$(BIN)/ruff check cdc_streamer cdc_lake firehose_transform cdc_demo infra tests bench scripts
	$(BIN)/ruff format --check cdc_streamer cdc_lake firehose_transform cdc_demo infra tests bench scripts

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy --strict scripts/config_reference.py scripts/diagram.py

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

integration: $(STAMP) mariadb
	$(BIN)/pytest -q tests/integration

# Two workers, whole files each (every worker starts its own MariaDB and moto): about half the wall time on 2 cores.
test: $(STAMP) mariadb lint typecheck
	$(BIN)/pytest -q -n 2 --dist loadfile

# The fault tests at a larger size than `make test` runs them (each prints its figures).
chaos: $(STAMP) mariadb
	CDC_CHAOS_KILLS=$${CDC_CHAOS_KILLS:-200} CDC_CHAOS_NETWORK_FAULTS=$${CDC_CHAOS_NETWORK_FAULTS:-60} \
	CDC_CHAOS_RESTARTS=$${CDC_CHAOS_RESTARTS:-20} CDC_CHAOS_ROTATION_SECONDS=$${CDC_CHAOS_ROTATION_SECONDS:-30} \
	CDC_CHAOS_LAKE_KILLS=$${CDC_CHAOS_LAKE_KILLS:-40} CDC_CHAOS_COMPACT_KILLS=$${CDC_CHAOS_COMPACT_KILLS:-20} \
	CDC_CHAOS_KINESIS_SECONDS=$${CDC_CHAOS_KINESIS_SECONDS:-60} CDC_BIG_TXN_ROWS=$${CDC_BIG_TXN_ROWS:-1000000} \
	$(BIN)/pytest -q -s tests/integration/test_faults.py tests/integration/test_faults_lake.py \
		tests/integration/test_server_faults.py tests/integration/test_failover.py \
		tests/integration/test_kinesis_faults.py tests/integration/test_large_and_ddl_txn.py

# The whole pipeline on one machine: a private MariaDB under .demo/ (wiped at each run), sample data, snapshot,
# load, the streamer with the embedded lake sink, a live workload, merge, verify, latency and answers.
# Options: make demo DEMO_ARGS="--sales 20000 --workload-seconds 10"
demo: $(STAMP) mariadb
	$(BIN)/python -m cdc_demo $(DEMO_ARGS)

# The CDK app's CloudFormation templates, offline (no AWS account, no Docker: image assets are only staged).
synth: $(STAMP)
	JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 CDK_OUTDIR=build/cdk.out $(BIN)/python -m infra.app
	@echo "templates in build/cdk.out/"

clean:
	rm -rf build .demo $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis *.egg-info

.PHONY: bench
# The streamer next to other binlog readers, one 1,000,000-row transaction, commit-to-_live latency, then the
# pipeline's other stages; results in bench/results/<date>.json, rendered into docs/performance.md (~9 minutes).
bench: $(STAMP) mariadb
	$(BIN)/python bench/readers.py
	$(BIN)/python bench/big_transaction.py
	$(BIN)/python bench/latency.py --seconds 20
	$(BIN)/python bench/transform.py
	$(BIN)/python bench/merge.py
	$(BIN)/python bench/kinesis_sink.py
	$(BIN)/python bench/snapshot.py
	$(BIN)/python bench/report.py bench/results/$$(date -u +%F).json
