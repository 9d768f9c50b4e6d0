"""The README is a quickstart that works: its Python example runs, its commands exist, its links
resolve. Oracle: the README itself (what it promises a newcomer), the Makefile and the CLI's parser.

The documentation site is built by ``make docs`` (not part of this suite); the one tutorial that
needs no data set and no simulator -- the template tests of "write your own rule" -- also runs here.
"""
import re
import runpy
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def test_readme_python_example_runs(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no ```python example"
    assert len(blocks[0].strip().splitlines()) <= 12, "the quickstart example should stay about ten lines"
    exec(compile(blocks[0], "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "global" in out  # the alignment table was printed


def test_readme_names_the_two_make_targets():
    text = README.read_text()
    makefile = (ROOT / "Makefile").read_text()
    for target in ("demo", "test", "docs"):
        assert f"make {target}" in text and re.search(rf"^{target}:", makefile, flags=re.M)


def test_readme_commands_parse():
    from neurosim.cli import build_parser

    text = README.read_text()
    lines = [line.split(" #")[0].strip() for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S)
             for line in block.splitlines() if line.startswith("neurosim ")]
    assert len(lines) >= 4, "README shows the command line"
    parser = build_parser()
    for line in lines:
        parser.parse_args(shlex.split(line)[1:])  # argparse exits (status 2) on an unknown flag


def test_readme_links_resolve():
    text = README.read_text()
    targets = [t for t in re.findall(r"\]\(([^)#\s]+)\)", text) if not re.match(r"[a-z]+://", t)]
    assert any(t.startswith("docs/") for t in targets), "README links the documentation"
    missing = [t for t in targets if not (ROOT / t).exists()]
    assert not missing, f"README links to missing files: {missing}"


def test_write_your_own_rule_tutorial_runs(capsys):
    runpy.run_path(str(ROOT / "docs" / "examples" / "plot_write_your_own_rule.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert out.count("passed: test_") == 4
