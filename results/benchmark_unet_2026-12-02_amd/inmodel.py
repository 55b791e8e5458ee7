"""Time each up-sampler's forward and backward inside the U-Net training step, beside the step."""
import sys, time, tempfile, statistics as st
from pathlib import Path
import torch
from pixeldcn.benchmark import models as M, engine_steps
from pixeldcn.upsamplers.registry import UPSAMPLERS
torch.set_num_threads(2)
variants = [v.split(":") for v in sys.argv[1:]] or [["deconv6"], ["pixeldcl"]]
classes = tuple(set(UPSAMPLERS.values())) if isinstance(UPSAMPLERS, dict) else None
dev = torch.device("cpu")
setup = M.Setup()
scratch = tempfile.mkdtemp()
ds = M.SyntheticImages(256)
batch = ds.batch(1, torch.Generator().manual_seed(0))
steps, logs = {}, {}
for v in variants:
    name = v[0]; extra = [f"+upsampler.impl={v[1]}" if v[0].startswith("deconv") else f"upsampler.impl={v[1]}"] if len(v) > 1 else []
    cfg = M.compose_config(Path("configs"), [*setup.overrides(name, dev), f"paths.data_dir={scratch}", f"paths.output_dir={scratch}", *extra])
    torch.manual_seed(0)
    s = engine_steps.build(cfg, ds, Path(scratch) / ":".join(v), batch)
    log = []
    ups = [m for m in s.model.modules() if type(m).__module__.startswith("pixeldcn.upsamplers")]
    def attach(m, i, log=log):
        def pre(mod, args):
            mod._t0 = time.perf_counter()
        def post(mod, args, out):
            t1 = time.perf_counter()
            log.append((i, "fwd", t1 - mod._t0))
            x = args[0]
            box = {}
            out.register_hook(lambda g: box.__setitem__("b", time.perf_counter()))
            x.register_hook(lambda g: log.append((i, "bwd", time.perf_counter() - box["b"])))
        m.register_forward_pre_hook(pre); m.register_forward_hook(post)
    for i, m in enumerate(ups): attach(m, i)
    steps[":".join(v)] = s; logs[":".join(v)] = log
    print(":".join(v), [type(m).__name__ for m in ups])
tot = {k: [] for k in steps}
for rep in range(12):
    for k, s in steps.items():
        logs[k].clear(); t = time.perf_counter(); s.train(); tot[k].append(time.perf_counter() - t)
        if rep >= 2:
            s._last = list(logs[k]); s.__dict__.setdefault("hist", []).append(list(logs[k]))
for k, s in steps.items():
    per = {}
    for h in s.hist:
        for i, kind, dt in h: per.setdefault((i, kind), []).append(dt)
    row = {f"{i}{kind}": round(st.median(v)*1000, 1) for (i, kind), v in sorted(per.items())}
    ups_total = sum(st.median(v) for v in per.values())*1000
    print(k, "step", round(st.median(tot[k][2:])*1000, 1), "ups", round(ups_total, 1), row)
