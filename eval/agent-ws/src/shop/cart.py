"""The shopping cart."""

from .money import add_vat

MAX_ITEMS = 50


class Cart:
    def __init__(self):
        self.items = []

    def add(self, sku, cents):
        if len(self.items) >= MAX_ITEMS:
            raise ValueError("cart is full")
        self.items.append((sku, cents))

    def total(self):
        return add_vat(sum(c for _, c in self.items))
