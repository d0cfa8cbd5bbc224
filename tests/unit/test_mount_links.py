"""What the weighted canary and shadow traffic share (amphicorn/mount_links.py), once for
each: the link names another mount, by name or by prefix; a key of the group needs the link;
a config file's ``[[mount]]`` table names the table and the key of a bad value. Each
feature's own keys are tested in test_canary_config.py and test_shadow_config.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from amphicorn import canary, cli, shadow
from amphicorn.config import Config, ConfigError, MountConfig

#: The link, its feature's module, a key of its group with a good value (given without the
#: link), and that key with a bad value in a config file, with the message it gives.
LINKS = [
    pytest.param(
        "canary",
        canary,
        ("canary_weight", 5, "canary-weight 5"),
        ("canary-weight = 300", "mount #1 canary-weight 300: expected a percentage"),
        id="canary",
    ),
    pytest.param(
        "shadow",
        shadow,
        ("shadow_sample", 0.5, "shadow-sample 0.5"),
        ("shadow-sample = 2", "mount #1 shadow-sample 2: expected a rate from 0 to 1"),
        id="shadow",
    ),
]


def config(**fields) -> Config:
    return Config(
        mounts=[
            MountConfig("/shop", "shop:app", name="shop", **fields),
            MountConfig("/_next", "next:app", name="next"),
        ]
    )


@pytest.mark.parametrize(("link", "feature", "key", "file_key"), LINKS)
def test_the_link_is_resolved_by_name_or_prefix(link, feature, key, file_key):
    for reference in ("next", "/_next", "/_next/"):
        validated = config(**{link: reference}).validate()
        assert feature.settings_for(validated.mounts[0], validated.resolve)[link] == "/_next"


@pytest.mark.parametrize(("link", "feature", "key", "file_key"), LINKS)
@pytest.mark.parametrize(
    ("reference", "message"),
    [
        pytest.param(
            "nowhere", "{link} 'nowhere' of mount '/shop': expected the name or prefix of another mount", id="unknown"
        ),
        pytest.param(
            "shop", "{link} 'shop' of mount '/shop': expected the name or prefix of another mount", id="itself"
        ),
    ],
)
def test_the_link_names_another_mount(link, feature, key, file_key, reference, message):
    with pytest.raises(ConfigError) as raised:
        config(**{link: reference}).validate()
    assert message.format(link=link) in str(raised.value)


@pytest.mark.parametrize(("link", "feature", "key", "file_key"), LINKS)
def test_a_key_of_the_group_needs_the_link(link, feature, key, file_key):
    field, value, shown = key
    with pytest.raises(ConfigError) as raised:
        config(**{field: value}).validate()
    assert f"{shown} of mount '/shop': given, but the mount names no {link}" in str(raised.value)


@pytest.mark.parametrize(("link", "feature", "key", "file_key"), LINKS)
def test_a_config_file_names_the_table_and_key(tmp_path: Path, link, feature, key, file_key):
    line, message = file_key
    file = tmp_path / "amphicorn.toml"
    file.write_text(
        f"[[mount]]\nprefix = '/shop'\napp = 'a:app'\n{link} = 'next'\n{line}\n"
        "[[mount]]\nprefix = '/_next'\napp = 'c:app'\nname = 'next'\n"
    )
    with pytest.raises(ConfigError, match=message):
        cli.config_from_args(cli.build_parser().parse_args([f"--config={file}"]), {})
