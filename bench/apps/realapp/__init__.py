"""The Django half of the real-app scenarios: one model (``Fortune``), one view
(``/fortunes``), one template. Settings are in ``realapp_wsgi`` (configured in code, so the
package needs no ``DJANGO_SETTINGS_MODULE``); the SQLite file is made by ``realapp.db``.
"""
