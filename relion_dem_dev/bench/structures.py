"""Are the benchmark's structures independent? No chain may be shared (sequence identity at or
above ``IDENTITY`` percent over the shorter chain, after gemmi's global alignment with BLOSUM62 and
gap penalties, which puts unrelated chains near 0 %) between two
benchmark structures, or between a benchmark structure and the network's training set."""
import gemmi

IDENTITY = 40.0
#: chains shorter than this (peptides) are not compared
MIN_CHAIN = 30


def chain_sequences(path):
    """{chain name: one-letter sequence} of the polymer chains of the model at ``path``."""
    st = gemmi.read_structure(str(path))
    st.setup_entities()
    out = {}
    for ch in st[0]:
        seq = gemmi.one_letter_code([r.name for r in ch.get_polymer()])
        if len(seq.replace('X', '')) >= MIN_CHAIN:
            out[ch.name] = seq
    return out


def identity(a, b):
    """Percent identity of sequences ``a`` and ``b`` over the shorter one (global alignment)."""
    result = gemmi.align_string_sequences(list(a), list(b), [], gemmi.AlignmentScoring('b'))
    return result.match_count * 100.0 / min(len(a), len(b))


def shared_chains(seqs_a, seqs_b, threshold=IDENTITY):
    """[(chain of a, chain of b, percent)] at or above ``threshold``."""
    return [(ca, cb, round(identity(sa, sb), 1)) for ca, sa in seqs_a.items() for cb, sb in seqs_b.items()
            if identity(sa, sb) >= threshold]


def problems(structures, training, threshold=IDENTITY):
    """Pairs that share a chain: ``structures`` and ``training`` are {id: path}; a list of
    sentences (empty: independent)."""
    seqs = {k: chain_sequences(p) for k, p in structures.items()}
    train = {k: chain_sequences(p) for k, p in training.items()}
    out = []
    names = sorted(seqs)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            for ca, cb, pct in shared_chains(seqs[a], seqs[b], threshold):
                out.append('%s chain %s and %s chain %s: %.0f%% identical' % (a, ca, b, cb, pct))
        for t, tseq in train.items():
            for ca, cb, pct in shared_chains(seqs[a], tseq, threshold):
                out.append('%s chain %s and training structure %s chain %s: %.0f%% identical' % (a, ca, t, cb, pct))
    return out
