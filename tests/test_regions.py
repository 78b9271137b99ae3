import pytest

from genoseg.regions import Region, RegionError, parse_region, resolve_region


def test_parse_one_based_inclusive_with_commas():
    assert parse_region("chr1:1,001-2,000") == Region("chr1", 1000, 2000)
    assert parse_region("chr1") == Region("chr1")
    assert str(Region("chr1", 1000, 2000)) == "chr1:1001-2000"


@pytest.mark.parametrize("bad", ["chr1:0-10", "chr1:10-5", ""])
def test_bad_regions(bad):
    with pytest.raises(RegionError):
        parse_region(bad)


def test_exact_record_name_wins():
    names = {"NC_1:100-200", "chr2"}
    assert resolve_region("NC_1:100-200", names) == Region("NC_1:100-200")
    assert resolve_region("chr2:5-9", names) == Region("chr2", 4, 9)
