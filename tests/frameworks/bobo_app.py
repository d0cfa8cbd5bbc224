"""bobo: ``@bobo.query``/``@bobo.post`` resources, query and form fields as arguments, the
WebOb request for the raw body and ``application_url`` (which carries ``SCRIPT_NAME``)."""

import hashlib

import bobo
import webob


@bobo.query("/hello", content_type="text/plain")
def hello():
    return "Hello from bobo"


@bobo.query("/query", content_type="application/json")
def query(name, city):
    return {"name": name, "city": city}


@bobo.post("/form", content_type="application/json")
def form(name, message):
    return {"name": name, "message": message}


@bobo.post("/upload", content_type="application/json")
def upload(bobo_request):
    data = bobo_request.body
    return {"length": len(data), "sha256": hashlib.sha256(data).hexdigest()}


@bobo.query("/stream")
def stream():
    return webob.Response(app_iter=(f"line {i}\n".encode() for i in range(10)), content_type="text/plain")


@bobo.query("/links", content_type="application/json")
def links(bobo_request):
    return {"hello": bobo_request.application_url + "/hello"}


app = bobo.Application(bobo_resources=__name__)
