"""webapp2 (3.0 beta, the Python 3 port): ``RequestHandler`` classes with ``get``/``post``,
``webapp2.Route``s, the WebOb request and response and ``uri_for``."""

import hashlib
import json

import webapp2


class JsonHandler(webapp2.RequestHandler):
    def send_json(self, value) -> None:
        self.response.content_type = "application/json"
        self.response.write(json.dumps(value))


class Hello(webapp2.RequestHandler):
    def get(self):
        self.response.content_type = "text/plain"
        self.response.write("Hello from webapp2")


class Query(JsonHandler):
    def get(self):
        self.send_json({"name": self.request.GET["name"], "city": self.request.GET["city"]})


class Form(JsonHandler):
    def post(self):
        self.send_json({"name": self.request.POST["name"], "message": self.request.POST["message"]})


class Upload(JsonHandler):
    def post(self):
        data = self.request.body
        self.send_json({"length": len(data), "sha256": hashlib.sha256(data).hexdigest()})


class Stream(webapp2.RequestHandler):
    def get(self):
        self.response.content_type = "text/plain"
        self.response.app_iter = (f"line {i}\n".encode() for i in range(10))


class Links(JsonHandler):
    def get(self):
        self.send_json({"hello": self.uri_for("hello")})


app = webapp2.WSGIApplication(
    [
        webapp2.Route("/hello", Hello, name="hello"),
        webapp2.Route("/query", Query),
        webapp2.Route("/form", Form),
        webapp2.Route("/upload", Upload),
        webapp2.Route("/stream", Stream),
        webapp2.Route("/links", Links),
    ]
)
