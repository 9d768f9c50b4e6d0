"""
Align a rule on your own network
================================

Every rule in neurosim proposes a weight change ``dW``; :func:`neurosim.align` compares it with
the exact descent direction ``-dL/dW`` of the *same* network at the *same* weights and batch.
Here we describe a network of our own, let several rules add the pathways they need, give them
all the same forward weights, and compare their updates with backprop's.
"""

# %%
# A network of your own
# ---------------------
# A :class:`~neurosim.network.Network` only describes: named layers and the projections between
# them. Weights have shape ``(post, pre)``; nothing here holds a simulation.
import matplotlib.pyplot as plt
import numpy as np

import neurosim as ns
from neurosim import Layer, Network, Projection
from neurosim.data import load_dataset

net = Network(
    layers=(
        Layer("retina", 64, activation="linear", role="input", bias=False),
        Layer("v1", 48, activation="tanh"),
        Layer("v2", 32, activation="sigmoid"),
        Layer("readout", 10, activation="linear", role="output"),
    ),
    projections=(
        Projection("retina", "v1"),
        Projection("v1", "v2"),
        Projection("v2", "readout"),
    ),
    name="my-net",
    loss="cross_entropy",
)
print(net.summary())

# %%
# A batch of real data: the embedded 8x8 digits (no download), 256 training images.
data = load_dataset("digits")
x, t = data.x_train[:256].astype(float), data.targets("train")[:256]

# %%
# The same weights for every rule
# -------------------------------
# ``rule.network(net)`` returns the network with what the rule needs added (fixed random
# feedback for FA, learned inverses for DTP, gradient-predicting modules for cDNI...); it never
# modifies ``net``. Each rule initialises its own extra pathways, and we overwrite the forward
# weights with one common draw, so that the rules differ only in how they compute ``dW``.
common = ns.init_params(net, seed=0)

rules = ["backprop", "fa", "dfa", "dtp", "pc-fpa", "agrel"]
reports = {}
for name in rules:
    rule = ns.get_rule(name)
    rule_net = rule.network(net)
    params = rule.init_params(rule_net, seed=0)
    params.update(common)  # same forward weights and biases for every rule
    reports[name] = ns.align(rule, rule_net, params, x, t)

print(reports["fa"].table())

# %%
# ``report.table()`` is what ``neurosim align`` prints; ``report.to_dict()`` is its JSON. Per
# projection: the cosine between ``dW`` and ``-dL/dW``, the angle, the norm ratio and the share
# of entries with the same sign. Backprop's own report is the check of the oracle (cosine 1),
# and ``pc-fpa`` equals backprop exactly. FA's and DFA's output projection uses the true output
# error (angle 0), their hidden ones do not: at initialisation random feedback is nearly
# orthogonal to the gradient. DTP's top hidden layer gets a target made from the gradient
# (angle 0); the layer below gets its target through an inverse that has not learned yet.
projections = [p.name for p in net.projections]
angles = np.array([[reports[r][p].angle_deg for p in projections] for r in rules])
for r, row in zip(rules, angles):
    print(f"{r:10s}" + "".join(f"{a:9.1f}°" for a in row))

fig, ax = plt.subplots(figsize=(7, 3.2), layout="constrained")
for j, (p, marker) in enumerate(zip(projections, "os^")):
    ax.plot(np.arange(len(rules)) + (j - 1) * 0.15, angles[:, j], marker, ms=7, label=p)
ax.set_xticks(np.arange(len(rules)), rules)
ax.set_ylim(-5, 100)
ax.set_ylabel("angle to -dL/dW (degrees)")
ax.axhline(90, color="grey", lw=0.8, ls="--")
ax.text(-0.4, 92, "orthogonal", va="bottom", fontsize=8, color="grey")
ax.axhline(0, color="grey", lw=0.8, ls=":")
ax.text(-0.4, 2, "the gradient's direction", va="bottom", fontsize=8, color="grey")
ax.legend(title="projection", fontsize=8, title_fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
ax.set_title("Same network, same weights, same batch: each rule's update vs the gradient", fontsize=9)

# %%
# AGREL's report is of the update it applies, one sampled action per image, whose cosine is
# low; its *expected* update (over the actions) is the gradient of the loss it follows, and
# ``align`` reports that beside it.
print("AGREL applied:", round(reports["agrel"].global_cosine, 3),
      " expected:", round(reports["agrel"].extra["expected_global_cosine"], 6))

# %%
# Feedback alignment with symmetric feedback is backprop
# ------------------------------------------------------
# The description can say that FA's feedback projections are the transposes of the forward
# ones (``tied_to``). FA then *is* backprop: the cosine is 1 on every projection. This is one of
# the exact limits the test suite checks (``tests/test_feedback_alignment.py``).
tied = net.add(
    Projection("readout", "v2", name="readout->v2:fa", kind="feedback", plastic=False, tied_to="v2->readout"),
    Projection("v2", "v1", name="v2->v1:fa", kind="feedback", plastic=False, tied_to="v1->v2"),
)
fa = ns.get_rule("fa")
report = ns.align(fa, fa.network(tied), dict(common), x, t)
print(report.table())
assert all(abs(p.cosine - 1) < 1e-10 for p in report.projections)
