"""Reading Nagios object definitions: blocks, comments, includes, and errors naming file:line."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.authoring.nagios_objects import NagiosObjectError, read_objects
from engine.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_blocks_comments_and_multi_word_values(tmp_path: Path) -> None:
    cfg = write(
        tmp_path / "a.cfg",
        "# a comment\n"
        "; another\n"
        "define host{\n"
        "    host_name   web 01   ; inline comment\n"
        "    alias       Web server\\; front   ; escaped semicolon kept\n"
        "    notes       a#b\n"
        "    check_command check_http!-u /x?a=1 \\\n"
        "-t 5\n"
        "}\n"
        "\n"
        "  define   service   {\n"
        "\thost_name\tweb 01\n"
        "  service_description   Disk /var\n"
        "  }\n",
    )
    objects = read_objects([cfg])
    host, service = objects.objects
    assert (host.type, host.line, service.type, service.line) == ("host", 3, "service", 11)
    assert host.directives == {
        "host_name": "web 01",
        "alias": "Web server; front",
        "notes": "a#b",
        "check_command": "check_http!-u /x?a=1 -t 5",
    }
    assert host.lines["alias"] == 5
    assert service.directives == {"host_name": "web 01", "service_description": "Disk /var"}
    assert host.where == f"{cfg}:3"
    assert objects.files == (str(cfg),)


def test_a_repeated_directive_replaces_but_members_add_up(tmp_path: Path) -> None:
    cfg = write(
        tmp_path / "a.cfg",
        "define hostgroup {\n hostgroup_name g\n members a,b\n members c\n alias x\n alias y\n}\n",
    )
    (group,) = read_objects([cfg]).objects
    assert group.directives == {"hostgroup_name": "g", "members": "a,b,c", "alias": "y"}


def test_main_file_includes_relative_recursive_cfg_only(tmp_path: Path) -> None:
    write(tmp_path / "etc" / "one.cfg", "define host {\n host_name one\n}\n")
    write(tmp_path / "etc" / "dir" / "b.cfg", "define host {\n host_name b\n}\n")
    write(tmp_path / "etc" / "dir" / "sub" / "a.cfg", "define host {\n host_name a\n}\n")
    write(tmp_path / "etc" / "dir" / "notes.txt", "not a definition\n")
    write(tmp_path / "etc" / "dir" / ".hidden.cfg", "garbage\n")
    write(
        tmp_path / "etc" / "dir" / "inc.cfg",
        "include_file=../extra/x.cfg\ndefine command {\n command_name c\n}\n",
    )
    write(tmp_path / "etc" / "extra" / "x.cfg", "define contact {\n contact_name me\n}\n")
    main = write(
        tmp_path / "etc" / "nagios.cfg",
        "# main\nlog_file=/var/log/x\ncfg_file=one.cfg\ncfg_dir=dir\ninterval_length=30\n"
        "cfg_file=dir/b.cfg\n",
    )
    objects = read_objects([main])
    names = [
        o.get("host_name") or o.get("command_name") or o.get("contact_name")
        for o in objects.objects
    ]
    assert names == ["one", "b", "me", "c", "a"]  # b.cfg read once though named twice
    assert objects.interval_length == 30
    assert objects.unsupported() == {"command": 1, "contact": 1}
    assert all(".hidden" not in f and "notes" not in f for f in objects.files)


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        ("define host {\n host_name a\n", 1, "never closed"),
        ("define host {\n host_name a\ndefine service {\n}\n", 3, "missing '}'"),
        ("host_name a\n", 1, "outside a define"),
        ("\n\ndefine {\n}\n", 3, "without an object type"),
        ("define\n}\n", 1, "without an object type"),
        ("define hots {\n}\n", 1, "unknown object type 'hots'"),
        ("define host { host_name a\n}\n", 1, "unexpected 'host_name a'"),
        ("define host {\n}\n}\n", 3, "outside a define"),
        ("definehost {\n}\n", 1, "outside a define"),
    ],
)
def test_a_syntax_error_names_file_and_line(
    tmp_path: Path, text: str, line: int, says: str
) -> None:
    cfg = write(tmp_path / "bad.cfg", text)
    with pytest.raises(NagiosObjectError) as caught:
        read_objects([cfg])
    message = str(caught.value)
    assert message.startswith(f"{cfg}:{line}: "), message
    assert says in message and "\n" not in message
    assert isinstance(caught.value, ConfigError)


def test_a_missing_include_names_the_line_that_names_it(tmp_path: Path) -> None:
    main = write(tmp_path / "nagios.cfg", "cfg_dir=conf.d\ncfg_file=gone.cfg\n")
    (tmp_path / "conf.d").mkdir()
    with pytest.raises(NagiosObjectError, match=rf"^{main}:2: .*gone\.cfg"):
        read_objects([main])
    with pytest.raises(NagiosObjectError, match=r"nowhere\.cfg"):
        read_objects([tmp_path / "nowhere.cfg"])


# Keys: no blanks, no comment or brace characters; values: one line, no backslash.
_NAME = st.text(
    st.characters(exclude_categories=("Z", "C"), exclude_characters="\\;#{}"),
    min_size=1,
    max_size=8,
).filter(lambda key: not key.startswith("define"))
_VALUE = st.lists(
    st.text(
        st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp"), exclude_characters="\\"),
        min_size=1,
        max_size=10,
    )
    .map(str.strip)
    .filter(bool),
    min_size=1,
    max_size=3,
).map(" ".join)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["host", "service", "command", "timeperiod"]),
            st.dictionaries(_NAME, _VALUE, min_size=1, max_size=4),
        ),
        max_size=5,
    )
)
def test_written_objects_read_back(
    tmp_path_factory: pytest.TempPathFactory, written: list[tuple[str, dict[str, str]]]
) -> None:
    """Any values, ``;`` escaped as Nagios wants, read back as written, each at its line."""
    lines: list[str] = []
    starts: list[int] = []
    for type_, directives in written:
        starts.append(len(lines) + 1)
        lines.append(f"define {type_} {{  ; a comment")
        lines += [f"  {k}\t{v.replace(';', chr(92) + ';')}  ;c" for k, v in directives.items()]
        lines.append("}")
    cfg = tmp_path_factory.mktemp("w") / "w.cfg"
    cfg.write_text("\n".join(lines) + "\n")
    objects = read_objects([cfg])
    assert [(o.type, dict(o.directives), o.line) for o in objects.objects] == [
        (t, d, s) for (t, d), s in zip(written, starts, strict=True)
    ]
    unsupported = [t for t, _ in written if t in ("command", "timeperiod")]
    assert sum(objects.unsupported().values()) == len(unsupported)
