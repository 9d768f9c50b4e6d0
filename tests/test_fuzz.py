"""The reliability corpus (tests/fuzz_corpus.py): CLI flags, model cards, Python API batches of
every rule, corrupt IDX files.  Oracle: the contract -- bad input is refused with exit 2 and one
line (no traceback, nothing silently accepted); the valid controls succeed.

The README's counts come from ``python tests/fuzz_corpus.py``.
"""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import fuzz_corpus  # noqa: E402


@pytest.mark.parametrize("kind", ["cli", "card", "api", "idx"])
def test_corpus_has_no_traceback_and_accepts_nothing_bad(kind, tmp_path):
    summary = fuzz_corpus.run_corpus(tmp_path, kinds=(kind,))[kind]
    assert summary["tried"] > 10
    assert summary["traceback"] == 0 and summary["wrong"] == 0, summary["failures"][:10]
