"""Parties of the generator: seller actors and their accounts, recipients, filers, routes.

Everything here builds small pools (thousands of entries) with Python; parcels then
index into the pools with NumPy, so no per-parcel Python code runs.
"""

from __future__ import annotations

import numpy as np

FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas",
    "Sarah", "Carlos", "Maria", "Jose", "Guadalupe", "Luis", "Ana", "Wei", "Mei", "Jun",
    "Li", "Priya", "Rahul", "Anjali", "Aarav", "Fatima", "Mohammed", "Aisha", "Omar",
    "Nguyen", "Linh", "Minh", "Olga", "Dmitri", "Kwame", "Ama", "Chinedu", "Ngozi", "Emily",
    "Daniel", "Ashley", "Kevin", "Brianna", "Tyler", "Hannah", "Jamal", "Keisha", "Yuki",
    "Hiroshi", "Soo-jin", "Min-ho", "Sofia", "Mateo",
)
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
    "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas",
    "Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris",
    "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King",
    "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "Chen", "Wang", "Zhang", "Liu",
    "Patel", "Shah", "Singh", "Kim", "Park", "Tanaka", "Sato", "Okafor", "Mensah", "Ivanov",
    "Kowalski", "Cohen", "Ali", "Hassan", "O'Brien", "Murphy",
)
#: Fictitious or garbled consignee names seen on manifests.
FAKE_NAMES = (
    "Test Test", "aaa bbb", "Xxx Xxx", "Customer", "John Doe", "Jane Doe", "asdf qwer",
    "Mr. Buyer", "N/A", "Receiver", "zzz", "Hjkl Mnbv", "Occupant", "Friend", "Qwerty Uiop",
    "Ltd Co", "Dear Customer", "Kkk Lll", "No Name", "Xiansheng",
)
CITIES = (  # city, state, zip prefix
    ("New York", "NY", "100"), ("Brooklyn", "NY", "112"), ("Los Angeles", "CA", "900"),
    ("San Jose", "CA", "951"), ("San Diego", "CA", "921"), ("Chicago", "IL", "606"),
    ("Houston", "TX", "770"), ("Dallas", "TX", "752"), ("Austin", "TX", "787"),
    ("Phoenix", "AZ", "850"), ("Philadelphia", "PA", "191"), ("Jacksonville", "FL", "322"),
    ("Miami", "FL", "331"), ("Orlando", "FL", "328"), ("Columbus", "OH", "432"),
    ("Charlotte", "NC", "282"), ("Seattle", "WA", "981"), ("Denver", "CO", "802"),
    ("Boston", "MA", "021"), ("Detroit", "MI", "482"), ("Nashville", "TN", "372"),
    ("Portland", "OR", "972"), ("Las Vegas", "NV", "891"), ("Atlanta", "GA", "303"),
    ("Minneapolis", "MN", "554"), ("Kansas City", "MO", "641"), ("Newark", "NJ", "071"),
    ("Baltimore", "MD", "212"), ("Salt Lake City", "UT", "841"), ("Albuquerque", "NM", "871"),
)
STREETS = (
    "Main", "Oak", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park", "Pine",
    "Sunset", "Lincoln", "Jackson", "Highland", "Meadow", "River", "Church", "Willow",
    "Franklin", "Chestnut", "Spring", "Forest", "Valley", "Broadway", "Madison",
)
STREET_SUFFIXES = ("St", "Ave", "Rd", "Blvd", "Dr", "Ln", "Ct", "Way", "Pl")
#: Parcel-forwarding warehouses: one address, a suite number per customer.
FORWARDERS = (
    ("500 Commerce Way Ste", "New Castle", "DE", "197"),
    ("12 Airport Rd Unit", "Wilmington", "DE", "198"),
    ("8900 NW 25th St #", "Doral", "FL", "331"),
    ("15220 NE Airport Way #", "Portland", "OR", "972"),
    ("2200 Harbor Blvd Dock", "Long Beach", "CA", "908"),
    ("77 Logistics Pkwy Bay", "Elizabeth", "NJ", "072"),
)

SELLER_COUNTRIES = {
    "CN": 0.55, "HK": 0.12, "KR": 0.05, "GB": 0.05, "JP": 0.04, "DE": 0.04, "VN": 0.04,
    "IN": 0.04, "TR": 0.03, "TH": 0.02, "MY": 0.02,
}
SELLER_CITY = {
    "CN": ("Shenzhen", "Yiwu", "Guangzhou", "Dongguan", "Hangzhou", "Ningbo"),
    "HK": ("Hong Kong", "Kowloon"), "KR": ("Seoul", "Busan"), "GB": ("London", "Leeds"),
    "JP": ("Tokyo", "Osaka"), "DE": ("Berlin", "Hamburg"), "VN": ("Hanoi", "Ho Chi Minh"),
    "IN": ("Delhi", "Mumbai"), "TR": ("Istanbul", "Izmir"), "TH": ("Bangkok",),
    "MY": ("Kuala Lumpur", "Penang"),
}
SELLER_STEMS = (
    "Xinda", "Kaida", "Huamei", "Jiayi", "Shengli", "Aoxiang", "Bestway", "Sunrise", "Lucky",
    "Golden", "Evergreen", "Happy", "Starlight", "Tianyu", "Hongtai", "Ruixin", "Fuli",
    "Mingzhu", "Oriental", "Pacific", "Dragon", "Phoenix", "Bright", "Smart", "Nova", "Vita",
    "Lotus", "Jade", "Silk Road", "Blue Ocean", "Yuanda", "Zhongxin", "Hengfeng", "Weilong",
)
SELLER_SUFFIXES = (
    "Trading Co., Ltd", "E-commerce Co., Ltd", "Technology Co., Ltd", "Store", "Official Store",
    "Limited", "Shop", "Global", "Import & Export Co.", "Direct", "Outlet", "Mall",
)
MARKETPLACES = ("Bazaaro", "ShopNest", "CartHub", "TradeLoop", "MegaMart Online", "DealDock")
#: Export country -> lading ports (UN/LOCODE), most used first; later ones are rarer.
LADING_PORTS = {
    "CN": ("CNSZX", "CNPVG", "CNCAN", "CNHGH", "CNNGB", "CNTAO"),
    "HK": ("HKHKG",), "KR": ("KRICN", "KRPUS"), "GB": ("GBLHR", "GBEMA"),
    "JP": ("JPNRT", "JPKIX"), "DE": ("DELEJ", "DEFRA"), "VN": ("VNSGN", "VNHAN", "VNDAD"),
    "IN": ("INDEL", "INBOM"), "TR": ("TRIST",), "TH": ("THBKK",),
    "MY": ("MYKUL", "MYPEN"), "MX": ("MXMEX", "MXTIJ"), "AE": ("AEDXB",),
    "CA": ("CAYVR", "CAYYZ"), "KH": ("KHPNH",),
}
#: Where transshipped goods are routed through.
TRANSSHIP_COUNTRIES = ("VN", "MY", "TH", "MX", "AE", "KH", "KR", "CA")
CARRIERS_AIR = (
    "SkyLink Express", "Pacific Parcel Air", "Orient Air Cargo", "Global Courier Co",
    "SwiftWing Logistics", "Meridian Express", "AeroPost Consolidators", "Falcon Freight",
)
CARRIERS_MAIL = ("National Post EMS", "ePacket Mail", "Intl Post Service")
CARRIERS_TRUCK = ("Border Line Trucking", "NorteSur Transport", "MapleRoute Freight")
CARRIERS_OCEAN = ("BlueWave Ocean Lines", "Harbor Consolidated")
CARRIERS_RAIL = ("TransRail Cargo",)
PORTS_AIR = ("4701", "2720", "3901", "4196", "5501", "1704", "3029", "5206", "2809", "4101")
PORTS_TRUCK = ("2304", "2402", "3801", "0901", "2506")
PORTS_OCEAN = ("2704", "1001", "5301")


def choice(rng: np.random.Generator, options: tuple | list, size: int, p=None) -> np.ndarray:
    """Draw ``size`` items of ``options`` as an object array (so strings keep their type)."""
    arr = np.empty(len(options), dtype=object)
    arr[:] = list(options)
    return arr[rng.choice(len(options), size=size, p=p)]


def person_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """Realistic recipient names with the casing and initials real manifests show."""
    first = choice(rng, FIRST_NAMES, n)
    last = choice(rng, LAST_NAMES, n)
    style = rng.random(n)
    initials = choice(rng, tuple("ABCDEFGHJKLMNPRSTW"), n)
    names = first + " " + last
    names = np.where(style < 0.12, first + " " + initials + ". " + last, names)
    names = np.where((style >= 0.12) & (style < 0.18), np.char.upper(names.astype(str)), names)
    names = np.where((style >= 0.18) & (style < 0.22), last + ", " + first, names)
    return names.astype(object)


def street_addresses(rng: np.random.Generator, n: int, apartments: bool = True) -> np.ndarray:
    """House number, street and suffix, with an apartment now and then."""
    num = rng.integers(1, 9999, n).astype(str).astype(object)
    addr = num + " " + choice(rng, STREETS, n) + " " + choice(rng, STREET_SUFFIXES, n)
    apt = rng.integers(1, 40, n).astype(str).astype(object)
    return np.where(apartments & (rng.random(n) < 0.25), addr + " Apt " + apt, addr)


def fake_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """Fictitious consignee names: placeholders from a list, or garbled letter strings."""
    garbled = _garbled_words(rng, n, 4) + " " + _garbled_words(rng, n, 5)
    return np.where(rng.random(n) < 0.5, choice(rng, FAKE_NAMES, n), garbled)


def _garbled_words(rng: np.random.Generator, n: int, length: int) -> np.ndarray:
    """Capitalised random letter strings, mostly consonants ('Xkqz')."""
    letters = np.array(list("bcdfghjklmnpqrstvwxzay"), dtype="<U1")
    grid = np.ascontiguousarray(letters[rng.integers(0, len(letters), (n, length))])
    words = grid.view(f"<U{length}").reshape(n)
    return np.char.capitalize(words).astype(object)


def seller_names(rng: np.random.Generator, country: np.ndarray, stem: np.ndarray) -> np.ndarray:
    """Company-style seller names, e.g. 'Shenzhen Kaida Trading Co., Ltd'."""
    n = len(country)
    pick = rng.integers(0, 6, n)
    city = np.array(
        [SELLER_CITY[c][i % len(SELLER_CITY[c])] for c, i in zip(country, pick, strict=True)],
        dtype=object,
    )
    suffix = choice(rng, SELLER_SUFFIXES, n)
    with_city = city + " " + stem + " " + suffix
    return np.where(rng.random(n) < 0.6, with_city, stem + " " + suffix)
