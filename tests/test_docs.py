"""Every committed result is reachable from the documentation."""
import glob
import os
import re

from conftest import REPO


def docs_text():
    """README and docs/*.md, with brace lists expanded (``fmnist_dspnet.{json,md}`` names
    ``fmnist_dspnet.json`` and ``fmnist_dspnet.md``)."""
    paths = [os.path.join(REPO, 'README.md')] + glob.glob(os.path.join(REPO, 'docs', '*.md'))
    text = '\n'.join(open(p).read() for p in paths)
    expanded = [stem + alt for stem, alts in re.findall(r'([\w./-]+)\{([\w.,-]+)\}', text)
                for alt in alts.split(',')]
    return text + '\n' + '\n'.join(expanded)


def test_brace_lists_are_expanded():
    assert 'docs/results/fmnist_gating.json' in docs_text()  # written as fmnist_gating.{json,md}


def test_every_results_json_is_referenced_from_a_doc():
    text = docs_text()
    missing = [os.path.relpath(p, REPO)
               for p in sorted(glob.glob(os.path.join(REPO, 'docs', 'results', '*.json')))
               if os.path.basename(p) not in text]
    assert not missing, f'results no doc names: {missing}'
