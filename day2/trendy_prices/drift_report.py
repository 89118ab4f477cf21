"""What both trendy_prices consumers print per batch, and the plot they write at the
end. Not a streaming idea of its own: bookkeeping kept out of the two scripts so
that they show only how each Spark API learns from the stream.

Per batch: the learned weights, the true weights w(t) that the producer sent, and
the error: after learning from the batch's known rows, the model predicts its
unknown rows (whose labels it never saw), and the predictions are compared with
the noise-free truth dot(w(t), x). Next to it, the same error for a model frozen
after its first batch: what you get from training once and never again.
"""

import json
import os

import numpy as np

import course


class DriftReport:
    def __init__(self, json_lines=False, warmup=3):
        self.json_lines = json_lines
        self.warmup = warmup  # batches left out of the summary while the model warms up
        self.frozen = None  # the weights after the first batch, kept for comparison
        self.history = []  # one dict per batch

    @property
    def batches(self):
        return len(self.history)

    def batch(self, messages, learned, predict):
        """Report one batch. messages: its well-formed messages, each as
        (t, true_weights, [(known, x, label), ...]); learned: the model's weights
        after learning from the batch's known rows; predict: the model's
        prediction function, from a matrix of rows to their predictions."""
        t, true, _ = max(messages, key=lambda m: m[0])  # the newest w(t) of the batch
        learned, true = np.asarray(learned, dtype=float), np.asarray(true, dtype=float)
        unknown = [(x, np.dot(w, x)) for _, w, rows in messages for known, x, _ in rows if not known]
        X_unknown = np.array([x for x, _ in unknown], dtype=float).reshape(-1, len(true))
        truth = np.array([y for _, y in unknown], dtype=float)
        predictions = np.asarray(predict(X_unknown), dtype=float) if len(truth) else truth
        trained_rows = sum(known for _, _, rows in messages for known, _, _ in rows)
        if self.frozen is None:
            self.frozen = learned.copy()

        def rmse(p):
            return float(np.sqrt(np.mean((p - truth) ** 2))) if len(truth) else None

        record = {
            "batch": self.batches + 1,
            "t": round(float(t), 3),
            "trained_rows": int(trained_rows),
            "predicted_rows": len(truth),
            "learned": [round(v, 6) for v in learned.tolist()],
            "true": [round(v, 6) for v in true.tolist()],
            "rmse": rmse(predictions),
            "frozen_rmse": rmse(X_unknown @ self.frozen),
            "weight_error": float(np.linalg.norm(learned - true)),
        }
        self.history.append(record)
        errors = "no unknown rows to predict"
        if record["rmse"] is not None:
            errors = (f"prediction error (RMSE) {record['rmse']:.4f}, "
                      f"frozen model {record['frozen_rmse']:.4f}")
        print(f"batch {record['batch']:3d}  t={record['t']:7.1f}  trained on "
              f"{trained_rows:2d} rows, predicted {len(truth):2d}: {errors}\n"
              f"  learned {np.round(learned, 4).tolist()}\n"
              f"  true    {np.round(true, 4).tolist()}   |learned - true| "
              f"{record['weight_error']:.4f}", flush=True)
        if self.json_lines:
            print(json.dumps(record), flush=True)

    def finish(self, run, plot_path, **results):
        """Write the plot and print the FINAL line: the run's messages, malformed,
        batches, then the model's figures."""
        after = [r for r in self.history[self.warmup:] if r["rmse"] is not None]
        figures = {
            "updates": self.batches,  # batches the model learned from and was scored on
            "warmup": self.warmup,
            "mean_rmse": float(np.mean([r["rmse"] for r in after])) if after else None,
            "mean_frozen_rmse": float(np.mean([r["frozen_rmse"] for r in after]))
            if after else None,
            "plot": None,
        }
        if self.history:
            self.plot(plot_path)
            figures["plot"] = plot_path
            shown = os.path.relpath(plot_path)  # from here, unless that climbs out: absolute
            shown = os.path.abspath(plot_path) if shown.startswith("..") else shown
            print(f"plot of true against learned weights: {shown}", flush=True)
        course.final(run, **results, **figures)

    def plot(self, path):
        # A bare Figure draws with the Agg backend (PNG, no display needed); pyplot
        # would try to open a window on a laptop. Imported here, at the end: matplotlib
        # takes half a second to import, which would delay the stream's start.
        from matplotlib.figure import Figure

        t = [r["t"] for r in self.history]
        learned = np.array([r["learned"] for r in self.history])
        true = np.array([r["true"] for r in self.history])
        fig = Figure(figsize=(9, 7))
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[2, 1])
        for i in range(true.shape[1]):
            color = f"C{i}"
            top.plot(t, true[:, i], color=color, label=f"w{i} true")
            top.plot(t, learned[:, i], color=color, linestyle="--", marker=".")
        top.set_ylabel("weight (solid: true, dashed: learned)")
        top.set_title("Streaming linear regression on drifting weights")
        top.legend(ncol=5, fontsize="small")
        scored = [r for r in self.history if r["rmse"] is not None]
        bottom.plot([r["t"] for r in scored], [r["rmse"] for r in scored], label="streaming model")
        bottom.plot([r["t"] for r in scored], [r["frozen_rmse"] for r in scored],
                    label="frozen after first batch")
        bottom.set_xlabel("t (producer's seconds)")
        bottom.set_ylabel("prediction RMSE")
        bottom.legend(fontsize="small")
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        fig.savefig(path, dpi=80)
