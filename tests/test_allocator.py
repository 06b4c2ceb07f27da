"""Freed tensor memory is reused instead of faulted in again (glibc's mmap and trim thresholds)."""

import platform
import subprocess
import sys

import pytest

CHURN = """
import resource, sys, torch
if sys.argv[1] == "reuse":
    from fastpitch.allocator import reuse_freed_memory
    assert reuse_freed_memory()
torch.ones(12 << 20).sum()  # 48 MiB: above the largest mmap threshold glibc adapts to
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(30):
    torch.ones(12 << 20).sum()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", CHURN, mode], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the thresholds are glibc's")
def test_reusing_freed_memory_avoids_a_page_fault_per_page():
    pages = 30 * (48 << 20) // 4096
    default = page_faults("default")
    assert default > pages // 2  # each fresh tensor faults its pages in
    assert page_faults("reuse") < default // 3  # the heap keeps the freed block for the next one
