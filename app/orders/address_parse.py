"""Reading a pasted address ("张三 13812345678 浙江省杭州市西湖区文三路 100 号") into the address form's
fields. A pure function over the region data: it guesses, the shopper checks the form and saves it (and
save_address checks it again).

How it reads: the mobile (1[3-9] and 9 digits, also +86 / 0086 and with spaces or dashes) is taken out and
marks a break; labels (收货人：, 手机号码：, 所在地区：, 详细地址：) mark breaks too. The region is the
province (full name or short: 浙江, 内蒙古, 广西), then its city (杭州市, 杭州, 恩施州 or 恩施 for
恩施土家族苗族自治州; a municipality may repeat itself: 北京市北京市, or write 市辖区), then the district
(西湖区, 西湖, 琼中县 for 琼中黎族苗族自治县); a city alone (杭州市西湖区…), a municipality's district
(北京市朝阳区) or a county-level city whose name is unique in the country (昆山市) is enough.

A name can sit inside a street or a person's name (北京路, 王海南): a short name followed by a street's word
(路, 街, 大道 …) or by a level's word (区, 县, 市 …) is not read, and of all the places the text names, the
one that reads the most levels (then the most full names, then the first) wins.

What follows the region on its line is the street address (the next line when nothing does, or what a
详细地址 label marks); later pieces are added to it unless they read as a name. The recipient is a name
(2–5 Chinese characters or Latin letters) before the region, after a person's label, or after it."""

import re
from dataclasses import dataclass
from functools import cache

from app.orders import regions

MAX_TEXT = 300
_MOBILE = re.compile(r"(?<!\d)(?:(?:\+|00)?86[\s-]*)?(1[3-9]\d(?:[\s-]*\d){8})(?!\d)")
# Labels copied along with the address mark breaks. A person's label marks the name that follows (\x01), the
# street address's label the street (\x02). Short ones (姓名, 手机, 地址 …) only with their colon: 阿里地区
# and 手机城 are no labels.
_NAME_MARK, _DETAIL_MARK = "\x01", "\x02"
_NAME_LABELS = re.compile(r"(?:收货人|收件人|联系人)\s*[:：]?|姓名\s*[:：]")
_PHONE_LABELS = re.compile(
    r"(?:手机号码|手机号|联系电话|联系方式|电话号码)\s*[:：]?|(?:手机|电话|tel|TEL|Tel)\s*[:：]"
)
_DETAIL_LABELS = re.compile(r"详细地址\s*[:：]?")
_PLACE_LABELS = re.compile(r"(?:所在地区|收货地址|所在地)\s*[:：]?|(?:地址|地区)\s*[:：]")
_BREAKS = re.compile(r"[\n\r\t,，;；|、]+")
_SEPARATORS = " \u3000\t\n\r,，;；|、:：/-" + _NAME_MARK + _DETAIL_MARK
# Words that come with a phone number and are no name.
_JUNK_WORDS = {
    "电话",
    "手机",
    "手机号",
    "手机号码",
    "联系电话",
    "联系方式",
    "电话号码",
    "tel",
    "phone",
    "mobile",
}
_NAME = re.compile(r"^[\u4e00-\u9fa5·]{2,5}$|^[A-Za-z][A-Za-z .]{1,19}$")
_LATER_NAME = re.compile(r"^[\u4e00-\u9fa5·]{2,4}$|^[A-Za-z][A-Za-z .]{1,19}$")
# A token ending like this is a place (…号, …路, …村), with weaker endings (…园, …城) a name only when it
# begins with a common family name (张志城).
_PLACE_END = tuple("号室楼层栋幢座区路街道巷弄村组镇乡")
_WEAK_PLACE_END = tuple("院园厦场城")
_SURNAMES = set(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
# Delivery notes read like short names: 放门卫, 送前台, 请电联.
_NOTE_START = tuple("放送请寄交转代到门前快电工周")
_NOTE_WORDS = ("门卫", "前台", "快递", "驿站", "代收", "电联", "物业")
# After a short name, the start of a street (天河路, 南山大道, 北京中路) or of a level (阿坝州, 琼中县).
_STREET_AFTER = re.compile(
    r"(?:[东西南北中环]{0,2}(?:路|街|大街|大道|道|巷|弄|胡同)|广场|[一二三四五六七八九十\d]+(?:路|街|巷|弄))"
)
_LEVEL_AFTER = tuple("区县市旗州盟省")
_ETHNIC = (
    "土家族", "苗族", "侗族", "布依族", "藏族", "羌族", "彝族", "白族", "傣族", "景颇族", "傈僳族", "哈尼族",
    "壮族", "回族", "哈萨克族", "蒙古族", "柯尔克孜族", "朝鲜族", "黎族", "纳西族", "拉祜族", "佤族",
    "布朗族", "普米族", "独龙族", "怒族", "仫佬族", "毛南族", "仡佬族", "水族", "瑶族", "畲族", "土族",
    "撒拉族", "东乡族", "保安族", "裕固族", "锡伯族", "塔吉克族", "达斡尔族", "鄂温克族", "鄂伦春族", "满族",
    "各族", "维吾尔", "哈萨克", "蒙古", "柯尔克孜", "塔吉克", "锡伯",
)  # fmt: skip
_PROVINCE_SUFFIXES = ("维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "特别行政区", "省", "市")
_CITY_SUFFIXES = ("地区", "自治州", "盟", "市")
_DISTRICT_SUFFIXES = ("自治县", "自治旗", "新区", "区", "县", "市", "旗")
# What an autonomous level is called for short: 阿坝州, 琼中县, 莫力达瓦旗.
_AUTONOMOUS_SHORT = {"自治州": "州", "自治县": "县", "自治旗": "旗"}


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
    if short == name:
        return (name,)
    kind = next((k for k in _AUTONOMOUS_SHORT if name.endswith(k)), None)
    return (name, short, short + _AUTONOMOUS_SHORT[kind]) if kind else (name, short)


@cache
def _province_aliases() -> list[tuple[str, str, regions.Province]]:
    """The provinces under their names; 香港、澳门、台湾 too, without cities (the data set has none)."""
    outside = tuple(regions.Province("", name, ()) for name in regions.OUTSIDE_MAINLAND)
    return [
        (a, p.name, p) for p in regions.provinces() + outside for a in _aliases(p.name, _PROVINCE_SUFFIXES)
    ]


@cache
def _city_aliases() -> list[tuple[str, str, regions.Province, regions.City]]:
    """Every city in the country under its names; a short name two provinces share is left out."""
    pairs = [
        (alias, c.name, p, c)
        for p in regions.provinces()
        for c in p.cities
        if c.name not in regions.DIRECT_COUNTIES
        for alias in _aliases(c.name, _CITY_SUFFIXES)
    ]
    counts: dict[str, int] = {}
    for alias, *_ in pairs:
        counts[alias] = counts.get(alias, 0) + 1
    return [pair for pair in pairs if counts[pair[0]] == 1]


@cache
def _unique_districts() -> list[tuple[str, str, regions.Province, regions.City, regions.District]]:
    """Districts whose full name no other district in the country has (昆山市, 义乌市, 仙桃市): enough alone."""
    rows = [
        (d.name, d.name, p, c, d)
        for p in regions.provinces()
        for c in p.cities
        for d in c.districts
        if len(d.code) == 6
    ]
    counts: dict[str, int] = {}
    for name, *_ in rows:
        counts[name] = counts.get(name, 0) + 1
    return [row for row in rows if counts[row[0]] == 1]


def _city_candidates(cities) -> list:
    return [(a, c.name, c) for c in cities for a in _aliases(c.name, _CITY_SUFFIXES)]


def _district_candidates(cities) -> list:
    return [
        (a, d.name, c, d) for c in cities for d in c.districts for a in _aliases(d.name, _DISTRICT_SUFFIXES)
    ]


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \u3000-":
        pos += 1
    return pos


def _fits(text: str, alias: str, full: str, end: int) -> bool:
    """A short name counts only when what follows does not make it part of a street or another level:
    天河路 and 南山大道 are streets, 阿坝州 and 朝阳区 are read by their own names."""
    if alias == full:
        return True
    return not (text.startswith(_LEVEL_AFTER, end) or _STREET_AFTER.match(text, end))


def _match_at(text: str, pos: int, candidates):
    """The longest of the (alias, full name, …) candidates that starts at pos and fits, with where it ends."""
    best = None
    for alias, full, *rest in candidates:
        if (
            text.startswith(alias, pos)
            and (best is None or len(alias) > len(best[0]))
            and _fits(text, alias, full, pos + len(alias))
        ):
            best = (alias, full, *rest)
    return (best, pos + len(best[0])) if best else (None, pos)


def _places(text: str, candidates):
    """Every place in the text where one of the candidates stands and fits: (start, end, candidate)."""
    for candidate in candidates:
        alias, full = candidate[0], candidate[1]
        at = text.find(alias)
        while at != -1:
            if _fits(text, alias, full, at + len(alias)):
                yield at, at + len(alias), candidate
            at = text.find(alias, at + 1)


def _district_after(text: str, pos: int, cities):
    """The district at pos (after a municipality, past the data set's 市辖区 or 县 if written)."""
    pos = _skip(text, pos)
    hit, end = _match_at(text, pos, _district_candidates(cities))
    if hit is None:
        for filler in regions.MUNICIPALITY_CITIES:
            if text.startswith(filler, pos) and cities and cities[0].name in regions.PROVINCES:
                hit, end = _match_at(text, _skip(text, pos + len(filler)), _district_candidates(cities))
                if hit is not None:
                    break
    return hit, end


def _read_province(text: str, start: int, end: int, alias: str, province: regions.Province):
    """From a province's name on: (score, province, city, district, start, end)."""
    full = int(alias == province.name)
    levels, city = 1, None
    cities = _city_candidates(province.cities)
    same, same_end = _match_at(text, start, cities)  # 吉林市…: the city's name begins like its province's
    if same is not None and same_end > end:
        city, end, levels, full = same[2], same_end, 1, int(same[0] == same[1])
    else:  # 北京市北京市朝阳区: WeChat and couriers repeat a municipality as its city
        hit, hit_end = _match_at(text, _skip(text, end), cities)
        if hit is not None:
            city, end, levels, full = hit[2], hit_end, 2, full + int(hit[0] == hit[1])
    hit, district_end = _district_after(text, end, [city] if city else province.cities)
    district = None
    if hit is not None:
        city, district, end = hit[2], hit[3], district_end
        levels, full = levels + 1, full + int(hit[0] == hit[1])
    return (levels, full, -start), province, city, district, start, end


def _read_city(text: str, start: int, end: int, alias: str, province, city):
    levels, full = 1, int(alias == city.name)
    hit, district_end = _district_after(text, end, [city])
    district = None
    if hit is not None:
        district, end, levels, full = hit[3], district_end, 2, full + int(hit[0] == hit[1])
    return (levels, full, -start), province, city, district, start, end


def _find_region(text: str):
    """(province, city, district, start, end) of the region in the text; missing parts are None."""
    readings = [
        _read_province(text, start, end, alias, province)
        for start, end, (alias, _, province) in _places(text, _province_aliases())
    ] + [
        _read_city(text, start, end, alias, province, city)
        for start, end, (alias, _, province, city) in _places(text, _city_aliases())
    ]
    if not readings:  # 昆山市玉山镇…: a county-level city the whole country has once
        readings = [
            ((1, 1, -start), province, city, district, start, end)
            for start, end, (_, _, province, city, district) in _places(text, _unique_districts())
        ]
    if not readings:
        return None, None, None, -1, -1
    _, province, city, district, start, end = max(readings, key=lambda reading: reading[0])
    return province, city, district, start, end


def _pieces(text: str) -> list[tuple[str, str]]:
    """The text between breaks, each with the label's mark it followed ("" for none), empty ones left out."""
    result = []
    for raw in _BREAKS.split(text):
        mark = _NAME_MARK if _NAME_MARK in raw else _DETAIL_MARK if _DETAIL_MARK in raw else ""
        piece = " ".join(raw.replace(_NAME_MARK, " ").replace(_DETAIL_MARK, " ").split()).strip(_SEPARATORS)
        if piece:
            result.append((mark, piece))
    return result


def _looks_like_name(token: str, pattern: re.Pattern = _NAME) -> bool:
    if not pattern.match(token) or token.lower() in _JUNK_WORDS:
        return False
    if token.startswith(_NOTE_START) and token[0] not in _SURNAMES or any(w in token for w in _NOTE_WORDS):
        return False
    if token.endswith(_PLACE_END):
        return False
    return not token.endswith(_WEAK_PLACE_END) or (token[0] in _SURNAMES and len(token) <= 3)


def _words(pieces) -> list[tuple[str, str]]:
    return [
        (mark, word) for mark, piece in pieces for word in piece.split() if word.lower() not in _JUNK_WORDS
    ]


def _prepare(text: str) -> tuple[str, str]:
    """The text with the mobile and the labels turned into breaks (and marks), and the mobile."""
    text = (text or "")[:MAX_TEXT].replace("\u3000", " ")
    mobile = ""
    found = _MOBILE.search(text)
    if found:
        mobile = re.sub(r"\D", "", found.group(1))
        text = text[: found.start()] + "\n" + text[found.end() :]
    text = _NAME_LABELS.sub("\n" + _NAME_MARK, text)
    text = _DETAIL_LABELS.sub("\n" + _DETAIL_MARK, text)
    text = _PLACE_LABELS.sub("\n", _PHONE_LABELS.sub("\n", text))
    return text, mobile


def parse_address(text: str) -> ParsedAddress:
    """The fields a pasted address fills; what cannot be read stays empty."""
    text, mobile = _prepare(text)
    province, city, district, start, end = _find_region(text)
    if province is None:
        words = _words(_pieces(text))
        names = [w for _, w in words if _looks_like_name(w)] if mobile else []  # a name beside a number only
        return ParsedAddress(recipient=names[0] if names else "", mobile=mobile)
    after = text[end:]
    first_line = _BREAKS.split(after, maxsplit=1)[0]
    first = " ".join(first_line.split()).strip(_SEPARATORS)
    later = _pieces(after[len(first_line) :])
    labelled = [(mark, p) for mark, p in _pieces(text[:start]) + later if mark == _NAME_MARK]
    recipient = ""
    if labelled:  # 收货人：张三 …, 收货人：Tom Lee
        piece = labelled[0][1]
        recipient = piece if _looks_like_name(piece) else piece.split()[0]
    if not recipient:
        recipient = next((w for _, w in _words(_pieces(text[:start])) if _looks_like_name(w)), "")
    detail = [first] if first else []
    if not first and later and later[0][0] != _NAME_MARK:  # 所在地区 on one line, 详细地址 on the next
        named = later[0][0] != _DETAIL_MARK and _looks_like_name(later[0][1], _LATER_NAME)
        if not named or recipient:
            detail.append(later.pop(0)[1])
    for mark, piece in later:
        if mark == _NAME_MARK:
            continue
        if mark != _DETAIL_MARK and not recipient and _looks_like_name(piece, _LATER_NAME):
            recipient = piece
        elif mark == _DETAIL_MARK or not _looks_like_name(piece, _LATER_NAME):
            detail.append(piece)
    detail = "，".join(detail)
    if not recipient and " " in detail:  # name last, after the street: 文三路 100 号 张三
        head, _, last = detail.rpartition(" ")
        if _looks_like_name(last):
            recipient, detail = last, head.strip(_SEPARATORS)
    return ParsedAddress(
        recipient=recipient[:20],
        mobile=mobile,
        province=province.name,
        city=city.name if city else "",
        district=district.name if district else "",
        detail=detail[:120],
    )
