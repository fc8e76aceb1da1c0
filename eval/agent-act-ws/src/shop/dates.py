"""Date helpers."""


def parse_date(text):
    """Parse YYYY-MM-DD into a tuple of ints."""
    year, month, day = text.split("-")
    return int(year), int(month), int(day)


def is_weekend(day_index):
    return day_index in (5, 6)
