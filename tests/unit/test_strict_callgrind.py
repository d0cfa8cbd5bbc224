"""The strict scenarios under callgrind (bench/strict_callgrind.py): a profile's totals read,
callgrind_annotate's lines summed by shared object, and a request's cost taken as the loaded
run's counts less the idle run's."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from strict_callgrind import objects_in, per_request, totals, valgrind

PROFILE = """\
# callgrind format
version: 1
creator: callgrind-3.19.0
events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw
fn=(1) main
0 5 1 1 0 0 0 0 0 0
summary: 277848706 74531749 69719123 4000 5018189 2729247 10 342473 252092
totals: 277848706 74531749 69719123 4000 5018189 2729247 10 342473 252092
"""

SO = "/v/lib/python3.11/site-packages/amphicorn/_amphicorn.cpython-311-x86_64-linux-gnu.so"
ANNOTATION = f"""\
--------------------------------------------------------------------------------
Ir                   file:function
--------------------------------------------------------------------------------
278,008,995 (100.0%)  PROGRAM TOTALS
 19,743,820 ( 7.10%)  ./string/../multiarch/memset-vec-unaligned-erms.S:__memset_avx2 [/usr/lib/libc.so.6]
  2,890,778 ( 1.04%)  ???:_amphicorn::server::service::Service::dispatch::{{{{closure}}}} [{SO}]
  2,372,782 ( 0.85%)  ???:<core::pin::Pin<P> as core::future::future::Future>::poll [{SO}]
  1,000,000 ( 0.36%)  ???:core::ptr::drop_in_place<[u8]> [{SO}]
    128,644 ( 0.05%)  Python/frame.c:_PyFrame_Copy [/usr/lib/libpython3.11.so.1.0]
     62,104 ( 0.02%)  ./Include/object.h:_asyncio_Task___init__
"""


def test_a_profile_s_totals_are_read_by_event(tmp_path: Path) -> None:
    path = tmp_path / "run.4242.out"
    path.write_text(PROFILE)
    counts = totals(path)
    assert counts["Ir"] == 277_848_706
    assert counts["DLmw"] == 252_092
    assert len(counts) == 9


def test_annotated_functions_are_summed_by_object() -> None:
    objects = objects_in(ANNOTATION)
    assert objects == {
        "libc.so.6": 19_743_820,
        "_amphicorn.so": 2_890_778 + 2_372_782 + 1_000_000,
        "libpython3.11.so.1.0": 128_644,
        "?": 62_104,
    }


def test_a_request_costs_the_loaded_run_less_the_idle_one() -> None:
    idle = Counter({"Ir": 1_000_000, "DLmr": 300})
    loaded = Counter({"Ir": 6_000_000, "DLmr": 800})
    assert per_request(loaded, idle, 1_000) == {"Ir": 5_000.0, "DLmr": 0.5}


def test_the_server_runs_under_callgrind_with_the_cache_simulated(tmp_path: Path) -> None:
    command = valgrind(["python", "-m", "amphicorn"], tmp_path / "label")
    assert command[:3] == ["valgrind", "--tool=callgrind", "--cache-sim=yes"]
    assert f"--callgrind-out-file={tmp_path / 'label'}.%p.out" in command
    assert command[-3:] == ["python", "-m", "amphicorn"]
