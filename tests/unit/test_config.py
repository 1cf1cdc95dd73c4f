"""Settings fail closed: one table, strict env file, exact kind names, errors that name the setting and its source but
never echo a value. Pure: a dict environment and a temporary MASKKIT_HOME."""

from __future__ import annotations

from pathlib import Path

import pytest

from maskkit.config import SETTINGS, load_settings, settings_markdown
from maskkit.detect import KINDS, LITERAL
from maskkit.errors import ConfigError
from maskkit.kinds import EXAMPLES, _ec2_example, kind_rows

ROOT = Path(__file__).resolve().parents[2]
SECRET = "AKIAQ3EGUMZLX7ZRE5WN"
TYPO = "MASKKIT_" + "TLL"  # built, so the check that tests use only real MASKKIT_ names does not see it


def load(tmp_path: Path, env_file: str | None = None, **env: str) -> object:
    if env_file is not None:
        (tmp_path / "maskkit.env").write_text(env_file, encoding="utf-8")
    return load_settings({"MASKKIT_HOME": str(tmp_path), **env})


def error(tmp_path: Path, env_file: str | None = None, **env: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, env_file, **env)
    return str(caught.value)


def test_docs_settings_md_is_generated_from_the_table() -> None:
    assert (ROOT / "docs" / "settings.md").read_text(encoding="utf-8") == settings_markdown(), (
        "regenerate it: uv run maskkit config --markdown > docs/settings.md"
    )


def test_every_setting_is_in_the_docs_and_every_field_has_a_setting() -> None:
    doc = settings_markdown()
    names = [s.name for s in SETTINGS]
    assert len(names) == len(set(names))
    undocumented_before = ["MASKKIT_LOG_LEVEL", "MASKKIT_UPSTREAM_TIMEOUT", "MASKKIT_REDIS_MAXMEMORY", "MASKKIT_VIA"]
    for name in [*names, *undocumented_before, "MASKKIT_CLAUDE_BIN"]:
        assert f"`{name}`" in doc


def test_defaults_load_and_say_where_they_came_from(tmp_path: Path) -> None:
    settings = load_settings({"MASKKIT_HOME": str(tmp_path), "MASKKIT_TTL": "60"})
    assert settings.ttl == 60 and settings.port == 8000 and settings.kinds is None
    assert settings.sources["MASKKIT_TTL"] == "environment"
    assert settings.sources["MASKKIT_PORT"] == "default"
    assert settings.warnings == () and settings.disabled_kinds == []


def test_kind_names_are_exact_with_a_suggestion(tmp_path: Path) -> None:
    message = error(tmp_path, MASKKIT_KINDS="instance_id")
    assert "unknown kind 'instance_id'; did you mean INSTANCE_ID?" in message
    assert "MASKKIT_KINDS" in message and "environment" in message
    assert "did you mean INSTANCE_ID" in error(tmp_path, MASKKIT_KINDS="INSTANCE_IDS")
    error(tmp_path, MASKKIT_KINDS="NONE")


def test_a_pasted_secret_as_a_kind_name_is_not_echoed(tmp_path: Path) -> None:
    assert SECRET not in error(tmp_path, MASKKIT_KINDS=f"INSTANCE_ID,{SECRET}")


def test_custom_pattern_kinds_are_known_kinds(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('[[pattern]]\nkind = "TICKET"\nprefix = "tkt"\nregex = "TKT-[0-9]{6}"\n', encoding="utf-8")
    settings = load_settings(
        {"MASKKIT_HOME": str(tmp_path), "MASKKIT_PATTERNS": str(rules), "MASKKIT_KINDS": "TICKET,INSTANCE_ID"}
    )
    assert settings.kinds == {"TICKET", "INSTANCE_ID"}
    assert "S3_BUCKET" in settings.disabled_kinds and LITERAL not in settings.disabled_kinds
    assert any("NOT masked" in w for w in settings.warnings)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("MASKKIT_TTL", "abc", "MASKKIT_TTL must be an integer"),
        ("MASKKIT_TTL", "0", "MASKKIT_TTL must be an integer at least 1"),
        ("MASKKIT_PORT", "99999", "MASKKIT_PORT must be an integer between 0 and 65535"),
        ("MASKKIT_PASSTHROUGH", "maybe", "MASKKIT_PASSTHROUGH must be true or false"),
        ("MASKKIT_MEDIA", "drop", "MASKKIT_MEDIA must be one of pass, block"),
        ("MASKKIT_UPSTREAM", "ftp://x", "MASKKIT_UPSTREAM must be an http:// or https:// URL"),
        ("MASKKIT_REDIS_URL", "http://h:1", "MASKKIT_REDIS_URL must be a redis://"),
        ("MASKKIT_REDIS_URL", "redis://h:99999", "MASKKIT_REDIS_URL has a port"),
        ("MASKKIT_LOG_LEVEL", "loud", "MASKKIT_LOG_LEVEL must be one of"),
        ("MASKKIT_NAMESPACE", "a b", "MASKKIT_NAMESPACE must be 1-64"),
        ("MASKKIT_REDIS_MAXMEMORY", "lots", "MASKKIT_REDIS_MAXMEMORY must be a size"),
        ("MASKKIT_LITELLM_MODELS", "x", "MASKKIT_LITELLM_MODELS must be a comma-separated list"),
    ],
)
def test_bad_values_name_the_setting_and_never_echo_the_value(
    tmp_path: Path, name: str, value: str, expected: str
) -> None:
    raw = value if value.isdigit() else value + SECRET
    message = error(tmp_path, **{name: raw})
    assert expected in message and SECRET not in message and (len(raw) < 6 or raw not in message)


def test_the_env_file_accepts_plain_quoted_and_exported_lines(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        "# comment\n\nMASKKIT_TTL=60\nexport MASKKIT_NAMESPACE='team-a'\nMASKKIT_UPSTREAM = \"http://127.0.0.1:9\"\n",
    )
    assert (settings.ttl, settings.namespace, settings.upstream) == (60, "team-a", "http://127.0.0.1:9")  # type: ignore[attr-defined]
    assert settings.sources["MASKKIT_TTL"].endswith("maskkit.env line 3")  # type: ignore[attr-defined]


def test_the_environment_wins_over_the_env_file(tmp_path: Path) -> None:
    settings = load(tmp_path, "MASKKIT_TTL=60\n", MASKKIT_TTL="90")
    assert settings.ttl == 90  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (TYPO + "=60", TYPO + " is not a maskkit setting; did you mean MASKKIT_TTL?"),
        (f"{SECRET}=1", "not a maskkit setting"),
        (f"just {SECRET}", "expected NAME=value"),
        (f"MASKKIT_TTL='{SECRET}", "unbalanced quote"),
        (f'MASKKIT_TTL=a"{SECRET}', "quote inside an unquoted value"),
        ("MASKKIT_ALLOW_REVEAL=1", "set it in the environment only"),
        ("MASKKIT_HOME=/tmp/x", "set it in the environment only"),
        ("ANTHROPIC_BASE_URL=http://127.0.0.1:1", "set it in the environment only"),
        (f"MASKKIT_TTL={SECRET}", "MASKKIT_TTL must be an integer"),
    ],
)
def test_the_env_file_fails_closed_naming_file_and_line(tmp_path: Path, line: str, expected: str) -> None:
    message = error(tmp_path, f"# header\n{line}\n")
    assert expected in message and SECRET not in message
    if "MASKKIT_TTL must" not in expected:
        assert f"{tmp_path / 'maskkit.env'} line 2" in message
    else:
        assert "maskkit.env line 2" in message


def test_a_setting_twice_in_the_env_file_is_an_error(tmp_path: Path) -> None:
    assert "already set on line 1" in error(tmp_path, "MASKKIT_TTL=1\nMASKKIT_TTL=2\n")


def test_allow_reveal_comes_from_the_environment_only(tmp_path: Path) -> None:
    assert load(tmp_path, MASKKIT_ALLOW_REVEAL="1").allow_reveal is True  # type: ignore[attr-defined]


def test_an_unknown_maskkit_name_in_the_environment_is_a_warning(tmp_path: Path) -> None:
    settings = load(tmp_path, **{"MASKKIT_" + "NAMESPCE": "x"})
    assert settings.warnings == (  # type: ignore[attr-defined]
        "MASKKIT_" "NAMESPCE in the environment is not a maskkit setting; ignored; did you mean MASKKIT_NAMESPACE?",
    )


def test_the_tests_use_no_maskkit_name_that_is_not_a_setting() -> None:
    import re

    known = {s.name for s in SETTINGS} | set(KINDS)  # (the kind MASKKIT_KEY is a name, not a setting)
    used = set()
    for path in [*ROOT.glob("tests/**/*.py"), *ROOT.glob("bench/*.py"), *ROOT.glob("notebooks/src/*.py")]:
        used |= set(re.findall(r"\bMASKKIT_[A-Z0-9_]*[A-Z0-9]\b", path.read_text(encoding="utf-8")))
    assert used - known == set()


def test_every_kind_has_an_example_the_detector_finds_as_that_kind() -> None:
    from maskkit.detect import Detector

    detector = Detector()
    rows = kind_rows()
    assert {r.kind for r in rows} == set(KINDS)
    for row in rows:
        if row.kind == LITERAL:
            continue
        text = EXAMPLES.get(row.kind) or _ec2_example(row.kind)
        if row.kind == "ENCODED_VALUE":  # the masker decodes runs and looks for a secret inside
            from maskkit.core.encoded import encoded_runs
            from maskkit.core.plan import secret_in

            assert any(secret_in(plain, detector.detect) for _, _, plain in encoded_runs(text))
            continue
        assert row.kind in {s.kind for s in detector.detect(text)}, row.kind
