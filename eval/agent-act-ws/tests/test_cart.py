import unittest

from shop.cart import Cart


class CartTest(unittest.TestCase):
    def test_total_adds_vat(self):
        cart = Cart()
        cart.add("tea", 100)
        self.assertEqual(cart.total(), 121)
