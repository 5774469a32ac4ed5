"""Matching opinions to draft sections (and to resolved points).

Every (opinion, section) pair gets a few scores that each see something the others miss: BM25 over
Sudachi short-unit normalised forms (shared wording), dense query/passage cosine for the whole
section and for its best sentence (paraphrase), and the parsed 該当箇所 hint (what the submitter
says, which is often right and sometimes wrong: section numbers, a heading named in words such as
「費用負担について」, or only a page, which says roughly where in the draft to look), and BM25 over
each section *expanded with the words of the other opinions in the export that cite it*: opinions
resemble opinions far more than they resemble a draft's prose, so a submitter who cites no section
is placed by what those who do cite one wrote (see :func:`citation_index`). A conditional logit
learned from labelled opinions fuses them (:class:`SectionRanker`), so the weight of the hint
against the text is measured, not guessed.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import bm25s
import numpy as np
from scipy import sparse
from scipy.optimize import minimize
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from pipeline.drafts import location_words_text, parse_page, resolve_location
from pipeline.errors import NotFittedError
from pipeline.schema import Draft
from pipeline.text import content_words, forms_and_content_words, split_sentences

#: ``embedder(texts, prompt_name) -> (n, dim)`` L2-normalised rows; usually ``encoder.embed``.
Embedder = Callable[[Sequence[str], str], np.ndarray]

PAIR_FEATURES: tuple[str, ...] = (
    "dense_section",
    "dense_sentence",
    "dense_section_gap",
    "dense_sentence_gap",
    "bm25_norm",
    "bm25_log",
    "overlap",
    "heading_overlap",
    "dense_heading",
    "dense_section_z",
    "dense_sentence_z",
    "dense_heading_z",
    "bm25_z",
    "dense_rank",
    "bm25_rank",
    "hint_exact",
    "hint_ancestor",
    "hint_descendant",
    "hint_sibling",
    "has_hint",
    "is_leaf",
    "level",
    "hint_heading",
    # Raw page columns: the ranker turns them into a page distance, from the pages a section
    # spans where the draft has pages (a PDF), else from its characters once it has learned how
    # many a cited page holds (see SectionRanker.chars_per_page_).
    "page",
    "char_start",
    "char_end",
    "page_first",
    "page_last",
    "cited_bm25_log",
    "cited_bm25_z",
)
#: Columns of PAIR_FEATURES that reach the ranker only through the page distance.
RAW_PAGE_COLUMNS = ("page", "char_start", "char_end", "page_first", "page_last")


@dataclass
class DraftIndex:
    """What matching needs of one draft, computed once per draft and scoring run."""

    draft: Draft
    section_ids: list[str]
    section_vectors: np.ndarray
    heading_vectors: np.ndarray
    sentences: list[list[str]]
    sentence_vectors: list[np.ndarray]
    section_words: list[set[str]]
    heading_words: list[set[str]]
    bm25: bm25s.BM25
    #: Sudachi forms of each section's heading path and text (the documents of ``bm25``).
    passage_tokens: list[list[str]]
    is_leaf: np.ndarray
    level: np.ndarray
    char_start: np.ndarray
    char_end: np.ndarray
    #: The pages each section spans (0 where the draft has no pages).
    page_first: np.ndarray
    page_last: np.ndarray
    #: Derived in __post_init__: every sentence vector in one matrix and where each section's
    #: rows start in it (one product per opinion instead of one per section); sections' and
    #: headings' content words as 0/1 rows over ``vocabulary`` (an opinion's overlap with every
    #: section in one product); 該当箇所 already resolved against this draft (the same few
    #: references recur through an export).
    sentence_matrix: np.ndarray = field(init=False, repr=False)
    sentence_starts: np.ndarray = field(init=False, repr=False)
    vocabulary: dict[str, int] = field(init=False, repr=False)
    section_incidence: sparse.csr_matrix = field(init=False, repr=False)
    heading_incidence: sparse.csr_matrix = field(init=False, repr=False)
    heading_sizes: np.ndarray = field(init=False, repr=False)
    resolved_hints: dict[str, list[str]] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.sentence_matrix = np.vstack(self.sentence_vectors)
        sizes = np.array([len(v) for v in self.sentence_vectors], dtype=np.int64)
        self.sentence_starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        words = sorted(set().union(*self.section_words, *self.heading_words))
        self.vocabulary = {w: i for i, w in enumerate(words)}
        self.section_incidence = _incidence(self.section_words, self.vocabulary)
        self.heading_incidence = _incidence(self.heading_words, self.vocabulary)
        self.heading_sizes = np.array([len(w) or 1 for w in self.heading_words], dtype=np.float64)

    def resolve(self, location: str) -> list[str]:
        """The section ids a 該当箇所 names in this draft (:func:`resolve_location`), memoised."""
        if location not in self.resolved_hints:
            self.resolved_hints[location] = resolve_location(location, self.draft)
        return list(self.resolved_hints[location])

    def overlaps(self, words: set[str] | frozenset[str]) -> tuple[np.ndarray, np.ndarray]:
        """How many of ``words`` each section's text and each section's heading path hold."""
        indicator = np.zeros(len(self.vocabulary), dtype=np.float64)
        indicator[[self.vocabulary[w] for w in words if w in self.vocabulary]] = 1.0
        return self.section_incidence @ indicator, self.heading_incidence @ indicator


def _incidence(groups: Sequence[set[str]], vocabulary: dict[str, int]) -> sparse.csr_matrix:
    rows = [i for i, group in enumerate(groups) for _ in group]
    columns = [vocabulary[w] for group in groups for w in group]
    return sparse.csr_matrix(
        (np.ones(len(rows)), (rows, columns)), shape=(len(groups), len(vocabulary))
    )


def heading_paths(draft: Draft) -> list[str]:
    """Each section's heading with its parents' (「費用負担 費用の考え方」): a heading alone is often
    too short to say what the section is about."""
    by_id = {s.section_id: s for s in draft.sections}
    paths = []
    for section in draft.sections:
        chain, current = [], section
        while current is not None:
            chain.append(current.heading)
            current = by_id.get(current.parent_id) if current.parent_id else None
        paths.append(" ".join(h for h in reversed(chain) if h))
    return paths


def _draft_units(draft: Draft) -> tuple[list[str], list[str], list[list[str]]]:
    """A draft's heading paths, passages (path and body) and per-section sentence groups (the
    heading first): the units that are embedded and tokenised."""
    paths = heading_paths(draft)
    passages = [f"{path}\n{s.text}".strip() for path, s in zip(paths, draft.sections, strict=True)]
    sentences = [
        [s.heading, *split_sentences(s.text)] if s.heading else split_sentences(s.text) or [""]
        for s in draft.sections
    ]
    sentences = [
        [x for x in group if x.strip()] or [passages[i] or " "] for i, group in enumerate(sentences)
    ]
    return paths, passages, sentences


def _embedded(paths: list[str], sentences: list[list[str]]) -> list[str]:
    return [p or " " for p in paths] + [x for group in sentences for x in group]


def passage_texts(draft: Draft) -> list[str]:
    """Every text :func:`index_draft` embeds for ``draft`` (with the ``passage`` prompt), in the
    order it embeds them."""
    paths, _, sentences = _draft_units(draft)
    return _embedded(paths, sentences)


def index_draft(draft: Draft, embedder: Embedder, *, match_mode: str = "A") -> DraftIndex:
    """Embed and tokenise a draft's sections (each heading path and each sentence)."""
    sections = list(draft.sections)
    paths, passages, sentences = _draft_units(draft)
    vectors = embedder(_embedded(paths, sentences), "passage")
    heading_vectors = vectors[: len(paths)]
    sentence_flat = vectors[len(paths) :]
    sentence_vectors: list[np.ndarray] = []
    start = 0
    for group in sentences:
        sentence_vectors.append(sentence_flat[start : start + len(group)])
        start += len(group)
    # A section's vector is the mean of its heading's and sentences' vectors: embedding the
    # passage as well doubled the cost of indexing a draft and matched no better (LODO top-1
    # 0.837 either way, top-3 0.944 → 0.947).
    means = np.stack([group.mean(axis=0) for group in sentence_vectors])
    section_vectors = means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
    corpus = [content_words(p, mode=match_mode) or ["_"] for p in passages]
    bm25 = bm25s.BM25()
    bm25.index(corpus, show_progress=False)
    lengths = np.array([len(s.heading) + len(s.text) + 2 for s in sections], dtype=float)
    char_end = np.cumsum(lengths) + len(draft.title)
    return DraftIndex(
        draft=draft,
        section_ids=[s.section_id for s in sections],
        section_vectors=section_vectors,
        heading_vectors=heading_vectors,
        sentences=sentences,
        sentence_vectors=sentence_vectors,
        section_words=[set(content_words(p, mode="C")) for p in passages],
        heading_words=[set(content_words(p, mode="C")) for p in paths],
        bm25=bm25,
        passage_tokens=corpus,
        is_leaf=np.array([s.is_leaf for s in sections], dtype=float),
        level=np.array([s.level for s in sections], dtype=float),
        char_start=char_end - lengths,
        char_end=char_end,
        page_first=np.array([s.page_start or 0 for s in sections], dtype=float),
        page_last=np.array([s.page_end or 0 for s in sections], dtype=float),
    )


class CitationBM25:
    """BM25 (the Lucene variant bm25s uses) over sections expanded with the words of the
    opinions that cite them, able to leave one opinion's own words out of its section.

    bm25s cannot edit a document per query (re-indexing costs about 8 ms an opinion), and an
    opinion must not be matched to its cited section by its own words: that would count the
    hint twice, and most when an export holds only a few opinions.
    """

    def __init__(self, documents: Sequence[Sequence[str]], k1: float = 1.5, b: float = 0.75):
        counts = [Counter(d) for d in documents]
        self.vocabulary = {w: i for i, w in enumerate(sorted(set().union(*counts)))}
        self.tf = np.zeros((len(documents), len(self.vocabulary)), dtype=np.float64)
        for row, count in enumerate(counts):
            for word, n in count.items():
                self.tf[row, self.vocabulary[word]] = n
        self.length = self.tf.sum(axis=1)
        self.df = (self.tf > 0).sum(axis=0).astype(np.float64)
        self.k1, self.b = k1, b

    def scores(
        self, query: Sequence[str], leave_out: tuple[int, Sequence[str]] | None = None
    ) -> np.ndarray:
        """BM25 of ``query`` against every document; ``leave_out`` = (document, words) scores
        as if those words had never been added to that document."""
        words = [w for w in query if w in self.vocabulary]
        n_docs = len(self.length)
        if not words or n_docs == 0:
            return np.zeros(n_docs)
        columns = [self.vocabulary[w] for w in words]
        tf, length, df = self.tf[:, columns].copy(), self.length.copy(), self.df[columns].copy()
        if leave_out is not None:
            row, own = leave_out
            own_count = Counter(own)
            had = tf[row] > 0
            tf[row] = np.maximum(tf[row] - [own_count.get(w, 0) for w in words], 0.0)
            length[row] = max(length[row] - len(own), 0.0)
            df -= had & (tf[row] == 0)
        average = max(length.mean(), 1e-9)
        idf = np.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))
        saturation = tf + self.k1 * (1.0 - self.b + self.b * length[:, None] / average)
        return (idf * tf / saturation).sum(axis=1)


def citation_index(index: DraftIndex, cited: Sequence[tuple[str, Sequence[str]]]) -> CitationBM25:
    """BM25 over each section's passage plus the words of the opinions that cite only it.

    ``cited`` holds (section id, Sudachi forms) of every opinion in the export whose 該当箇所
    resolves to exactly one section. Submitters who raise the same point mostly cite the same
    section and use the same words (「紙の申請」「経過措置」), words the draft itself may never use
    when the point is one it omits. An opinion is scored with its own words left out
    (:func:`pair_features`), so it is placed by what *others* wrote.
    """
    documents = [list(tokens) for tokens in index.passage_tokens]
    position = {section_id: i for i, section_id in enumerate(index.section_ids)}
    for section_id, tokens in cited:
        documents[position[section_id]].extend(tokens)
    return CitationBM25(documents)


def _relation(section_id: str, hint_ids: Sequence[str]) -> tuple[float, float, float, float]:
    """(exact, ancestor of a hint, descendant of a hint, sibling of a hint) for one section."""
    exact = ancestor = descendant = sibling = 0.0
    parent = section_id.rsplit(".", 1)[0] if "." in section_id else ""
    for hint in hint_ids:
        if section_id == hint:
            exact = 1.0
        elif hint.startswith(section_id + "."):
            ancestor = 1.0
        elif section_id.startswith(hint + "."):
            descendant = 1.0
        elif parent and "." in hint and hint.rsplit(".", 1)[0] == parent:
            sibling = 1.0
    return exact, ancestor, descendant, sibling


@dataclass(frozen=True)
class OpinionView:
    """An opinion as matching sees it: its query vector, its words and its parsed hint."""

    vector: np.ndarray
    tokens: list[str]
    words: set[str]
    location: str
    page: int | None = None
    location_words: frozenset[str] = frozenset()
    #: Normalised forms of every morpheme (mode C), for the category model's TF-IDF: kept so the
    #: text is not tokenised a second time.
    forms: tuple[str, ...] = ()


def opinion_views(
    texts: Sequence[str], locations: Sequence[str], vectors: np.ndarray, *, match_mode: str = "A"
) -> list[OpinionView]:
    """Tokenise opinions once for all pairs (vectors come from the ``query`` prompt)."""
    views = []
    for i, (t, loc) in enumerate(zip(texts, locations, strict=True)):
        forms, words = forms_and_content_words(t, mode="C")
        views.append(
            OpinionView(
                vectors[i],
                content_words(t, mode=match_mode),
                set(words),
                loc or "",
                parse_page(loc) if loc else None,
                frozenset(content_words(location_words_text(loc), mode="C"))
                if loc
                else frozenset(),
                tuple(forms),
            )
        )
    return views


def pair_features(
    view: OpinionView, index: DraftIndex, citations: CitationBM25 | None = None
) -> tuple[np.ndarray, list[str]]:
    """Features of every section of ``index`` for one opinion (rows follow ``section_ids``).

    The first columns are :data:`PAIR_FEATURES`; the rest are the element-wise products of the
    opinion's vector with the section's heading-path vector and with its section vector (the
    mean of its heading's and sentences' vectors). ``citations`` is the draft's
    :func:`citation_index` for the export at hand (without one, no section is expanded).

    Returns the matrix and the section ids the 該当箇所 hint resolved to.
    """
    n = len(index.section_ids)
    dense_section = index.section_vectors @ view.vector
    dense_sentence = np.maximum.reduceat(index.sentence_matrix @ view.vector, index.sentence_starts)
    bm25 = index.bm25.get_scores(view.tokens) if view.tokens else np.zeros(n)
    bm25_max = float(bm25.max()) if n else 0.0
    hint_ids = index.resolve(view.location) if view.location else []
    relations = np.array([_relation(sid, hint_ids) for sid in index.section_ids]).reshape(n, 4)
    if citations is None:  # nothing cited: the expanded documents are the sections themselves
        cited = bm25
    else:  # an opinion citing exactly one section is in that section's document: leave it out
        own = (index.section_ids.index(hint_ids[0]), view.tokens) if len(hint_ids) == 1 else None
        cited = citations.scores(view.tokens, leave_out=own)
    words = view.words
    in_section, in_heading = index.overlaps(words)
    overlap = in_section / (len(words) or 1)
    dense_heading = index.heading_vectors @ view.vector
    heading_overlap = in_heading / index.heading_sizes
    named = view.location_words
    hint_heading = (index.overlaps(named)[1] / (len(named) or 1)) if named else np.zeros(n)
    z_section, z_sentence, z_heading, z_bm25, z_cited = _z(
        np.vstack([dense_section, dense_sentence, dense_heading, bm25, cited])
    )
    features = np.column_stack(
        [
            dense_section,
            dense_sentence,
            dense_section - dense_section.max(initial=0),
            dense_sentence - dense_sentence.max(initial=0),
            bm25 / bm25_max if bm25_max > 0 else np.zeros(n),
            np.log1p(bm25),
            overlap,
            heading_overlap,
            dense_heading,
            z_section,
            z_sentence,
            z_heading,
            z_bm25,
            _reciprocal_rank(dense_sentence),
            _reciprocal_rank(bm25),
            relations,
            np.full(n, 1.0 if hint_ids else 0.0),
            index.is_leaf,
            index.level,
            hint_heading,
            np.full(n, float(view.page or 0)),
            index.char_start,
            index.char_end,
            index.page_first,
            index.page_last,
            np.log1p(cited),
            z_cited,
        ]
    )
    # What the opinion and each heading share, dimension by dimension: lets the ranker learn that
    # e.g. opinions on training go to 運用 sections, whatever words either side uses. The same
    # with the whole section lets it learn which dimensions of e5's similarity say "this is the
    # section meant" (a diagonal metric learned from the labels, without tuning the encoder):
    # ranker alone, leave-one-draft-out over 40 drafts, top-1 0.859 → 0.867, top-3 0.950 → 0.957
    # (and match.interaction_weight 0.3 → 0.7, the middle of a plateau from 0.5 to 1.0).
    interaction = np.hstack(
        [index.heading_vectors * view.vector, index.section_vectors * view.vector]
    )
    return np.hstack([features, interaction]).astype(np.float32), hint_ids


def _z(rows: np.ndarray) -> np.ndarray:
    """Standardise each row within one opinion's candidates: e5 cosines crowd into a narrow
    band. A row with no spread is all zeros."""
    spread = rows.std(axis=1, keepdims=True)
    centred = rows - rows.mean(axis=1, keepdims=True)
    return np.divide(centred, spread, out=np.zeros_like(centred), where=spread > 1e-9)


def _reciprocal_rank(values: np.ndarray) -> np.ndarray:
    ranks = np.argsort(np.argsort(-values, kind="stable"), kind="stable")
    return 1.0 / (1.0 + ranks)


_COLUMN = {name: i for i, name in enumerate(PAIR_FEATURES)}
#: Characters per cited page when the training data cites no pages: an assumption (roughly a
#: printed A4 page of Japanese), used only until labelled opinions that cite pages teach it.
DEFAULT_CHARS_PER_PAGE = 1000.0


def _chars_per_page(X: np.ndarray, y: np.ndarray) -> float:
    """How many draft characters one cited page spans, learned from the right sections of
    opinions that cite a page: most drafts come as text, so their page breaks are unknown (the
    sections of a PDF draft know their pages and are left out)."""
    page = X[:, _COLUMN["page"]]
    right = (y == 1) & (page > 0) & (X[:, _COLUMN["page_first"]] == 0)
    if right.sum() < 5:
        return DEFAULT_CHARS_PER_PAGE
    middle = (X[right, _COLUMN["char_start"]] + X[right, _COLUMN["char_end"]]) / 2
    return float(np.median(middle / (page[right] - 0.5)))


def softmax(scores: np.ndarray) -> np.ndarray:
    """Turn one opinion's section utilities into a probability for each section."""
    if scores.size == 0:
        return scores
    e = np.exp(scores - scores.max())
    return e / e.sum()


def _segment_logsumexp(scores: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    top = np.full(n_groups, -np.inf)
    np.maximum.at(top, groups, scores)
    safe = np.where(np.isfinite(top), top, 0.0)
    total = np.bincount(groups, weights=np.exp(scores - safe[groups]), minlength=n_groups)
    with np.errstate(divide="ignore"):
        return safe + np.log(total)


class SectionRanker(BaseEstimator):
    """Scores an opinion's candidate sections: which of them does the opinion concern?

    A conditional logit: one linear utility per (opinion, section) pair, normalised by a softmax
    over the *opinion's own* candidates and fit by maximising the probability of its labelled
    sections (several right sections share the mass). Each opinion has one answer among the
    draft's sections, so the sections compete; a pairwise logistic regression scored each pair
    alone and learned, e.g., how common right sections are, not what beats the neighbour
    (LODO top-1 0.862 → 0.876, top-3 0.969 → 0.971).

    Features are standardised; the interaction columns (twice the encoder's dimension) are shrunk
    by ``interaction_weight`` so that together they refine, rather than outvote, the named scores
    (BM25, cosine, 該当箇所). ``l2`` is the ridge penalty on the weights (per opinion of training data).
    Follows the sklearn contract: ``__init__`` stores arguments, learned state ends in ``_``.
    """

    def __init__(self, l2: float = 0.01, interaction_weight: float = 0.3, seed: int = 0) -> None:
        self.l2 = l2
        self.interaction_weight = interaction_weight
        #: Kept for the estimator contract and run records; L-BFGS from zero is deterministic.
        self.seed = seed

    def _design(self, X: np.ndarray) -> np.ndarray:
        Z = self.scaler_.transform(self._with_page_distance(X))
        Z[:, self.n_named_ :] *= self.interaction_weight
        return Z

    def _with_page_distance(self, X: np.ndarray) -> np.ndarray:
        """Replace the raw page columns by how many pages the section lies from the cited page."""
        named = X[:, : len(PAIR_FEATURES)]
        page, start, end, page_first, page_last = (named[:, _COLUMN[c]] for c in RAW_PAGE_COLUMNS)
        # Where the section lies in pages, page p covering [p, p + 1): estimated from its
        # characters, or, for a PDF draft, its printed pages a .. b as [a, b + 1) (nudged inside
        # so that a neighbouring page is a hair away, not on it). One scale for both.
        known = page_first > 0
        first = np.where(known, page_first + 1e-3, start / self.chars_per_page_ + 1.0)
        last = np.where(known, page_last + 1.0 - 1e-3, end / self.chars_per_page_ + 1.0)
        distance = np.maximum(0.0, np.maximum(first - (page + 1.0), page - last))
        distance = np.where(page > 0, np.minimum(distance, 3.0), 0.0)
        keep = [i for i, c in enumerate(PAIR_FEATURES) if c not in RAW_PAGE_COLUMNS]
        return np.column_stack(
            [named[:, keep], distance, (page > 0) & (distance == 0), X[:, len(PAIR_FEATURES) :]]
        )

    def fit(self, X: np.ndarray, y: np.ndarray, opinions: np.ndarray) -> SectionRanker:
        """``opinions[i]``: which opinion pair row ``i`` belongs to (its candidates compete);
        ``y``: 1 for the opinion's labelled sections. Opinions with no labelled candidate
        carry no information and are ignored."""
        X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
        _, groups = np.unique(np.asarray(opinions), return_inverse=True)
        has_gold = np.bincount(groups, weights=(y == 1)) > 0
        keep = has_gold[groups]
        X, y = X[keep], y[keep]
        _, groups = np.unique(groups[keep], return_inverse=True)
        n = int(groups.max()) + 1 if groups.size else 0
        if n == 0:
            raise ValueError("SectionRanker.fit: no opinion has a labelled section among its rows.")
        self.chars_per_page_ = _chars_per_page(X, y)
        self.n_named_ = len(PAIR_FEATURES) - len(RAW_PAGE_COLUMNS) + 2
        self.scaler_ = StandardScaler().fit(self._with_page_distance(X))
        Z = self._design(X)
        gold = y == 1

        def loss_and_gradient(w: np.ndarray) -> tuple[float, np.ndarray]:
            scores = Z @ w
            every = _segment_logsumexp(scores, groups, n)
            right = _segment_logsumexp(np.where(gold, scores, -np.inf), groups, n)
            p_every = np.exp(scores - every[groups])
            p_right = np.where(gold, np.exp(scores - right[groups]), 0.0)
            loss = float((every - right).mean() + self.l2 * w @ w)
            return loss, Z.T @ (p_every - p_right) / n + 2.0 * self.l2 * w

        result = minimize(
            loss_and_gradient,
            np.zeros(Z.shape[1]),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": 1000},
        )
        if not result.success:
            warnings.warn(
                f"SectionRanker: L-BFGS stopped before converging ({result.message}); "
                "the section ranking may be off.",
                ConvergenceWarning,
                stacklevel=2,
            )
        self.coef_ = result.x
        self.n_iter_ = int(result.nit)
        return self

    def score_pairs(self, X: np.ndarray) -> np.ndarray:
        """Utilities of pair rows (comparable within one opinion; :func:`softmax` them)."""
        try:
            check_is_fitted(self, "coef_")
        except Exception as exc:
            raise NotFittedError("This SectionRanker is not fitted yet: call fit first.") from exc
        design = self._design(X)  # float32 pair rows stay float32: a batch's rows are large
        return design @ self.coef_.astype(design.dtype)


@dataclass(frozen=True)
class SectionMatch:
    """Top sections for one opinion, best first, with the evidence sentence of the best."""

    section_ids: list[str]
    scores: list[float]
    evidence: str
    evidence_similarity: float
    hint_ids: list[str]
    best_features: np.ndarray


def best_sections(
    view: OpinionView,
    index: DraftIndex,
    ranker: SectionRanker,
    *,
    top_k: int = 3,
    features: tuple[np.ndarray, list[str]] | None = None,
    scores: np.ndarray | None = None,
) -> SectionMatch:
    """Rank a draft's sections for one opinion and pick the evidence sentence of the best.

    ``features`` are the opinion's :func:`pair_features` and ``scores`` the ranker's utilities
    of them, when already computed for a whole batch. The scores returned are the softmax over
    the draft's sections: the probability that each is the one the opinion concerns.
    """
    features_matrix, hint_ids = features if features is not None else pair_features(view, index)
    if scores is None:
        scores = ranker.score_pairs(features_matrix)
    scores = softmax(scores)
    order = np.argsort(-scores, kind="stable")[:top_k]
    best = int(order[0])
    sentence_scores = index.sentence_vectors[best] @ view.vector
    best_sentence = int(np.argmax(sentence_scores))
    return SectionMatch(
        section_ids=[index.section_ids[i] for i in order],
        scores=[float(scores[i]) for i in order],
        evidence=index.sentences[best][best_sentence],
        evidence_similarity=float(sentence_scores[best_sentence]),
        hint_ids=hint_ids,
        best_features=features_matrix[best],
    )


# --- resolved points ---------------------------------------------------------------------------


@dataclass
class ResolvedIndex:
    """Resolved points of one draft: ids, texts, passage vectors and BM25 over their forms."""

    ids: list[str]
    texts: list[str]
    vectors: np.ndarray
    words: list[set[str]]


def index_resolved(ids: Sequence[str], texts: Sequence[str], embedder: Embedder) -> ResolvedIndex:
    vectors = embedder(list(texts), "passage") if texts else np.zeros((0, 1), dtype=np.float32)
    return ResolvedIndex(
        list(ids), list(texts), vectors, [set(content_words(t, mode="C")) for t in texts]
    )


def closest_resolved(
    view: OpinionView, index: ResolvedIndex | None
) -> tuple[str, str, float, float]:
    """(resolved_id, text, cosine, word overlap) of the settled point closest to the opinion."""
    if index is None or not index.ids:
        return "", "", 0.0, 0.0
    similarity = index.vectors @ view.vector
    best = int(np.argmax(similarity))
    overlap = len(view.words & index.words[best]) / (len(view.words) or 1)
    return index.ids[best], index.texts[best], float(similarity[best]), overlap
