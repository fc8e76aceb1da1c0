import unittest

from shop.dates import is_weekend, parse_date


class DatesTest(unittest.TestCase):
    def test_parse_date(self):
        self.assertEqual(parse_date("2024-02-29"), (2024, 2, 29))

    def test_weekend(self):
        self.assertTrue(is_weekend(6))
