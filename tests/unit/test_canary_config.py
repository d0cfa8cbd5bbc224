"""The weighted canary's mount keys (amphicorn/canary.py): checked by ``Config.validate`` for
every source (a config file, ``amphicorn.run``), and the weights SIGHUP re-reads. What it
shares with shadow traffic (resolving the link, a key without it) is test_mount_links.py's."""

from __future__ import annotations

from pathlib import Path

import pytest
from amphicorn import canary
from amphicorn.config import Config, ConfigError, MountConfig


def config(**canary_fields) -> Config:
    return Config(
        mounts=[
            MountConfig("/shop", "shop:app", name="shop", **canary_fields),
            MountConfig("/_next", "next:app", name="next"),
        ]
    )


def test_good_settings_are_converted():
    validated = config(canary="next", canary_weight="12.5", canary_max_error_rate="0.05").validate()
    shop = validated.mounts[0]
    assert (shop.canary_weight, shop.canary_max_error_rate) == (12.5, 0.05)
    settings = canary.settings_for(shop, validated.resolve)
    assert (settings["canary_cookie"], settings["canary_window"]) == ("amphicorn-canary", 60.0)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"canary": "next", "canary_weight": 100.5}, "canary-weight of mount '/shop' 100.5: expected a percentage"),
        ({"canary": "next", "canary_weight": True}, "canary-weight of mount '/shop' True"),
        ({"canary": "next", "canary_max_error_rate": -0.1}, "canary-max-error-rate of mount '/shop' -0.1"),
        ({"canary": "next", "canary_window": 0}, "canary-window of mount '/shop' 0"),
        ({"canary": "next", "canary_key_header": "X User"}, "canary-key-header of mount '/shop' 'X User'"),
        ({"canary": "next", "canary_cookie": "a=b"}, "canary-cookie of mount '/shop' 'a=b'"),
    ],
)
def test_bad_settings_name_the_key_and_the_value(fields, message):
    with pytest.raises(ConfigError) as raised:
        config(**fields).validate()
    assert message in str(raised.value)


def test_file_weights_for_sighup(tmp_path: Path):
    file = tmp_path / "amphicorn.toml"
    file.write_text(
        "[[mount]]\nprefix = '/shop'\napp = 'a:app'\ncanary = 'next'\ncanary-weight = 30\n"
        "[[mount]]\nprefix = '/x'\napp = 'b:app'\ncanary = '/y'\n"
        "[[mount]]\nprefix = '/_next'\napp = 'c:app'\nname = 'next'\n"
    )
    assert canary.file_weights(str(file)) == {"/shop": 30.0, "/x": 0.0}
    file.write_text(file.read_text().replace("30", "300"))
    with pytest.raises(ConfigError, match="mount #1 canary-weight 300"):
        canary.file_weights(str(file))


def test_workers_start_with_the_weights_the_supervisor_set():
    validated = config(canary="next", canary_weight=10).validate()
    # By the address the admin listener writes; a mount without a canary is passed over.
    started = canary.with_weights(validated, {"/shop": 40.0, "/_next": 5.0})
    assert [mount.canary_weight for mount in started.mounts] == [40.0, None]
    assert validated.mounts[0].canary_weight == 10
    assert canary.with_weights(validated, {}) is validated


def test_sighup_under_a_supervisor_takes_the_file_over_the_weights_set(tmp_path: Path):
    file = tmp_path / "amphicorn.toml"
    file.write_text(
        "[[mount]]\nprefix = '/shop/'\napp = 'a:app'\ncanary = 'next'\ncanary-weight = 30\n"
        "[[mount]]\nprefix = '/_next'\napp = 'c:app'\nname = 'next'\n"
    )
    validated = config(canary="next", canary_weight=10).validate()
    validated.config_file = str(file)
    forgotten: list[list[str]] = []
    reloaded = canary.reload_for_workers(validated, forgotten.append)
    assert (reloaded.mounts[0].canary_weight, forgotten) == (30.0, [["/shop"]])
    # A bad file changes nothing, and forgets nothing.
    file.write_text(file.read_text().replace("30", "300"))
    assert canary.reload_for_workers(reloaded, forgotten.append).mounts[0].canary_weight == 30.0
    assert forgotten == [["/shop"]]
    # Without canaries the file is not read.
    plain = Config(mounts=[MountConfig("/shop", "shop:app")], config_file=str(file)).validate()
    assert canary.reload_for_workers(plain, forgotten.append) is plain
