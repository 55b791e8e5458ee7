import time, torch, statistics as st, torch.nn.functional as F
from pixeldcn.upsamplers import build_upsampler
import pixeldcn.layers.small_image_conv as sic
torch.set_num_threads(2); torch.manual_seed(0)
shapes=[(512,16),(256,32),(128,64),(64,128)]
forms={'deconv':['gemm','phases','native'],'deconv6':['gemm','native'],'pixeldcl':['fast','two_tap']}
for c,h in shapes:
    x=torch.randn(1,c,h,h,requires_grad=True); g=torch.randn(1,c,2*h,2*h)
    mods={}
    for n,fs in forms.items():
        for f in fs:
            torch.manual_seed(1); mods[f'{n}:{f}']=build_upsampler(n,c,c,impl=f)
    w3=torch.randn(2*c,3*c,3,3,requires_grad=True)*1; w3=w3.detach().requires_grad_(); x3=torch.randn(1,3*c,h,h,requires_grad=True); g3=torch.randn(1,2*c,h,h)
    def c3_mm(): return sic.conv3x3_same(x3,w3) if (h*h<=256 and 2*c*3*c>=2**20) else None
    tasks={k:(lambda m=m:m(x).backward(g)) for k,m in mods.items()}
    tasks['conv3:conv2d']=lambda:F.conv2d(x3,w3,padding=1).backward(g3)
    if h*h<=256 and 6*c*c>=2**20: tasks['conv3:matmul']=lambda:sic.conv3x3_same(x3,w3).backward(g3)
    ts={k:[] for k in tasks}
    for r in range(9):
        for k,t in tasks.items():
            a=time.perf_counter(); t(); ts[k].append(time.perf_counter()-a)
    print(c,h,'  '.join(f'{k} {st.median(v[2:])*1000:.1f}' for k,v in ts.items()),flush=True)
