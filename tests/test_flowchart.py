"""The verdict table of ANNOTATION_GUIDE.md, exhaustively, plus its refusals."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.errors import FlowchartError, PipelineError
from pipeline.flowchart import suggested_verdict, verdict
from pipeline.schema import CATEGORIES, EXCLUSIONS

GUIDE_TABLE = {
    **{(c, None): "no_revision" for c in EXCLUSIONS},
    ("shared", "yes"): "no_revision",
    ("shared", "no"): "revision",
}


@pytest.mark.parametrize(
    ("category", "described"), list(itertools.product(CATEGORIES, ("yes", "no", None)))
)
def test_every_combination_is_decided_or_refused(category: str, described: str | None) -> None:
    if (category, described) in GUIDE_TABLE:
        assert verdict(category, described) == GUIDE_TABLE[(category, described)]
    else:
        with pytest.raises(FlowchartError):
            verdict(category, described)


@pytest.mark.parametrize("category", EXCLUSIONS)
def test_described_given_for_an_exclusion_is_refused_with_the_fix(category: str) -> None:
    with pytest.raises(FlowchartError, match="Leave described empty for a–f"):
        verdict(category, "yes")


def test_unknown_category_names_the_vocabulary() -> None:
    with pytest.raises(FlowchartError, match=r"one of shared, a, b, c, d, e, f\. Got 'g'"):
        verdict("g", None)


def test_flowchart_error_is_a_pipeline_and_value_error() -> None:
    with pytest.raises(PipelineError) as caught:
        verdict("shared", None)
    assert isinstance(caught.value, ValueError)


@given(st.text(max_size=8), st.one_of(st.none(), st.text(max_size=4)))
def test_verdict_never_returns_anything_but_the_two_verdicts(category: str, described) -> None:
    try:
        result = verdict(category, described)
    except FlowchartError:
        return
    assert result in {"revision", "no_revision"}
    assert (result == "revision") == (category == "shared" and described == "no")


@given(st.sampled_from(CATEGORIES), st.floats(0, 1), st.floats(0, 1))
def test_suggested_verdict_follows_the_threshold(category: str, p: float, threshold: float) -> None:
    expected = "revision" if category == "shared" and p < threshold else "no_revision"
    assert suggested_verdict(category, p, threshold) == expected
