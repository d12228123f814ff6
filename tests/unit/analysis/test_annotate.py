"""``nbpipe annotate`` (issue 10, items 1-6 and 10): proposals a data scientist accepts and ``check`` passes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from nbpipe.analysis import analyze
from nbpipe.analysis.annotate import Annotation, propose
from tests.analysis_notebooks.build import code, notebook


def annotated(*cells: Any) -> Annotation:
    return propose(notebook(*cells))


def code_cells(result: Annotation) -> list[str]:
    return [c["source"] for c in result.notebook["cells"] if c["cell_type"] == "code"]


def stage_cells(result: Annotation) -> list[str]:
    return [s for s in code_cells(result) if s.startswith("%%stage")]


def diagnostics(result: Annotation) -> list[tuple[str, str]]:
    return [(d.code, d.message) for d in analyze("annotated.ipynb", result.notebook).diagnostics]


def errors(result: Annotation) -> list[tuple[str, str]]:
    return [(d.code, d.message) for d in analyze("annotated.ipynb", result.notebook).errors]


def header(source: str) -> str:
    return source.split("\n", 1)[0]


def user_code(result: Annotation) -> str:
    """The code of the result without stage headers and the added %load_ext: what the user wrote."""
    lines = []
    for source in code_cells(result):
        if source == "%load_ext nbpipe":
            continue
        lines.extend(source.split("\n")[1:] if source.startswith("%%stage") else source.split("\n"))
    return "\n".join(line for line in lines if line.strip())


# -- 1. never crashes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cells",
    [
        ["x1 = [1.0, 2.0]\nx1 = list(x1)", "x1[0] = 3.14159"],  # a mutation only, no heading anywhere
        ["import numpy as np", "_ = np.arange(3)"],  # binds only `_`
        ["x1 = list(range(3))", "x1[0] = 3.14159", "print(x1)"],
        ["_ = 1", "__ = 2"],
    ],
)
def test_cells_without_heading_that_bind_nothing_do_not_crash(cells: list[str]) -> None:
    result = annotated(*cells)
    assert errors(result) == []


# -- 2. no module, function or class as an output; NBP210 ---------------------------------------


def test_modules_functions_and_lambdas_are_never_outputs() -> None:
    result = annotated(
        "import pandas as pd\ndf = pd.DataFrame({'a': [1, 2, 3]})\nf = lambda v: v * 2",
        "df2 = df.assign(b=f(df.a))\ntotal = pd.Series(df2.b).sum()",
        "print(total)",
    )
    outs = " ".join(header(s) for s in stage_cells(result))
    assert not re.search(r"--out[^-]*\b(pd|f)\b", outs), outs
    assert errors(result) == []
    assert "import pandas as pd" in code_cells(result)  # the import became a setup cell


def test_nbp210_flags_a_module_function_or_class_declared_as_output() -> None:
    nb = notebook(
        "%load_ext nbpipe",
        "%%stage load --out pd df f K\nimport pandas as pd\ndf = pd.DataFrame()\nf = lambda x: x\nclass K:\n    pass",
        "%%stage use --in df\nprint(df)",
    )
    found = [d for d in analyze("t.ipynb", nb).diagnostics if d.code == "NBP210"]
    assert [(d.names, d.severity) for d in found] == [(("pd",), "error"), (("f",), "error"), (("K",), "error")]
    assert found[0].message == "stage output 'pd' is a module: it cannot be cached or passed between stages"
    assert found[0].hint.endswith("%%stage load --out df")  # every NBP210 fix of the stage applied at once
    assert "a class" in found[2].message and "a function" in found[1].message


def test_nbp210_is_absent_for_values() -> None:
    nb = notebook("%load_ext nbpipe", "import numpy as np", "%%stage a --out x\nx = np.arange(3)")
    assert "NBP210" not in [d.code for d in analyze("t.ipynb", nb).diagnostics]


# -- 3. mixed cells are split ------------------------------------------------------------------


def test_imports_of_a_mixed_cell_become_a_setup_cell_and_the_work_a_stage() -> None:
    result = annotated(
        ("md", "# Norms"),
        "import numpy as np\nimport numpy.linalg as LA\nu = np.array([3.0, 4.0])\nn = LA.norm(u)",
        "print(n)",
    )
    assert "import numpy as np\nimport numpy.linalg as LA" in code_cells(result)
    assert stage_cells(result) == ["%%stage norms --out n\nu = np.array([3.0, 4.0])\nn = LA.norm(u)"]
    assert errors(result) == []


def test_a_global_seed_never_vanishes_from_batch_runs() -> None:
    """The seed and the draws stay plain cells together: no stage depends on the global random state."""
    result = annotated(
        "import numpy as np\nnp.random.seed(3)",
        "x = np.random.rand(5)",
        "y = x * 2",
        "print(y)",
    )
    assert "np.random.seed(3)" in code_cells(result)
    assert stage_cells(result) == []
    assert any("global random state" in note for note in result.notes)
    assert errors(result) == []


def test_a_trailing_display_stays_an_exploration_cell() -> None:
    result = annotated(
        ("md", "## Load"), "import pandas as pd", "raw = pd.DataFrame({'a': [1.0, None, 3.0]})\nraw.head()",
        ("md", "## Clean"), "clean = raw.dropna()", "print(len(clean))",
    )  # fmt: skip
    assert code_cells(result)[1:] == [
        "import pandas as pd",
        "%%stage load --out raw\nraw = pd.DataFrame({'a': [1.0, None, 3.0]})",
        "raw.head()",
        "%%stage clean --in raw --out clean\nclean = raw.dropna()",
        "print(len(clean))",
    ]


# -- 4. re-binding from scratch: no NBP105 ------------------------------------------------------


def test_a_name_bound_again_from_scratch_gives_no_duplicate_outputs() -> None:
    result = annotated(
        ("md", "# Iris"), "from sklearn.datasets import load_iris, load_digits",
        "X, y = load_iris(return_X_y=True)", "print(X.shape, y.shape)",
        ("md", "# Digits"), "X, y = load_digits(return_X_y=True)", "print(X.shape, y.shape)",
    )  # fmt: skip
    codes = [c for c, _ in diagnostics(result)]
    assert "NBP105" not in codes and errors(result) == []
    outputs = [header(s) for s in stage_cells(result) if "--out" in s]
    assert len(outputs) == 1  # one stage outputs X and y; the later binder stays a plain cell
    assert any("re-binds 'X'" in note or "re-binds 'y'" in note for note in result.notes)


def test_a_name_bound_again_without_readers_in_between_is_fine() -> None:
    result = annotated(
        ("md", "# A"), "import numpy as np", "k = np.arange(3)\nk2 = k * 2", "print(k2)",
        ("md", "# B"), "k = np.arange(5)", "print(k)",
    )  # fmt: skip
    assert errors(result) == []
    assert [header(s) for s in stage_cells(result)] == ["%%stage a --out k2", "%%stage b --out k"]


# -- 5. never reorder code -----------------------------------------------------------------------


def test_code_keeps_its_order_and_non_adjacent_cells_are_never_merged() -> None:
    cells = [
        "import pandas as pd",
        "data = pd.DataFrame({'a': [1, 2]})",
        "print(list(data.keys()))",
        "data2 = data.copy()",
        ("md", "later"),
        "data['b'] = data['a'] * 2",  # changes `data` ten cells later: must not move up
        "print(list(data.keys()))",
    ]
    result = annotated(*cells)
    original = "\n".join(c for c in cells if isinstance(c, str))
    assert user_code(result) == original
    assert errors(result) == []
    assert any("changes 'data'" in note for note in result.notes)


def test_adjacent_work_cells_form_one_stage() -> None:
    result = annotated(
        ("md", "## Features"), "import numpy as np", "a = np.arange(4)", "b = a ** 2", "c = a + b", "print(c)"
    )
    assert stage_cells(result) == ["%%stage features --out c\na = np.arange(4)\nb = a ** 2\nc = a + b"]


# -- 6. steps named from headings, exploration plain, clean output -------------------------------


PIPELINE: list[Any] = [
    ("md", "# Churn model"),
    "import pandas as pd\nfrom sklearn.linear_model import LogisticRegression",
    ("md", "## Load the data"),
    "raw = pd.DataFrame({'age': [20, 30, 40, 50, 60, 70], 'churn': [0, 0, 1, 0, 1, 1]})",
    "raw.head()",
    ("md", "## Clean"),
    "data = raw.dropna()",
    ("md", "## Features"),
    "X = data[['age']]\ny = data['churn']",
    ("md", "## Train"),
    "model = LogisticRegression()\nmodel.fit(X, y)",
    ("md", "## Evaluate"),
    "accuracy = model.score(X, y)",
    "print(f'accuracy: {accuracy:.2f}')",
]


def test_stages_follow_the_steps_and_are_named_from_their_headings() -> None:
    nb = notebook(*PIPELINE)
    nb["cells"][4] = {**code("raw.head()", 3, [{"output_type": "execute_result", "data": {"text/plain": "x"},
                                               "metadata": {}, "execution_count": 3}]), "id": "c4"}  # fmt: skip
    result = propose(nb)
    assert result.stages == ["load_data", "clean", "features", "train", "evaluate"]
    assert [header(s) for s in stage_cells(result)] == [
        "%%stage load_data --out raw",
        "%%stage clean --in raw --out data",
        "%%stage features --in data --out X y",
        "%%stage train --in X y --out model",
        "%%stage evaluate --in model X y --out accuracy",
    ]
    assert "raw.head()" in code_cells(result) and "print(f'accuracy: {accuracy:.2f}')" in code_cells(result)
    assert diagnostics(result) == []
    for cell in result.notebook["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
    assert len({c["id"] for c in result.notebook["cells"]}) == len(result.notebook["cells"])


def test_each_stage_under_one_heading_gets_a_unique_name() -> None:
    result = annotated(
        ("md", "## Step 1: Prepare"), "import numpy as np", "a = np.arange(3)", "print(a)",
        "b = np.ones(2)", "print(b)", ("md", "## Prepare"), "c = np.zeros(2)", "print(c)",
    )  # fmt: skip
    assert result.stages == ["prepare", "prepare_b", "prepare_c"]


def test_cells_without_heading_are_named_from_their_main_output() -> None:
    result = annotated("import numpy as np", "grid = np.linspace(0, 1, 5)", "print(grid)")
    assert result.stages == ["grid"]


# -- 10. cells that raise by design ------------------------------------------------------------


def test_a_cell_that_raises_by_design_is_reported_and_stays_out_of_the_pipeline() -> None:
    trace = ["\x1b[0;31mTypeError\x1b[0m Traceback", "Cell \x1b[0;32mIn[4], line 2\x1b[0m", "x"]
    error = {"output_type": "error", "ename": "TypeError", "evalue": "boom", "traceback": trace}
    nb = notebook(
        "import numpy as np",
        "x = np.arange(3)",
        "print(x)",
        code("y = x * 2\nx[0] = 'hello'\nprint('never')", 4, [error]),
        "print(y)",
    )
    result = propose(nb)
    assert any(n.startswith("cell 4 raises TypeError by design") and "stays out of the pipeline" in n
               for n in result.notes)  # fmt: skip
    assert "x[0] = 'hello'\nprint('never')" in code_cells(result)  # the raising line onwards: a plain cell
    assert errors(result) == []


def test_origin_maps_each_result_cell_to_its_original_cells() -> None:
    result = annotated(("md", "# A"), "import numpy as np\nx = np.arange(3)", "y = x + 1", "print(y)")
    sources = [c["source"] for c in result.notebook["cells"]]
    assert sources[0] == "%load_ext nbpipe" and result.origin[0] == []
    assert result.origin[sources.index("import numpy as np")] == [1]
    assert result.origin[next(i for i, s in enumerate(sources) if s.startswith("%%stage"))] == [1, 2]


# -- the round-trip fixtures (tests/fixtures/roundtrip): one notebook per failure class -------------

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "roundtrip"


def test_fixtures_are_built() -> None:
    from tests.fixtures.roundtrip.build import FIXTURES as TABLES
    from tests.fixtures.roundtrip.build import render

    for name in TABLES:
        assert (FIXTURES / f"{name}.ipynb").read_text(encoding="utf-8") == render(name), f"rebuild {name}"


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.ipynb")), ids=lambda p: p.stem)
def test_fixtures_annotate_clean_and_in_order(path: Path) -> None:
    nb = json.loads(path.read_text(encoding="utf-8"))
    result = propose(nb)
    assert errors(result) == []
    original = "\n".join(
        line for c in nb["cells"] if c["cell_type"] == "code" for line in c["source"].split("\n") if line.strip()
    )
    assert user_code(result) == original


@pytest.mark.parametrize(
    ("name", "stages", "note"),
    [
        ("mutation_only", ["x1"], "changes 'x2'"),
        ("modules_as_outputs", ["sales_region", "totals"], "read 'share'"),
        ("mixed_cells", ["vectors_random_walk"], "global random state"),
        ("rebinding", ["iris", "iris_scores"], "re-binds 'X'"),
        ("late_mutation", ["planets"], "changes 'data'"),
        ("steps", ["load_data", "clean", "features", "train", "evaluate"], ""),
        ("raises", ["fixed_types", "fixed_types_y"], "raises ValueError by design"),
    ],
)
def test_fixture_proposals(name: str, stages: list[str], note: str) -> None:
    result = propose(json.loads((FIXTURES / f"{name}.ipynb").read_text(encoding="utf-8")))
    assert result.stages == stages
    assert any(note in n for n in result.notes) if note else result.notes == [], result.notes
    assert not re.search(r"--out[^-]*\b(pd|np|LA|double|share)\b", " ".join(map(header, stage_cells(result))))


def test_cells_that_draw_stay_whole_exploration_cells() -> None:
    """The inline backend shows a figure at the end of the cell that drew it: no cut, no stage."""
    result = annotated(
        "import numpy as np\nimport matplotlib.pyplot as plt\nx = np.linspace(0, 1, 5)\n"
        "fig, ax = plt.subplots()\nax.plot(x, x ** 2)\nax.set_title('square')",
        "print(x.sum())",
    )
    assert code_cells(result) == [
        "import numpy as np\nimport matplotlib.pyplot as plt",
        "x = np.linspace(0, 1, 5)\nfig, ax = plt.subplots()\nax.plot(x, x ** 2)\nax.set_title('square')",
        "print(x.sum())",
    ]


def test_a_cut_never_makes_a_hidden_value_the_shown_one() -> None:
    """``model.fit(X, y)`` in the middle of a cell shows nothing; cut off from the prints it would."""
    result = annotated("import numpy as np", "a = np.arange(3)\na.sort()\nprint(a)", "print(a.sum())")
    assert "a = np.arange(3)\na.sort()\nprint(a)" in stage_cells(result)[0]


def test_library_draws_without_random_state_stay_plain_in_a_seeded_notebook() -> None:
    cells = [
        "import numpy as np\nfrom sklearn.model_selection import train_test_split",
        "np.random.seed(0)",
        "X = np.arange(20).reshape(10, 2)\nparts = train_test_split(X, test_size=0.3)",
        "print(parts[1])",
    ]
    assert stage_cells(annotated(*cells)) == []
    cells[2] = cells[2].replace("test_size=0.3", "test_size=0.3, random_state=1")
    assert len(stage_cells(annotated(*cells))) == 1


def test_a_cell_that_does_not_parse_by_design_is_marked_for_the_check() -> None:
    error = {"output_type": "error", "ename": "SyntaxError", "evalue": "invalid syntax (3311942670.py, line 1)",
             "traceback": ["Cell In[7], line 1"]}  # fmt: skip
    nb = notebook("import pandas as pd", "df = pd.DataFrame({'a': [1]})", code("df.loc[(:, 1)]", 7, [error]), "df")
    result = propose(nb)
    assert "df.loc[(:, 1)]\n# nbpipe: ignore[NBP001]" in code_cells(result)
    assert any("raises SyntaxError by design" in n for n in result.notes)
    assert errors(result) == []


def test_a_stage_never_calls_a_helper_that_draws_from_the_global_random_state() -> None:
    result = annotated(
        "import numpy as np\ndef noisy(n):\n    return np.arange(n) + np.random.rand(n)",
        "y = noisy(4)",
        "print(y.round(0))",
    )
    assert stage_cells(result) == []
    assert any("noisy(), which draws" in n for n in result.notes)


def test_the_raising_cell_is_tagged_so_that_annotating_again_keeps_it_out() -> None:
    trace = ["Cell In[4], line 2"]
    error = {"output_type": "error", "ename": "ValueError", "evalue": "boom", "traceback": trace}
    nb = notebook("import numpy as np", "x = np.arange(3)\ntotal = x.sum()", "print(total)",
                  code("y = x * 2\nx[0] = 'hello'", 4, [error]), "print(y)")  # fmt: skip
    first = propose(nb)
    tagged = [c for c in first.notebook["cells"] if "raises-exception" in c["metadata"].get("tags", [])]
    assert [c["source"] for c in tagged] == ["x[0] = 'hello'"]
    again = propose(first.notebook)  # no saved outputs any more: the tag says it
    assert [c["source"] for c in again.notebook["cells"]] == [c["source"] for c in first.notebook["cells"]]
    assert any("raises-exception tag" in n for n in again.notes)
    untagged = notebook("import numpy as np", code("x = np.arange(3)\nx.fill(1)", None), "print(x)")
    untagged["cells"][1]["metadata"] = {"tags": ["raises-exception"]}
    assert stage_cells(propose(untagged)) == []
