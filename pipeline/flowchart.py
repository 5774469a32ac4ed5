"""The council's verdict rule (判断フローチャート), written once.

Judgement I asks whether national and local government should share a direction on the opinion
(``shared``) or whether one of the exclusions (a)–(f) applies. Only for ``shared`` opinions does
Judgement II ask whether the draft already describes the direction (※3: a stated direction of
consideration counts). The verdict follows from the two; nothing else may decide it.
"""

from __future__ import annotations

from pipeline.errors import FlowchartError
from pipeline.schema import CATEGORIES, DESCRIBED_VALUES, EXCLUSIONS


def verdict(category: str, described: str | None) -> str:
    """Return ``"revision"`` (修正意見を出す) or ``"no_revision"`` (修正意見を出さない).

    Args:
        category: Judgement I, one of ``shared``, ``a``–``f``.
        described: Judgement II, ``"yes"``/``"no"`` for ``shared``; must be ``None`` for a–f.

    Raises:
        FlowchartError: on an unknown label or judgements that contradict each other.

    Example:
        >>> verdict("shared", "no")
        'revision'
        >>> verdict("d", None)
        'no_revision'
    """
    if category not in CATEGORIES:
        raise FlowchartError(
            f"Judgement I (category) must be one of {', '.join(CATEGORIES)}. Got {category!r} instead."
        )
    if category in EXCLUSIONS:
        if described is not None:
            raise FlowchartError(
                f"Judgement II (described) is only asked for 'shared' opinions, but category "
                f"{category!r} came with described={described!r}. Leave described empty for a–f, "
                f"or set the category to 'shared'."
            )
        return "no_revision"
    if described not in DESCRIBED_VALUES:
        raise FlowchartError(
            "A 'shared' opinion needs Judgement II (described) 'yes' or 'no'. "
            f"Got {described!r} instead."
        )
    return "revision" if described == "no" else "no_revision"


#: ``p_described`` at or above this reads as Judgement II "yes" when a suggestion is accepted as is.
DESCRIBED_THRESHOLD = 0.5


def suggested_verdict(
    category: str, p_described: float, threshold: float = DESCRIBED_THRESHOLD
) -> str:
    """The verdict the flowchart gives for a model's suggestion (not a recorded verdict).

    ``p_described`` is turned into Judgement II with ``threshold``; it is ignored for a–f.
    """
    if not 0.0 <= threshold <= 1.0:
        raise FlowchartError(f"threshold must lie in [0, 1]. Got {threshold!r} instead.")
    described = None if category in EXCLUSIONS else ("yes" if p_described >= threshold else "no")
    return verdict(category, described)
