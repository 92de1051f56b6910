"""README.rst quotes what the code wrote: its demo table is the demo's results file."""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, 'README.rst')
DEMO_RESULTS = os.path.join(ROOT, 'benchmarks', 'results', 'demo-adk_open.md')


def table_lines(text):
    """The lines of the first Markdown table in ``text`` (stripped), separator row included."""
    lines = [line.strip() for line in text.splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith('| run |'))
    end = start
    while end < len(lines) and lines[end].startswith('|'):
        end += 1
    return lines[start:end]


def test_readme_demo_table_is_the_demo_results_file():
    with open(README) as f:
        readme = f.read()
    with open(DEMO_RESULTS) as f:
        results = f.read()
    quoted = table_lines(readme[readme.index('The demo simulates'):])
    assert len(quoted) >= 4, quoted              # header, separator, two runs
    assert quoted == table_lines(results)
    wall = next(line for line in results.splitlines() if line.startswith('wall time:'))
    assert '    ' + wall + '\n' in readme          # the wall line under the table, from the same file


def test_readme_demo_settings_are_the_results_file_settings():
    """The sentence before the table names the data the results file was made from."""
    import json
    with open(os.path.splitext(DEMO_RESULTS)[0] + '.json') as f:
        settings = json.load(f)['settings']
    with open(README) as f:
        readme = f.read()
    intro = readme[readme.index('The demo simulates'):readme.index('| run |')]
    assert '%d particles' % settings['n_particles'] in intro
    assert 'SNR %g' % settings['snr'] in intro
    assert '%d px at %g Å/px' % (settings['box'], settings['voxel_size']) in intro
