"""A small real Flask app served as ``apps.flask_app:app``."""

from __future__ import annotations

from flask import Flask, Response, jsonify, redirect, request, stream_with_context, url_for

app = Flask(__name__)


@app.get("/")
def index():
    return "flask index"


@app.get("/greet")
def greet():
    name = request.args.get("name", "stranger")
    times = request.args.get("times", 1, type=int)
    return f"Hello, {name}!" * times


@app.route("/form", methods=["GET", "POST"])
def form():
    if request.method == "GET":
        return '<form method="post"><input name="name"><input name="colour" multiple><button>Send</button></form>'
    return jsonify(
        name=request.form["name"],
        colours=request.form.getlist("colour"),
        content_type=request.mimetype,
    )


@app.post("/json")
def json_double():
    payload = request.get_json()
    return jsonify(doubled={key: value * 2 for key, value in payload.items()})


@app.post("/upload")
def upload():
    upload = request.files["file"]
    data = upload.read()
    return jsonify(filename=upload.filename, size=len(data), head=data[:16].decode("latin-1"))


@app.get("/stream")
def stream():
    count = request.args.get("count", 5, type=int)

    @stream_with_context
    def generate():
        # request is only usable here because stream_with_context keeps the context alive.
        prefix = request.args.get("prefix", "row")
        for i in range(count):
            yield f"{prefix} {i}\n"

    return Response(generate(), mimetype="text/plain")


@app.get("/links")
def links():
    return jsonify(
        relative=url_for("greet", name="Ada"),
        external=url_for("greet", name="Ada", _external=True),
        static=url_for("static", filename="site.css"),
    )


@app.get("/go")
def go():
    return redirect(url_for("index"))


@app.get("/boom")
def boom():
    raise RuntimeError("flask-view-failure-marker")
