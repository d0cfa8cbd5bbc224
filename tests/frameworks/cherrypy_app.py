"""CherryPy: an exposed object tree as a WSGI ``Application`` that takes its mount point
from ``SCRIPT_NAME`` (``script_name=None``), and ``cherrypy.url`` to build links."""

import hashlib

import cherrypy

cherrypy.config.update({"environment": "embedded", "log.screen": False, "checker.on": False})


class Root:
    @cherrypy.expose
    def hello(self):
        cherrypy.response.headers["Content-Type"] = "text/plain"
        return "Hello from CherryPy"

    @cherrypy.expose
    @cherrypy.tools.json_out()
    def query(self, name, city):
        return {"name": name, "city": city}

    @cherrypy.expose
    @cherrypy.tools.allow(methods=["POST"])
    @cherrypy.tools.json_out()
    def form(self, name, message):
        return {"name": name, "message": message}

    @cherrypy.expose
    @cherrypy.tools.allow(methods=["POST"])
    @cherrypy.tools.json_out()
    def upload(self):
        data = cherrypy.request.body.read()
        return {"length": len(data), "sha256": hashlib.sha256(data).hexdigest()}

    @cherrypy.expose
    @cherrypy.config(**{"response.stream": True})
    def stream(self):
        cherrypy.response.headers["Content-Type"] = "text/plain"
        return (f"line {i}\n".encode() for i in range(10))

    @cherrypy.expose
    @cherrypy.tools.json_out()
    def links(self):
        return {"hello": cherrypy.url("/hello")}


app = cherrypy.Application(Root(), script_name=None)
