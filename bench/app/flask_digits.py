"""The bench app plus the digit classifier, Flask 2.2 + sklearn: the baseline of mod_flaskpp's
examples/digits plugin (`FlaskppRoute POST /api/predict-now handler predict`).

Same weights (models/digits/weights.json, copied next to this file as digits_weights.json by the
harness, or BENCH_DIGITS_WEIGHTS) loaded once at import into a multinomial
sklearn.linear_model.LogisticRegression; same input checks as the plugin (a 422 naming what is
wrong); same answer {"digit": d, "probabilities": [10 numbers]} from predict_proba. Every route of
flask_app.py is here too (the harness waits on /health).
"""
import json
import math
import os

import numpy as np
from flask import abort, jsonify, request
from sklearn.linear_model import LogisticRegression

from flask_app import app  # noqa: F401  (the bench app's routes, then ours)

WEIGHTS = os.environ.get("BENCH_DIGITS_WEIGHTS") or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                                 "digits_weights.json")


def load_model(path):
    with open(path) as f:
        w = json.load(f)
    clf = LogisticRegression(multi_class="multinomial")  # sklearn 1.2 (Debian 12): softmax in predict_proba
    clf.classes_ = np.array(w["classes"])
    clf.coef_ = np.array(w["coef"], dtype=np.float64)
    clf.intercept_ = np.array(w["intercept"], dtype=np.float64)
    assert clf.coef_.shape == (10, 64) and clf.intercept_.shape == (10,)
    return clf


MODEL = load_model(WEIGHTS)


class BadInput(Exception):
    pass


def pixels_of(req):
    """The plugin's checks (examples/digits/plugin.cpp, preprocess.cpp validate_pixels)."""
    if not req.is_json:  # the plugin's 415 (Flask 2.2's get_json would answer 400)
        abort(415)
    doc = req.get_json()  # malformed JSON: 400, as the module
    if not isinstance(doc, dict) or not isinstance(doc.get("pixels"), list):
        raise BadInput('JSON input must be an object {"pixels": [64 numbers 0..16]}')
    pixels = doc["pixels"]
    for v in pixels:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise BadInput("pixels must all be numbers")
    if len(pixels) != 64:
        raise BadInput("expected 64 pixel values (8x8, row-major), got %d" % len(pixels))
    for i, v in enumerate(pixels):
        if not math.isfinite(v):
            raise BadInput("pixel %d is not a finite number" % i)
        if v < 0 or v > 16:
            raise BadInput("pixel %d is %s, outside the range 0..16" % (i, v))
    return np.array(pixels, dtype=np.float64).reshape(1, 64)


@app.route("/api/predict-now", methods=["POST"])
def predict_now():
    try:
        x = pixels_of(request)
    except BadInput as e:
        return jsonify(error=str(e), status=422), 422
    proba = MODEL.predict_proba(x)[0]
    return jsonify(digit=int(MODEL.classes_[int(np.argmax(proba))]), probabilities=[float(p) for p in proba])


application = app
