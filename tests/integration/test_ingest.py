"""``sitelog ingest`` as a poller runs it: follow, rotation, FIFO, restart, bad lines."""

from __future__ import annotations

import os
import subprocess
from contextlib import AbstractContextManager
from pathlib import Path

from engine.log.kafka import KafkaSettings
from schemas.event import Event
from schemas.monitoring import HostCheckResult, ServiceCheckResult
from schemas.operations import (
    AcknowledgementSet,
    CommentAdded,
    DowntimeCancelled,
    DowntimeScheduled,
)
from schemas.types import HostState, ServiceState, StateType
from tests.support.cli import read_log, running, sitelog, stop

T = 1_700_000_000


def result(i: int, host: str = "web1") -> str:
    return f"[{T + i}] PROCESS_SERVICE_CHECK_RESULT;{host};HTTP;{i % 4};check {i}|time={i}s;;;0\n"


def _outputs(events: list[Event]) -> list[str]:
    return [e.payload.output for e in events if isinstance(e.payload, ServiceCheckResult)]


def _follow(
    kafka: KafkaSettings, site: str, spool: Path, path: Path
) -> AbstractContextManager[subprocess.Popen[str]]:
    return running(
        *("ingest", "--follow", "--site", site, "--bootstrap", kafka.bootstrap_servers),
        *("--spool", str(spool), "--origin", "nagios-1", str(path)),
        stderr=subprocess.PIPE,
        text=True,
    )


def test_operator_commands_and_results_from_a_file_with_a_bad_line_in_the_middle(
    kafka: KafkaSettings, site: str, tmp_path: Path
) -> None:
    lines = tmp_path / "commands.txt"
    lines.write_text(
        result(0)
        + f"[{T}] ACKNOWLEDGE_SVC_PROBLEM;web1;HTTP;2;1;0;alice;on it; ticket 42\n"
        + f"[{T}] SCHEDULE_HOST_DOWNTIME;web1;{T};{T + 3600};1;0;0;bob;patching\n"
        + f"[{T}] PROCESS_SERVICE_CHECK_RESULT;web1;HTTP;7;bad state\n"
        + f"[{T}] ADD_SVC_COMMENT;web1;HTTP;1;carol;flapping since noon\n"
        + f"[{T}] DEL_HOST_DOWNTIME;1\n"
        + "\n"
        + f"[{T}] FROB_HOST;web1\n"
        + result(1)
    )
    done = sitelog(
        "ingest",
        *("--site", site, "--bootstrap", kafka.bootstrap_servers, "--origin", "nagios-1"),
        *("--spool", str(tmp_path / "spool"), str(lines)),
    )
    assert done.returncode == 1, done.stderr
    assert "line 4: PROCESS_SERVICE_CHECK_RESULT field 'return_code'" in done.stderr
    assert "line 8: unknown command 'FROB_HOST'" in done.stderr
    assert "accepted 6 events" in done.stderr and "rejected 2 lines" in done.stderr
    events = read_log(kafka, site, 6)
    payloads = [e.payload for e in events]
    assert _outputs(events) == ["check 0", "check 1"]
    ack = next(p for p in payloads if isinstance(p, AcknowledgementSet))
    assert (ack.sticky, ack.author, ack.comment) == (True, "alice", "on it; ticket 42")
    downtime = next(p for p in payloads if isinstance(p, DowntimeScheduled))
    cancel = next(p for p in payloads if isinstance(p, DowntimeCancelled))
    assert downtime.downtime_id == cancel.downtime_id == "nagios-1/downtime/1"
    assert cancel.host_name == "web1" and cancel.service_description is None
    comment = next(p for p in payloads if isinstance(p, CommentAdded))
    assert (comment.text, comment.service_description) == ("flapping since noon", "HTTP")
    assert {e.event_time for e in events if e.payload is ack} == {T * 1_000_000}


def test_a_restarted_ingest_resumes_after_what_it_already_sent(
    kafka: KafkaSettings, site: str, tmp_path: Path
) -> None:
    path = tmp_path / "ocsp.cmd"
    path.write_text("".join(result(i) for i in range(5)))
    args = ("--site", site, "--bootstrap", kafka.bootstrap_servers, "--spool", str(tmp_path / "s"))
    assert sitelog("ingest", *args, str(path)).returncode == 0
    with open(path, "a") as f:
        f.write("".join(result(i) for i in range(5, 8)))
    second = sitelog("ingest", *args, str(path))
    assert second.returncode == 0 and "accepted 3 events" in second.stderr
    assert _outputs(read_log(kafka, site, 8)) == [f"check {i}" for i in range(8)]


def test_an_unreadable_state_file_is_one_line_and_nothing_is_sent(
    kafka: KafkaSettings, site: str, tmp_path: Path
) -> None:
    spool = tmp_path / "s"
    spool.mkdir()
    (spool / "ingest-state.json").write_text("{not json")
    path = tmp_path / "ocsp.cmd"
    path.write_text(result(0))
    args = ("--site", site, "--bootstrap", kafka.bootstrap_servers, "--spool", str(spool))
    done = sitelog("ingest", *args, str(path))
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("sitelog: error:")]
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith(
        f"sitelog: error: ingest state {spool / 'ingest-state.json'} is unreadable: "
    )
    assert "accepted 0 events" in done.stderr and "Traceback" not in done.stderr


def test_follow_keeps_reading_across_rotation_and_truncation(
    kafka: KafkaSettings, site: str, tmp_path: Path
) -> None:
    path = tmp_path / "service-perfdata.cmd"
    path.write_text(result(0))
    with _follow(kafka, site, tmp_path / "spool", path) as process:
        _wait_for_outputs(kafka, site, 1)
        with open(path, "a") as f:
            f.write(result(1))
        os.rename(path, tmp_path / "service-perfdata.cmd.1")  # rotated, as Nagios's mv does
        path.write_text(result(2) + result(3))
        _wait_for_outputs(kafka, site, 4)
        path.write_text(result(4))  # truncated in place and rewritten (copytruncate)
        _wait_for_outputs(kafka, site, 5)
        report = stop(process)
    assert process.returncode == 0, report
    assert _outputs(read_log(kafka, site, 5)) == [f"check {i}" for i in range(5)]


def test_follow_reads_a_fifo_across_its_writers(
    kafka: KafkaSettings, site: str, tmp_path: Path
) -> None:
    fifo = tmp_path / "ocsp.fifo"
    os.mkfifo(fifo)
    with _follow(kafka, site, tmp_path / "spool", fifo) as process:
        for i in range(3):  # each OCSP command opens, writes and closes the FIFO
            with open(fifo, "w") as writer:
                writer.write(result(i))
        _wait_for_outputs(kafka, site, 3)
        report = stop(process)
    assert process.returncode == 0, report
    assert "accepted 3 events" in report


def _wait_for_outputs(kafka: KafkaSettings, site: str, count: int) -> None:
    outputs = _outputs(read_log(kafka, site, count, bound=20))
    assert len(outputs) >= count, outputs


def test_stdin_takes_host_results_and_perfdata_file_lines_mixed(
    kafka: KafkaSettings, site: str, tmp_path: Path
) -> None:
    lines = (
        f"[{T}] PROCESS_HOST_CHECK_RESULT;db1;1;PING CRITICAL - Packet loss = 100%\n"
        f"DATATYPE::SERVICEPERFDATA\tTIMET::{T + 5}\tHOSTNAME::db1\tSERVICEDESC::Disk /var\t"
        "SERVICEPERFDATA::'/var'=12MB;80;90;0;100\tSERVICESTATE::WARNING\t"
        "SERVICESTATETYPE::SOFT\tSERVICEATTEMPT::2\tMAXSERVICEATTEMPTS::3\t"
        "SERVICEOUTPUT::DISK WARNING - free space: /var 12 MB\n"
        "DATATYPE::SERVICEPERFDATA\tTIMET::x\tHOSTNAME::db1\n"
    )
    done = sitelog(
        "ingest",
        *("--site", site, "--bootstrap", kafka.bootstrap_servers, "--origin", "nagios-1"),
        *("--spool", str(tmp_path / "spool")),
        stdin=lines,
    )
    assert done.returncode == 1, done.stderr
    assert "line 3: " in done.stderr and "TIMET" in done.stderr
    host, service = (e.payload for e in read_log(kafka, site, 2))
    assert isinstance(host, HostCheckResult) and isinstance(service, ServiceCheckResult)
    assert (host.host_name, host.state) == ("db1", HostState.DOWN)
    assert host.output == "PING CRITICAL - Packet loss = 100%" and host.poller == "nagios-1"
    assert (service.state, service.state_type, service.attempt) == (
        ServiceState.WARNING,
        StateType.SOFT,
        2,
    )
    assert service.perfdata == "'/var'=12MB;80;90;0;100"
    assert service.check_time == (T + 5) * 1_000_000
