"""The high-resolution benchmark's pure parts: paired differences, the guards' means, the table."""
import pytest

from relion_dem_dev.bench import highres


def _row(res, extra=None):
    r = {k: None for k, _ in highres.COLUMNS}
    r.update(truth_res_envelope_A=res, **(extra or {}))
    return r


def test_paired_differences_and_guard_means():
    call = dict(iteration=3, half=1, checked=40, replaced=2, scaled=4, fsc_cutoff_A=3.5, enhancer_s=10.0)
    per_seed = [dict(seed=s, rows=dict(relion=_row(4.0 + s), sidesplitter=_row(3.9 + s), dem=_row(3.6 + s * 1.1)),
                     guards=dict(dem=[call, dict(call, replaced=0, fsc_cutoff_A=4.5)]))
                for s in (1, 2)]
    summ = highres.summarize(per_seed, ['relion', 'sidesplitter', 'dem'])
    assert summ['paired']['dem - relion']['mean'] == pytest.approx(((4.7 - 5) + (5.8 - 6)) / 2, abs=1e-3)
    assert summ['paired']['dem - sidesplitter']['n'] == 2
    assert summ['means']['relion']['truth_res_envelope_A'][0] == pytest.approx(5.5)
    g = highres.guard_means(per_seed)
    assert g == dict(dem=dict(calls=4, checked=40.0, replaced=1.0, scaled=4.0, fsc_cutoff_A=4.0))
    res = dict(dataset='x', structure='1a28', description='d', data=dict(voxel_size=1.25), refine=dict(a=1),
               relion_version='3.1.3', np=3, enhancer='network', per_seed=per_seed, summary=summ, guards=g)
    text = highres.markdown(res)
    assert '| 1 | dem | 4.70 |' in text and 'dem - relion -0.25 ± 0.07 (n=2)' in text
    assert '| dem | 4 | 40.0 | 1.0 | 4.0 | 4.0 |' in text


def test_cost_at_real_size_scales_relion_by_particles_and_box_area(tmp_path):
    real = tmp_path / 'realsize.json'
    real.write_text('{"boxes": [{"box": 160, "in_loop_s": 20.0}, {"box": 320, "in_loop_s": null}]}')
    res = dict(data=dict(n_particles=1000, box=80),
               summary=dict(means=dict(relion=dict(wall_per_iteration_s=(40.0, 1.0)))))
    cost = highres.cost_at_real_size(res, str(real), particles=(1000, 10000))
    row, = cost['rows']                       # the failed box is left out
    assert row['relion_s'] == {1000: 160.0, 10000: 1600.0}      # 40 s x (160/80)^2, x 10 particles
    assert row['percent'] == {1000: 12.5, 10000: 1.25}
    assert '| 160 | 20.0 | 160 | 12.50 % | 1600 | 1.25 % |' in '\n'.join(highres.cost_lines(cost))
    assert highres.cost_at_real_size(res, str(tmp_path / 'absent.json')) is None
