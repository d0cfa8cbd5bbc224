"""prestans: a ``RequestRouter`` of ``RequestHandler``s whose verbs are declared in a
``parser.Config`` (response templates, a ``ParameterSet`` for the query string), ``Model``
responses through its JSON serializer and a ``BinaryResponse`` for the plain-text hello.

prestans speaks JSON bodies; the urlencoded form and the raw upload come from its request,
which is a WebOb request. It has neither streaming nor URL building: the link is WebOb's
``application_url`` (which carries ``SCRIPT_NAME``) plus the route. ``charset="UTF-8"``: WebOb
1.8 refuses to parse a form for a request whose charset is spelt ``utf-8``, prestans' default.
"""

import hashlib

from prestans import parser, rest, types


class Pair(types.Model):
    name = types.String()
    city = types.String()


class Message(types.Model):
    name = types.String()
    message = types.String()


class Digest(types.Model):
    length = types.Integer()
    sha256 = types.String()


class Link(types.Model):
    hello = types.String()


class QueryParameters(parser.ParameterSet):
    name = types.String()
    city = types.String()


class Hello(rest.RequestHandler):
    __parser_config__ = parser.Config(GET=parser.VerbConfig(response_template=types.BinaryResponse()))

    def get(self):
        self.response.status = 200
        self.response.body = types.BinaryResponse(
            mime_type="text/plain", file_name="hello.txt", as_attachment=False, contents=b"Hello from prestans"
        )


class Query(rest.RequestHandler):
    __parser_config__ = parser.Config(
        GET=parser.VerbConfig(
            response_template=Pair(), parameter_sets=[QueryParameters()], response_attribute_filter_default_value=True
        )
    )

    def get(self):
        parameters = self.request.parameter_set
        self.response.status = 200
        self.response.body = Pair(name=parameters.name, city=parameters.city)


class Form(rest.RequestHandler):
    __parser_config__ = parser.Config(
        POST=parser.VerbConfig(response_template=Message(), response_attribute_filter_default_value=True)
    )

    def post(self):
        fields = self.request.POST
        self.response.status = 200
        self.response.body = Message(name=fields["name"], message=fields["message"])


class Upload(rest.RequestHandler):
    __parser_config__ = parser.Config(
        POST=parser.VerbConfig(response_template=Digest(), response_attribute_filter_default_value=True)
    )

    def post(self):
        data = self.request.body
        self.response.status = 200
        self.response.body = Digest(length=len(data), sha256=hashlib.sha256(data).hexdigest())


class Links(rest.RequestHandler):
    __parser_config__ = parser.Config(
        GET=parser.VerbConfig(response_template=Link(), response_attribute_filter_default_value=True)
    )

    def get(self):
        self.response.status = 200
        self.response.body = Link(hello=self.request.application_url + "/hello")


app = rest.RequestRouter(
    routes=[(r"/hello", Hello), (r"/query", Query), (r"/form", Form), (r"/upload", Upload), (r"/links", Links)],
    application_name="amphicorn-frameworks",
    charset="UTF-8",
)
