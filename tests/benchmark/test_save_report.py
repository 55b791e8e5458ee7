"""Benchmark reports are written once each: a second report in the same second keeps the first."""

import json

import pixeldcn.benchmark as benchmark


def test_reports_of_the_same_second_are_all_kept(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(benchmark.time, "strftime", lambda _format: "20261203-143729")
    stems = [benchmark.save_report(tmp_path, "unet_cpu", {"run": k}, f"table {k}") for k in range(3)]
    assert [stem.name for stem in stems] == ["unet_cpu_20261203-143729", "unet_cpu_20261203-143729-2",
                                             "unet_cpu_20261203-143729-3"]  # fmt: skip
    for k, stem in enumerate(stems):
        assert json.loads(stem.with_suffix(".json").read_text()) == {"run": k}
        assert stem.with_suffix(".md").read_text() == f"table {k}"
    assert f"wrote {stems[-1]}.json" in capsys.readouterr().out
