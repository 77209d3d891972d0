#!/usr/bin/python3
"""Train the demo's handwritten-digit classifier and export it for the C++ inference code.

Run by a developer (not at test time) with Debian's python3-sklearn:

    /usr/bin/python3 models/digits/train.py

Model: multinomial softmax regression (sklearn LogisticRegression, lbfgs) on the raw 8x8 features
of sklearn's bundled digits data set (values 0..16, row-major, 16 = full ink); no scaler, so the
C++ side computes softmax(x . coef^T + intercept) on the same raw values.

Outputs, next to this script:
  weights.json  - classes, coef (10x64), intercept (10), input description, metadata
  heldout.json  - the held-out split: inputs, labels and sklearn's predict_proba for each
Floats are written with repr() (shortest round-trip form), so nothing is lost in the export.
"""
import json
import os
import sys

import numpy as np
import sklearn
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

SEED = 20240601
HELDOUT_FRACTION = 0.2
C = 0.01          # best of {0.001 .. 1} by 5-fold cross-validation on the training split
MAX_ITER = 5000
MIN_ACCURACY = 0.95

HERE = os.path.dirname(os.path.abspath(__file__))


def fmt(x):
    """Full-precision float literal (repr round-trips exactly)."""
    return repr(float(x))


def dump(obj, indent=0):
    """JSON writer that prints floats with repr and keeps numeric rows on one line."""
    pad = "  " * indent
    if isinstance(obj, dict):
        items = [f'{pad}  {json.dumps(k)}: {dump(v, indent + 1).lstrip()}' for k, v in obj.items()]
        return pad + "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, (list, tuple)):
        if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
               for v in obj):
            return pad + "[" + ", ".join(
                str(int(v)) if isinstance(v, (int, np.integer)) else fmt(v) for v in obj) + "]"
        return pad + "[\n" + ",\n".join(dump(v, indent + 1) for v in obj) + "\n" + pad + "]"
    if isinstance(obj, (float, np.floating)):
        return pad + fmt(obj)
    if isinstance(obj, (int, np.integer)) and not isinstance(obj, bool):
        return pad + str(int(obj))
    return pad + json.dumps(obj)


def main():
    digits = load_digits()
    X = digits.data.astype(np.float64)   # (1797, 64), values 0..16
    y = digits.target.astype(np.int64)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=HELDOUT_FRACTION, random_state=SEED, stratify=y)

    clf = LogisticRegression(C=C, max_iter=MAX_ITER, random_state=SEED)
    clf.fit(X_train, y_train)
    # sklearn >= 1.5 dropped the multi_class parameter; lbfgs on >2 classes is multinomial.
    assert clf.coef_.shape == (10, 64) and clf.intercept_.shape == (10,)

    proba = clf.predict_proba(X_test)
    # The export must be exactly what predict_proba computes: softmax(X W^T + b).
    z = X_test @ clf.coef_.T + clf.intercept_
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    mine = e / e.sum(axis=1, keepdims=True)
    assert np.max(np.abs(mine - proba)) < 1e-12, "predict_proba is not a plain softmax"

    train_acc = float(clf.score(X_train, y_train))
    acc = float(np.mean(clf.classes_[proba.argmax(axis=1)] == y_test))
    print(f"sklearn {sklearn.__version__}: train accuracy {train_acc:.4f}, "
          f"held-out accuracy {acc:.4f} on {len(y_test)} samples")
    if acc < MIN_ACCURACY:
        print(f"held-out accuracy {acc:.4f} is below {MIN_ACCURACY}", file=sys.stderr)
        return 1

    weights = {
        "format": "flaskpp-digits-softmax-v1",
        "model": "multinomial logistic regression: p = softmax(x . coef^T + intercept)",
        "input": {
            "shape": [8, 8],
            "order": "row-major",
            "length": 64,
            "min": 0,
            "max": 16,
            "meaning": "ink per 4x4 block of a 32x32 bitmap: 0 = background, 16 = full ink",
            "scaler": None,
        },
        "classes": [int(c) for c in clf.classes_],
        "coef": [list(map(float, row)) for row in clf.coef_],
        "intercept": list(map(float, clf.intercept_)),
        "metadata": {
            "sklearn_version": sklearn.__version__,
            "numpy_version": np.__version__,
            "dataset": "sklearn.datasets.load_digits (UCI optdigits test set, 1797 samples)",
            "estimator": "LogisticRegression(C=%r, solver='lbfgs', max_iter=%d)" % (C, MAX_ITER),
            "random_seed": SEED,
            "split": "train_test_split(test_size=%r, random_state=%d, stratify=y)"
                     % (HELDOUT_FRACTION, SEED),
            "train_samples": int(len(y_train)),
            "heldout_samples": int(len(y_test)),
            "train_accuracy": train_acc,
            "heldout_accuracy": acc,
        },
    }
    heldout = {
        "description": "held-out split of load_digits; proba = sklearn predict_proba",
        "sklearn_version": sklearn.__version__,
        "classes": [int(c) for c in clf.classes_],
        "samples": [
            {"label": int(label), "pixels": [int(v) for v in x], "proba": list(map(float, p))}
            for x, label, p in zip(X_test, y_test, proba)
        ],
    }
    for name, obj in (("weights.json", weights), ("heldout.json", heldout)):
        text = dump(obj) + "\n"
        json.loads(text)  # sanity: valid JSON
        with open(os.path.join(HERE, name), "w", encoding="ascii") as f:
            f.write(text)
        print(f"wrote {os.path.join(HERE, name)} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
