"""The real-app ASGI scenario: a FastAPI endpoint, ``POST …/items``, that validates a JSON
order with pydantic (typed fields, a nested list of lines, length, range and pattern
constraints) and answers a priced quote as JSON, through a response model whose totals are
computed fields. The same bytes for the same body (bench/wrk/order.json, the body wrk
posts); an invalid body gets FastAPI's 422.

The handler is ``async def``, so it runs on the server's event loop, not in a thread pool.
"""

from typing import Annotated, Literal

from fastapi import FastAPI
from pydantic import BaseModel, Field, computed_field

Sku = Annotated[str, Field(min_length=3, max_length=32, pattern=r"^[A-Z0-9][A-Z0-9-]*$")]


class Line(BaseModel):
    """One line of an order: what, how many, at what unit price (in cents)."""

    sku: Sku
    quantity: int = Field(gt=0, le=1000)
    unit_price_cents: int = Field(ge=0, le=10_000_000)
    tags: list[str] = Field(default_factory=list, max_length=8)


class Order(BaseModel):
    """The request body."""

    customer: str = Field(min_length=1, max_length=100)
    email: str = Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")
    currency: Literal["EUR", "USD", "GBP"]
    lines: list[Line] = Field(min_length=1, max_length=100)
    note: str | None = Field(default=None, max_length=500)


class PricedLine(Line):
    """A line of the answer, with its total."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def line_total_cents(self) -> int:
        return self.quantity * self.unit_price_cents


class Quote(BaseModel):
    """The response body: the order's lines priced, and the totals."""

    customer: str
    currency: str
    lines: list[PricedLine]
    note: str | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def item_count(self) -> int:
        return sum(line.quantity for line in self.lines)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total_cents(self) -> int:
        return sum(line.line_total_cents for line in self.lines)


app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@app.post("/items", response_model=Quote)
async def create_quote(order: Order) -> Quote:
    """The order, priced."""
    lines = [PricedLine(**line.model_dump()) for line in order.lines]
    return Quote(customer=order.customer, currency=order.currency, lines=lines, note=order.note)
