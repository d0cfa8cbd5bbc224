"""Flask: the contract routes (see ``frameworks/__init__.py``) with Flask's own objects."""

import hashlib

from flask import Flask, Response, jsonify, request, url_for

app = Flask(__name__)


@app.get("/hello")
def hello():
    return Response("Hello from Flask", mimetype="text/plain")


@app.get("/query")
def query():
    return jsonify(name=request.args["name"], city=request.args["city"])


@app.post("/form")
def form():
    return jsonify(name=request.form["name"], message=request.form["message"])


@app.post("/upload")
def upload():
    data = request.get_data()
    return jsonify(length=len(data), sha256=hashlib.sha256(data).hexdigest())


@app.get("/stream")
def stream():
    return Response((f"line {i}\n" for i in range(10)), mimetype="text/plain")


@app.get("/links")
def links():
    return jsonify(hello=url_for("hello"))
