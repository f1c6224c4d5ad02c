"""Integer-fen money: parsing what people type and showing amounts."""

import pytest

from app.money import (
    MAX_FEN,
    MoneyError,
    apply_bp,
    format_bp,
    format_fen,
    format_fen_range,
    parse_percent_bp,
    parse_yuan,
    share_of_units,
    yuan,
)


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("0.1", 10),
        ("12.30", 1230),
        ("12.3", 1230),
        ("12", 1200),
        ("0", 0),
        ("0.01", 1),
        ("¥8.80", 880),
        (" ¥1234.50 ", 123450),
        ("￥8.80", 880),
        ("１２．３０", 1230),
        ("１２", 1200),
        ("12.", 1200),
        ("1000000.00", 100000000),
    ],
)
def test_parse_yuan_reads_what_merchants_type(text, fen):
    assert parse_yuan(text) == fen


@pytest.mark.parametrize("text", ["12.345", "0.001", "1.999"])
def test_parse_yuan_refuses_fractions_of_a_fen(text):
    with pytest.raises(MoneyError, match="two decimal places"):
        parse_yuan(text)


@pytest.mark.parametrize("text", ["-1", "-0.01", " -12.30"])
def test_parse_yuan_refuses_negatives(text):
    with pytest.raises(MoneyError, match="negative"):
        parse_yuan(text)


@pytest.mark.parametrize("text", ["100000000.01", "99999999999999", "1" + "0" * 40])
def test_parse_yuan_refuses_absurdly_large_amounts(text):
    with pytest.raises(MoneyError):
        parse_yuan(text)


def test_largest_allowed_amount_round_trips():
    assert parse_yuan(yuan(MAX_FEN)) == MAX_FEN


@pytest.mark.parametrize(
    "text",
    ["", "   ", "¥", "abc", "1e3", "1E3", "12.3.4", ".5", "NaN", "nan", "inf", "Infinity", "0x10", "1_0"],
)
def test_parse_yuan_refuses_garbage(text):
    with pytest.raises(MoneyError):
        parse_yuan(text)


@pytest.mark.parametrize("text", ["12,30", "1,230.00", "12，30"])
def test_a_comma_in_an_amount_is_refused_not_read_as_thousands(text):
    """ "12,30" was once saved as ¥1,230.00: a comma is a decimal point in half the world."""
    with pytest.raises(MoneyError, match="commas"):
        parse_yuan(text)


def test_parse_yuan_can_require_more_than_zero():
    with pytest.raises(MoneyError, match="greater than zero"):
        parse_yuan("0.00", allow_zero=False)


def test_formatting():
    assert format_fen(1230) == "¥12.30"
    assert format_fen(5) == "¥0.05"
    assert format_fen(-1230) == "-¥12.30"
    assert format_fen(123456789) == "¥1,234,567.89"
    assert format_fen(None) == ""
    assert yuan(1230) == "12.30"
    assert yuan(-5) == "-0.05"
    assert format_fen_range(1200, 3000) == "¥12.00 - ¥30.00"
    assert format_fen_range(1200, 1200) == "¥12.00"


def test_floats_never_pass_as_money():
    with pytest.raises(TypeError):
        format_fen(12.3)
    with pytest.raises(TypeError):
        apply_bp(100.0, 1000)


def test_rates_in_basis_points():
    assert parse_percent_bp("10") == 1000
    assert parse_percent_bp("7.5%") == 750
    assert format_bp(1000) == "10%"
    assert format_bp(1050) == "10.5%"
    assert format_bp(5) == "0.05%"
    assert apply_bp(9999, 1000) == 999  # floor: the leftover fen stays with the merchant
    with pytest.raises(MoneyError):
        parse_percent_bp("-1")
    with pytest.raises(MoneyError):
        parse_percent_bp("100.01")


def test_the_last_units_take_what_is_left():
    """999 for 3 units, refunded one at a time: 333, 333, then the last 333 — and 1000 gives 333, 333, 334."""
    taken = 0
    shares = []
    for n in range(3):
        shares.append(share_of_units(1000, 3, n, 1, taken))
        taken += shares[-1]
    assert shares == [333, 333, 334] and sum(shares) == 1000
    assert share_of_units(1000, 3, 0, 3, 0) == 1000
    assert share_of_units(1000, 3, 1, 2, 333) == 667
    for bad in ((1000, 3, 2, 2, 0), (1000, 3, 0, 0, 0), (1000, 3, -1, 1, 0)):
        with pytest.raises(ValueError):
            share_of_units(*bad)
