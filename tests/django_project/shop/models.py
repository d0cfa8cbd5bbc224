from django.db import models


class Order(models.Model):
    """One order placed through the form view (proves the migrated database is used)."""

    customer = models.CharField(max_length=100)
    quantity = models.PositiveIntegerField()
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.customer} x{self.quantity}"
