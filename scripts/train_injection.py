"""Train the injection model: logistic regression over hashed n-grams, numpy only.

Reads corpus/injection/train.jsonl (never heldout.jsonl), normalises each text
with guardrails.detectors.normalize.normalize, hashes it with the featuriser
in guardrails/detectors/injection/model.py (the one scoring uses), and fits a
class-balanced, L2-regularised logistic regression by full-batch Adam for a
fixed number of epochs from zero weights (a long attack is trained on its
highest-scoring window: see Design). Full-batch training visits the rows
in file order, so the result depends on nothing but the corpus and the
settings below: the same inputs give the same bytes.

The weights are rounded to float16 and written to
guardrails/detectors/injection/weights.npz as a zip with fixed timestamps
(numpy's savez stamps the current time), so the file's sha256 - the model's
digest - is reproducible. Then the model is loaded from that file, as the
engine loads it, and scored on heldout.jsonl: recall per attack family and
false positives per benign kind, at several thresholds.

The threshold is tuned by template-grouped cross-validation on the training
split (the lowest one whose CV false-positive rate is at most 1%) and baked
into the bias, so the shipped model's 0.5 is that tuned point.

    python scripts/train_injection.py             # train, write, report
    python scripts/train_injection.py --check     # retrain; fail unless the digest matches
    python scripts/train_injection.py --report-only   # the held-out figures of the shipped weights
    python scripts/train_injection.py --sample 300 --epochs 20 --no-calibrate --out /tmp/w.npz
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import time
import zipfile
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from guardrails.detectors.injection.model import (
    BITS,
    FEATURE_VERSION,
    MODEL_PATH,
    WINDOW,
    InjectionModel,
    feature_parts,
    features,
    window_scores,
    window_starts,
)
from guardrails.detectors.normalize import normalize

CORPUS = ROOT / "corpus" / "injection"
EPOCHS = 300
LEARNING_RATE = 0.1
L2 = 1e-6
REFRESH = 10  # epochs between moves of each long attack to its best window
FOLDS = 4
MAX_FALSE_POSITIVES = (
    0.01  # the tuned threshold keeps CV false positives at or under this
)
THRESHOLDS = [0.3, 0.5, 0.7, 0.9]  # the report's columns; 0.5 is the CV-tuned point


def read_rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class Design:
    """The training rows as a sparse matrix in coordinate form.

    The model scores a text longer than WINDOW window by window and keeps the
    highest, so training sees texts the same way:

    - a long benign text is trained on as its windows, each one a benign row:
      no window of an ordinary text may look like an injection;
    - a long attack is a bag of windows of which at least one holds the
      injection (multiple-instance learning): it is trained on its whole text
      at first, then, every REFRESH epochs, on its highest-scoring window
      under the current weights.
    """

    def __init__(self, texts: list[str], labels: np.ndarray) -> None:
        fixed_rows, cols, vals, fixed_labels = [], [], [], []
        self.bags: list[tuple[list[tuple[np.ndarray, np.ndarray | None]], int]] = []
        for text, label in zip(texts, labels, strict=True):
            folded = normalize(text).text
            long = len(folded) + 2 > WINDOW
            if label == 1 and long:
                self.bags.append((feature_parts(folded), len(folded) + 2))
                continue
            pieces = [folded]
            if long:
                pieces = [
                    folded[i : i + WINDOW - 2]
                    for i in range(0, len(folded) - WINDOW // 2, WINDOW // 2)
                ]
            for piece in pieces:
                buckets = features(piece)
                n = buckets.shape[0]
                if n == 0:
                    continue
                fixed_rows.append(np.full(n, len(fixed_labels), dtype=np.intp))
                cols.append(buckets)
                vals.append(np.full(n, 1.0 / np.sqrt(n)))
                fixed_labels.append(label)
        self.n_fixed = len(fixed_labels)
        self.labels = np.array(fixed_labels + [1.0] * len(self.bags), dtype=np.float64)
        self.n_rows = self.labels.shape[0]
        self.fixed = (
            np.concatenate(fixed_rows),
            np.concatenate(cols),
            np.concatenate(vals),
        )
        self.select([None] * len(self.bags))

    def select(self, chosen: list[int | None]) -> None:
        """Use, for each bag, the features of the window starting at ``chosen[k]`` (all when None)."""
        rows, cols, vals = [self.fixed[0]], [self.fixed[1]], [self.fixed[2]]
        for k, ((parts, _), start) in enumerate(zip(self.bags, chosen, strict=True)):
            if start is None:
                picked = np.concatenate([b for b, _ in parts])
            else:
                picked = np.concatenate(
                    [
                        b[start : start + WINDOW]
                        if a is None
                        else b[(a >= start) & (a < start + WINDOW)]
                        for b, a in parts
                    ]
                )
            n = max(picked.shape[0], 1)
            rows.append(np.full(picked.shape[0], self.n_fixed + k, dtype=np.intp))
            cols.append(picked)
            vals.append(np.full(picked.shape[0], 1.0 / np.sqrt(n)))
        self.rows, self.cols, self.vals = (
            np.concatenate(rows),
            np.concatenate(cols),
            np.concatenate(vals),
        )

    def refresh(self, w: np.ndarray) -> None:
        """Move each bag to its highest-scoring window under the weights ``w``."""
        chosen = []
        for parts, length in self.bags:
            z = window_scores(parts, w, length)  # the scoring code's own windows
            chosen.append(int(window_starts(length)[int(np.argmax(z))]))
        self.select(chosen)


def fit(design: Design, epochs: int) -> tuple[np.ndarray, float]:
    """Class-balanced L2 logistic regression by full-batch Adam from zero."""
    labels = design.labels
    size = 1 << BITS
    w = np.zeros(size)
    b = 0.0
    positives = labels.sum()
    class_weight = np.where(
        labels == 1, 0.5 / positives, 0.5 / (labels.shape[0] - positives)
    )
    m_w, v_w = np.zeros(size), np.zeros(size)
    m_b = v_b = 0.0
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for t in range(1, epochs + 1):
        if design.bags and t > REFRESH and t % REFRESH == 1:
            design.refresh(w)
        z = b + np.bincount(
            design.rows, weights=w[design.cols] * design.vals, minlength=design.n_rows
        )
        p = 1.0 / (1.0 + np.exp(-z))
        g = class_weight * (p - labels)
        grad_w = (
            np.bincount(
                design.cols, weights=g[design.rows] * design.vals, minlength=size
            )
            + L2 * w
        )
        grad_b = float(g.sum())
        m_w = beta1 * m_w + (1 - beta1) * grad_w
        v_w = beta2 * v_w + (1 - beta2) * grad_w * grad_w
        m_b = beta1 * m_b + (1 - beta1) * grad_b
        v_b = beta2 * v_b + (1 - beta2) * grad_b * grad_b
        step = LEARNING_RATE * np.sqrt(1 - beta2**t) / (1 - beta1**t)
        w -= step * m_w / (np.sqrt(v_w) + eps)
        b -= step * m_b / (np.sqrt(v_b) + eps)
    return w, b


def weights_file(w: np.ndarray, b: float) -> bytes:
    """The .npz bytes, with fixed zip timestamps so equal weights give equal bytes."""
    arrays = {
        "weights": w.astype(np.float16),
        "bias": np.array([b], dtype=np.float64),
        "bits": np.array([BITS], dtype=np.int64),
        "feature_version": np.array([FEATURE_VERSION], dtype=np.int64),
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, array in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, array, version=(1, 0), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue(), compresslevel=9)
    return out.getvalue()


def fit_rows(rows: list[dict], epochs: int) -> tuple[np.ndarray, float]:
    labels = np.array([r["label"] == "attack" for r in rows], dtype=np.float64)
    return fit(Design([r["text"] for r in rows], labels), epochs)


def cv_threshold(rows: list[dict], epochs: int) -> tuple[float, dict[str, float]]:
    """The lowest threshold whose template-grouped CV false-positive rate is <= MAX_FALSE_POSITIVES.

    Each fold's model is fitted on the other folds' templates and scores the
    rows of its own, so every training row gets a score from a model that never
    saw its template: the condition the held-out split tests.
    """
    templates = sorted({r["template"] for r in rows})
    fold_of = {t: i % FOLDS for i, t in enumerate(templates)}
    scores = np.zeros(len(rows))
    for k in range(FOLDS):
        w, b = fit_rows([r for r in rows if fold_of[r["template"]] != k], epochs)
        model = InjectionModel(w.astype(np.float16).astype(np.float64), b, "", Path())
        for i, r in enumerate(rows):
            if fold_of[r["template"]] == k:
                scores[i] = model.score(r["text"])
    attack = np.array([r["label"] == "attack" for r in rows])
    # Just above the benign score that MAX_FALSE_POSITIVES of the benign rows may reach.
    benign = np.sort(scores[~attack])
    allowed = int(MAX_FALSE_POSITIVES * benign.shape[0])
    threshold = float(min(max(np.nextafter(benign[-allowed - 1], 1.0), 0.05), 0.999))
    print(
        f"{FOLDS}-fold CV by template on train: threshold {threshold:.4f} keeps false positives at "
        f"{np.mean(scores[~attack] >= threshold):.1%} with recall {np.mean(scores[attack] >= threshold):.1%} "
        f"(at 0.50: {np.mean(scores[~attack] >= 0.5):.1%} FP, {np.mean(scores[attack] >= 0.5):.1%} recall)"
    )
    return threshold, cv_levels(rows, scores, threshold)


def cv_levels(rows: list[dict], scores: np.ndarray, threshold: float) -> dict[str, float]:
    """The levels by their definition, printed for whoever recalibrates LEVELS.

    ``possible`` is 0.5, the model's own CV-tuned boundary. ``likely`` and
    ``certain`` are the lowest scores above it, in steps of 0.05, at which the
    shipped combination rule (``combine_scores``) flags at most 1% and at most
    0.2% of the training split's benign texts - scored with each row's
    cross-validated model score (calibrated as shipped), because the final
    model has seen every training row and scores them all near 0.
    """
    from guardrails.detectors.injection import combine_scores
    from guardrails.detectors.injection.signals import heuristic_score, scan

    shift = float(np.log(threshold / (1 - threshold)))
    z = np.log(np.clip(scores, 1e-12, 1 - 1e-12) / np.clip(1 - scores, 1e-12, 1)) - shift
    model = 1 / (1 + np.exp(-z))
    combined = np.array(
        [
            combine_scores(float(heuristic_score(scan(r["text"]))), float(m))
            for r, m in zip(rows, model, strict=True)
        ]
    )
    attack = np.array([r["label"] == "attack" for r in rows])
    benign = combined[~attack]

    def lowest(rate: float, above: float) -> float:
        for step in range(1, 21):
            t = round(step * 0.05, 2)
            if t > above and np.sum(benign >= t) <= rate * benign.shape[0]:
                return t
        return 1.0

    likely = lowest(0.01, 0.5)
    levels = {"possible": 0.5, "likely": likely, "certain": lowest(0.002, likely)}
    print(f"levels by their definition on cross-validated training scores: {levels}")
    for t in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95):
        print(
            f"  CV at {t:.2f}: recall {np.mean(combined[attack] >= t):.1%}, "
            f"false positives {np.mean(benign >= t):.1%}"
        )
    return levels


def train(rows: list[dict], epochs: int, *, calibrate: bool = True) -> bytes:
    """The weights file's bytes; with ``calibrate``, 0.5 is moved to the CV-tuned threshold."""
    w, b = fit_rows(rows, epochs)
    if calibrate:
        # Shift the bias so that the shipped model's 0.5 is the threshold that
        # cross-validation tuned: sigmoid(z - logit(t)) >= 0.5 iff sigmoid(z) >= t.
        t, _ = cv_threshold(rows, epochs)
        b -= float(np.log(t / (1 - t)))
    return weights_file(w, b)


def report(model: InjectionModel, rows: list[dict], thresholds: list[float]) -> None:
    scores = [model.score(r["text"]) for r in rows]
    # Speed on one long text (the held-out texts joined, 64 KiB), so the fixed
    # cost of a call does not dominate; normalise is shown apart, since the
    # detector can share one normalisation between the model and the signals.
    long_text = "\n".join(r["text"] for r in rows)[: 64 * 1024]
    kb = len(long_text.encode()) / 1024
    start = time.perf_counter()
    for _ in range(5):
        folded = normalize(long_text).text
    normalise_kb = (time.perf_counter() - start) / 5 / kb * 1e6
    start = time.perf_counter()
    for _ in range(5):
        model.score_normalized(folded)
    score_kb = (time.perf_counter() - start) / 5 / kb * 1e6
    by: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r, s in zip(rows, scores, strict=True):
        by[(r["label"], r["family"])].append(s)
    header = "".join(f"  @{t:.2f}" for t in thresholds)
    print(
        f"\nheld-out split: {len(rows)} rows; on a 64 KiB text, the model takes "
        f"{score_kb:.0f} us per KB after normalise's {normalise_kb:.0f}"
    )
    for label, what in (("attack", "recall"), ("benign", "false positives")):
        print(f"\n{label} family{'':<16}{'n':>5}{header}   ({what})")
        group = [s for (lab, _), ss in by.items() if lab == label for s in ss]
        for (lab, family), ss in sorted(by.items()):
            if lab == label:
                cells = "".join(
                    f"  {np.mean(np.array(ss) >= t):5.1%}" for t in thresholds
                )
                print(f"  {family:<22}{len(ss):>5}{cells}")
        cells = "".join(f"  {np.mean(np.array(group) >= t):5.1%}" for t in thresholds)
        print(f"  {'all':<22}{len(group):>5}{cells}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="retrain and exit 1 unless the result's sha256 equals the --out file's",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=MODEL_PATH,
        help="the weights file (default: %(default)s)",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=EPOCHS,
        help="full-batch epochs (default: %(default)s)",
    )
    parser.add_argument(
        "--sample",
        type=int,
        default=0,
        help="train on every k-th row so that about this many remain (a quick config for tests)",
    )
    parser.add_argument(
        "--no-calibrate",
        action="store_true",
        help="skip the cross-validated threshold (the bias stays as fitted; 5x faster)",
    )
    parser.add_argument(
        "--no-report", action="store_true", help="skip the held-out report"
    )
    parser.add_argument(
        "--levels",
        action="store_true",
        help="do not train: compute the named levels by their definition (4-fold cross-validation on "
        "train.jsonl, about a minute) and record them in levels.json with the weights' and the "
        "signals' digests; then set LEVELS in guardrails/detectors/injection/__init__.py to match",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="do not train: report on heldout.jsonl with the --out file as it is",
    )
    args = parser.parse_args(argv)
    if args.levels:
        from guardrails.detectors.injection import LEVELS_PATH, calibration_digest

        _, levels = cv_threshold(read_rows(CORPUS / "train.jsonl"), args.epochs)
        record = {"levels": levels, "weights": InjectionModel.from_file(args.out).digest,
                  "signals": calibration_digest()}
        LEVELS_PATH.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        print(f"wrote {LEVELS_PATH}: {levels}")
        return 0
    if args.report_only:
        report(
            InjectionModel.from_file(args.out),
            read_rows(CORPUS / "heldout.jsonl"),
            THRESHOLDS,
        )
        return 0

    rows = read_rows(CORPUS / "train.jsonl")
    if args.sample:
        rows = rows[:: max(1, len(rows) // args.sample)]
    start = time.perf_counter()
    data = train(rows, args.epochs, calibrate=not args.no_calibrate)
    digest = hashlib.sha256(data).hexdigest()
    print(
        f"trained on {len(rows)} rows in {time.perf_counter() - start:.1f} s: "
        f"{len(data) / 1024:.0f} KiB, sha256 {digest}"
    )
    if args.check:
        current = (
            hashlib.sha256(args.out.read_bytes()).hexdigest()
            if args.out.exists()
            else "(missing)"
        )
        if current != digest:
            print(f"MISMATCH: {args.out} has sha256 {current}", file=sys.stderr)
            return 1
        print(f"ok: {args.out} reproduces")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    if not args.no_report:
        report(
            InjectionModel.from_file(args.out),
            read_rows(CORPUS / "heldout.jsonl"),
            THRESHOLDS,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
