"""A real enhancer program that misbehaves on purpose (fault-injection tests).

    python faulty_enhancer.py MODE INPUT OUTPUT [VOXEL]

MODE: ok (copy, negated noise added), exit (status 3), hang (sleeps; its child too),
nan, wrongbox, wrongvoxel, nothing, oom (allocates until the memory limit kills it),
partial (writes half a file then dies), killparent (SIGKILL to the process that started it,
as the kernel's OOM killer would end the process holding the guards), slow-ok (sleeps 1 s, then ok),
flaky ITERATION (exit on odd iterations, ok on even ones), decorrelate-low / decorrelate-band
(a map that has lost the structure: Fourier shells 1-4 / 6-7 turned by 90 degrees in phase,
so they no longer correlate with the input; the other shells halved as in ok).
"""
import os
import subprocess
import sys
import time

import mrcfile
import numpy as np


def main():
    mode, inp, out = sys.argv[1:4]
    if mode == 'flaky':  # fails on odd iterations, works on even ones
        mode = 'exit' if int(sys.argv[4]) % 2 else 'ok'
    with mrcfile.open(inp) as m:
        data = np.array(m.data)
        voxel = float(m.voxel_size.x)
    if mode == 'exit':
        sys.stderr.write('faulty enhancer: giving up\n')
        return 3
    if mode == 'hang':
        subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])
        time.sleep(600)
    if mode == 'nothing':
        return 0
    if mode == 'oom':
        hog = []
        while True:
            hog.append(np.ones(50_000_000))
    if mode == 'killparent':
        os.kill(os.getppid(), 9)
        time.sleep(10)
    if mode == 'partial':
        with open(out, 'wb') as f:
            f.write(b'\0' * 1024)
        os.kill(os.getpid(), 9)
    if mode == 'slow-ok':
        time.sleep(1)
    if mode == 'nan':
        data[0, 0, 0] = np.nan
    if mode == 'wrongbox':
        data = data[:-2, :-2, :-2]
    if mode == 'wrongvoxel':
        voxel *= 1.5
    if mode in ('ok', 'slow-ok'):
        data = data * 0.5
    if mode.startswith('decorrelate-'):
        first, last = (1, 4) if mode == 'decorrelate-low' else (6, 7)
        f = np.fft.rfftn(data.astype(np.float64) * 0.5)
        n = data.shape[0]
        z, y = np.meshgrid(np.fft.fftfreq(n) * n, np.fft.fftfreq(n) * n, indexing='ij')
        x = np.fft.rfftfreq(n) * n
        shell = np.round(np.sqrt(z[..., None] ** 2 + y[..., None] ** 2 + x ** 2))
        band = (shell >= first) & (shell <= last)
        f[band] *= 1j
        data = np.fft.irfftn(f, s=data.shape)
    with mrcfile.new(out, overwrite=True) as m:
        m.set_data(np.ascontiguousarray(data, dtype=np.float32))
        m.voxel_size = voxel
    return 0


if __name__ == '__main__':
    sys.exit(main())
