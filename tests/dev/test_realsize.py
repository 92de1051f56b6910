"""The real-size benchmark's pure parts: padding keeps the molecule centred, the table says
what was measured and what failed."""
import numpy as np

from relion_dem_dev.bench import realsize


def test_padding_keeps_the_centre():
    a = np.zeros((8, 8, 8), np.float32)
    a[4, 4, 4] = 1.0
    b = realsize.padded(a, 16)
    assert b.shape == (16, 16, 16) and b[8, 8, 8] == 1.0 and b.sum() == 1.0


def test_table_lists_each_box_and_each_failure():
    call = dict(enhancer_s=10.0, seconds=12.0, regularized=True, fsc_guard_shell=64,
                harm_guard=dict(shells_checked=63, shells_replaced=[9, 10], shells_scaled=1))
    res = dict(structure='1BD2', voxel_A=1.05, made_in_box=256, cpus=2, date='today',
               boxes=[dict(box=256, in_loop_s=30.0, in_loop_calls=[call, call], in_loop_peak_GB=3.5,
                           denoise_s=60.0, denoise_peak_GB=4.0)],
               failed=[dict(box=512, error='in-loop call at box 512 failed:\nMemoryError')])
    text = realsize.markdown(res)
    assert '| 256 | 4.2 | 30.0 | 10.0 / 10.0 | 2 / 1 of 63, 2 / 1 of 63 | 3.50 | 60.0 | 4.00 |' in text  # 256·1.05/64
    assert '| 512 | failed: in-loop call at box 512 failed: |' in text


def test_past_the_node_says_how_each_call_ended():
    res = dict(structure='1BD2', voxel_A=1.05, made_in_box=256, cpus=2, date='today', boxes=[], failed=[],
               past_the_node=[dict(box=384, node_GB=4.0, cgroup_peak_GB=4.0, oom_kills=1, server_killed=True,
                                   wall_s=20.0, calls=[
                                       dict(returncode=0, regularized=False, fallback='network server died'),
                                       dict(returncode=-9, regularized=None, fallback=None)])])
    text = realsize.markdown(res)
    assert "## Past the node's memory" in text
    assert '| 384 | 4 | 4.00 | 1 | yes | plain map: network server died | killed (exit -9) | 20.0 |' in text
