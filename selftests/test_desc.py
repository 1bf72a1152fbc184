from pathlib import Path

import pytest

from zdtm.desc import FLAVORS, Desc, DescError, load_desc, parse_desc

P = Path("t.desc")


def test_python_literal_with_tabs():
    d = parse_desc(P, "{'flavor':\t'h ns',\t'flags': 'suid excl',\n\t'opts': '--file-locks'}\n")
    assert d.flavors == ("h", "ns")
    assert d.flags == {"suid", "excl"}
    assert d.opts == ("--file-locks",)


def test_yaml_flow_and_block_forms():
    assert parse_desc(P, "{flavor: uns, feature: mnt_id timens}").features == ("mnt_id", "timens")
    assert parse_desc(P, "flavor: h\ntimeout: 5\n").timeout == 5.0


def test_empty_and_missing_mean_defaults(tmp_path):
    assert parse_desc(P, "  \n").flavors == FLAVORS
    assert load_desc(tmp_path / "none.desc") == Desc()


@pytest.mark.parametrize("text, message", [
    ("{'flavour': 'h'}", "t.desc:1: unknown key 'flavour'"),
    ("{'flavor': 'h',\n 'flags': 'suid noauto bogus'}", "t.desc:2: unknown flag 'bogus'"),
    ("{'flavor': 'h vm'}", "t.desc:1: unknown flavor 'vm'"),
    ("{'flavor': 'h',\n\n 'opts': '--a',", "t.desc"),
    ("{'timeout': 'soon'}", "'timeout' must be a number"),
    ("{'timeout': -1}", "'timeout' must be positive"),
    ("{'flags': 3}", "'flags' must be a string"),
    ("[1, 2]", "expected a mapping"),
    ("{'flags': 'crfail', 'crfail_match': '('}", "not a valid regex"),
    ("{'crfail_match': 'x'}", "without the 'crfail' flag"),
    ("{'opts': '--a \"b'}", "'opts'"),
    ("{'differs': 'fd'}", "'differs' must map each item"),
    ("{'inherit_fd': 'socket'}", "only 'pipe' is supported"),
    ("{'ext_mounts': 'a/b'}", "is not a plain name"),
    ("{'differs': {'bogus.x': 'why'}}", "unknown item 'bogus.x'"),
    ("{'differs': {'fd.3.pos': ' '}}", "needs a reason"),
    ("{'bind': 3}", "'bind' must be a path string"),
    # upstream eval()s a .desc; beyond the forms its trees use, nothing is evaluated
    ("os.system('true') or {}", "t.desc:1: calling 'os.system' is not supported"),
    ("__import__('os').getenv('X') or {}", "calling \"__import__('os').getenv\" is not supported"),
    ("{'flavor': 'h'} if os.getenv('X') else {}", "IfExp (\"{'flavor': 'h'} if"),
    ("os.getenv('ZDTM_NO_SUCH_VAR') and {'flavor': 'ns'}", "evaluates to None, expected a mapping"),
    ("\n\nos.getenv('X') or {'opts': os.environ['X']}", "t.desc:3: Subscript"),
    ("os.getenv('X') or {'flags': len('x')}", "calling 'len' is not supported"),
    ("os.getenv('X') or (lambda a, b=1: {})(1)", "takes exactly its positional arguments"),
    ("os.getenv('X') or {'opts': '%d' % 'x'}", "%d format: a real number is required"),
    ("os.getenv('X') or {'opts': 'a' + 'b'}", "the only operator in a .desc expression is str % values"),
    ("os.getenv('X') or {'opts': os.stat('/').st_size}", "'.st_size' is not supported"),
    ("os.getenv('X') or os.stat('/zdtm-no-such-file').st_rdev", "No such file or directory"),
    ("os.getenv('X') or {'flavor': 'h vm'}", "unknown flavor 'vm'"),
])
def test_errors_name_file_line_problem(text, message):
    with pytest.raises(DescError) as e:
        parse_desc(P, text)
    assert message in str(e.value)


def test_syntax_error_has_line():
    with pytest.raises(DescError) as e:
        parse_desc(P, "{'flavor': 'h',\n 'flags': 'suid'\n 'opts': '--x'}")
    assert str(e.value).startswith("t.desc:3: ") and "syntax error" in str(e.value), str(e.value)


def test_args_and_arch():
    d = parse_desc(P, "{'args': '--filename --mode=3', 'arch': 'x86_64 aarch64'}")
    assert d.args == ("--filename", "--mode=3")
    assert d.arch_mismatch("x86_64") is None
    assert "is for x86_64 aarch64" in d.arch_mismatch("s390x")


def test_every_suite_desc_is_valid():
    from zdtm.suite import Suite
    for w in Suite.load().workloads:
        w.load_desc()


def test_upstream_bind_key_is_accepted():
    assert parse_desc(P, "{'flavor': 'ns uns', 'bind': 'zdtm/static'}").flavors == ("ns", "uns")


# mnt_ext_dev.desc's form, as upstream writes it (its own file: test_upstream.py)
EXT_DEV = """os.getenv("ZDTM_T_DEV") and \\
( lambda dev, rdev:
{'flavor': 'ns', 'feature': 'mnt_id', "flags": "suid",
"dopts": "--external dev[%d/%d]:loop" % (os.major(rdev), os.minor(rdev)),
"ropts": "--external dev[loop]:%s" % dev,
} ) (os.getenv("ZDTM_T_DEV"), os.stat(os.getenv("ZDTM_T_DEV")).st_rdev) or {'flags': 'noauto'}
"""


def test_upstream_conditional_expression_is_evaluated(monkeypatch):
    monkeypatch.delenv("ZDTM_T_DEV", raising=False)
    d = parse_desc(P, EXT_DEV)
    assert d.flags == {"noauto"} and d.flavors == FLAVORS and not d.dopts
    monkeypatch.setenv("ZDTM_T_DEV", "/dev/null")
    d = parse_desc(P, EXT_DEV)
    assert (d.flavors, d.flags, d.features) == (("ns",), {"suid"}, ("mnt_id",))
    assert d.dopts == ("--external", "dev[1/3]:loop")
    assert d.ropts == ("--external", "dev[loop]:/dev/null")
    monkeypatch.setenv("ZDTM_T_DEV", "/zdtm-no-such-device")
    with pytest.raises(DescError) as e:
        parse_desc(P, EXT_DEV)
    assert str(e.value).startswith("t.desc:6: ") and "No such file or directory" in str(e.value)


def test_yaml_flow_mapping_with_bare_words_is_no_expression():
    assert parse_desc(P, "{flavor: ns, flags: suid}").flags == {"suid"}
