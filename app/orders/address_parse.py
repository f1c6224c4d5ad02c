"""Reading a pasted address ("张三 13812345678 浙江省杭州市西湖区文三路 100 号") into the address form's
fields. A pure function over the region data: it guesses, the shopper checks the form and saves it (and
save_address checks it again).

How it reads: the mobile (1[3-9] and 9 digits, also +86 / 0086 and with spaces or dashes) is taken out and
marks a break; the region is the province (full name or short: 浙江, 内蒙古, 广西), then its city (杭州市,
杭州, 恩施 for 恩施土家族苗族自治州; a municipality may repeat itself: 北京市北京市), then the district (西湖区,
西湖); a city alone (杭州市西湖区…) or a municipality's district (北京市朝阳区) is enough. What follows the
region up to the next break is the street address; the rest is the recipient's name."""

import re
from dataclasses import dataclass
from functools import cache

from app.orders import regions

MAX_TEXT = 300
_MOBILE = re.compile(r"(?<!\d)(?:(?:\+|00)?86[\s-]*)?(1[3-9]\d(?:[\s-]*\d){8})(?!\d)")
# Labels copied along with the address: the person's and the phone's mark a break, the address's do not.
# Short ones (姓名, 手机, 地址 …) only with their colon: 阿里地区 and 手机城 are no labels.
_PERSON_LABELS = re.compile(
    r"(?:收货人|收件人|联系人|手机号码|手机号|联系电话)\s*[:：]?|(?:姓名|手机|电话)\s*[:：]"
)
_PLACE_LABELS = re.compile(r"(?:所在地区|收货地址|详细地址)\s*[:：]?|(?:地址|地区)\s*[:：]")
_BREAKS = re.compile(r"[\n\r\t,，;；|、]+")
_SEPARATORS = " \u3000\t\n\r,，;；|、:：/"
_NAME = re.compile(r"^[\u4e00-\u9fa5·]{2,5}$|^[A-Za-z][A-Za-z .]{1,19}$")
_NOT_A_NAME_END = tuple("号室楼层栋幢座区路街道巷弄村组院园厦场城镇乡")
_ETHNIC = (
    "土家族", "苗族", "侗族", "布依族", "藏族", "羌族", "彝族", "白族", "傣族", "景颇族", "傈僳族", "哈尼族",
    "壮族", "回族", "哈萨克族", "蒙古族", "柯尔克孜族", "朝鲜族", "黎族", "纳西族", "拉祜族", "佤族",
    "布朗族", "普米族", "独龙族", "怒族", "仫佬族", "毛南族", "仡佬族", "水族", "瑶族", "畲族", "土族",
    "撒拉族", "东乡族", "保安族", "裕固族", "锡伯族", "塔吉克族", "达斡尔族", "鄂温克族", "鄂伦春族", "满族",
    "各族", "维吾尔",
)  # fmt: skip
_PROVINCE_SUFFIXES = ("维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "省", "市")


@dataclass(frozen=True)
class ParsedAddress:
    recipient: str = ""
    mobile: str = ""
    province: str = ""
    city: str = ""
    district: str = ""
    detail: str = ""

    @property
    def found_anything(self) -> bool:
        return any((self.recipient, self.mobile, self.province, self.detail))


def _short(name: str, suffixes: tuple[str, ...]) -> str:
    """The everyday short form: 恩施 for 恩施土家族苗族自治州, 西湖 for 西湖区, 杭州 for 杭州市."""
    cut = min((name.find(e) for e in _ETHNIC if name.find(e) > 0), default=-1)
    if cut >= 2:
        return name[:cut]
    for suffix in suffixes:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


def _aliases(name: str, suffixes: tuple[str, ...]) -> tuple[str, ...]:
    short = _short(name, suffixes)
    return (name, short) if short != name else (name,)


_CITY_SUFFIXES = ("地区", "自治州", "盟", "市")
_DISTRICT_SUFFIXES = ("自治县", "自治旗", "新区", "区", "县", "市", "旗")


@cache
def _province_aliases() -> list[tuple[str, regions.Province]]:
    pairs = [(a, p) for p in regions.provinces() for a in _aliases(p.name, _PROVINCE_SUFFIXES)]
    return sorted(pairs, key=lambda pair: -len(pair[0]))


@cache
def _city_aliases() -> list[tuple[str, regions.Province, regions.City]]:
    """Every city in the country under its names; a short name two provinces share is left out."""
    pairs = [
        (alias, p, c)
        for p in regions.provinces()
        for c in p.cities
        if c.name not in regions.DIRECT_COUNTIES
        for alias in _aliases(c.name, _CITY_SUFFIXES)
    ]
    counts: dict[str, int] = {}
    for alias, *_ in pairs:
        counts[alias] = counts.get(alias, 0) + 1
    return sorted((pair for pair in pairs if counts[pair[0]] == 1), key=lambda pair: -len(pair[0]))


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \u3000-":
        pos += 1
    return pos


def _match_at(text: str, pos: int, candidates):
    """The longest of the (alias, …) candidates that starts at pos, with where it ends."""
    best = None
    for alias, *rest in candidates:
        if text.startswith(alias, pos) and (best is None or len(alias) > len(best[0])):
            best = (alias, *rest)
    return (best, pos + len(best[0])) if best else (None, pos)


def _earliest(text: str, candidates):
    """The candidate found first in the text (the longest one at that place), with its span."""
    best, best_pos = None, len(text) + 1
    for alias, *rest in candidates:
        at = text.find(alias)
        if at != -1 and (at < best_pos or (at == best_pos and len(alias) > len(best[0]))):
            best, best_pos = (alias, *rest), at
    return (best, best_pos, best_pos + len(best[0])) if best else (None, -1, -1)


def _district_at(text: str, pos: int, cities):
    candidates = [
        (alias, city, district)
        for city in cities
        for district in city.districts
        for alias in _aliases(district.name, _DISTRICT_SUFFIXES)
    ]
    return _match_at(text, _skip(text, pos), candidates)


def _find_region(text: str):
    """(province, city, district, start, end) of the region in the text; missing parts are None."""
    province, start, end = _earliest(text, [(a, p) for a, p in _province_aliases()])
    city = None
    if province is not None:
        province = province[1]
        cities = [(a, c) for c in province.cities for a in _aliases(c.name, _CITY_SUFFIXES)]
        same, same_end = _match_at(text, start, cities)  # 吉林市…: the city's name begins like its province's
        if same is not None and same_end > end:
            city, end = same[1], same_end
        else:  # 北京市北京市朝阳区: WeChat and couriers repeat a municipality as its city
            hit, hit_end = _match_at(text, _skip(text, end), cities)
            if hit is not None:
                city, end = hit[1], hit_end
    else:
        hit, start, end = _earliest(text, _city_aliases())
        if hit is None:
            return None, None, None, -1, -1
        province, city = hit[1], hit[2]
    hit, end2 = _district_at(text, end, [city] if city else province.cities)
    district = None
    if hit is not None:
        city, district, end = hit[1], hit[2], end2
    return province, city, district, start, end


def _clean_name(text: str) -> str:
    return text.strip(_SEPARATORS + "-")


def _looks_like_name(token: str) -> bool:
    return bool(_NAME.match(token)) and not token.endswith(_NOT_A_NAME_END)


def parse_address(text: str) -> ParsedAddress:
    """The fields a pasted address fills; what cannot be read stays empty."""
    text = (text or "")[:MAX_TEXT].replace("\u3000", " ")
    mobile = ""
    found = _MOBILE.search(text)
    if found:
        mobile = re.sub(r"\D", "", found.group(1))
        text = text[: found.start()] + "\n" + text[found.end() :]
    text = _PLACE_LABELS.sub(" ", _PERSON_LABELS.sub("\n", text))
    province, city, district, start, end = _find_region(text)
    if province is None:
        pieces = [p for p in (_clean_name(x) for x in _BREAKS.split(text)) if p]
        names = [p for p in pieces if _looks_like_name(p)] if mobile else []  # a name beside a number only
        return ParsedAddress(recipient=names[0] if names else "", mobile=mobile)
    before, after = text[:start], text[end:]
    detail, _, rest = _BREAKS.sub("\n", after).partition("\n")
    detail = " ".join(detail.split()).strip(_SEPARATORS)
    candidates = [p for p in (_clean_name(x) for x in _BREAKS.split(before + "\n" + rest)) if p]
    candidates = [w for piece in candidates for w in piece.split()] if len(candidates) != 1 else candidates
    recipient = next((c for c in candidates if _looks_like_name(c)), "")
    if not recipient and " " in detail:  # name last, after the street: 文三路 100 号 张三
        head, _, last = detail.rpartition(" ")
        if _looks_like_name(last) and not last.isdigit():
            recipient, detail = last, head.strip()
    if not recipient and candidates:
        recipient = candidates[0][:20]
    return ParsedAddress(
        recipient=recipient,
        mobile=mobile,
        province=province.name,
        city=city.name if city else "",
        district=district.name if district else "",
        detail=detail[:120],
    )
