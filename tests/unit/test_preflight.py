"""Tests for cdc_streamer.preflight: the server checks, on hand-built ServerFacts."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cdc_streamer.position import BinlogPosition
from cdc_streamer.preflight import (
    SERVER_CHECKS,
    Problem,
    ServerFacts,
    check_binlog_enabled,
    check_binlog_format,
    check_compression,
    check_grants,
    check_partial_json,
    check_position_available,
    check_row_image,
    check_row_metadata,
    global_privileges,
    run_checks,
)
from cdc_streamer.source import BinaryLog

MARIADB_GRANT = (
    "GRANT SELECT, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO `cdc`@`127.0.0.1` IDENTIFIED BY PASSWORD '*ABC'"
)
MYSQL_GRANTS = [
    "GRANT SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO `cdc`@`%`",
    "GRANT BACKUP_ADMIN,REPLICATION_SLAVE_ADMIN ON *.* TO `cdc`@`%`",
]
LOGS = [BinaryLog("binlog.000005", 1000), BinaryLog("binlog.000006", 2000), BinaryLog("binlog.000007", 300)]
GOOD_VARIABLES: dict[str, str | None] = {
    "log_bin": "ON",
    "binlog_format": "ROW",
    "binlog_row_image": "FULL",
    "binlog_row_metadata": "FULL",
    "log_bin_compress": "OFF",
    "binlog_transaction_compression": None,
    "binlog_row_value_options": None,
}


def facts(
    grants: list[str] | None = None,
    logs: list[BinaryLog] | None = None,
    flavor: str = "mariadb",
    version: str = "10.11.6-MariaDB",
    **variables: str | None,
) -> ServerFacts:
    return ServerFacts(
        flavor=flavor,
        version=version,
        variables={**GOOD_VARIABLES, **variables},
        grants=[MARIADB_GRANT] if grants is None else grants,
        binary_logs=list(LOGS) if logs is None else logs,
    )


def problem_for_grants(*grants: str) -> Problem | None:
    return check_grants(facts(grants=list(grants)))


# --- a good server -------------------------------------------------------------------------------------------


def test_good_mariadb_server_has_no_problems() -> None:
    assert run_checks(facts()) == []


def test_good_mysql_server_has_no_problems() -> None:
    mysql = facts(
        grants=MYSQL_GRANTS,
        flavor="mysql",
        version="8.0.36",
        log_bin_compress=None,
        binlog_transaction_compression="OFF",
        binlog_row_value_options="",
    )
    assert run_checks(mysql, BinlogPosition("binlog.000006", 4)) == []


@pytest.mark.parametrize("check", SERVER_CHECKS)
def test_each_check_passes_on_a_good_server(check: Callable[[ServerFacts], Problem | None]) -> None:
    assert check(facts()) is None


def test_problem_str_is_check_then_message() -> None:
    assert str(Problem("log_bin", "is off")) == "log_bin: is off"


# --- log_bin -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["ON", "on", "1", "TRUE"])
def test_binlog_on(value: str) -> None:
    assert check_binlog_enabled(facts(log_bin=value)) is None


@pytest.mark.parametrize("value", ["OFF", "0", "", None])
def test_binlog_off(value: str | None) -> None:
    problem = check_binlog_enabled(facts(log_bin=value))
    assert problem is not None
    assert problem.check == "log_bin"
    assert "binary logging is off" in problem.message
    assert "--log-bin" in problem.message


# --- binlog_format / binlog_row_image ------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["STATEMENT", "MIXED"])
def test_binlog_format_not_row(value: str) -> None:
    assert check_binlog_format(facts(binlog_format=value)) == Problem(
        "binlog_format", f"is {value}: set binlog_format=ROW"
    )


def test_binlog_format_unset() -> None:
    assert check_binlog_format(facts(binlog_format=None)) == Problem("binlog_format", "is unset: set binlog_format=ROW")


def test_binlog_format_is_case_insensitive() -> None:
    assert check_binlog_format(facts(binlog_format="row")) is None


@pytest.mark.parametrize("value", ["MINIMAL", "NOBLOB", "minimal"])
def test_row_image_not_full(value: str) -> None:
    assert check_row_image(facts(binlog_row_image=value)) == Problem(
        "binlog_row_image", f"is {value.upper()}: set binlog_row_image=FULL"
    )


def test_row_image_unset() -> None:
    problem = check_row_image(facts(binlog_row_image=None))
    assert problem is not None
    assert problem.message.startswith("is unset")


# --- binlog_row_metadata -------------------------------------------------------------------------------------


def test_row_metadata_minimal() -> None:
    assert check_row_metadata(facts(binlog_row_metadata="MINIMAL")) == Problem(
        "binlog_row_metadata", "is MINIMAL: set binlog_row_metadata=FULL"
    )


def test_row_metadata_missing_means_the_server_is_too_old() -> None:
    problem = check_row_metadata(facts(binlog_row_metadata=None, version="10.4.32-MariaDB"))
    assert problem is not None
    assert problem.check == "binlog_row_metadata"
    assert "not supported by mariadb 10.4.32-MariaDB" in problem.message
    assert "MariaDB 10.5+" in problem.message
    assert "MySQL 8.0.14+" in problem.message


def test_row_metadata_is_case_insensitive() -> None:
    assert check_row_metadata(facts(binlog_row_metadata="full")) is None


# --- compression / partial JSON ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["log_bin_compress", "binlog_transaction_compression"])
def test_compression_on(name: str) -> None:
    problem = check_compression(ServerFacts("mysql", "8.0.36", {**GOOD_VARIABLES, name: "ON"}, [], []))
    assert problem is not None
    assert problem.check == name
    assert f"set {name}=OFF" in problem.message
    assert "cannot be decoded" in problem.message


@pytest.mark.parametrize("value", ["OFF", "0", None])
def test_compression_off(value: str | None) -> None:
    assert check_compression(facts(log_bin_compress=value, binlog_transaction_compression=value)) is None


@pytest.mark.parametrize("value", ["PARTIAL_JSON", "partial_json"])
def test_partial_json(value: str) -> None:
    assert check_partial_json(facts(binlog_row_value_options=value)) == Problem(
        "binlog_row_value_options", "is PARTIAL_JSON: set binlog_row_value_options='' (empty)"
    )


@pytest.mark.parametrize("value", ["", None])
def test_no_partial_json(value: str | None) -> None:
    assert check_partial_json(facts(binlog_row_value_options=value)) is None


# --- grants --------------------------------------------------------------------------------------------------


def test_mariadb_grant_is_parsed() -> None:
    assert global_privileges([MARIADB_GRANT]) == {"SELECT", "REPLICATION SLAVE", "BINLOG MONITOR"}


def test_mysql_grants_are_parsed_including_dynamic_privileges() -> None:
    assert global_privileges(MYSQL_GRANTS) == {
        "SELECT",
        "RELOAD",
        "SHOW DATABASES",
        "REPLICATION SLAVE",
        "REPLICATION CLIENT",
        "BACKUP_ADMIN",
        "REPLICATION_SLAVE_ADMIN",
    }


def test_grants_on_a_database_do_not_count() -> None:
    assert global_privileges(["GRANT SELECT, REPLICATION SLAVE ON `shop`.* TO `cdc`@`%`"]) == set()
    assert global_privileges(["GRANT SELECT ON `shop`.`orders` TO `cdc`@`%`"]) == set()


def test_role_and_proxy_grants_are_ignored() -> None:
    assert global_privileges(["GRANT `reader`@`%` TO `cdc`@`%`", "GRANT PROXY ON ''@'' TO 'root'@'localhost'"]) == set()


def test_lowercase_grant_is_parsed() -> None:
    assert global_privileges(["grant select, replication slave on *.* to 'cdc'@'%'"]) == {
        "SELECT",
        "REPLICATION SLAVE",
    }


def test_mariadb_grants_are_enough() -> None:
    assert problem_for_grants(MARIADB_GRANT) is None


def test_mysql_grants_are_enough() -> None:
    assert problem_for_grants(*MYSQL_GRANTS) is None


def test_replication_replica_and_client_alias() -> None:
    assert problem_for_grants("GRANT SELECT, REPLICATION REPLICA, REPLICATION CLIENT ON *.* TO `cdc`@`%`") is None


def test_all_privileges_is_enough() -> None:
    assert problem_for_grants("GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION") is None


def test_all_privileges_on_a_database_is_not_enough() -> None:
    problem = problem_for_grants("GRANT USAGE ON *.* TO `cdc`@`%`", "GRANT ALL PRIVILEGES ON `shop`.* TO `cdc`@`%`")
    assert problem == Problem(
        "grants",
        "missing REPLICATION SLAVE, REPLICATION CLIENT, SELECT: "
        "GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO the streamer's user",
    )


def test_privileges_combine_across_grant_lines() -> None:
    assert (
        problem_for_grants(
            "GRANT SELECT ON *.* TO `cdc`@`%`",
            "GRANT REPLICATION SLAVE ON *.* TO `cdc`@`%`",
            "GRANT BINLOG MONITOR ON *.* TO `cdc`@`%`",
        )
        is None
    )


def test_only_select_missing() -> None:
    problem = problem_for_grants("GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO `cdc`@`%`")
    assert problem == Problem("grants", "missing SELECT: GRANT SELECT ON *.* TO the streamer's user")


def test_only_replication_client_missing() -> None:
    problem = problem_for_grants("GRANT SELECT, REPLICATION SLAVE ON *.* TO `cdc`@`%`")
    assert problem is not None
    assert problem.message.startswith("missing REPLICATION CLIENT:")


def test_dynamic_replication_admin_is_not_replication_slave() -> None:
    problem = problem_for_grants(
        "GRANT SELECT, REPLICATION CLIENT ON *.* TO `cdc`@`%`", "GRANT REPLICATION_SLAVE_ADMIN ON *.* TO `cdc`@`%`"
    )
    assert problem is not None
    assert problem.message.startswith("missing REPLICATION SLAVE:")


def test_no_grants_at_all() -> None:
    problem = problem_for_grants()
    assert problem is not None
    assert "missing REPLICATION SLAVE, REPLICATION CLIENT, SELECT" in problem.message


# --- position ------------------------------------------------------------------------------------------------


def test_position_none_is_fine() -> None:
    assert check_position_available(facts(), None) is None


def test_position_without_binary_logs_is_not_checked() -> None:
    assert check_position_available(facts(logs=[]), BinlogPosition("binlog.000001", 4)) is None


@pytest.mark.parametrize(
    "position",
    [
        BinlogPosition("binlog.000005", 4),
        BinlogPosition("binlog.000005", 0),
        BinlogPosition("binlog.000006", 2000),
        BinlogPosition("binlog.000007", 300),
    ],
)
def test_position_available(position: BinlogPosition) -> None:
    assert check_position_available(facts(), position) is None


def test_position_in_purged_file() -> None:
    problem = check_position_available(facts(), BinlogPosition("binlog.000003", 4))
    assert problem is not None
    assert problem.check == "position"
    assert "binlog file binlog.000003 was purged" in problem.message
    assert "oldest is binlog.000005" in problem.message
    assert "take a new snapshot" in problem.message


def test_position_in_unknown_newer_file() -> None:
    problem = check_position_available(facts(), BinlogPosition("binlog.000009", 4))
    assert problem == Problem(
        "position", "binlog file binlog.000009 does not exist on the server (newest is binlog.000007)"
    )


def test_position_past_the_end_of_its_file() -> None:
    problem = check_position_available(facts(), BinlogPosition("binlog.000006", 2001))
    assert problem == Problem("position", "offset 2001 is past the end of binlog.000006 (2000 bytes)")


def test_position_across_the_million_rollover() -> None:
    logs = [BinaryLog("binlog.999999", 100), BinaryLog("binlog.1000000", 100)]
    purged = check_position_available(facts(logs=logs), BinlogPosition("binlog.999998", 4))
    newer = check_position_available(facts(logs=logs), BinlogPosition("binlog.1000001", 4))
    assert purged is not None
    assert "purged" in purged.message
    assert newer is not None
    assert "does not exist" in newer.message
    assert check_position_available(facts(logs=logs), BinlogPosition("binlog.1000000", 50)) is None


# --- run_checks ----------------------------------------------------------------------------------------------


def test_run_checks_reports_every_problem_in_order() -> None:
    bad = facts(
        grants=["GRANT USAGE ON *.* TO `cdc`@`%`"],
        binlog_format="MIXED",
        binlog_row_image="MINIMAL",
        binlog_row_metadata="MINIMAL",
        log_bin_compress="ON",
        binlog_row_value_options="PARTIAL_JSON",
    )
    problems = run_checks(bad, BinlogPosition("binlog.000001", 4))
    assert [problem.check for problem in problems] == [
        "binlog_format",
        "binlog_row_image",
        "binlog_row_metadata",
        "log_bin_compress",
        "binlog_row_value_options",
        "grants",
        "position",
    ]


def test_run_checks_with_binlog_off() -> None:
    problems = run_checks(facts(logs=[], log_bin="OFF"), BinlogPosition("binlog.000001", 4))
    assert [problem.check for problem in problems] == ["log_bin"]


def test_run_checks_position_problem_only() -> None:
    problems = run_checks(facts(), BinlogPosition("binlog.000006", 9999))
    assert [str(problem) for problem in problems] == [
        "position: offset 9999 is past the end of binlog.000006 (2000 bytes)"
    ]
