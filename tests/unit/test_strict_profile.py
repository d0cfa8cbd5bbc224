"""The profile of the strict runs (bench/strict_profile.py): perf script's lines counted by
thread, shared object and symbol, whatever spaces a thread's name or a Rust symbol holds,
and samples turned into CPU µs per request."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import strict_profile
from strict_profile import count_samples, per_request, thread_group

AMPHICORN_SO = "/v/lib/python3.11/site-packages/amphicorn/_amphicorn.cpython-311-x86_64-linux-gnu.so"
SCRIPT = f"""\
  amphicorn-io  4242  ffffffff81a0b1c2 copy_user_enhanced_fast_string ([kernel.kallsyms])
  amphicorn-io  4242      7f1e2098105b <hyper::proto::h1::io::Buffered<T,B> as core::fmt::Debug>::fmt ({AMPHICORN_SO})
  amphicorn-wsgi-3  4250      7fc76ccd14e0 __memmove_avx_unaligned_erms (/usr/lib/x86_64-linux-gnu/libc.so.6)
  amphicorn-wsgi-12  4259      7fc76ccd14e0 __memmove_avx_unaligned_erms (/usr/lib/x86_64-linux-gnu/libc.so.6)
  granian worker  5000      55d0c0ffee00 [unknown] (/v/bin/python3.11)
this line is not a sample
"""


def test_samples_are_counted_by_thread_object_and_symbol() -> None:
    counts = count_samples(SCRIPT)
    assert counts["thread"] == {"amphicorn-io": 2, "amphicorn-wsgi-N": 2, "granian worker": 1}
    assert counts["dso"] == {"[kernel.kallsyms]": 1, "_amphicorn.so": 1, "libc.so.6": 2, "python3.11": 1}
    assert counts["symbol"]["__memmove_avx_unaligned_erms (libc.so.6)"] == 2
    rust = "<hyper::proto::h1::io::Buffered<T,B> as core::fmt::Debug>::fmt (_amphicorn.so)"
    assert counts["symbol"][rust] == 1
    assert sum(counts["symbol"].values()) == 5


def test_thread_numbers_are_folded_and_names_without_kept() -> None:
    assert thread_group("tokio-runtime-w") == "tokio-runtime-w"
    assert thread_group("ThreadPoolExecutor-0_7") == "ThreadPoolExecutor-0-N"
    assert thread_group("python3.11") == "python3.11"
    assert thread_group("envoy") == "envoy"


def test_samples_become_microseconds_per_request() -> None:
    samples = {"libc.so.6": strict_profile.FREQUENCY, "[kernel.kallsyms]": 2 * strict_profile.FREQUENCY}
    # Two seconds of CPU over 100,000 requests are 20 µs each; most first.
    us = per_request(Counter(samples), 100_000)
    assert us[0][0] == "[kernel.kallsyms]"
    assert abs(us[0][1] - 20.0) < 1e-9
    assert abs(us[1][1] - 10.0) < 1e-9
