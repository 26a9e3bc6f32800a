"""Product catalogue of the generator: categories, HTS codes, prices, weights, listing words.

Each category carries a base risk (the HTS-chapter base rate of violations, as a logit
offset), a unit-price and unit-weight distribution, the violation type its base risk
stands for, and the words that marketplace listings of such goods use. Brand names are
fictional.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    """One product category of the catalogue."""

    name: str
    hts: tuple[str, ...]
    base_risk: float  # logit offset: the HTS-chapter base rate
    price_median: float  # typical listed unit price, USD
    price_sigma: float  # log-normal spread of the unit price
    weight_median: float  # typical unit weight, kg
    base_type: str  # violation type the base risk stands for
    nouns: tuple[str, ...]
    adjectives: tuple[str, ...]
    branded: bool  # whether listings name a brand (and counterfeits occur)
    share: float  # share of parcels


CATEGORIES: tuple[Category, ...] = (
    Category(
        "apparel", ("6109100012", "6110202079", "6204624011", "6104430010"), 0.0, 14, 0.6,
        0.25, "misdescription",
        ("T-Shirt", "Hoodie", "Sweatshirt", "Dress", "Leggings", "Cardigan", "Blouse",
         "Pajama Set"),
        ("Casual", "Loose", "Slim Fit", "Oversized", "Short Sleeve", "Long Sleeve", "Summer",
         "Winter", "Cotton", "Vintage", "Plus Size", "Womens", "Mens"),
        True, 0.18,
    ),
    Category(
        "footwear", ("6404199060", "6402993165", "6403990065"), 0.3, 35, 0.6, 0.8,
        "counterfeit",
        ("Sneakers", "Running Shoes", "Sandals", "Slippers", "Boots", "Basketball Shoes"),
        ("Breathable", "Non-Slip", "Lightweight", "Mesh", "Leather", "Platform", "Retro"),
        True, 0.07,
    ),
    Category(
        "handbags", ("4202210000", "4202229000", "4202319000"), 0.5, 40, 0.8, 0.6, "counterfeit",
        ("Handbag", "Shoulder Bag", "Tote Bag", "Crossbody Bag", "Wallet", "Backpack"),
        ("Leather", "PU Leather", "Designer Style", "Large Capacity", "Mini", "Quilted"),
        True, 0.05,
    ),
    Category(
        "watches", ("9102110000", "9102120000", "9101110000"), 0.6, 45, 1.0, 0.15, "counterfeit",
        ("Wrist Watch", "Quartz Watch", "Automatic Watch", "Smart Watch Band", "Watch"),
        ("Waterproof", "Luxury", "Stainless Steel", "Chronograph", "Minimalist", "Sport"),
        True, 0.03,
    ),
    Category(
        "jewelry", ("7117190000", "7117909000", "7113115000"), 0.1, 9, 0.8, 0.05,
        "misdescription",
        ("Necklace", "Earrings", "Bracelet", "Ring Set", "Pendant", "Anklet", "Hair Clips"),
        ("Gold Plated", "Sterling Silver Plated", "Dainty", "Boho", "Crystal", "Pearl"),
        True, 0.06,
    ),
    Category(
        "phone_accessories", ("8517620090", "4202320000", "3926909985"), -0.3, 7, 0.6, 0.08,
        "misdescription",
        ("Phone Case", "Screen Protector", "USB-C Cable", "Phone Holder", "Charging Dock"),
        ("Shockproof", "Clear", "Magnetic", "Tempered Glass", "Fast Charging", "Braided"),
        False, 0.09,
    ),
    Category(
        "audio", ("8518300000", "8518220000", "8518210000"), 0.2, 25, 0.9, 0.3, "counterfeit",
        ("Wireless Earbuds", "Bluetooth Headphones", "Speaker", "Earphones", "Soundbar"),
        ("Noise Cancelling", "Bluetooth 5.3", "Waterproof", "Bass Boost", "Over-Ear", "Mini"),
        True, 0.05,
    ),
    Category(
        "chargers", ("8504405500", "8507600020", "8504409580"), 0.2, 15, 0.6, 0.25, "restricted",
        ("Power Bank", "Wall Charger", "Battery Pack", "Charging Adapter", "Lithium Battery"),
        ("20000mAh", "65W", "GaN", "Portable", "Fast Charge", "Dual Port"),
        False, 0.04,
    ),
    Category(
        "toys", ("9503000073", "9503000090", "9504904000"), 0.1, 12, 0.7, 0.4, "restricted",
        ("Building Blocks", "Plush Toy", "Puzzle", "RC Car", "Doll", "Fidget Toy", "Card Game"),
        ("Educational", "Kids", "Cute", "Montessori", "Collectible", "Glow in Dark"),
        True, 0.06,
    ),
    Category(
        "cosmetics", ("3304990000", "3304100000", "3305900000"), 0.4, 10, 0.7, 0.12,
        "restricted",
        ("Lipstick", "Eyeshadow Palette", "Face Serum", "Foundation", "Eyelash Glue", "Hair Oil"),
        ("Long Lasting", "Matte", "Whitening", "Organic", "Vegan", "Waterproof"),
        True, 0.05,
    ),
    Category(
        "perfume", ("3303003000", "3303002000"), 0.8, 30, 0.8, 0.35, "counterfeit",
        ("Eau de Parfum", "Perfume", "Cologne", "Body Mist", "Fragrance Set"),
        ("Long Lasting", "Floral", "Woody", "100ml", "Travel Size", "Gift Box"),
        True, 0.02,
    ),
    Category(
        "supplements", ("2106909998", "2936290000", "2106909897"), 1.1, 18, 0.6, 0.3,
        "restricted",
        ("Vitamin Capsules", "Herbal Supplement", "Protein Powder", "Slimming Tea",
         "Collagen Tablets", "Gummies"),
        ("Natural", "Extra Strength", "Weight Loss", "Energy", "60 Count", "Sugar Free"),
        False, 0.03,
    ),
    Category(
        "vapes", ("8543400000", "2404120000"), 1.6, 15, 0.5, 0.12, "prohibited",
        ("Disposable Vape", "E-Cigarette", "Vape Pod", "Atomizer", "E-Liquid"),
        ("5000 Puffs", "Rechargeable", "Mesh Coil", "Fruit Flavor", "Nicotine Free"),
        False, 0.015,
    ),
    Category(
        "knives", ("8211910000", "8211930060", "9307000000"), 1.0, 20, 0.6, 0.3, "prohibited",
        ("Folding Knife", "Pocket Knife", "Tactical Knife", "Butterfly Knife", "Knife Blank"),
        ("EDC", "Stainless", "Outdoor", "Spring Assisted", "Camping", "Damascus"),
        False, 0.01,
    ),
    Category(
        "medical", ("9018390050", "9019102000", "3005909000"), 0.9, 25, 0.8, 0.3, "restricted",
        ("Blood Pressure Monitor", "Syringe Set", "Massage Gun", "Pulse Oximeter", "Test Strips"),
        ("Digital", "Home Use", "Portable", "Rechargeable", "Medical Grade", "Sterile"),
        False, 0.015,
    ),
    Category(
        "auto_parts", ("8708998180", "8512204040", "8708295160"), 0.0, 22, 0.8, 0.9,
        "misdescription",
        ("LED Headlight Bulbs", "Car Seat Cover", "Brake Pads", "Steering Wheel Cover",
         "Dash Cam Mount", "Exhaust Tip"),
        ("Universal Fit", "Heavy Duty", "Waterproof", "Plug and Play", "OEM Replacement"),
        False, 0.04,
    ),
    Category(
        "home_kitchen", ("7323930080", "3924104000", "6302600020", "9405420000"), -0.5, 13,
        0.7, 0.5, "misdescription",
        ("Storage Box", "Kitchen Organizer", "Bath Towel", "LED Strip Lights", "Silicone Mat",
         "Cutting Board", "Water Bottle"),
        ("Reusable", "Foldable", "BPA Free", "Large", "Stainless Steel", "Bamboo", "RGB"),
        False, 0.11,
    ),
    Category(
        "books", ("4901990092", "4903000000", "4911991000"), -1.2, 12, 0.5, 0.4,
        "misdescription",
        ("Paperback Book", "Coloring Book", "Sticker Book", "Notebook", "Art Prints"),
        ("English Edition", "Illustrated", "Hardcover", "A5", "Vintage"),
        False, 0.04,
    ),
    Category(
        "sunglasses", ("9004100000", "9003110000"), 0.4, 12, 0.8, 0.08, "counterfeit",
        ("Sunglasses", "Polarized Sunglasses", "Blue Light Glasses", "Glasses Frames"),
        ("UV400", "Retro", "Oversized", "Aviator", "Cat Eye", "Square"),
        True, 0.03,
    ),
    Category(
        "pet_supplies", ("4201006000", "6307909800", "2309109000"), -0.4, 11, 0.6, 0.4,
        "misdescription",
        ("Dog Collar", "Cat Toy", "Pet Harness", "Pet Bed", "Grooming Brush", "Pet Treats"),
        ("Adjustable", "Reflective", "Interactive", "Durable", "Soft"),
        False, 0.03,
    ),
)

#: Fictional brand words; counterfeits put them on goods priced far below their market.
BRANDS: tuple[str, ...] = (
    "Luxaro", "Verano", "Aurelle", "Nordvik", "Caspien", "Maxtrel", "Zephora", "Kalden",
    "Orvieto", "Benicci", "Solvane", "Trivex", "Halcyon", "Ameris", "Pravda Sport", "Kyoten",
)
#: How much more a branded original costs than the category's typical unit price.
BRAND_PRICE_FACTOR = 4.0

#: Vague terms officers name; the legacy rules know only the first three.
LEGACY_VAGUE_TERMS: tuple[str, ...] = ("gift", "sample", "goods")
VAGUE_TERMS: tuple[str, ...] = (
    *LEGACY_VAGUE_TERMS, "daily necessities", "accessories", "parts", "consolidated",
    "household items",
    "personal items", "general merchandise", "clothing accessories", "spare parts",
)

#: Harmless-sounding words that hide pills, chemicals or devices (decoy descriptions).
DECOY_WORDS: tuple[str, ...] = (
    "candy", "tea bags", "plastic beads", "machine parts", "craft supplies", "bath salt",
    "hair accessories", "phone accessories", "vitamins", "toy parts",
)

COLORS: tuple[str, ...] = (
    "Black", "White", "Pink", "Navy Blue", "Grey", "Beige", "Red", "Green", "Purple",
    "Multicolor", "Rose Gold", "Khaki",
)
SIZES: tuple[str, ...] = ("S", "M", "L", "XL", "XXL", "One Size", "2 Pack", "3 Pcs", "Set of 4")
YEARS: tuple[str, ...] = ("2024", "2025", "2025 New", "New Arrival", "Hot Sale", "Free Shipping")
