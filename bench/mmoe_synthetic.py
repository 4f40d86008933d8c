"""The MMoE paper's synthetic experiment (Ma et al., KDD 2018, section 4): two regression tasks whose
correlation is controlled by p, the cosine of their weight vectors.

Generator: orthogonal unit vectors u1, u2 in R^d; w1 = c u1, w2 = c (p u1 + sqrt(1 - p^2) u2);
x ~ N(0, I_d); y_k = w_k.x + sum_{i=1..m} sin(alpha_i w_k.x + beta_i) + eps_k with alpha_i, beta_i ~ N(0, 1)
shared by both tasks, eps_k ~ N(0, 0.01^2); c = 1, m = 10, d = 100.

Models are built by the project's own trainer (trainer.model.build_model) from a config, with parameter
counts matched as in the paper: MMoE with 8 experts of 16 units, shared-bottom with one hidden layer widened
to the same count, PLE (CGC, one level) with 2 shared + 3 per-task experts of 16 units. The paper's finding:
as p falls, shared-bottom degrades while MMoE's loss stays low.

    python -m bench.mmoe_synthetic [--seeds 3] [--rows 10000] [--epochs 100] [--out FILE]
"""
from __future__ import annotations

import argparse
import statistics

import numpy as np

from bench.common import fit_timed, mean_std, parameter_count, table, with_changes, write_results

D, M, C = 100, 10, 1.0
TASKS = ("y1", "y2")


def generate(p: float, rows: int, seed: int):
    """(x [rows, d], {y1, y2}) for correlation p; one generator per seed (data and sine parameters)."""
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.normal(size=(D, 2)))
    u1, u2 = u[:, 0], u[:, 1]
    w1, w2 = C * u1, C * (p * u1 + np.sqrt(1 - p * p) * u2)
    alpha, beta = rng.normal(size=M), rng.normal(size=M)
    x = rng.normal(size=(rows, D)).astype(np.float32)
    labels = {}
    for name, w in zip(TASKS, (w1, w2)):
        z = x @ w
        labels[name] = (z + np.sin(np.outer(z, alpha) + beta).sum(axis=1)
                        + rng.normal(0, 0.01, rows)).astype(np.float32)
    return x, labels


def raw_config(architecture_model: dict, epochs: int) -> dict:
    return {"name": "synthetic", "data": {"train": "unused.csv"},
            "features": {f"x{i}": {"type": "numeric"} for i in range(D)},
            "tasks": {name: {"type": "regression", "label": name} for name in TASKS},
            "model": architecture_model,
            "training": {"epochs": epochs, "batch_size": 256, "learning_rate": 0.001}}


def shared_bottom_width(target: int) -> int:
    """Hidden width h of a d -> h -> towers(8) shared-bottom whose parameter count is closest to target."""
    count = lambda h: D * h + h + 2 * (h * 8 + 8 + 8 + 1)  # noqa: E731
    return min(range(1, 2000), key=lambda h: abs(count(h) - target))


def architectures():
    mmoe = {"architecture": "mmoe", "experts": 8, "expert_units": [16], "tower_units": [8]}
    experts = 8 * (D * 16 + 16) + 2 * (D * 8 + 8)  # experts + gates
    towers = 2 * (16 * 8 + 8 + 8 + 1)
    return {"shared_bottom": {"architecture": "shared_bottom", "shared_units": [shared_bottom_width(experts + towers)],
                              "tower_units": [8]},
            "mmoe": mmoe,
            "cgc": {"architecture": "cgc", "shared_experts": 2, "task_experts": 3, "expert_units": [16],
                    "tower_units": [8]}}


def dataset(x, labels, batch_size, shuffle_seed=None):
    import tensorflow as tf

    features = {f"x{i}": x[:, i] for i in range(D)}
    masks = {name: np.ones(len(x), np.float32) for name in TASKS}
    data = tf.data.Dataset.from_tensor_slices((features, labels, masks))
    if shuffle_seed is not None:
        data = data.shuffle(len(x), seed=shuffle_seed, reshuffle_each_iteration=True)
    return data.batch(batch_size).cache().prefetch(2)


def run_one(name, model_config, p, seed, rows, epochs):
    import tf_keras

    from trainer.model import Vocabularies, build_model

    x, labels = generate(p, rows + rows // 5, seed)
    split = rows
    train = {k: v[:split] for k, v in labels.items()}
    test = {k: v[split:] for k, v in labels.items()}
    config = with_changes(raw_config(model_config, epochs), training={"seed": seed})
    tf_keras.utils.set_random_seed(seed)
    stats = {k: (float(v.mean()), float(v.std())) for k, v in train.items()}
    model = build_model(config, Vocabularies({}, {}, stats))
    fit = fit_timed(model, dataset(x[:split], train, 256, seed), epochs)
    predictions = model.predict(dataset(x[split:], test, 1024), verbose=0)
    mse = {k: float(np.mean((predictions[k][:, 0] - test[k]) ** 2)) for k in TASKS}
    train_loss = {k: fit["history"][f"{k}_loss"][-1] for k in TASKS}  # variance-normalized training MSE
    return {"architecture": name, "p": p, "seed": seed, "parameters": parameter_count(model),
            "test_mse": mse, "train_loss": train_loss, "seconds": fit["seconds"]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=10000, help="training rows (test: a fifth more)")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--correlations", type=float, nargs="+", default=[1.0, 0.9, 0.5])
    parser.add_argument("--out", help="default: bench/results/mmoe_synthetic_<rows/1000>k_rows.json")
    args = parser.parse_args(argv)
    args.out = args.out or f"bench/results/mmoe_synthetic_{args.rows // 1000}k_rows.json"
    runs = []
    for p in args.correlations:
        for name, model_config in architectures().items():
            for seed in range(args.seeds):
                result = run_one(name, model_config, p, seed, args.rows, args.epochs)
                runs.append(result)
                print(f"p={p} {name} seed={seed}: test MSE {result['test_mse']} ({result['seconds']:.1f}s)",
                      flush=True)
    rows = []
    mean_mse = lambda r: statistics.mean(r["test_mse"].values())  # noqa: E731
    for p in args.correlations:
        baseline = {r["seed"]: mean_mse(r) for r in runs if r["p"] == p and r["architecture"] == "shared_bottom"}
        for name in architectures():
            mine = [r for r in runs if r["p"] == p and r["architecture"] == name]
            ratios = [mean_mse(r) / baseline[r["seed"]] for r in mine]
            rows.append([p, name, mine[0]["parameters"], mean_std([mean_mse(r) for r in mine]),
                         f"{statistics.mean(ratios):.2f}", mean_std([statistics.mean(r["train_loss"].values())
                                                                     for r in mine]),
                         f"{statistics.mean(r['seconds'] for r in mine):.1f}"])
    print()
    print(table(["p", "architecture", "params", "test MSE (mean of tasks)", "÷ shared_bottom (same seed)",
                 "train loss (normalized)", "s/run"], rows))
    write_results(args.out, {"args": vars(args), "runs": runs})
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
