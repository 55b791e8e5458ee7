import pytest
import torch

from pixeldcn.layers import matmul_forms


@pytest.fixture
def cpuinfo(monkeypatch, tmp_path):
    """Point the vendor check at a written /proc/cpuinfo and forget the cached answer around the test."""

    def write(vendor: str) -> None:
        path = tmp_path / "cpuinfo"
        path.write_text(f"processor\t: 0\nvendor_id\t: {vendor}\nflags\t\t: fpu avx2 avx512f\n")
        monkeypatch.setattr(matmul_forms, "CPUINFO", path)
        matmul_forms._intel_cpu_with_mkl.cache_clear()

    yield write
    matmul_forms._intel_cpu_with_mkl.cache_clear()


@pytest.mark.parametrize(("vendor", "pays"), [("GenuineIntel", True), ("AuthenticAMD", False)])
def test_products_pay_on_the_cpu_of_intel_machines_with_mkl_only(cpuinfo, monkeypatch, vendor, pays):
    monkeypatch.setattr(torch.backends.mkl, "is_available", lambda: True)
    cpuinfo(vendor)
    assert matmul_forms.matmul_forms_pay(torch.device("cpu")) is pays
    assert not matmul_forms.matmul_forms_pay(torch.device("cuda"))


def test_products_do_not_pay_without_mkl(cpuinfo, monkeypatch):
    monkeypatch.setattr(torch.backends.mkl, "is_available", lambda: False)
    cpuinfo("GenuineIntel")
    assert not matmul_forms.matmul_forms_pay(torch.device("cpu"))
