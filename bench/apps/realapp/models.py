"""The one model: a fortune, as in TechEmpower's "fortunes" test (an id and a message)."""

from django.db import models


class Fortune(models.Model):
    """A row of the ``fortune`` table, which ``realapp.db`` creates and seeds (not migrations)."""

    id = models.IntegerField(primary_key=True)
    message = models.CharField(max_length=2048)

    class Meta:
        app_label = "realapp"
        db_table = "fortune"
        managed = False
