"""malloc keeps freed host memory: a block freed and asked for again is not faulted in again.

Each case runs in a fresh interpreter, so the setting (process-wide, as in training) and the
page-fault counts belong to that case alone. The oracle is the kernel's count of minor page faults
(``getrusage``), which the code under test cannot influence.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pixeldcn.utils.host_memory import _glibc

pytestmark = pytest.mark.skipif(_glibc() is None, reason="mallopt is glibc's")

# 20 rounds of allocating, touching and freeing a 64 MiB tensor: the minor page faults of each.
PROBE = """
import json, resource, sys
import torch
from pixeldcn.utils.host_memory import host_memory_policy, keep_freed_host_memory
if sys.argv[1] == "keep":
    keep_freed_host_memory()
faults = []
for _ in range(20):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = torch.empty(16 * 2**20)
    block.fill_(1.0)
    del block
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps({"faults": faults, "policy": host_memory_policy()}))
"""
PAGES_OF_64_MIB = 64 * 2**20 // 4096


def probe(mode: str) -> dict:
    """The probe's page faults per round and the policy it reports, with ``mode`` "keep" or "default"."""
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def test_by_default_every_allocation_of_a_large_block_faults_its_pages_in_again():
    # The premise of the module: glibc unmaps large freed blocks, so each reuse costs every page.
    result = probe("default")
    assert min(result["faults"]) >= PAGES_OF_64_MIB
    assert result["policy"].startswith("glibc default")


def test_kept_memory_is_reused_without_page_faults():
    result = probe("keep")
    # The heap grows to fit the first few blocks (an aligned request does not fit a freed block of
    # its own size until neighbours merge); from then on freed pages are reused.
    assert sum(result["faults"][10:]) < PAGES_OF_64_MIB
    assert result["policy"].startswith("kept for reuse")
