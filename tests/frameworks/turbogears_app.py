"""TurboGears2 in minimal mode: a ``TGController`` with ``@expose`` actions, parameters as
arguments, ``tg.request`` for the raw body and ``tg.url`` (which adds ``SCRIPT_NAME``)."""

import hashlib

from tg import MinimalApplicationConfigurator, TGController, expose, request, response, url


class RootController(TGController):
    @expose(content_type="text/plain")
    def hello(self):
        return "Hello from TurboGears2"

    @expose("json")
    def query(self, name, city):
        return {"name": name, "city": city}

    @expose("json")
    def form(self, name, message):
        return {"name": name, "message": message}

    @expose("json")
    def upload(self):
        data = request.body
        return {"length": len(data), "sha256": hashlib.sha256(data).hexdigest()}

    @expose(content_type="text/plain")
    def stream(self):
        response.app_iter = (f"line {i}\n".encode() for i in range(10))
        return response

    @expose("json")
    def links(self):
        return {"hello": url("/hello")}


configurator = MinimalApplicationConfigurator()
configurator.update_blueprint({"root_controller": RootController()})
app = configurator.make_wsgi_app()
