from shop.money import format_price, add_vat


def test_format_price():
    assert format_price(1999) == "19.99 EUR"


def test_add_vat():
    assert add_vat(100) == 121
