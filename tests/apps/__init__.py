"""WSGI apps the black-box tests run under amphicorn (``apps.<module>:<attr>``, cwd=tests).

Raw PEP 3333 apps are wrapped in ``wsgiref.validate.validator`` wherever the behaviour under
test is spec-conformant; the few that are not wrapped say why next to their definition.
"""
