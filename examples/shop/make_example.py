"""Writes the small shop data set beside this script: interactions, items (titles, descriptions,
category, a PNG per item) and users (region, age).

The data is made so that a model can learn from it: every item belongs to one of four topics,
shares that topic's words in its description and its colour in its picture, and every customer
prefers one or two topics (customers of the same region lean to the same topic). Within a topic,
some items are more popular than others, so popularity alone is a fair but beatable baseline.

    python examples/shop/make_example.py        # rewrites the files (the same ones: seeded)

The files are committed; this script is kept to show how they were made and to remake them.
"""

from __future__ import annotations

import csv
import datetime
import os
import random
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGE_SIZE = 24
NUM_USERS = 150
ITEMS_PER_TOPIC = 15

# topic: (colour of its pictures, category, words its descriptions draw from, title nouns)
TOPICS = {
    "coffee": ((120, 72, 36), "kitchen|coffee",
               "espresso roast bean aroma crema brew grinder arabica morning barista",
               ["grinder", "espresso cup", "moka pot", "pour-over kettle", "bean jar"]),
    "garden": ((46, 139, 60), "garden",
               "seed soil leaf bloom compost spring water prune grow herb",
               ["trowel", "seed tray", "watering can", "pruner", "herb planter"]),
    "swim": ((30, 110, 200), "sport|water",
             "pool wave swim goggle chlorine lap dive splash towel ocean",
             ["goggles", "swim cap", "beach towel", "kickboard", "fins"]),
    "grill": ((205, 45, 35), "outdoor|cooking",
              "charcoal flame smoke barbecue sear marinade skewer ember steak heat",
              ["grill tongs", "charcoal bag", "skewer set", "smoker box", "grill brush"]),
}
ADJECTIVES = ["classic", "compact", "deluxe", "travel", "steel", "bamboo", "pro", "mini", "family",
              "eco", "heavy", "light", "vintage", "smart", "daily"]
FILLER = "quality gift durable design easy clean value everyday".split()
REGIONS = {"north": "swim", "south": "grill", "east": "coffee", "west": "garden"}


def png(width: int, height: int, pixels: list) -> bytes:
    """An RGB PNG of rows of (r, g, b) pixels, with the standard library only."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(v for pixel in row for v in pixel) for row in pixels)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def picture(colour, rng: random.Random) -> bytes:
    """The topic's colour with a lighter band and some noise: alike within a topic, not identical."""
    band = rng.randrange(IMAGE_SIZE // 2)
    rows = []
    for y in range(IMAGE_SIZE):
        lift = 60 if band <= y < band + IMAGE_SIZE // 3 else 0
        rows.append([tuple(max(0, min(255, c + lift + rng.randint(-25, 25))) for c in colour)
                     for _ in range(IMAGE_SIZE)])
    return png(IMAGE_SIZE, IMAGE_SIZE, rows)


def make_items(rng: random.Random) -> list[dict]:
    os.makedirs(os.path.join(HERE, "images"), exist_ok=True)
    items = []
    for t, (topic, (colour, category, words, nouns)) in enumerate(TOPICS.items()):
        vocabulary = words.split()
        for i in range(ITEMS_PER_TOPIC):
            sku = f"SKU-{t + 1}{i + 1:02d}"
            title = f"{ADJECTIVES[i].capitalize()} {nouns[i % len(nouns)]}"
            description = " ".join(rng.sample(vocabulary, 5) + rng.sample(FILLER, 2))
            # every fifth item has no picture and one per topic no description: both are allowed
            image = f"images/{sku.lower()}.png" if i % 5 != 4 else ""
            if image:
                with open(os.path.join(HERE, image), "wb") as f:
                    f.write(picture(colour, rng))
            items.append({"sku": sku, "name": title, "description": description if i != 7 else "",
                          "picture": image, "category": category, "topic": topic})
    return items


def make_users(rng: random.Random) -> list[dict]:
    users = []
    for u in range(NUM_USERS):
        region = rng.choice(list(REGIONS))
        liked = [REGIONS[region]] if rng.random() < 0.7 else [rng.choice(list(TOPICS))]
        if rng.random() < 0.4:
            liked.append(rng.choice([t for t in TOPICS if t not in liked]))
        users.append({"customer_id": f"C{u + 1:04d}", "region": region, "age": rng.randint(18, 75),
                      "liked": liked})
    return users


def make_orders(users, items, rng: random.Random) -> list[dict]:
    by_topic = {topic: [item for item in items if item["topic"] == topic] for topic in TOPICS}
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    orders = []
    for user in users:
        seen = set()
        when = start + datetime.timedelta(hours=rng.randrange(24 * 60))
        for _ in range(rng.randint(8, 20)):
            topic = rng.choice(user["liked"]) if rng.random() < 0.85 else rng.choice(list(TOPICS))
            pool = [item for item in by_topic[topic] if item["sku"] not in seen] or by_topic[topic]
            # within a topic, item k is about 1/(k+1) as likely as the first: a popularity gradient
            item = rng.choices(pool, weights=[1 / (1 + items.index(p) % ITEMS_PER_TOPIC) for p in pool])[0]
            seen.add(item["sku"])
            when += datetime.timedelta(hours=rng.randrange(1, 24 * 10))
            orders.append({"customer_id": user["customer_id"], "sku": item["sku"],
                           "ordered_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "stars": rng.choice([3, 4, 4, 5, 5])})
    return orders


def write_csv(name: str, rows: list[dict], columns: list[str]) -> None:
    with open(os.path.join(HERE, name), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    rng = random.Random(2024)
    items = make_items(rng)
    users = make_users(rng)
    orders = make_orders(users, items, rng)
    write_csv("items.csv", items, ["sku", "name", "description", "picture", "category"])
    write_csv("users.csv", users, ["customer_id", "region", "age"])
    write_csv("orders.csv", orders, ["customer_id", "sku", "ordered_at", "stars"])
    print(f"{len(orders)} orders, {len(items)} items, {len(users)} customers written to {HERE}")


if __name__ == "__main__":
    main()
