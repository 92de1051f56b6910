import multiprocessing

from relion_dem.core.runtime import runlog


def _writer(args):
    path, who = args
    for i in range(200):
        runlog.append(path, {'who': who, 'i': i, 'pad': 'x' * 3000})


def test_concurrent_appends_never_interleave(tmp_path):
    path = str(tmp_path / 'log.jsonl')
    with multiprocessing.Pool(2) as pool:
        pool.map(_writer, [(path, 1), (path, 2)])
    records = runlog.read(path)
    assert len(records) == 400
    assert sorted(r['i'] for r in records if r['who'] == 2) == list(range(200))


def test_truncated_last_line_is_skipped(tmp_path):
    path = tmp_path / 'log.jsonl'
    runlog.append(str(path), {'a': 1})
    with open(path, 'a') as f:
        f.write('{"a": 2, "b"')
    assert runlog.read(str(path)) == [{'a': 1}]
