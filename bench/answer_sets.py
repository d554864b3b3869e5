"""The sets ``bench.answers`` (and its guard test) measure answers with.

Written for this project, not taken from any published set:

- ``GROUNDED``: facts planted in notes of the kind a person keeps (pets, keys,
  appointments, recipes, codes), each beside a near-miss note that has the
  same shape with another entity or value, among a few hundred generated
  notes on unrelated subjects. A right answer holds one of ``answers``.
- ``CLOSED_BOOK``: short questions and instructions in English and Chinese,
  answered without notes. Scored for echo (the reply repeats the question or
  a prompt instruction), emptiness and language; ``answers``, where given,
  say what a right reply holds (reported, not the aim: a 270M model knows
  little).
- ``SUMMARIES``, ``TRANSLATIONS``, ``PROOFREADS``: texts for the writing
  actions. A summary must not hold text of a template example, a translation
  must be in the target language, a proofread must keep every sentence.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Fact:
    lang: str  # "en" or "zh"
    path: str  # where the fact's note goes, inside the notes folder
    note: str
    question: str
    answers: tuple[str, ...]  # any of them in the reply holds the fact
    distractor_path: str
    distractor: str


def _f(lang, path, note, question, answers, dpath, distractor) -> Fact:  # type: ignore[no-untyped-def]
    return Fact(
        lang, path, note.strip() + "\n", question, tuple(answers), dpath, distractor.strip() + "\n"
    )


GROUNDED: tuple[Fact, ...] = (
    # ------------------------------------------------------------ English
    _f(
        "en",
        "home/pets/biscuit.md",
        "# Biscuit\n\nBiscuit the cat came from the Elm Street shelter in 2019. She is allergic "
        "to chicken, so she eats salmon and rabbit food. She sleeps on the landing.",
        "What is Biscuit the cat allergic to?",
        ["chicken"],
        "home/pets/pepper.md",
        "# Pepper\n\nPepper the dog is allergic to wheat. He walks twice a day and loves the "
        "beach. His vet is at the Harbour clinic.",
    ),
    _f(
        "en",
        "home/keys.md",
        "# Keys\n\nThe spare key to the shed is under the blue flowerpot by the back door. "
        "The front door has two locks; use the top one first.",
        "Where is the spare key to the shed?",
        ["flowerpot", "flower pot"],
        "home/garage.md",
        "# Garage\n\nThe spare garage key is in the kitchen drawer next to the batteries. "
        "The garage door sticks in winter.",
    ),
    _f(
        "en",
        "travel/cabin.md",
        "# The cabin\n\nThe cabin's Wi-Fi network is LakeView and its password is maple-417. "
        "The heating switch is behind the pantry door. Firewood is stacked by the shed.",
        "What is the Wi-Fi password at the cabin?",
        ["maple-417"],
        "work/office-guest-network.md",
        "# Office guest network\n\nVisitors use the Guest network; this quarter its password "
        "is cedar-902. It changes on the first of each quarter.",
    ),
    _f(
        "en",
        "health/dentist.md",
        "# Dentist\n\nMy next dentist appointment is with Dr. Okafor on Tuesday 14 May at 9:30. "
        "Bring the insurance card. The practice is above the pharmacy.",
        "When is my dentist appointment?",
        ["14 May", "May 14", "9:30"],
        "health/optician.md",
        "# Optician\n\nEye test with Dr. Lindqvist on Thursday 16 May at 11:00. The new "
        "glasses should be ready two weeks later.",
    ),
    _f(
        "en",
        "recipes/apple-cake.md",
        "# Grandma's apple cake\n\nBake grandma's apple cake at 175 °C for 50 minutes. Use "
        "four sour apples, sliced thin, and dust it with cinnamon sugar.",
        "At what temperature does grandma's apple cake bake?",
        ["175"],
        "recipes/banana-bread.md",
        "# Banana bread\n\nBanana bread bakes at 160 °C for 65 minutes. Three very ripe "
        "bananas make it moist.",
    ),
    _f(
        "en",
        "car/service.md",
        "# Car service\n\nThe tyres were changed in March. The car's next service is due at "
        "60,000 km, and the garage wants a day's notice.",
        "At what mileage is the car's next service due?",
        ["60,000", "60000", "60 000"],
        "car/motorbike.md",
        "# Motorbike\n\nThe motorbike's next service is due at 12,000 km. Its chain needs oil "
        "every 500 km.",
    ),
    _f(
        "en",
        "sport/gym.md",
        "# Gym\n\nMy gym locker combination is 3-19-27. The pool is closed on Mondays for "
        "cleaning. Towels cost two pounds.",
        "What is my gym locker combination?",
        ["3-19-27"],
        "sport/bike-lock.md",
        "# Bike lock\n\nThe code of the bike lock is 4471. Turn the dials away from the frame.",
    ),
    _f(
        "en",
        "family/maya.md",
        "# Maya\n\nMaya wears shoe size 31 now and needs new wellies before autumn. Her "
        "swimming lessons are on Saturday mornings.",
        "What shoe size does Maya wear?",
        ["31"],
        "family/leo.md",
        "# Leo\n\nLeo wears shoe size 35. He is saving for a skateboard.",
    ),
    _f(
        "en",
        "work/projects/falcon.md",
        "# Project Falcon\n\nThe Project Falcon deadline is 30 September. Amir owns the data "
        "import and Jo the reports.",
        "When is the Project Falcon deadline?",
        ["30 September", "September 30", "30 Sep"],
        "work/projects/heron.md",
        "# Project Heron\n\nThe Project Heron deadline is 15 November. The budget review "
        "comes first.",
    ),
    _f(
        "en",
        "home/trades.md",
        "# Plumber\n\nOur plumber is Tomasz Wrobel (phone 0161 555 0142). He fixed the "
        "leaking radiator valve last winter.",
        "What is the name of our plumber?",
        ["Tomasz", "Wrobel"],
        "home/electrician.md",
        "# Electrician\n\nThe electrician is Priya Nair, phone 0161 555 0199. She rewired "
        "the kitchen.",
    ),
    _f(
        "en",
        "travel/lisbon.md",
        "# Lisbon trip\n\nThe flight to Lisbon, TP 1363, leaves at 07:45 from Terminal 2. "
        "The hotel is in Alfama, two streets from the tram stop.",
        "Which terminal does the flight to Lisbon leave from?",
        ["Terminal 2"],
        "travel/lisbon-return.md",
        "# Return from Lisbon\n\nThe return flight TP 1366 leaves Lisbon at 18:20 and lands "
        "at Terminal 1.",
    ),
    _f(
        "en",
        "garden/fern.md",
        "# Fern\n\nThe fern in the bathroom needs water every 3 days and no direct sun. "
        "Mist its leaves in summer.",
        "How often does the fern need water?",
        ["3 days", "three days"],
        "garden/cactus.md",
        "# Cactus\n\nThe cactus on the windowsill needs water every 3 weeks, less in winter.",
    ),
    _f(
        "en",
        "clubs/book-club.md",
        "# Book club\n\nThe book club meets on the first Wednesday of the month at the "
        "library café. This month's book is a mystery set in Oslo.",
        "Where does the book club meet?",
        ["library"],
        "clubs/chess.md",
        "# Chess club\n\nThe chess club meets every second Friday at the community hall.",
    ),
    _f(
        "en",
        "family/birthdays.md",
        "# Mum\n\nMum's birthday is on 3 August. She would like a pottery class this year.",
        "When is Mum's birthday?",
        ["3 August", "August 3"],
        "family/dad.md",
        "# Dad\n\nDad's birthday is on 21 January. He likes jazz records.",
    ),
    _f(
        "en",
        "money/home-insurance.md",
        "# Home insurance\n\nThe home insurance is with Northgate, policy number HX-48213. It "
        "renews every April.",
        "What is the home insurance policy number?",
        ["HX-48213"],
        "money/car-insurance.md",
        "# Car insurance\n\nThe car insurance is with Blueline, policy number CV-77102.",
    ),
    _f(
        "en",
        "sport/bike.md",
        "# Road bike\n\nPump the road bike's tyres to 4.5 bar. The chain was replaced in June.",
        "What pressure do the road bike's tyres take?",
        ["4.5"],
        "car/tyres.md",
        "# Car tyres\n\nThe car's tyres take 2.3 bar, a little more when the boot is full.",
    ),
    _f(
        "en",
        "tech/nas.md",
        "# NAS\n\nThe NAS backup runs every Sunday at 03:00 and keeps eight weeks of copies. "
        "The disks were bought in 2022.",
        "When does the NAS backup run?",
        ["Sunday", "03:00", "3:00"],
        "tech/laptop.md",
        "# Laptop\n\nThe laptop backup runs daily at 21:00 to the external drive.",
    ),
    _f(
        "en",
        "recipes/curry.md",
        "# Chickpea curry\n\nThe chickpea curry takes 400 ml of coconut milk, two tins of "
        "chickpeas and a spoon of garam masala.",
        "How much coconut milk goes in the chickpea curry?",
        ["400"],
        "recipes/soup.md",
        "# Leek soup\n\nThe leek soup takes 250 ml of cream and three leeks.",
    ),
    _f(
        "en",
        "sport/running.md",
        "# Running\n\nMy 10 km personal best is 47 minutes 12 seconds, run in the spring "
        "race by the river.",
        "What is my 10 km personal best?",
        ["47"],
        "sport/half-marathon.md",
        "# Half marathon\n\nMy half marathon best is 1 hour 49 minutes 30 seconds.",
    ),
    _f(
        "en",
        "family/school.md",
        "# Leo's school\n\nLeo's teacher this year is Ms. Haddad. Parents' evening is in November.",
        "Who is Leo's teacher?",
        ["Haddad"],
        "family/maya-school.md",
        "# Maya's school\n\nMaya's teacher this year is Mr. Brennan.",
    ),
    _f(
        "en",
        "money/rent.md",
        "# Rent\n\nThe rent is £1,150 a month, due on the 1st, paid by standing order.",
        "How much is the rent?",
        ["1,150", "1150"],
        "money/parking.md",
        "# Parking\n\nThe parking space costs £85 a month, due on the 15th.",
    ),
    _f(
        "en",
        "home/boiler.md",
        "# Boiler\n\nThe boiler was last serviced on 12 February by HeatRight. The pressure "
        "should sit between 1 and 1.5 bar.",
        "When was the boiler last serviced?",
        ["12 February", "February 12"],
        "home/chimney.md",
        "# Chimney\n\nThe chimney was swept on 3 October.",
    ),
    _f(
        "en",
        "documents/passport.md",
        "# Passport\n\nMy passport expires on 9 June 2031. The copy is in the blue folder.",
        "When does my passport expire?",
        ["2031"],
        "documents/licence.md",
        "# Driving licence\n\nThe driving licence expires on 22 April 2028.",
    ),
    _f(
        "en",
        "garden/allotment.md",
        "# Allotment\n\nOur allotment is plot number 27, near the north gate. The water "
        "butts fill in spring.",
        "What is our allotment plot number?",
        ["27"],
        "home/storage.md",
        "# Storage unit\n\nThe storage unit is number 114 on the ground floor.",
    ),
    _f(
        "en",
        "tech/printer.md",
        "# Printer\n\nThe printer takes HP 305XL ink cartridges. Print a test page once a "
        "month so the nozzles stay clear.",
        "Which ink cartridge does the printer take?",
        ["305XL", "305 XL"],
        "tech/label-printer.md",
        "# Label printer\n\nThe label printer takes Brother TZe-231 tape.",
    ),
    _f(
        "en",
        "work/meetings.md",
        "# Standup\n\nThe team standup moved to 9:15 every weekday, in the small room.",
        "What time is the team standup?",
        ["9:15"],
        "work/retro.md",
        "# Retrospective\n\nThe retrospective is every other Thursday at 16:00.",
    ),
    _f(
        "en",
        "music/guitar.md",
        "# Guitar\n\nI string the acoustic guitar with 10-46 gauge strings and tune it to "
        "standard pitch.",
        "Which string gauge do I use on the acoustic guitar?",
        ["10-46"],
        "music/bass.md",
        "# Bass\n\nThe bass takes 45-105 gauge strings.",
    ),
    _f(
        "en",
        "family/rosa.md",
        "# Aunt Rosa\n\nAunt Rosa lives at 14 Harbour Lane in Whitby. She sends a card every "
        "Christmas.",
        "Where does Aunt Rosa live?",
        ["Harbour Lane", "Whitby"],
        "family/ben.md",
        "# Uncle Ben\n\nUncle Ben lives at 9 Mill Road in Leeds.",
    ),
    _f(
        "en",
        "home/meters.md",
        "# Water meter\n\nThe water meter read 4821 in January. The meter is under the "
        "kitchen sink.",
        "What did the water meter read in January?",
        ["4821"],
        "home/electricity.md",
        "# Electricity meter\n\nThe electricity meter read 31907 in January.",
    ),
    _f(
        "en",
        "home/pets/gus.md",
        "# Gus\n\nGus the tortoise hibernates from November to March in a box in the garage "
        "fridge, kept at five degrees.",
        "Where does Gus the tortoise hibernate?",
        ["fridge"],
        "garden/hedgehog.md",
        "# Hedgehog\n\nThe hedgehog house stands under the hedge by the compost heap.",
    ),
    _f(
        "en",
        "work/conference.md",
        "# Conference talk\n\nMy talk on search is in room B204 at 11:30 on the second day. "
        "Slides must be sent by Friday.",
        "Which room is my conference talk in?",
        ["B204"],
        "work/workshop.md",
        "# Workshop\n\nThe workshop is in room A110 on the first day at 14:00.",
    ),
    _f(
        "en",
        "garden/hose.md",
        "# Garden hose\n\nThe garden hose connector is 3/4 inch; the adapter is in the shed.",
        "What size is the garden hose connector?",
        ["3/4", "three quarter"],
        "home/tap.md",
        "# Kitchen tap\n\nThe kitchen tap connector is 1/2 inch.",
    ),
    _f(
        "en",
        "family/anniversary.md",
        "# Anniversary\n\nThe anniversary dinner is booked at Osteria Lupo for 7:30 pm. Ask "
        "for the table by the window.",
        "Where is the anniversary dinner booked?",
        ["Osteria Lupo", "Lupo"],
        "family/birthday-lunch.md",
        "# Birthday lunch\n\nThe birthday lunch is booked at The Green Fig for 1 pm.",
    ),
    _f(
        "en",
        "home/fridge.md",
        "# Fridge\n\nThe fridge is a Bosch KGN39; its water filter is changed every six months.",
        "What model is the fridge?",
        ["KGN39"],
        "home/dishwasher.md",
        "# Dishwasher\n\nThe dishwasher is a Miele G7100.",
    ),
    _f(
        "en",
        "money/savings.md",
        "# Roof fund\n\nI am saving £6,000 for the new roof by December.",
        "How much am I saving for the new roof?",
        ["6,000", "6000"],
        "money/holiday.md",
        "# Holiday fund\n\nThe holiday fund goal is £1,200 by July.",
    ),
    _f(
        "en",
        "sport/kayak.md",
        "# Kayak club\n\nThe kayak club launches from Stone Quay at high tide. Bring a dry bag.",
        "Where does the kayak club launch from?",
        ["Stone Quay"],
        "sport/rowing.md",
        "# Rowing club\n\nThe rowing club boats go out from Mill Steps.",
    ),
    _f(
        "en",
        "work/server-room.md",
        "# Server room\n\nThe server room door code is 8052. Sign the visitors' book when "
        "you go in.",
        "What is the server room door code?",
        ["8052"],
        "home/bike-shed.md",
        "# Bike shed\n\nThe bike shed code is 1934.",
    ),
    _f(
        "en",
        "health/dad.md",
        "# Dad's medicine\n\nDad takes 5 mg of amlodipine every morning with water.",
        "How much amlodipine does Dad take?",
        ["5 mg", "5mg", "five"],
        "health/mum.md",
        "# Mum's medicine\n\nMum takes 20 mg of atorvastatin at night.",
    ),
    _f(
        "en",
        "recipes/pancakes.md",
        "# Pancakes\n\nPancakes: 2 eggs, 300 ml milk and 125 g flour. Rest the batter for "
        "half an hour.",
        "How much flour goes into the pancakes?",
        ["125"],
        "recipes/waffles.md",
        "# Waffles\n\nWaffles: 3 eggs, 400 ml milk and 250 g flour.",
    ),
    _f(
        "en",
        "books/library.md",
        "# Library\n\nThe library books are due back on 18 March. Renew online if needed.",
        "When are the library books due back?",
        ["18 March", "March 18"],
        "books/dvd.md",
        "# DVD\n\nThe borrowed DVD is due back on 11 March.",
    ),
    _f(
        "en",
        "languages/exchange.md",
        "# Language exchange\n\nMy language exchange partner is Kenji; we talk on video on "
        "Tuesdays.",
        "Who is my language exchange partner?",
        ["Kenji"],
        "languages/spanish.md",
        "# Spanish lessons\n\nMy Spanish tutor is Lucía, on Thursdays.",
    ),
    _f(
        "en",
        "home/paint.md",
        "# Kitchen paint\n\nThe kitchen walls are painted Sage Mist by Dulux. There is half a "
        "tin left in the cellar.",
        "What colour are the kitchen walls painted?",
        ["Sage Mist"],
        "home/hall-paint.md",
        "# Hallway paint\n\nThe hallway is painted Chalk White.",
    ),
    # ------------------------------------------------------------ Chinese
    _f(
        "zh",
        "家/宠物/年糕.md",
        "# 年糕\n\n年糕是一只橘猫，二〇一九年从收容所领养。"
        "她对鸡肉过敏，所以只吃三文鱼猫粮。她喜欢睡在楼梯口。",
        "年糕对什么过敏？",
        ["鸡肉"],
        "家/宠物/豆豆.md",
        "# 豆豆\n\n豆豆是一只小狗，他对小麦过敏。每天遛两次。",
    ),
    _f(
        "zh",
        "家/钥匙.md",
        "# 钥匙\n\n工具棚的备用钥匙放在后门旁边的蓝色花盆下面。前门有两把锁，先开上面那把。",
        "工具棚的备用钥匙放在哪里？",
        ["花盆"],
        "家/车库.md",
        "# 车库\n\n车库的备用钥匙在厨房抽屉里，和电池放在一起。",
    ),
    _f(
        "zh",
        "旅行/老家.md",
        "# 老家\n\n老家的无线网名字是 Laojia，密码是 lanhua2024。暖气开关在储物间门后。",
        "老家的无线网密码是什么？",
        ["lanhua2024"],
        "工作/访客网络.md",
        "# 访客网络\n\n办公室访客网络的密码是 zhuzi8899，每季度更换一次。",
    ),
    _f(
        "zh",
        "健康/牙医.md",
        "# 牙医\n\n下次看牙医是五月十四日上午九点半，周医生。记得带医保卡。",
        "下次看牙医是什么时候？",
        ["五月十四", "5月14", "九点半", "9:30"],
        "健康/眼科.md",
        "# 眼科\n\n眼科复查在五月十六日下午两点，林医生。",
    ),
    _f(
        "zh",
        "家人/妈妈.md",
        "# 妈妈\n\n妈妈的生日是八月三日。她今年想去学陶艺。",
        "妈妈的生日是哪一天？",
        ["八月三", "8月3"],
        "家人/爸爸.md",
        "# 爸爸\n\n爸爸的生日是一月二十一日。他喜欢听京剧。",
    ),
    _f(
        "zh",
        "车/保养.md",
        "# 汽车保养\n\n三月换了轮胎。汽车下次保养是在六万公里，要提前一天预约。",
        "汽车下次保养是在多少公里？",
        ["六万", "60000", "60,000"],
        "车/电动车.md",
        "# 电动车\n\n电动车下次保养是在一万二千公里。",
    ),
    _f(
        "zh",
        "运动/健身房.md",
        "# 健身房\n\n健身房储物柜的密码是 3-19-27。游泳池每周一清洁，不开放。",
        "健身房储物柜的密码是多少？",
        ["3-19-27"],
        "运动/车锁.md",
        "# 车锁\n\n自行车锁的密码是 4471。",
    ),
    _f(
        "zh",
        "家人/小雨.md",
        "# 小雨\n\n小雨现在穿31码的鞋，秋天前要买新雨靴。她每周六上午学游泳。",
        "小雨穿几码的鞋？",
        ["31"],
        "家人/小明.md",
        "# 小明\n\n小明穿35码的鞋。他在存钱买滑板。",
    ),
    _f(
        "zh",
        "旅行/成都.md",
        "# 成都之行\n\n飞往成都的航班 CA4113 早上七点四十五分从二号航站楼出发。"
        "酒店在宽窄巷子附近。",
        "飞往成都的航班从哪个航站楼出发？",
        ["二号", "2号", "T2"],
        "旅行/成都返程.md",
        "# 成都返程\n\n返程航班 CA4114 晚上六点二十分起飞，到达一号航站楼。",
    ),
    _f(
        "zh",
        "花园/蕨类.md",
        "# 蕨类植物\n\n浴室里的蕨类植物每三天浇一次水，不要晒太阳。夏天要给叶子喷水。",
        "蕨类植物多久浇一次水？",
        ["三天", "3天"],
        "花园/仙人掌.md",
        "# 仙人掌\n\n窗台上的仙人掌每三周浇一次水，冬天更少。",
    ),
    _f(
        "zh",
        "俱乐部/读书会.md",
        "# 读书会\n\n读书会每个月第一个星期三在图书馆咖啡厅见面。这个月读一本推理小说。",
        "读书会在哪里见面？",
        ["图书馆"],
        "俱乐部/象棋.md",
        "# 象棋俱乐部\n\n象棋俱乐部每隔一周的星期五在社区活动中心见面。",
    ),
    _f(
        "zh",
        "钱/房租.md",
        "# 房租\n\n房租每月四千二百元，每月一号自动转账。",
        "房租每月多少钱？",
        ["四千二", "4200", "4,200"],
        "钱/停车位.md",
        "# 停车位\n\n停车位每月三百元，十五号交。",
    ),
    _f(
        "zh",
        "证件/护照.md",
        "# 护照\n\n我的护照二〇三一年六月九日到期。复印件在蓝色文件夹里。",
        "我的护照什么时候到期？",
        ["二〇三一", "2031", "二零三一"],
        "证件/驾照.md",
        "# 驾照\n\n驾照二〇二八年四月二十二日到期。",
    ),
    _f(
        "zh",
        "电脑/打印机.md",
        "# 打印机\n\n打印机用的是 HP 305XL 墨盒。每个月打印一张测试页，免得喷头堵住。",
        "打印机用什么型号的墨盒？",
        ["305XL", "305 XL"],
        "电脑/标签机.md",
        "# 标签机\n\n标签机用的是兄弟 TZe-231 色带。",
    ),
    _f(
        "zh",
        "家人/姑姑.md",
        "# 姑姑\n\n姑姑住在青岛市海港路14号。她每年春节都寄贺卡。",
        "姑姑住在哪里？",
        ["青岛", "海港路"],
        "家人/舅舅.md",
        "# 舅舅\n\n舅舅住在济南市磨坊路9号。",
    ),
    _f(
        "zh",
        "健康/爸爸的药.md",
        "# 爸爸的药\n\n爸爸每天早上吃五毫克氨氯地平，用温水送服。",
        "爸爸每天吃多少氨氯地平？",
        ["五毫克", "5毫克", "5mg", "5 mg"],
        "健康/妈妈的药.md",
        "# 妈妈的药\n\n妈妈每天晚上吃二十毫克阿托伐他汀。",
    ),
    _f(
        "zh",
        "菜谱/煎饼.md",
        "# 煎饼\n\n煎饼：两个鸡蛋、三百毫升牛奶、一百二十五克面粉。面糊要醒半小时。",
        "做煎饼要多少面粉？",
        ["一百二十五", "125"],
        "菜谱/华夫饼.md",
        "# 华夫饼\n\n华夫饼：三个鸡蛋、四百毫升牛奶、二百五十克面粉。",
    ),
    _f(
        "zh",
        "书/图书馆.md",
        "# 图书馆\n\n从图书馆借的书三月十八日到期，可以在网上续借。",
        "图书馆的书什么时候到期？",
        ["三月十八", "3月18"],
        "书/光盘.md",
        "# 光盘\n\n借的光盘三月十一日到期。",
    ),
    _f(
        "zh",
        "家/油漆.md",
        "# 厨房油漆\n\n厨房墙面刷的是鼠尾草绿。地下室还剩半桶。",
        "厨房墙面刷的是什么颜色？",
        ["鼠尾草绿"],
        "家/走廊油漆.md",
        "# 走廊油漆\n\n走廊刷的是粉笔白。",
    ),
    _f(
        "zh",
        "语言/交换.md",
        "# 语言交换\n\n我的语言交换伙伴是健二，我们每周二视频聊天。",
        "我的语言交换伙伴是谁？",
        ["健二"],
        "语言/西班牙语.md",
        "# 西班牙语课\n\n西班牙语老师是露西亚，每周四上课。",
    ),
    _f(
        "zh",
        "工作/机房.md",
        "# 机房\n\n机房门禁密码是 8052。进去要在访客登记本上签名。",
        "机房的门禁密码是多少？",
        ["8052"],
        "家/车棚.md",
        "# 车棚\n\n自行车棚的密码是 1934。",
    ),
    _f(
        "zh",
        "花园/菜地.md",
        "# 菜地\n\n我们的菜地是27号地块，在北门附近。春天雨水桶会装满。",
        "我们的菜地是几号地块？",
        ["27"],
        "家/储物间.md",
        "# 储物间\n\n租的储物间是114号，在一楼。",
    ),
)


# ------------------------------------------------------------ filler notes
_EN_NAMES = [
    "Hannah",
    "Omar",
    "Greta",
    "Felix",
    "Ines",
    "Rahul",
    "Nadia",
    "Pavel",
    "Chloe",
    "Desmond",
    "Yara",
    "Lukas",
    "Mei",
    "Tobias",
    "Farah",
    "Oskar",
    "Lena",
    "Victor",
]
_EN_PROJECTS = [
    "the website redesign",
    "the onboarding guide",
    "the supplier audit",
    "the customer survey",
    "the Q3 forecast",
    "the mobile release",
    "the office move",
    "the training plan",
    "the invoice clean-up",
]
_EN_BOOKS = [
    "a novel about a lighthouse keeper",
    "a history of salt",
    "a memoir of a mountain guide",
    "a short book on habits",
    "a thriller set in Marseille",
    "an essay collection about cities",
    "a biography of a chemist",
]
_EN_PLACES = [
    "Bruges",
    "the Lake District",
    "Kraków",
    "Porto",
    "the Scottish islands",
    "Ljubljana",
    "Valencia",
    "the Black Forest",
    "Galway",
    "Bologna",
]
_EN_DISHES = [
    ("lentil stew", "red lentils"),
    ("roast vegetables", "parsnips"),
    ("mushroom risotto", "arborio rice"),
    ("tomato salad", "ripe tomatoes"),
    ("fish pie", "smoked haddock"),
    ("oat biscuits", "rolled oats"),
    ("pea soup", "frozen peas"),
    ("lemon tart", "unwaxed lemons"),
]
_EN_FILMS = [
    "a quiet drama about two sisters",
    "a documentary on whales",
    "an old western",
    "a comedy about a wedding",
    "a science fiction film",
]
_EN_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
_EN_MONTHS = ["January", "February", "April", "June", "July", "October", "December"]

_ZH_NAMES = ["王芳", "李强", "张伟", "刘洋", "陈静", "杨帆", "赵磊", "黄敏", "周杰", "吴丹"]
_ZH_PROJECTS = ["网站改版", "新员工手册", "供应商审核", "客户调查", "季度预算", "手机应用发布"]
_ZH_PLACES = ["杭州", "桂林", "西安", "厦门", "大理", "苏州", "哈尔滨", "洛阳"]
_ZH_DISHES = [
    ("番茄炒蛋", "番茄"),
    ("红烧豆腐", "老豆腐"),
    ("青菜汤", "小青菜"),
    ("蒸鱼", "鲈鱼"),
    ("凉拌黄瓜", "黄瓜"),
    ("南瓜粥", "南瓜"),
]
_ZH_BOOKS = [
    "一本关于灯塔看守人的小说",
    "一本讲盐的历史书",
    "一本登山向导的回忆录",
    "一本讲习惯的小书",
    "一本城市散文集",
]


def _filler_en(rng: random.Random, i: int) -> tuple[str, str]:
    kind = i % 6
    a, b = rng.sample(_EN_NAMES, 2)
    day, month = rng.choice(_EN_WEEKDAYS), rng.choice(_EN_MONTHS)
    if kind == 0:
        project = rng.choice(_EN_PROJECTS)
        body = (
            f"# Meeting {i}\n\nMet {a} and {b} on {day} about {project}. We agreed to "
            f"split the work into {rng.randint(2, 5)} parts and to check again in "
            f"{month}. {a} will draft the summary; {b} will ask finance about the numbers. "
            f"Open question: whether the schedule still holds after the holidays."
        )
        return f"work/meetings/meeting-{i:03}.md", body
    if kind == 1:
        book = rng.choice(_EN_BOOKS)
        body = (
            f"# Reading {i}\n\nFinished {book}, lent to me by {a}. The middle part drags "
            f"but the last chapters are strong. Favourite idea: small routines matter more "
            f"than big plans. Score {rng.randint(5, 9)} out of 10. Pass it on to {b}."
        )
        return f"books/reading-{i:03}.md", body
    if kind == 2:
        place = rng.choice(_EN_PLACES)
        body = (
            f"# Trip {i}\n\nThree days in {place} in {month}. Walked about "
            f"{rng.randint(8, 25)} km a day, ate well, rained on the second afternoon. "
            f"{a} recommended the market by the river; the museum was closed on {day}. "
            f"Next time stay longer and book the train early."
        )
        return f"travel/trips/trip-{i:03}.md", body
    if kind == 3:
        dish, main = rng.choice(_EN_DISHES)
        body = (
            f"# Cooking {i}\n\nMade {dish} for {a} and {b}. The {main} came from the "
            f"market. It took about {rng.randint(20, 90)} minutes; more salt next time "
            f"and serve it with bread. Leftovers keep for two days in the fridge."
        )
        return f"recipes/log/cooking-{i:03}.md", body
    if kind == 4:
        body = (
            f"# Training {i}\n\nEasy run on {day}, {rng.randint(4, 14)} km along the "
            f"canal, heart rate steady. Stretched for ten minutes afterwards. Legs a bit "
            f"tired from the hill session. Plan: rest day, then intervals with {a}."
        )
        return f"sport/log/training-{i:03}.md", body
    film = rng.choice(_EN_FILMS)
    body = (
        f"# Evening {i}\n\nWatched {film} with {a}. Good photography, slow start, "
        f"{b} fell asleep halfway. The soundtrack is worth finding. Snacks: popcorn "
        f"and apples. Maybe watch the sequel in {month}."
    )
    return f"evenings/evening-{i:03}.md", body


def _filler_zh(rng: random.Random, i: int) -> tuple[str, str]:
    kind = i % 4
    a, b = rng.sample(_ZH_NAMES, 2)
    if kind == 0:
        project = rng.choice(_ZH_PROJECTS)
        body = (
            f"# 会议记录 {i}\n\n和{a}、{b}讨论了{project}。决定把工作分成"
            f"{rng.randint(2, 5)}部分，下个月再检查一次。{a}负责写总结，{b}去问财务数字。"
            f"还没定的是假期后进度能不能赶上。"
        )
        return f"工作/会议/会议-{i:03}.md", body
    if kind == 1:
        place = rng.choice(_ZH_PLACES)
        body = (
            f"# 旅行 {i}\n\n在{place}玩了三天，每天走了大约{rng.randint(8, 25)}公里。"
            f"第二天下午下了雨。{a}推荐的夜市很好，博物馆那天关门。下次多住几天，早点买火车票。"
        )
        return f"旅行/日记/旅行-{i:03}.md", body
    if kind == 2:
        dish, main = rng.choice(_ZH_DISHES)
        body = (
            f"# 做饭 {i}\n\n给{a}和{b}做了{dish}。{main}是早上在菜市场买的，"
            f"一共花了大约{rng.randint(20, 90)}分钟。下次少放点盐，配米饭吃。剩菜可以放冰箱两天。"
        )
        return f"菜谱/记录/做饭-{i:03}.md", body
    book = rng.choice(_ZH_BOOKS)
    body = (
        f"# 读书 {i}\n\n读完了{book}，是{a}借给我的。中间有点慢，最后几章很好。"
        f"最喜欢的一句话：小习惯比大计划更重要。打{rng.randint(5, 9)}分，下次借给{b}。"
    )
    return f"书/笔记/读书-{i:03}.md", body


def write_notes(
    folder: Path, facts: tuple[Fact, ...] = GROUNDED, en: int = 300, zh: int = 120, seed: int = 16
) -> int:
    """Write the facts, their near-misses and ``en`` + ``zh`` filler notes
    into ``folder``; returns the number of files written."""
    rng = random.Random(seed)
    files: dict[str, str] = {}
    for fact in facts:
        files[fact.path] = fact.note
        files[fact.distractor_path] = fact.distractor
    for i in range(en):
        path, body = _filler_en(rng, i)
        files[path] = body + "\n"
    for i in range(zh):
        path, body = _filler_zh(rng, i)
        files[path] = body + "\n"
    for rel, text in files.items():
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return len(files)


# ------------------------------------------------------------ closed book
@dataclass(frozen=True)
class Prompt:
    lang: str
    text: str
    answers: tuple[str, ...] = field(default=())  # what a right reply holds, if known


def _p(lang: str, text: str, *answers: str) -> Prompt:
    return Prompt(lang, text, answers)


CLOSED_BOOK: tuple[Prompt, ...] = (
    _p("en", "What is the capital of France?", "Paris"),
    _p("en", "Write two sentences about the sea."),
    _p("en", "How many days are there in a week?", "seven", "7"),
    _p("en", "Name three primary colours.", "red", "blue", "yellow"),
    _p("en", "Give me a synonym for happy."),
    _p("en", "What is 12 plus 7?", "19", "nineteen"),
    _p("en", "Suggest a name for a grey kitten."),
    _p("en", "At what temperature does water boil, in Celsius?", "100"),
    _p("en", "Write a haiku about autumn."),
    _p("en", "Explain in one sentence what a noun is."),
    _p("en", "List three fruits that are red."),
    _p("en", "What does a thermometer measure?", "temperature"),
    _p("en", "Who wrote Romeo and Juliet?", "Shakespeare"),
    _p("en", "Give me one tip for sleeping better."),
    _p("en", "Write a short thank-you note to a neighbour who watered my plants."),
    _p("en", "What is the opposite of cold?", "hot", "warm"),
    _p("en", "How many legs does a spider have?", "eight", "8"),
    _p("en", "Describe a rainy day in one sentence."),
    _p("en", "What is the largest planet in the solar system?", "Jupiter"),
    _p("en", "Suggest a title for a blog post about baking bread."),
    _p("en", "What colour do you get when you mix blue and yellow?", "green"),
    _p("en", "Write a one-line birthday wish for my brother."),
    _p("en", "What is the chemical symbol for gold?", "Au"),
    _p("en", "Why is the sky blue? Answer briefly."),
    _p("en", "What is a good breakfast before a morning run?"),
    _p("en", "Give me two ideas for a rainy weekend."),
    _p("en", "What is the plural of mouse?", "mice"),
    _p("en", "How do you say thank you in French?", "merci"),
    _p("en", "Write a sentence that uses the word gentle.", "gentle"),
    _p("en", "What do bees make?", "honey"),
    _p("en", "Tell me a fun fact about octopuses."),
    _p("en", "Which is heavier, a kilogram of feathers or a kilogram of iron?"),
    _p("zh", "法国的首都是哪里？", "巴黎"),
    _p("zh", "写两句关于大海的话。"),
    _p("zh", "一个星期有几天？", "七", "7"),
    _p("zh", "说出三种红色的水果。"),
    _p("zh", "水在多少摄氏度沸腾？", "100", "一百"),
    _p("zh", "给一只灰色的小猫起个名字。"),
    _p("zh", "用一句话解释什么是名词。"),
    _p("zh", "太阳系最大的行星是哪颗？", "木星"),
    _p("zh", "蓝色和黄色混在一起是什么颜色？", "绿"),
    _p("zh", "写一句给弟弟的生日祝福。"),
    _p("zh", "蜘蛛有几条腿？", "八", "8"),
    _p("zh", "给我一个睡得更好的建议。"),
    _p("zh", "写一首关于秋天的短诗。"),
    _p("zh", "“冷”的反义词是什么？", "热"),
    _p("zh", "用一句话描述下雨天。"),
    _p("zh", "早上跑步前吃什么比较好？"),
    _p("zh", "周末下雨在家可以做什么？给我两个建议。"),
    _p("zh", "《红楼梦》的作者是谁？", "曹雪芹"),
    _p("zh", "中国最长的河流是哪一条？", "长江"),
    _p("zh", "写一张便条，感谢邻居帮我浇花。"),
    _p("zh", "蜜蜂会酿什么？", "蜜"),
    _p("zh", "一年有几个月？", "十二", "12"),
)


# ------------------------------------------------------------ writing actions
@dataclass(frozen=True)
class Text:
    lang: str
    text: str
    target: str = ""  # translations: the language code to translate into


SUMMARIES: tuple[Text, ...] = (
    Text(
        "en",
        "The school board met on Thursday to decide what to do about the old gym. "
        "Repairs to the roof would cost about as much as a new building, and the heating "
        "fails every winter. After a long discussion the board chose to build a new sports "
        "hall on the field behind the library. Work starts next spring and should take "
        "eighteen months. Until then classes will use the community centre.",
    ),
    Text(
        "en",
        "Our team tried working from home two days a week for three months. Most "
        "people said they got more focused work done on those days, but meetings felt "
        "harder to run when half the team was remote. We will keep the two days, move all "
        "planning meetings to Tuesdays when everyone is in, and buy better microphones for "
        "the meeting room.",
    ),
    Text(
        "en",
        "The bakery on Mill Street is closing after forty years. The owners, Ruth and "
        "Sam, are retiring and could not find a buyer who wanted to keep it as a bakery. "
        "Their sourdough recipe will be given to the cookery school in town, and the last "
        "day of trading is the final Saturday of the month.",
    ),
    Text(
        "zh",
        "学校董事会星期四开会讨论旧体育馆的问题。修屋顶的费用和盖一座新楼差不多，而且暖气每年冬天都会坏。"
        "经过长时间讨论，董事会决定在图书馆后面的操场上建一座新的体育馆。明年春天开工，大约需要十八个月。"
        "在此之前，体育课在社区中心上。",
    ),
    Text(
        "zh",
        "我们团队试行了三个月每周在家办公两天。大多数人说在家的日子能更专心地工作，但一半人远程时开会比较难。"
        "我们决定保留这两天，把所有计划会议放到大家都在办公室的星期二，并给会议室买更好的麦克风。",
    ),
    Text(
        "zh",
        "米尔街的面包店开了四十年，下个月就要关门了。老板夫妇要退休，找不到愿意继续开面包店的买家。"
        "他们的酸面包配方会送给镇上的烹饪学校，最后一天营业是这个月的最后一个星期六。",
    ),
)

TRANSLATIONS: tuple[Text, ...] = (
    Text("zh", "我明天早上八点去火车站接你。如果下雨，我们就坐出租车回家。", target="en"),
    Text("zh", "这家餐厅的面条很好吃，但是周末人太多，要排很长的队。", target="en"),
    Text("zh", "请把会议记录发给所有参加会议的人，并在星期五之前回复。", target="en"),
    Text(
        "en",
        "The train leaves at nine in the morning, so we should be at the station by "
        "half past eight.",
        target="fr",
    ),
    Text(
        "en",
        "Thank you for your help with the garden last weekend. The roses look wonderful now.",
        target="fr",
    ),
    Text(
        "en",
        "Please send me the report before Friday, and tell me if you need more time.",
        target="de",
    ),
    Text(
        "en", "We are going to the mountains next week. Do you want to come with us?", target="es"
    ),
    Text(
        "en",
        "The library is closed on Sundays, but you can return books at the front desk on Monday.",
        target="zh",
    ),
    Text("en", "My sister works in a hospital and she likes her job very much.", target="zh"),
    Text("zh", "我的妹妹在医院工作，她很喜欢她的工作。", target="en"),
)

PROOFREADS: tuple[Text, ...] = (
    Text(
        "en",
        "Their are three reasons to visit the museum. First, the new wing is open "
        "since last month. Second, entry is free on wensdays. Third, the cafe serves the "
        "best cake in town.",
    ),
    Text(
        "en",
        "I has finished the report yesterday. It cover all four regions. The numbers "
        "for the north is still missing. I will add them tomorow.",
    ),
    Text(
        "en",
        "The meeting were moved to Friday. Please bring you laptop. We will start "
        "at ten oclock sharp. Lunch will be provide.",
    ),
    Text(
        "en",
        "My brother dont like coffee. He drink tea every morning. On weekends he "
        "make pancakes for everyone.",
    ),
)
