"""Hinton's (1986) family-trees task: ``"family-trees"``.

Hinton's two isomorphic family trees (English and Italian, 12 people each) and the
12 relations; a query is (person, relation) and the target marks *every* person that
completes the triple (Colin has-aunt {Jennifer, Margaret}). There are exactly 104
queries (52 per tree; 112 person-relation-person triples, since 8 queries per tree
have two answers); 100 train / 4 test.

References
----------
.. [1] G. E. Hinton, "Learning distributed representations of concepts", Proc. 8th Annual
   Conference of the Cognitive Science Society, 1-12, 1986.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..validation import check, check_seed
from .dataset import Dataset
from .registry import register_dataset

__all__ = ["RELATIONS", "FamilyTrees", "Person", "family_tree_people", "family_tree_queries", "family_trees",
           "queries_correct"]


# --------------------------------------------------------------------------- family trees
#: Hinton's (1986) 12 relations, in his order.
RELATIONS = ("father", "mother", "husband", "wife", "son", "daughter", "uncle", "aunt", "brother", "sister",
             "nephew", "niece")

# One tree as data: (name, sex, generation, branch) and its marriages and parent -> children.
# Branch: which side of the middle generation's families a person belongs to (0: the
# left couple's descendants and in-laws, 1: the right couple's), so the figure can order by it.
_ENGLISH = {
    "people": [("Christopher", "m", 1, 0), ("Penelope", "f", 1, 0), ("Andrew", "m", 1, 1), ("Christine", "f", 1, 1),
               ("Margaret", "f", 2, 0), ("Arthur", "m", 2, 0), ("Victoria", "f", 2, 0), ("James", "m", 2, 1),
               ("Jennifer", "f", 2, 1), ("Charles", "m", 2, 1), ("Colin", "m", 3, 0), ("Charlotte", "f", 3, 0)],
    "couples": [("Christopher", "Penelope"), ("Andrew", "Christine"), ("Arthur", "Margaret"),
                ("James", "Victoria"), ("Charles", "Jennifer")],
    "children": {("Christopher", "Penelope"): ("Arthur", "Victoria"), ("Andrew", "Christine"): ("James", "Jennifer"),
                 ("James", "Victoria"): ("Colin", "Charlotte")},
}
# The Italian tree is the same graph with other names (Hinton 1986, Fig. 1).
_ITALIAN_NAMES = {"Christopher": "Roberto", "Penelope": "Maria", "Andrew": "Pierro", "Christine": "Francesca",
                  "Margaret": "Gina", "Arthur": "Emilio", "Victoria": "Lucia", "James": "Marco",
                  "Jennifer": "Angela", "Charles": "Tomaso", "Colin": "Alfonso", "Charlotte": "Sophia"}


@dataclass(frozen=True)
class Person:
    """One member of a family tree: ``name``, ``sex`` ("m"/"f"), ``generation`` (1 oldest),
    ``branch`` (0/1) and ``nationality`` ("English"/"Italian")."""

    name: str
    sex: str
    generation: int
    branch: int
    nationality: str


def family_tree_people() -> tuple[Person, ...]:
    """The 24 people: the 12 English then the 12 Italian, each tree in the same order."""
    english = tuple(Person(n, s, g, b, "English") for n, s, g, b in _ENGLISH["people"])
    italian = tuple(Person(_ITALIAN_NAMES[p.name], p.sex, p.generation, p.branch, "Italian") for p in english)
    return english + italian


def _tree_relations(names: dict[str, str]) -> dict[tuple[str, str], set[str]]:
    """``{(person, relation): {answers}}`` of one tree, derived from marriages and parenthood.

    ``names`` maps the English template name to this tree's name.  Relations read
    "person has-relation answer"; uncles and aunts include those by marriage (Hinton's tree).
    """
    sex = {names[n]: s for n, s, _, _ in _ENGLISH["people"]}
    spouse: dict[str, str] = {}
    for a, b in _ENGLISH["couples"]:
        spouse[names[a]], spouse[names[b]] = names[b], names[a]
    parents: dict[str, tuple[str, str]] = {}
    for (father, mother), kids in _ENGLISH["children"].items():
        for kid in kids:
            parents[names[kid]] = (names[father], names[mother])
    children = {p: {c for c, ps in parents.items() if p in ps} for p in sex}

    def siblings(p):
        return {c for c, ps in parents.items() if p in parents and ps == parents[p] and c != p}

    def by_sex(people, s):
        return {q for q in people if sex[q] == s}

    out: dict[tuple[str, str], set[str]] = {}
    for p in sex:
        par = set(parents.get(p, ()))
        sib = siblings(p)
        # Parents' siblings and those siblings' spouses.
        piblings = set().union(*(siblings(q) for q in par)) if par else set()
        piblings |= {spouse[q] for q in piblings if q in spouse}
        # Children of one's own siblings and of one's spouse's siblings.
        sib_in_law = sib | (siblings(spouse[p]) if p in spouse else set())
        nibling = set().union(*(children[q] for q in sib_in_law)) if sib_in_law else set()
        rel = {"father": by_sex(par, "m"), "mother": by_sex(par, "f"),
               "husband": by_sex({spouse[p]} if p in spouse else set(), "m"),
               "wife": by_sex({spouse[p]} if p in spouse else set(), "f"),
               "son": by_sex(children[p], "m"), "daughter": by_sex(children[p], "f"),
               "uncle": by_sex(piblings, "m"), "aunt": by_sex(piblings, "f"),
               "brother": by_sex(sib, "m"), "sister": by_sex(sib, "f"),
               "nephew": by_sex(nibling, "m"), "niece": by_sex(nibling, "f")}
        for r in RELATIONS:
            if rel[r]:
                out[(p, r)] = rel[r]
    return out


def family_tree_queries() -> list[tuple[str, str, frozenset[str]]]:
    """Every (person, relation, answers) query of both trees, in person-then-relation order.

    Returns
    -------
    list of (str, str, frozenset of str)
        Exactly 104 entries (asserted): Hinton's "104 triples", whose third term is the set
        of every correct answer.
    """
    english = {n: n for n in _ITALIAN_NAMES}
    rel = {**_tree_relations(english), **_tree_relations(_ITALIAN_NAMES)}
    order = {p.name: i for i, p in enumerate(family_tree_people())}
    queries = sorted(((p, r, frozenset(a)) for (p, r), a in rel.items()),
                     key=lambda q: (order[q[0]], RELATIONS.index(q[1])))
    if len(queries) != 104:  # the defining property of the task; a wrong tree must not pass silently
        raise AssertionError(f"family trees: expected 104 (person, relation) queries, generated {len(queries)}")
    return queries


@dataclass(frozen=True)
class FamilyTrees:
    """The encoded family-trees task: the :class:`Dataset` and what its columns mean."""

    dataset: Dataset
    people: tuple[Person, ...]
    relations: tuple[str, ...]
    test_queries: tuple[tuple[str, str, frozenset], ...]


def family_trees(n_test: int = 4, seed: int = 0) -> FamilyTrees:
    """Hinton's (1986) family-trees task, encoded for a single-input-layer network.

    Input (36 units) = person one-hot (24) concatenated with relation one-hot (12); target
    (24 units) = 1 for every correct answer, 0 elsewhere.  Hinton's network instead fed the
    two one-hot codes through two separate 6-unit encoding layers; here the first hidden
    layer sees both (see ``models/hinton1986_family_trees.toml``).

    Parameters
    ----------
    n_test : int
        Queries held out for testing (4 in the paper), drawn at random with ``seed``.
    seed : int

    Returns
    -------
    FamilyTrees
        ``dataset`` has ``x_train`` (104 - n_test, 36), ``t_train`` (104 - n_test, 24),
        ``x_test`` (n_test, 36), ``t_test`` (n_test, 24); ``n_classes = 0``.
    """
    n_test = check("family_trees", "n_test", n_test, "int", ge=1, le=103,
                   hint="It is the number of held-out queries (4 in the paper).")
    seed = check_seed("family_trees", seed)
    people = family_tree_people()
    index = {p.name: i for i, p in enumerate(people)}
    queries = family_tree_queries()
    x = np.zeros((len(queries), len(people) + len(RELATIONS)), dtype=np.float32)
    t = np.zeros((len(queries), len(people)))
    for i, (p, r, answers) in enumerate(queries):
        x[i, index[p]] = 1
        x[i, len(people) + RELATIONS.index(r)] = 1
        t[i, [index[a] for a in answers]] = 1
    test = np.sort(np.random.default_rng(seed).choice(len(queries), n_test, replace=False))
    train = np.setdiff1d(np.arange(len(queries)), test)
    y = t.argmax(axis=1)
    ds = Dataset(name="family-trees", x_train=x[train], y_train=y[train], x_test=x[test], y_test=y[test],
                 n_classes=0, image_shape=None, t_train=t[train], t_test=t[test],
                 source=f"generated from Hinton's (1986) two family trees; {len(train)} train / {n_test} test "
                        f"queries, split seed {seed}")
    return FamilyTrees(ds, people, RELATIONS, tuple(queries[i] for i in test))


def queries_correct(outputs: np.ndarray, targets: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Whether each query is answered correctly: every answer unit above, every other below.

    Parameters
    ----------
    outputs, targets : ndarray of shape (n_queries, n_people)

    Returns
    -------
    ndarray of bool, shape (n_queries,)
    """
    return np.all((outputs > threshold) == (targets > 0.5), axis=1)




@register_dataset("family-trees", generates=True,
                  summary="Hinton's family trees: 104 (person, relation) queries, 24 0/1 targets (regression), "
                          "100/4 (Hinton 1986)")
def _family_trees(*, n_train, n_test, seed) -> Dataset:
    # n_test queries are held out (4 in the paper); n_train keeps a random subset of the rest.
    dataset = family_trees(4 if n_test is None else n_test, seed).dataset
    return dataset if n_train is None else dataset.subset(n_train=n_train, seed=seed)
