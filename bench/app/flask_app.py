"""The bench app in Flask 2.2 (Debian's python3-flask): the same routes and bytes as mod_flaskpp's."""
import os
import time
import uuid

from flask import Flask, jsonify, render_template, request

app = Flask(__name__, template_folder=os.path.join(os.path.dirname(__file__), "templates"))
app.config.update(
    TITLE="Bench page",
    GREETING="Welcome back",
    ITEMS=["item %d" % i for i in range(10)],
    UPLOAD_FOLDER=os.environ.get("BENCH_UPLOAD_DIR", "/tmp"),
)


@app.route("/health")
def health():
    return jsonify(status="ok")


@app.route("/page/<name>")
def page(name):
    return render_template("page.html", name=name, config=app.config)


@app.route("/api/echo", methods=["GET", "POST"])
def echo():
    return jsonify(
        method=request.method,
        path=request.path,
        params={},
        args={k: request.args.getlist(k) for k in request.args},
        form={k: request.form.getlist(k) for k in request.form},
        files={},
        headers={k.lower(): v for k, v in request.headers.items()},
        json=request.get_json(silent=False) if request.is_json else None,
    )


@app.route("/upload", methods=["POST"])
def upload():
    folder = app.config["UPLOAD_FOLDER"]
    saved = []
    for f in request.files.getlist("file"):
        name = "img_%d_%s.png" % (int(time.time()), uuid.uuid4().hex[:8])
        f.save(os.path.join(folder, name))
        saved.append(name)
    for old in os.listdir(folder):  # the seed's "delete original image"
        if old not in saved:
            try:
                os.remove(os.path.join(folder, old))
            except OSError:
                pass
    return jsonify(files=saved)


app.jinja_env.keep_trailing_newline = True  # as mustache does

application = app
