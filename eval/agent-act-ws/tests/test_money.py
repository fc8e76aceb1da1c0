import unittest

from shop.money import add_vat, format_price


class MoneyTest(unittest.TestCase):
    def test_format_price(self):
        self.assertEqual(format_price(1999), "19.99 EUR")

    def test_add_vat(self):
        self.assertEqual(add_vat(100), 121)
