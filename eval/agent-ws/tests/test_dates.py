from shop.dates import parse_date, is_weekend


def test_parse_date():
    assert parse_date("2024-02-29") == (2024, 2, 29)


def test_weekend():
    assert is_weekend(6)


def test_weekday():
    assert not is_weekend(2)
