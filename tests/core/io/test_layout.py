"""RELION's run layout: the names RELION writes, found and built in one place."""
import os

import pytest

from relion_dem.core.io import layout
from relion_dem.core.io.layout import RelionRun


def touch(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, 'w').close()


@pytest.mark.parametrize('path, expected', [
    ('Refine/run_it007_half1_class001_external_reconstruct.star', ('Refine/run', 7, 1, 1)),
    ('Refine/run_it1012_half2_class001_external_reconstruct.star', ('Refine/run', 1012, 2, 1)),
    ('a b/run_it020_class001_external_reconstruct.star', ('a b/run', 20, None, 1)),
])
def test_parse_call(path, expected):
    assert tuple(layout.parse_call(path)) == expected
    run = RelionRun(expected[0])
    assert run.call_star(expected[1], expected[2]) == path


def test_files_of_a_run(tmp_path):
    run = RelionRun(str(tmp_path / 'Refine' / 'run'))
    for it in (0, 1, 12):
        touch(run.sampling(it))
        touch(run.half_model(it))
    touch(run.iteration_path(12, '_class001_sidesplitter.out'))
    touch(run.iteration_path(11, run.DATA))
    assert run.iterations() == [0, 1, 12]
    assert run.latest_before(12, run.SAMPLING) == run.sampling(1)
    assert run.sidesplitter_logs() == {12: run.iteration_path(12, '_class001_sidesplitter.out')}
    assert run.latest_data() == run.iteration_path(11, '_data.star')
    assert not run.is_finished() and not run.converged
    touch(run.half_map(1))
    touch(run.final_model)
    touch(run.final_data)
    assert run.is_finished() and run.converged and run.latest_data() == run.final_data
    assert run.half_map(2).endswith('run_half2_class001_unfil.mrc')
    assert run.config.endswith('run_relion_dem.json') and run.log.endswith('run_relion_dem.jsonl')
    assert RelionRun.find_roots(str(tmp_path / 'Refine')) == [run.root]


def test_continued_run_reads_the_other_roots_files(tmp_path):
    """A --continue run writes under a new root: its gate still finds the old root's STARs."""
    old = RelionRun(str(tmp_path / 'run'))
    touch(old.sampling(5))
    assert RelionRun(str(tmp_path / 'run_ct5')).latest_before(6, RelionRun.SAMPLING) == old.sampling(5)
    assert layout.continued_root(old.optimiser(5)) == (old.root, 5)
    with pytest.raises(ValueError, match='expected <root>_itNNN_optimiser.star'):
        layout.continued_root('run_model.star')
