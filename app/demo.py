"""`flask seed-demo`: a believable Chinese demo shop — settings, categories with icons, products with
SKU options and drawn pictures, an owner, a staff member and customers — and, in a shop without orders
or distributors, five weeks of history (app.demo_history): orders in every state and a distributor tree
with commission in every state. It only adds what is missing (matched by name, title or mobile), so
running it again changes nothing."""

import itertools
import os
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import demo_art, demo_groups, demo_history, demo_marketing
from app.accounts import services as accounts
from app.accounts.models import Role
from app.catalog.models import Category, Product
from app.catalog.services import ProductInput, SkuInput, save_category, save_product
from app.distribution import ledger
from app.distribution.cli import dividends_work, settle_work
from app.distribution.services import DistributionError
from app.jobs import run_job
from app.media import save_image
from app.orders.events import OrderError
from app.settings.models import ShopSettings
from app.settings.services import SETTINGS_ID, update_shop_settings
from app.timeutil import set_clock, utcnow

DEMO_PASSWORD = demo_history.PASSWORD
DEMO_OWNER_MOBILE = demo_history.OWNER_MOBILE
DEMO_STAFF_MOBILE = demo_history.STAFF_MOBILE
DEMO_CUSTOMER_MOBILES = ("13700000001", "13700000002")
DEMO_USERS = [
    (DEMO_OWNER_MOBILE, "店主阿禾", Role.OWNER),
    (DEMO_STAFF_MOBILE, "店员小王", Role.STAFF),
    (DEMO_CUSTOMER_MOBILES[0], "小林", Role.CUSTOMER),
    (DEMO_CUSTOMER_MOBILES[1], "阿杰", Role.CUSTOMER),
]

SHOP_NAME = "禾木生活馆"
SHOP_ANNOUNCEMENT = "新店开业，全场满 99 元包邮！每周五上新，下单后 48 小时内发货。"
SHOP_PHONE = "400-820-6688"
SHOP_AGE = timedelta(days=50)  # the demo shop and its staff date from then; its history is newer
LOGO_COLOR = (46, 139, 87)

COLORS: dict[str, demo_art.Color] = {
    "白色": (246, 246, 243),
    "黑色": (48, 48, 52),
    "雾霾蓝": (112, 142, 180),
    "燕麦色": (224, 208, 180),
    "深灰": (92, 94, 98),
    "藏青": (44, 60, 102),
    "米白": (240, 232, 214),
    "军绿": (98, 112, 74),
    "卡其": (192, 162, 112),
    "雾蓝": (132, 162, 202),
    "奶白": (242, 238, 228),
    "樱粉": (236, 176, 188),
    "墨绿": (54, 98, 78),
    "曜石黑": (42, 42, 46),
    "月光白": (236, 236, 232),
    "柴烧棕": (152, 102, 72),
    "月白": (222, 228, 226),
    "浅灰": (202, 202, 204),
    "雾粉": (232, 190, 196),
    "酒红": (130, 38, 54),
    "红色": (210, 52, 52),
    "蓝色": (52, 92, 182),
    "珍珠白": (244, 244, 240),
    "黑白灰混装": (70, 70, 74),
    "纯黑": (40, 40, 44),
    "纯白": (246, 246, 243),
    "混色": (120, 80, 160),
}

# (name, drawing, colour, icon background, sub-categories as (name, drawing, colour))
CATEGORIES = [
    ("新鲜水果", "apple", (214, 48, 49), (255, 232, 228),
     [("应季鲜果", "strawberry", (226, 50, 70)), ("进口水果", "cherries", (160, 22, 44))]),
    ("零食茶饮", "snack_bag", (238, 122, 58), (255, 238, 218),
     [("坚果炒货", "nuts_bowl", (196, 122, 74)), ("茶叶冲饮", "tea_tin", (70, 130, 90))]),
    ("居家日用", "mug", (112, 150, 196), (226, 238, 252),
     [("杯壶餐具", "teapot", (168, 118, 90)), ("收纳清洁", "basket", (200, 160, 100))]),
    ("服饰配件", "tshirt", (86, 120, 170), (228, 236, 246),
     [("T恤卫衣", "hoodie", (96, 98, 104)), ("包袋帽袜", "tote", (196, 170, 120))]),
    ("美妆个护", "pump_bottle", (226, 140, 160), (253, 232, 238), []),
    ("图书文具", "book", (190, 60, 52), (252, 240, 224), []),
    ("数码配件", "earbuds", (70, 72, 80), (232, 234, 240), []),
]  # fmt: skip


@dataclass
class DemoProduct:
    title: str
    subtitle: str
    category: str  # "新鲜水果/应季鲜果" or "美妆个护"
    art: str  # a drawing in app.demo_art.DRAWINGS
    price_fen: int
    description: str
    options: list[tuple[str, list[str]]] = field(default_factory=list)
    extra_fen: dict[str, int] = field(default_factory=dict)  # option value -> price added
    original_pct: int | None = None  # original price as a percentage of the price
    colors: list[demo_art.Color] = field(default_factory=list)  # when there is no 颜色 option
    sold_out: list[tuple[str, ...]] = field(default_factory=list)  # combinations with no stock
    all_sold_out: bool = False
    on_shelf: bool = True
    sales: int = 0
    weight: int = 0


PRODUCTS = [
    DemoProduct(
        "烟台红富士苹果", "脆甜多汁 产地直发 坏果包赔", "新鲜水果/应季鲜果", "apple", 3990,
        "产地：山东烟台栖霞\n果径：80-85mm，单果约 250g\n口感：果肉细脆，汁水充足，甜度 14-16°\n"
        "发货：果园现摘现发，顺丰冷链，江浙沪次日达\n售后：到货有坏果请拍照联系客服，按个数包赔",
        options=[("规格", ["5斤装（约14个）", "10斤装（约28个）"])],
        extra_fen={"10斤装（约28个）": 3000}, original_pct=130, colors=[(214, 48, 49), (232, 70, 60)],
        sales=2318, weight=90,
    ),
    DemoProduct(
        "赣南脐橙", "果园现摘现发 酸甜适口 一口爆汁", "新鲜水果/应季鲜果", "orange", 2990,
        "产地：江西赣州信丰\n单果约 200-250g，果皮薄，好剥\n每一箱都经过人工挑拣，剔除表皮有伤的果子\n"
        "建议收到后放在阴凉通风处，一周内吃完口感最佳",
        options=[("规格", ["5斤装", "10斤装"])], extra_fen={"10斤装": 2000},
        colors=[(245, 150, 40)], sales=1876, weight=60,
    ),
    DemoProduct(
        "阳光玫瑰青提", "玫瑰香味 无籽脆甜 整串发货", "新鲜水果/应季鲜果", "grapes", 4590,
        "产地：云南建水\n果粒饱满，自带淡淡玫瑰香，甜度 18° 以上\n整串装箱，泡沫网套防压\n"
        "收到后请冷藏，食用前用清水冲洗即可",
        options=[("规格", ["1串（约1.2斤）", "2串（约2.5斤）"])], extra_fen={"2串（约2.5斤）": 3900},
        original_pct=130, colors=[(150, 200, 80), (120, 180, 70)], sales=932,
    ),
    DemoProduct(
        "丹东99红颜草莓", "现摘现发 个大饱满 奶香浓郁", "新鲜水果/应季鲜果", "strawberry", 7990,
        "产地：辽宁丹东东港\n单果 25-35g，果肉红心，奶香味足\n凌晨采摘，当天冷链发出，全程 0-4℃\n"
        "草莓娇嫩，签收后请尽快冷藏并在 2 天内吃完\n3 斤装今日已售罄，明早 8 点补货",
        options=[("规格", ["2斤礼盒装", "3斤礼盒装"])], extra_fen={"3斤礼盒装": 3600},
        colors=[(226, 50, 70)], sold_out=[("3斤礼盒装",)], sales=645, weight=50,
    ),
    DemoProduct(
        "宁夏硒砂瓜", "沙地种植 皮薄沙瓤 清甜解暑", "新鲜水果/应季鲜果", "watermelon", 3980,
        "产地：宁夏中卫香山\n压砂地种植，昼夜温差大，糖分积累足\n单个约 8 斤，瓤红籽少\n"
        "本季已全部售完，明年 7 月见",
        options=[("规格", ["单个约8斤", "两个约16斤"])], extra_fen={"两个约16斤": 3500},
        colors=[(226, 60, 70)], all_sold_out=True, sales=1203,
    ),
    DemoProduct(
        "智利车厘子 JJ级", "果径28-30mm 空运直达 顺丰冷链", "新鲜水果/进口水果", "cherries", 12800,
        "产地：智利\n等级：JJ 级，果径 28-30mm\n果肉紧实，深红发亮，甜度高\n"
        "空运到港后冷链直发，收到后放冰箱冷藏，吃前再洗",
        options=[("规格", ["2斤装", "5斤装"])], extra_fen={"5斤装": 17000}, original_pct=125,
        colors=[(160, 22, 44)], sales=488, weight=40,
    ),
    DemoProduct(
        "新西兰佳沛阳光金果", "维C丰富 金黄果肉 软糯香甜", "新鲜水果/进口水果", "kiwi", 8900,
        "产地：新西兰丰盛湾\n单果约 100-120g\n收到后若果实偏硬，可与苹果一起放入袋中催熟 2-3 天\n"
        "果肉金黄，酸度低，老人孩子都爱吃",
        options=[("规格", ["12个装", "22个装"])], extra_fen={"22个装": 6000},
        colors=[(214, 196, 64)], sales=356,
    ),
    DemoProduct(
        "海南贵妃芒", "树上自然熟 香甜细腻 纤维少", "新鲜水果/应季鲜果", "mango", 3590,
        "产地：海南三亚\n果皮红黄相间，果肉细腻无渣\n八成熟采摘，常温放置 2-3 天，闻到果香即可食用\n"
        "芒果易致敏，过敏体质请谨慎食用",
        options=[("规格", ["3斤装", "5斤装"])], extra_fen={"5斤装": 2000},
        colors=[(250, 190, 50)], sales=779,
    ),
    DemoProduct(
        "每日坚果 混合果仁", "6种坚果果干 科学配比 独立小包", "零食茶饮/坚果炒货", "snack_bag", 5990,
        "配料：腰果、巴旦木、榛子、核桃仁、蓝莓干、蔓越莓干\n每包 25g，一天一包刚刚好\n"
        "充氮保鲜独立包装，上班、出游随手一包\n儿童款不含整粒坚果，颗粒更小更安全",
        options=[("口味", ["经典款", "儿童款"]), ("规格", ["15袋", "30袋"])],
        extra_fen={"30袋": 5000, "儿童款": 500}, original_pct=140,
        colors=[(238, 122, 58), (120, 170, 90)], sales=4210, weight=80,
    ),
    DemoProduct(
        "临安手剥山核桃", "椒盐味 个大壳薄 好剥不脏手", "零食茶饮/坚果炒货", "nuts_bowl", 4900,
        "产地：浙江临安\n当季新货，手工挑选大果\n椒盐口味，咸香适中，越嚼越香\n"
        "开袋后请密封保存，避免受潮",
        options=[("规格", ["250g", "500g"])], extra_fen={"500g": 4300},
        colors=[(214, 186, 150)], sales=1102,
    ),
    DemoProduct(
        "云南古树普洱茶饼", "2019年春茶 357g 生茶 可长期存放", "零食茶饮/茶叶冲饮", "tea_cake", 26800,
        "产地：云南临沧\n原料：古树春茶，石磨压制\n规格：357g / 饼\n"
        "冲泡：100℃ 沸水，首泡洗茶，第二泡起 10 秒出汤\n存放：通风、避光、无异味处可长期存放",
        original_pct=120, colors=[(234, 220, 192)], sales=97,
    ),
    DemoProduct(
        "明前西湖龙井", "核心产区 手工炒制 豆香鲜爽", "零食茶饮/茶叶冲饮", "tea_tin", 9800,
        "产地：杭州西湖产区\n采摘：清明前一芽一叶\n工艺：传统手工炒制，扁平光滑，色泽嫩绿\n"
        "冲泡：80-85℃ 水，玻璃杯下投法，3g 茶配 150ml 水",
        options=[("规格", ["50g罐装", "100g罐装", "250g礼盒"])],
        extra_fen={"100g罐装": 8800, "250g礼盒": 26000}, colors=[(70, 130, 90), (180, 60, 50)],
        sales=312, weight=30,
    ),
    DemoProduct(
        "精品挂耳咖啡", "中深烘焙 现磨新鲜 办公室必备", "零食茶饮/茶叶冲饮", "coffee_cup", 3990,
        "每片 10g，一杯 150-200ml 刚好\n烘焙后 7 天内研磨充氮包装，打开即是香味\n"
        "耶加雪菲：花香、柑橘，明亮的果酸\n曼特宁：醇厚、可可，低酸\n哥伦比亚：坚果、焦糖，均衡顺口",
        options=[("口味", ["耶加雪菲", "曼特宁", "哥伦比亚"]), ("规格", ["10片", "20片"])],
        extra_fen={"20片": 3200}, colors=[(246, 244, 238), (222, 196, 160)], sales=1530,
    ),
    DemoProduct(
        "手工牛轧糖", "低糖配方 不粘牙 奶香浓郁", "零食茶饮", "candy", 3280,
        "每盒 250g，约 25 颗\n新西兰进口奶粉，整颗烤花生\n独立糖纸包装，送人自吃都合适\n抹茶味原料到货中，暂时缺货",
        options=[("口味", ["原味", "蔓越莓", "抹茶"])], colors=[(236, 130, 150)],
        sold_out=[("抹茶",)], sales=688,
    ),
    DemoProduct(
        "云南玫瑰鲜花饼", "当季食用玫瑰 现烤现发", "零食茶饮", "gift_box", 3900,
        "花瓣来自云南安宁的食用玫瑰基地\n每枚约 50g，酥皮层层分明，花馅不甜腻\n"
        "现烤现发，保质期 15 天，开盒后请尽快食用",
        options=[("口味", ["玫瑰", "茉莉"]), ("规格", ["6枚装", "12枚装"])],
        extra_fen={"12枚装": 3200}, colors=[(214, 90, 110), (236, 224, 190)], sales=860,
    ),
    DemoProduct(
        "冻干草莓脆", "整颗冻干 0添加蔗糖 酸甜酥脆", "零食茶饮", "snack_bag", 3900,
        "原料：100% 草莓\n真空冷冻干燥，保留草莓原本的酸甜\n泡酸奶、配麦片、直接吃都可以\n开袋后请尽快吃完，以免受潮变软",
        options=[("规格", ["30g×3袋", "30g×6袋"])], extra_fen={"30g×6袋": 3300},
        colors=[(226, 60, 80)], sales=1430,
    ),
    DemoProduct(
        "北欧简约陶瓷马克杯", "哑光釉面 可进微波炉 送杯盖", "居家日用/杯壶餐具", "mug", 4900,
        "材质：高温陶瓷，无铅釉\n手柄加宽，握感舒适\n可用于微波炉、洗碗机\n每只杯子都单独防震包装\n墨绿 450ml 本批已售完",
        options=[("颜色", ["奶白", "雾蓝", "樱粉", "墨绿"]), ("容量", ["350ml", "450ml"])],
        extra_fen={"450ml": 1000}, sold_out=[("墨绿", "450ml")], sales=1422, weight=70,
    ),
    DemoProduct(
        "316不锈钢保温杯", "12小时保温 一键弹盖 食品级316内胆", "居家日用/杯壶餐具", "thermos", 8900,
        "内胆：316 不锈钢\n保温：6 小时 75℃ 以上，12 小时 50℃ 以上\n一键弹盖，单手可开，杯盖可拆洗\n"
        "首次使用前请用温水清洗",
        options=[("颜色", ["曜石黑", "月光白", "雾霾蓝"]), ("容量", ["500ml", "750ml"])],
        extra_fen={"750ml": 2000}, original_pct=140, sales=2077, weight=65,
    ),
    DemoProduct(
        "日式粗陶茶具套装", "一壶四杯 手工拉坯 送礼自用", "居家日用/杯壶餐具", "teapot", 16800,
        "套装内容：茶壶 1 只（约 260ml）+ 品茗杯 4 只\n粗陶手工拉坯，每一件纹理略有不同\n"
        "附赠收纳礼盒，适合送长辈",
        options=[("颜色", ["柴烧棕", "月白"])], sales=212,
    ),
    DemoProduct(
        "竹编收纳筐", "天然竹材 手工编织 透气防潮", "居家日用/收纳清洁", "basket", 2990,
        "小号：28×20×12cm，适合放钥匙、零钱\n中号：35×25×16cm，适合放零食、玩具\n"
        "大号：42×30×20cm，适合放衣物、毛巾\n天然竹材，表面打磨光滑不扎手",
        options=[("规格", ["小号", "中号", "大号"])], extra_fen={"中号": 1000, "大号": 2000},
        colors=[(200, 160, 100)], sales=540,
    ),
    DemoProduct(
        "长绒棉加厚毛巾 3条装", "A类标准 柔软吸水 不掉毛", "居家日用/收纳清洁", "towels", 5900,
        "材质：新疆长绒棉\n尺寸：34×74cm，重约 130g / 条\n母婴 A 类标准，可直接接触婴儿皮肤\n首次使用前清水洗一次，吸水性更好",
        options=[("颜色", ["米白", "浅灰", "雾粉"])], sales=3380,
    ),
    DemoProduct(
        "大豆蜡香薰蜡烛", "天然大豆蜡 燃烧约40小时", "居家日用", "candle", 6800,
        "蜡：天然大豆蜡，燃烧无黑烟\n容量：200g，燃烧约 40 小时\n白茶：清新干净；无花果：微甜木质；雪松：沉稳安静\n"
        "首次点燃请燃烧到蜡面全部融化再熄灭，避免出现隧道",
        options=[("香味", ["白茶", "无花果", "雪松"])], colors=[(236, 214, 180), (180, 150, 200)],
        sales=540,
    ),
    DemoProduct(
        "新疆长绒棉纯色圆领T恤", "220g 重磅 不透不变形", "服饰配件/T恤卫衣", "tshirt", 7900,
        "面料：100% 新疆长绒棉，220g 重磅\n领口罗纹加厚，洗后不变形\n"
        "尺码建议：身高 160-170 选 M，170-178 选 L，178-185 选 XL\n可机洗，建议反面洗涤，不可漂白",
        options=[("颜色", ["白色", "黑色", "雾霾蓝", "燕麦色"]), ("尺码", ["S", "M", "L", "XL", "XXL"])],
        original_pct=150, sold_out=[("黑色", "XL"), ("白色", "S")], sales=5621, weight=85,
    ),
    DemoProduct(
        "加绒连帽卫衣", "420g 加绒加厚 宽松版型", "服饰配件/T恤卫衣", "hoodie", 15900,
        "面料：棉 80%，聚酯纤维 20%，内里加绒\n宽松落肩版型，男女同款\n袖口、下摆罗纹收口，保暖不灌风\n建议按平时尺码购买",
        options=[("颜色", ["深灰", "藏青", "燕麦色"]), ("尺码", ["M", "L", "XL", "XXL"])],
        original_pct=150, sales=1310, weight=55,
    ),
    DemoProduct(
        "帆布托特包", "加厚12安帆布 大容量 可放A4", "服饰配件/包袋帽袜", "tote", 4500,
        "尺寸：38×36×10cm\n内有拉链小袋，手机钥匙不乱放\n肩带加宽，背电脑也不勒肩\n可手洗，不可机洗",
        options=[("颜色", ["米白", "藏青", "军绿"])], sales=987,
    ),
    DemoProduct(
        "水洗棉棒球帽", "软顶 可调节 四季百搭", "服饰配件/包袋帽袜", "cap", 3900,
        "帽围 56-60cm，后扣可调节\n水洗做旧工艺，软顶不挑脸型\n帽檐可微微弯折，出门遮阳好搭配",
        options=[("颜色", ["卡其", "黑色", "白色", "雾蓝"])], sales=640,
    ),
    DemoProduct(
        "精梳棉中筒袜 5双装", "抗菌防臭 透气不闷脚", "服饰配件/包袋帽袜", "socks", 2990,
        "面料：精梳棉 80%，锦纶 17%，氨纶 3%\n袜口不勒脚，脚底毛圈加厚\n男款 39-44 码，女款 35-39 码",
        options=[("颜色", ["黑白灰混装", "纯黑", "纯白"]), ("尺码", ["男款39-44", "女款35-39"])],
        sales=2860,
    ),
    DemoProduct(
        "氨基酸洁面乳", "温和清洁 敏感肌可用 120g", "美妆个护", "tube", 6900,
        "净含量：120g\n氨基酸表活，洗后不紧绷\n挤出黄豆大小，加水揉出泡沫，避开眼周轻柔按摩\n早晚各一次",
        original_pct=130, colors=[(120, 190, 200)], sales=1560, weight=20,
    ),
    DemoProduct(
        "玻尿酸保湿面霜", "深层补水 清爽不油腻 50g", "美妆个护", "cream_jar", 12900,
        "净含量：50g\n质地轻薄，上脸很快吸收\n适合干皮、混合皮日常保湿\n开封后请在 12 个月内用完",
        options=[("规格", ["50g", "50g×2瓶"])], extra_fen={"50g×2瓶": 10900},
        colors=[(240, 180, 190)], sales=702,
    ),
    DemoProduct(
        "无硅油氨基酸洗发水", "控油蓬松 温和不刺激 500ml", "美妆个护", "pump_bottle", 5900,
        "净含量：500ml\n无硅油配方，洗后蓬松不塌\n海盐：清爽控油；白茶：清新淡雅；小苍兰：温柔花香\n"
        "湿发后取适量揉出泡沫，按摩头皮 1-2 分钟后冲净",
        options=[("香型", ["海盐", "白茶", "小苍兰"])], colors=[(120, 170, 210), (150, 196, 150)],
        sales=1790,
    ),
    DemoProduct(
        "秋冬护手霜礼盒", "3支装 滋润不黏腻", "美妆个护", "tube", 4900,
        "礼盒内含：玫瑰、樱花、白桃护手霜各 1 支，每支 30g\n秋冬限定，天冷后上架",
        colors=[(230, 150, 170)], on_shelf=False,
    ),
    DemoProduct(
        "《活着》余华", "高分经典 一部讲述人如何承受苦难的书", "图书文具", "book", 3980,
        "作者：余华\n出版社：作家出版社\n装帧：平装，191 页\n"
        "《活着》讲述了福贵的一生：经历了家庭的巨变和时代的风雨，他依然平静地活着。",
        original_pct=115, colors=[(184, 44, 44)], sales=2450, weight=45,
    ),
    DemoProduct(
        "《小王子》精装插图版", "彩色插图 中英双语 送书签", "图书文具", "book", 4200,
        "作者：圣埃克苏佩里\n装帧：精装，附作者原版水彩插图\n中英双语对照，适合亲子共读\n随书附赠书签一枚",
        colors=[(44, 84, 146)], sales=1021,
    ),
    DemoProduct(
        "A5 点阵手账本", "100g 道林纸 不洇墨 平摊设计", "图书文具", "notebook", 2800,
        "尺寸：A5（148×210mm），160 页\n内页：5mm 点阵，100g 道林纸，钢笔书写不洇不透\n"
        "锁线装订，可 180° 平摊\n附绑带和丝带书签",
        options=[("颜色", ["墨绿", "酒红", "藏青", "燕麦色"])], sold_out=[("酒红",)], sales=930,
    ),
    DemoProduct(
        "速干中性笔 12支装", "0.5mm 按动式 顺滑不断墨", "图书文具", "pens", 1990,
        "笔尖：0.5mm 子弹头\n墨水：速干中性墨水，书写后 3 秒不蹭手\n按动式设计，单手开合\n一盒 12 支",
        options=[("颜色", ["黑色", "蓝色", "红色", "混色"])], sales=3120,
    ),
    DemoProduct(
        "真无线蓝牙耳机", "主动降噪 30小时续航 蓝牙5.3", "数码配件", "earbuds", 29900,
        "降噪：主动降噪，最深 40dB\n续航：单次 6 小时，配合充电盒共 30 小时\n连接：蓝牙 5.3，开盖即连\n"
        "防水：IPX4，运动出汗不怕\n保修：一年，只换不修",
        options=[("颜色", ["珍珠白", "曜石黑"])], original_pct=135, sales=876, weight=60,
    ),
]  # fmt: skip


def seed(
    session: Session,
    *,
    if_empty: bool = False,
    url: str = "http://127.0.0.1:5000/",
    echo: Callable[[str], None] = print,
) -> None:
    """Add whatever part of the demo shop is missing, commit, and print how to log in."""
    if if_empty and session.scalar(select(Product.id).limit(1)) is not None:
        echo("The database already has products; demo data not loaded.")
        return
    url = url.rstrip("/") + "/"
    now = utcnow()
    try:
        set_clock(now - SHOP_AGE)
        catalog = _seed_catalog(session, url)
        existing_users = _seed_users(session)
    finally:
        set_clock(None)
    session.commit()
    history = _seed_history(session, now, echo)
    promotions = demo_marketing.seed(session, utcnow(), [person.mobile for person in demo_history.PEOPLE])
    session.commit()
    group_buy = demo_groups.seed(session, utcnow(), [person.mobile for person in demo_history.PEOPLE])
    session.commit()

    if catalog:
        echo(f"Demo shop: added {catalog[0]} categories and {catalog[1]} products.")
    elif history is None:
        echo("Demo shop: everything was already there; nothing changed.")
    else:
        echo("Demo shop: the catalog was already there.")
    if history is not None:
        audit = "clean" if not history.mismatches else f"{history.mismatches} MISMATCHES"
        echo(
            f"Demo history: {history.orders} orders of the last weeks in every state; {history.distributors} "
            f"distributors with commission frozen, released, reversed, clawed back, voided and held, and "
            f"withdrawals; ledger audit {audit}."
        )
    if promotions is not None:
        echo(
            f"Demo marketing: {promotions.levels} member levels, a running 限时折扣 and 满减 campaign, "
            f"{promotions.templates} coupon templates, points for the demo shoppers, {promotions.orders} orders "
            f"that used them; 秒杀 sessions with {promotions.flash_sold} units sold in the one on now."
        )
    if group_buy is not None:
        echo(
            f"Demo 拼团: a group {group_buy.open_places_left} place(s) from full, a full group of {group_buy.full_orders}"
            f" orders to ship, a failed group with {group_buy.refunded_orders} orders refunded by flask groups settle."
        )
    echo(f"  Shop:        {url}")
    echo(
        f"  Back office: {url}admin/login  (orders: {url}admin/orders, distribution: {url}admin/distribution)"
    )
    for mobile, nickname, role in DEMO_USERS:
        note = " (existing account: password not changed)" if mobile in existing_users else ""
        echo(f"  {role.value.capitalize():<11} {nickname}: mobile {mobile}  password {DEMO_PASSWORD}{note}")
    seller = demo_history.DISTRIBUTOR_LOGIN
    if history is None and accounts.find_by_mobile(session, seller.mobile) is None:
        return
    existed = history is None or seller.mobile in history.existing_people
    note = " (existing account: password not changed)" if existed else ""
    echo(f"  Distributor {seller.nickname}: mobile {seller.mobile}  password {DEMO_PASSWORD}{note}")
    echo(f"  Distributor center: {url}d (log in as the distributor at {url}login)")
    shown = {seller.mobile, *(mobile for mobile, _nickname, _role in DEMO_USERS)}
    others = [person.mobile for person in demo_history.PEOPLE if person.mobile not in shown]
    echo(f"  More demo shoppers and distributors, same password: {', '.join(others)}")


def _seed_catalog(session: Session, url: str) -> tuple[int, int] | None:
    """Shop settings, categories and products that are missing; (categories, products) added, or None."""
    need_settings = session.get(ShopSettings, SETTINGS_ID) is None  # the merchant's own settings stay
    have_titles = set(
        session.scalars(select(Product.title).where(Product.title.in_([p.title for p in PRODUCTS])))
    )
    new_products = [(index, item) for index, item in enumerate(PRODUCTS, 1) if item.title not in have_titles]
    new_categories = [spec for spec in _category_specs() if _find_category(session, spec) is None]

    jobs: dict[object, Callable[[], bytes]] = {}
    if need_settings:
        jobs["logo"] = partial(demo_art.render_logo, LOGO_COLOR)
        jobs["qr"] = partial(demo_art.render_qr, url)
    for spec in new_categories:
        jobs[spec.path] = partial(demo_art.render_icon, spec.art, spec.color, spec.background)
    for index, item in new_products:
        colors = _art_colors(item)
        for variant in range(2 + index % 3):  # 2 to 4 pictures: the main one and a gallery
            jobs[(item.title, variant)] = partial(demo_art.render, item.art, colors, variant, item.title)
    keys = _store_pictures(jobs)

    if need_settings:
        update_shop_settings(
            session,
            name=SHOP_NAME,
            service_phone=SHOP_PHONE,
            announcement=SHOP_ANNOUNCEMENT,
            logo_key=keys["logo"],
            service_wechat_qr_key=keys["qr"],
        )
    for spec in new_categories:
        parent = (
            _find_category(session, _category_specs_by_path()[spec.parent_path]) if spec.parent_path else None
        )
        save_category(
            session,
            None,
            name=spec.name,
            parent_id=parent.id if parent else None,
            sort=spec.sort,
            icon_key=keys[spec.path],
        )
    for index, item in new_products:
        pictures = [keys[job] for job in jobs if isinstance(job, tuple) and job[0] == item.title]
        _add_product(session, index, item, pictures)
    if need_settings or new_categories or new_products:
        return len(new_categories), len(new_products)
    return None


def _seed_history(
    session: Session, now: datetime, echo: Callable[[str], None]
) -> demo_history.Summary | None:
    """The orders and the distributor tree, in a shop that has neither yet; then the nightly jobs run once for
    real, so the back office shows when they last ran. Returns None when nothing was added."""
    if demo_history.already_there(session):
        return None
    # One savepoint around it all: on SQLite a service's own savepoint that happens to be the first write
    # would otherwise be committed by its RELEASE, and a refused history must leave nothing behind.
    everything = session.begin_nested()
    try:
        history = demo_history.add_history(session, now)
    except (demo_history.HistorySkipped, OrderError, DistributionError) as error:
        everything.rollback()
        session.rollback()
        echo(f"Demo orders and distributors not added: {getattr(error, 'message', error)}")
        return None
    everything.commit()
    session.commit()
    run_job("distribution-settle", settle_work)
    run_job("distribution-dividends", dividends_work)  # the days the history paid: nothing left to do
    history.mismatches = len(ledger.audit(session))
    run_job("ledger-audit", lambda: {"mismatches": history.mismatches})
    return history


def _store_pictures(jobs: dict[object, Callable[[], bytes]]) -> dict[object, str]:
    """Draw and store the pictures on a few threads (Pillow lets go of the GIL while it encodes and
    resizes), keeping `make run` on a fresh clone quick. Returns each job's image key."""
    app = current_app._get_current_object()

    def work(render: Callable[[], bytes]) -> str:
        with app.app_context():
            return save_image(render())

    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        return dict(zip(jobs, pool.map(work, jobs.values()), strict=True))


@dataclass(frozen=True)
class _CategorySpec:
    path: str
    name: str
    parent_path: str | None
    sort: int
    art: str
    color: demo_art.Color
    background: demo_art.Color


def _category_specs() -> list[_CategorySpec]:
    """Parents before their children."""
    specs = []
    for sort, (name, art, color, background, children) in enumerate(CATEGORIES):
        specs.append(_CategorySpec(name, name, None, sort, art, color, background))
        for child_sort, (child, child_art, child_color) in enumerate(children):
            specs.append(
                _CategorySpec(f"{name}/{child}", child, name, child_sort, child_art, child_color, background)
            )
    return specs


def _category_specs_by_path() -> dict[str, _CategorySpec]:
    return {spec.path: spec for spec in _category_specs()}


def _find_category(session: Session, spec: _CategorySpec) -> Category | None:
    query = select(Category).where(Category.name == spec.name)
    if spec.parent_path is None:
        query = query.where(Category.parent_id.is_(None))
    else:
        parent = _find_category(session, _category_specs_by_path()[spec.parent_path])
        if parent is None:
            return None
        query = query.where(Category.parent_id == parent.id)
    return session.scalars(query.order_by(Category.id).limit(1)).first()


def _add_product(session: Session, index: int, item: DemoProduct, image_keys: list[str]) -> None:
    rng = random.Random(item.title)
    skus = []
    for position, combo in enumerate(itertools.product(*(values for _name, values in item.options)), 1):
        price = item.price_fen + sum(item.extra_fen.get(value, 0) for value in combo)
        original = None
        if item.original_pct:
            original = (price * item.original_pct // 100 + 99) // 100 * 100  # rounded up to whole yuan
        sold_out = item.all_sold_out or combo in item.sold_out
        skus.append(
            SkuInput(
                spec_values=list(combo),
                price_fen=price,
                original_price_fen=original,
                stock=0 if sold_out else rng.randint(12, 480),
                code=f"DEMO-{index:03d}-{position:02d}",
            )
        )
    category = _find_category(session, _category_specs_by_path()[item.category])
    product = save_product(
        session,
        None,
        ProductInput(
            title=item.title,
            subtitle=item.subtitle,
            description=item.description,
            category_id=category.id,
            options=[{"name": name, "values": values} for name, values in item.options],
            skus=skus,
            is_on_shelf=item.on_shelf,
            sort_weight=item.weight,
            image_keys=image_keys,
        ),
    )
    product.sales_count = item.sales


def _art_colors(item: DemoProduct) -> list[demo_art.Color]:
    for name, values in item.options:
        if name == "颜色":
            return [COLORS[value] for value in values]
    return item.colors


def _seed_users(session: Session) -> set[str]:
    """Create the demo accounts that are missing; return the mobiles that already existed."""
    existing = set()
    for mobile, nickname, role in DEMO_USERS:
        if accounts.find_by_mobile(session, mobile) is not None:
            existing.add(mobile)
            continue
        accounts.register_user(session, mobile=mobile, password=DEMO_PASSWORD, nickname=nickname, role=role)
    return existing
