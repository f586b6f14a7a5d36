"""Draws docs/figures/method.png, the picture of the method on the home page.

python docs/figures/method.py
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

BOXES = {
    # name: (x, y, w, h, text, colour)
    "data": (0.2, 4.6, 2.6, 0.8, "dataset sample\n(per-class images)", "#dbe9f6"),
    "teacher": (0.2, 3.3, 2.6, 0.8, "trained teacher\n(on a fixed noise input)", "#dbe9f6"),
    "student": (0.2, 2.0, 2.6, 0.8, "student: teacher weights\nremapped (copy_first)", "#dbe9f6"),
    "graph": (0.2, 0.7, 2.6, 0.8, "student architecture\nas a PyG graph", "#dbe9f6"),
    "set": (3.6, 4.6, 2.6, 0.8, "set transformer\n(within, across classes)", "#fde3c8"),
    "gram_t": (3.6, 3.3, 2.6, 0.8, "Gram map of last-stage\nfeatures + conv encoder", "#fde3c8"),
    "gram_s": (3.6, 2.0, 2.6, 0.8, "Gram map of last-stage\nfeatures + conv encoder", "#fde3c8"),
    "gnn": (3.6, 0.7, 2.6, 0.8, "GNN (GINE) + params,\nFLOPs vs the teacher", "#fde3c8"),
    "fuse": (7.0, 2.2, 2.2, 1.6, "fusion MLP\n(Meta-SGD: adapted\non the teacher)", "#d5ecd4"),
    "out": (10.0, 2.55, 2.3, 0.9, "predicted accuracy\nafter KD", "#f3d5e5"),
    "search": (10.0, 0.9, 2.3, 0.9, "rank / evolve\nunder a budget", "#f3d5e5"),
}
ARROWS = [
    ("data", "set"),
    ("teacher", "gram_t"),
    ("student", "gram_s"),
    ("graph", "gnn"),
    ("set", "fuse"),
    ("gram_t", "fuse"),
    ("gram_s", "fuse"),
    ("gnn", "fuse"),
    ("fuse", "out"),
    ("out", "search"),
]


def main() -> Path:
    fig, ax = plt.subplots(figsize=(12.5, 5.6))
    ax.set_xlim(0, 12.5)
    ax.set_ylim(0.3, 5.8)
    ax.axis("off")
    for x, y, w, h, text, colour in BOXES.values():
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.05", fc=colour, ec="#555"))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=9.5)
    for a, b in ARROWS:
        xa, ya, wa, ha = BOXES[a][:4]
        xb, yb, wb, hb = BOXES[b][:4]
        if a == "out":
            start, end = (xa + wa / 2, ya), (xb + wb / 2, yb + hb)
        else:
            start, end = (xa + wa, ya + ha / 2), (xb, yb + hb / 2)
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, color="#444"))
    ax.text(
        6.25,
        5.65,
        "DaSS: predict a student's accuracy after distillation from this teacher on this dataset",
        ha="center",
        fontsize=11,
        weight="bold",
    )
    out = Path(__file__).with_suffix(".png")
    fig.savefig(out, dpi=110, bbox_inches="tight")
    return out


if __name__ == "__main__":
    print(main())
