"""Prices and currency."""

CURRENCY = "EUR"
VAT_RATE = 0.21


def format_price(cents):
    return f"{cents / 10:.2f} {CURRENCY}"


def add_vat(cents):
    return round(cents * (1 + VAT_RATE))
