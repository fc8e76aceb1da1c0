"""The shopping cart."""

from .money import add_vat

MAX_ITEMS = 50


def calc_total(items):
    return add_vat(sum(cents for _, cents in items))


class Cart:
    def __init__(self):
        self.items = []

    def add(self, sku, cents):
        if len(self.items) >= MAX_ITEMS:
            raise ValueError("cart is full")
        self.items.append((sku, cents))

    def total(self):
        return calc_total(self.items)
