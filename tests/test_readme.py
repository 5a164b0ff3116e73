"""The README's Python examples run as written (docs that match the code)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_python_examples_in_readme_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has Python examples"
    from initscope.inspect.stats import STATISTICS

    saved = dict(STATISTICS)  # an example registers a statistic: leave the registry as the other tests expect it
    try:
        for code in blocks:
            exec(compile(code, "README.md", "exec"), {})
    finally:
        STATISTICS.clear()
        STATISTICS.update(saved)


def test_readme_names_every_experiment_and_the_two_commands():
    from initscope.experiments import EXPERIMENTS

    text = README.read_text()
    for name in EXPERIMENTS:
        assert f"`{name}`" in text, name
    assert "bash scripts/install.sh && initscope run kaiming-variance" in text
    assert "bash scripts/install.sh --test && python3 -m pytest" in text
    assert "bash scripts/install.sh --test && python3 -m pytest" in (README.parent / ".ci" / "run").read_text()
