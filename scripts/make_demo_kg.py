#!/usr/bin/env python3
"""Writes the demo knowledge graph shipped with persona (data/demo/).

A small, hand-written slice of Wikidata-style facts about places, people and
music, in the real Wikidata JSON dump format (array framing, one entity a
line), plus a DBpedia-style N-Triples file whose owl:sameAs links merge
DBpedia resources into the Wikidata entities. Regenerate with:
    python3 scripts/make_demo_kg.py
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "demo")
CAL = "http://www.wikidata.org/entity/Q1985727"
EARTH = "http://www.wikidata.org/entity/Q2"

# id: (label, description, aliases, sitelink title or None, claims)
# claims: list of (property, kind, value)
ITEMS = {
    "Q90": ("Paris", "capital and largest city of France", ["City of Light", "Paris, France"], "Paris",
            [("P31", "item", "Q1549591"), ("P31", "item", "Q5119"), ("P31", "item", "Q484170"),
             ("P17", "item", "Q142"), ("P1082", "quantity", "+2145906"),
             ("P625", "coord", (48.856667, 2.352222))]),
    "Q830149": ("Paris", "city in Lamar County, Texas, United States", ["Paris, Texas"], "Paris, Texas",
                [("P31", "item", "Q515"), ("P17", "item", "Q30"), ("P1082", "quantity", "+24171")]),
    "Q47899": ("Paris Hilton", "American media personality and businesswoman", ["Paris Whitney Hilton"],
               "Paris Hilton", [("P31", "item", "Q5"), ("P27", "item", "Q30"),
                                ("P569", "time", "+1981-02-17T00:00:00Z")]),
    "Q456": ("Lyon", "city in France", ["Lyons"], "Lyon",
             [("P31", "item", "Q1549591"), ("P31", "item", "Q484170"), ("P17", "item", "Q142"),
              ("P1082", "quantity", "+522250")]),
    "Q64": ("Berlin", "capital and largest city of Germany", [], "Berlin",
            [("P31", "item", "Q1549591"), ("P31", "item", "Q5119"), ("P17", "item", "Q183")]),
    "Q84": ("London", "capital and largest city of the United Kingdom", ["London, UK"], "London",
            [("P31", "item", "Q1549591"), ("P31", "item", "Q5119"), ("P17", "item", "Q145")]),
    "Q142": ("France", "country in Western Europe", ["French Republic"], "France",
             [("P31", "item", "Q3624078"), ("P36", "item", "Q90")]),
    "Q183": ("Germany", "country in Central Europe", ["Federal Republic of Germany"], "Germany",
             [("P31", "item", "Q3624078"), ("P36", "item", "Q64")]),
    "Q145": ("United Kingdom", "country in north-west Europe", ["UK", "Britain"], "United Kingdom",
             [("P31", "item", "Q3624078"), ("P36", "item", "Q84")]),
    "Q30": ("United States of America", "country in North America", ["USA", "United States", "US"],
            "United States", [("P31", "item", "Q3624078")]),
    "Q515": ("city", "large and permanent human settlement", ["town"], "City",
             [("P279", "item", "Q486972")]),
    "Q1549591": ("big city", "city with a population of more than 100,000 inhabitants", [], None,
                 [("P279", "item", "Q515")]),
    "Q5119": ("capital city", "primary city of a country, state or province", ["capital"], "Capital city",
              [("P279", "item", "Q515")]),
    "Q484170": ("commune of France", "level-4 administrative division in France", [], None,
                [("P279", "item", "Q486972")]),
    "Q486972": ("human settlement", "community of people living in a particular location", ["settlement"],
                "Human settlement", [("P279", "item", "Q2221906")]),
    "Q2221906": ("geographic location", "point or an area on something's surface or elsewhere", [], None, []),
    "Q6256": ("country", "distinct territorial body or political entity", [], "Country",
              [("P279", "item", "Q2221906")]),
    "Q3624078": ("sovereign state", "state that has the highest authority over a territory", [], None,
                 [("P279", "item", "Q6256")]),
    "Q5": ("human", "any member of Homo sapiens", ["person"], "Human", []),
    "Q1299": ("The Beatles", "English rock band", ["Beatles", "the Fab Four"], "The Beatles",
              [("P31", "item", "Q215380"), ("P136", "item", "Q11399"), ("P495", "item", "Q145")]),
    "Q1203": ("John Lennon", "English musician (1940-1980)", ["John Winston Lennon"], "John Lennon",
              [("P31", "item", "Q5"), ("P106", "item", "Q639669"), ("P19", "item", "Q1020"),
               ("P569", "time", "+1940-10-09T00:00:00Z"), ("P463", "item", "Q1299")]),
    "Q1020": ("Liverpool", "city in Merseyside, England", [], "Liverpool",
              [("P31", "item", "Q1549591"), ("P17", "item", "Q145")]),
    "Q185828": ("Daft Punk", "French electronic music duo", [], "Daft Punk",
                [("P31", "item", "Q215380"), ("P136", "item", "Q9778"), ("P495", "item", "Q142")]),
    "Q215380": ("musical group", "musical ensemble which performs music", ["band"], "Musical ensemble",
                [("P279", "item", "Q2088357")]),
    "Q2088357": ("musical ensemble", "group of people who perform music together", [], None, []),
    "Q639669": ("musician", "person who composes, conducts or performs music", [], "Musician", []),
    "Q11399": ("rock music", "genre of popular music", ["rock", "rock and roll"], "Rock music", []),
    "Q9778": ("electronic music", "music that employs electronic musical instruments", ["electronica"],
              "Electronic music", []),
    "Q7368": ("sushi", "Japanese dish of vinegared rice", [], "Sushi", [("P31", "item", "Q746549")]),
    "Q746549": ("dish", "specific food preparation", [], None, []),
    "Q144": ("dog", "domestic animal", ["domestic dog"], "Dog", []),
    "Q146": ("house cat", "domesticated feline", ["cat"], "Cat", []),
}

PROPS = {
    "P31": ("instance of", "wikibase-item"), "P279": ("subclass of", "wikibase-item"),
    "P17": ("country", "wikibase-item"), "P36": ("capital", "wikibase-item"),
    "P1082": ("population", "quantity"), "P625": ("coordinate location", "globe-coordinate"),
    "P569": ("date of birth", "time"), "P27": ("country of citizenship", "wikibase-item"),
    "P106": ("occupation", "wikibase-item"), "P19": ("place of birth", "wikibase-item"),
    "P136": ("genre", "wikibase-item"), "P495": ("country of origin", "wikibase-item"),
    "P463": ("member of", "wikibase-item"),
}


def text(v):
    return {"en": {"language": "en", "value": v}}


def snak(eid, n, prop, kind, value):
    if kind == "item":
        dv = {"value": {"entity-type": "item", "numeric-id": int(value[1:]), "id": value},
              "type": "wikibase-entityid"}
        dt = "wikibase-item"
    elif kind == "quantity":
        dv = {"value": {"amount": value, "unit": "1"}, "type": "quantity"}
        dt = "quantity"
    elif kind == "time":
        dv = {"value": {"time": value, "timezone": 0, "before": 0, "after": 0, "precision": 11,
                        "calendarmodel": CAL}, "type": "time"}
        dt = "time"
    else:
        lat, lon = value
        dv = {"value": {"latitude": lat, "longitude": lon, "altitude": None, "precision": 1e-06,
                        "globe": EARTH}, "type": "globecoordinate"}
        dt = "globe-coordinate"
    return {"mainsnak": {"snaktype": "value", "property": prop, "datavalue": dv, "datatype": dt},
            "type": "statement", "id": "%s$demo-%d" % (eid, n), "rank": "normal"}


def main():
    os.makedirs(OUT, exist_ok=True)
    lines = []
    for pid, (label, dt) in PROPS.items():
        lines.append({"type": "property", "datatype": dt, "id": pid, "labels": text(label),
                      "descriptions": {}, "aliases": {}, "claims": {}})
    for qid, (label, desc, aliases, site, claims) in ITEMS.items():
        c = {}
        for n, (prop, kind, value) in enumerate(claims):
            c.setdefault(prop, []).append(snak(qid, n, prop, kind, value))
        ent = {"type": "item", "id": qid, "labels": text(label), "descriptions": text(desc),
               "aliases": {"en": [{"language": "en", "value": a} for a in aliases]} if aliases else {},
               "claims": c,
               "sitelinks": {"enwiki": {"site": "enwiki", "title": site, "badges": []}} if site else {}}
        lines.append(ent)
    with open(os.path.join(OUT, "demo-wikidata.json"), "w", encoding="utf-8") as f:
        f.write("[\n")
        f.write(",\n".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in lines))
        f.write("\n]\n")

    dbr = "http://dbpedia.org/resource/"
    dbo = "http://dbpedia.org/ontology/"
    rdf_type = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
    label = "http://www.w3.org/2000/01/rdf-schema#label"
    same = "http://www.w3.org/2002/07/owl#sameAs"
    wd = "http://www.wikidata.org/entity/"
    res = [  # DBpedia resource, English and French labels, dbo classes, Wikidata id
        ("Paris", "Paris", "Paris", ["City", "Settlement", "PopulatedPlace", "Place"], "Q90"),
        ("Lyon", "Lyon", "Lyon", ["City", "Settlement", "PopulatedPlace", "Place"], "Q456"),
        ("Berlin", "Berlin", "Berlin", ["City", "Settlement", "PopulatedPlace", "Place"], "Q64"),
        ("France", "France", "France", ["Country", "PopulatedPlace", "Place"], "Q142"),
        ("Germany", "Germany", "Allemagne", ["Country", "PopulatedPlace", "Place"], "Q183"),
        ("The_Beatles", "The Beatles", "The Beatles", ["Band", "Group", "Organisation"], "Q1299"),
        ("Daft_Punk", "Daft Punk", "Daft Punk", ["Band", "Group", "Organisation"], "Q185828"),
        ("John_Lennon", "John Lennon", "John Lennon", ["MusicalArtist", "Artist", "Person"], "Q1203"),
    ]
    nt = []
    for name, en, fr, classes, qid in res:
        s = "<%s%s>" % (dbr, name)
        nt.append('%s <%s> "%s"@en .' % (s, label, en))
        nt.append('%s <%s> "%s"@fr .' % (s, label, fr))
        for c in classes:
            nt.append("%s <%s> <%s%s> ." % (s, rdf_type, dbo, c))
        nt.append("%s <%s> <%s%s> ." % (s, same, wd, qid))
    nt.append("<%sParis> <%scountry> <%sFrance> ." % (dbr, dbo, dbr))
    nt.append("<%sLyon> <%scountry> <%sFrance> ." % (dbr, dbo, dbr))
    nt.append("<%sBerlin> <%scountry> <%sGermany> ." % (dbr, dbo, dbr))
    nt.append("<%sJohn_Lennon> <%sbandMember> <%sThe_Beatles> ." % (dbr, dbo, dbr))
    nt.append('<%sParis> <%spopulationTotal> "2145906"^^<http://www.w3.org/2001/XMLSchema#nonNegativeInteger> .'
              % (dbr, dbo))
    with open(os.path.join(OUT, "demo-dbpedia.nt"), "w", encoding="utf-8") as f:
        f.write("\n".join(nt) + "\n")


if __name__ == "__main__":
    main()
