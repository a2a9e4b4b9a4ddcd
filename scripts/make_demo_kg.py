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
    "Q46383": ("sushi", "Japanese dish of vinegared rice", [], "Sushi", [("P31", "item", "Q746549")]),
    "Q746549": ("dish", "specific food preparation", [], None, []),
    "Q144": ("dog", "domestic animal", ["domestic dog", "dogs", "puppy"], "Dog", [("P279", "item", "Q729")]),
    "Q146": ("house cat", "domesticated feline", ["cat", "cats", "kitten"], "Cat", [("P279", "item", "Q729")]),
}

# The persona-relevant part: places, foods, drinks, animals, sports, teams,
# bands and musicians, occupations, companies, ... Compact rows:
# (qid, label, aliases, [(property, qid), ...]); classes by P31/P279.
PERSONA = [
    # classes
    ("Q729", "animal", ["animals"], []),
    ("Q2095", "food", [], []),
    ("Q40050", "drink", ["beverage"], []),
    ("Q349", "sport", [], []),
    ("Q43229", "organization", [], []),
    ("Q4830453", "business", [], [("P279", "Q43229")]),
    ("Q783794", "company", [], [("P279", "Q4830453")]),
    ("Q847017", "sports club", [], [("P279", "Q43229")]),
    ("Q476028", "association football club", [], [("P279", "Q847017")]),
    ("Q12973014", "sports team", [], [("P279", "Q43229")]),
    ("Q28640", "profession", [], [("P279", "Q12737077")]),
    ("Q12737077", "occupation", [], []),
    ("Q188451", "music genre", [], []),
    ("Q1075", "color", ["colour"], []),
    ("Q42889", "vehicle", [], []),
    ("Q9174", "religion", [], []),
    ("Q12136", "disease", [], []),
    ("Q11424", "film", ["movie"], []),
    ("Q5398426", "television series", ["tv show"], []),
    ("Q35657", "state of the United States", [], [("P279", "Q56061")]),
    ("Q56061", "administrative territorial entity", [], [("P279", "Q2221906")]),
    # countries
    ("Q38", "Italy", [], [("P31", "Q3624078")]), ("Q29", "Spain", [], [("P31", "Q3624078")]),
    ("Q17", "Japan", [], [("P31", "Q3624078")]), ("Q16", "Canada", [], [("P31", "Q3624078")]),
    ("Q408", "Australia", [], [("P31", "Q3624078")]), ("Q96", "Mexico", [], [("P31", "Q3624078")]),
    ("Q155", "Brazil", [], [("P31", "Q3624078")]), ("Q148", "China", ["People's Republic of China"], [("P31", "Q3624078")]),
    ("Q668", "India", [], [("P31", "Q3624078")]), ("Q159", "Russia", [], [("P31", "Q3624078")]),
    ("Q55", "Netherlands", ["Holland"], [("P31", "Q3624078")]), ("Q39", "Switzerland", [], [("P31", "Q3624078")]),
    ("Q34", "Sweden", [], [("P31", "Q3624078")]), ("Q20", "Norway", [], [("P31", "Q3624078")]),
    ("Q35", "Denmark", [], [("P31", "Q3624078")]), ("Q33", "Finland", [], [("P31", "Q3624078")]),
    ("Q45", "Portugal", [], [("P31", "Q3624078")]), ("Q27", "Ireland", [], [("P31", "Q3624078")]),
    ("Q40", "Austria", [], [("P31", "Q3624078")]), ("Q31", "Belgium", [], [("P31", "Q3624078")]),
    ("Q36", "Poland", [], [("P31", "Q3624078")]), ("Q41", "Greece", [], [("P31", "Q3624078")]),
    ("Q43", "Turkey", [], [("P31", "Q3624078")]), ("Q79", "Egypt", [], [("P31", "Q3624078")]),
    ("Q258", "South Africa", [], [("P31", "Q3624078")]), ("Q414", "Argentina", [], [("P31", "Q3624078")]),
    ("Q664", "New Zealand", [], [("P31", "Q3624078")]), ("Q884", "South Korea", ["Korea"], [("P31", "Q3624078")]),
    # US states
    ("Q99", "California", [], [("P31", "Q35657"), ("P17", "Q30")]),
    ("Q1439", "Texas", [], [("P31", "Q35657"), ("P17", "Q30")]),
    ("Q812", "Florida", [], [("P31", "Q35657"), ("P17", "Q30")]),
    ("Q1384", "New York", ["New York State"], [("P31", "Q35657"), ("P17", "Q30")]),
    # cities
    ("Q60", "New York City", ["NYC", "New York"], [("P31", "Q1549591"), ("P17", "Q30")]),
    ("Q65", "Los Angeles", ["LA"], [("P31", "Q1549591"), ("P17", "Q30")]),
    ("Q1297", "Chicago", [], [("P31", "Q1549591"), ("P17", "Q30")]),
    ("Q16555", "Houston", [], [("P31", "Q1549591"), ("P17", "Q30")]),
    ("Q62", "San Francisco", [], [("P31", "Q1549591"), ("P17", "Q30")]),
    ("Q100", "Boston", [], [("P31", "Q1549591"), ("P17", "Q30")]),
    ("Q5083", "Seattle", [], [("P31", "Q1549591"), ("P17", "Q30")]),
    ("Q16554", "Denver", [], [("P31", "Q1549591"), ("P17", "Q30")]),
    ("Q16556", "Phoenix", [], [("P31", "Q1549591"), ("P17", "Q30")]),
    ("Q16559", "Austin", [], [("P31", "Q1549591"), ("P17", "Q30")]),
    ("Q8652", "Miami", [], [("P31", "Q1549591"), ("P17", "Q30")]),
    ("Q61", "Washington, D.C.", ["Washington DC"], [("P31", "Q5119"), ("P17", "Q30")]),
    ("Q1490", "Tokyo", [], [("P31", "Q5119"), ("P17", "Q17")]),
    ("Q220", "Rome", [], [("P31", "Q5119"), ("P17", "Q38")]),
    ("Q490", "Milan", [], [("P31", "Q1549591"), ("P17", "Q38")]),
    ("Q1492", "Barcelona", [], [("P31", "Q1549591"), ("P17", "Q29")]),
    ("Q2807", "Madrid", [], [("P31", "Q5119"), ("P17", "Q29")]),
    ("Q727", "Amsterdam", [], [("P31", "Q5119"), ("P17", "Q55")]),
    ("Q1726", "Munich", [], [("P31", "Q1549591"), ("P17", "Q183")]),
    ("Q1055", "Hamburg", [], [("P31", "Q1549591"), ("P17", "Q183")]),
    ("Q172", "Toronto", [], [("P31", "Q1549591"), ("P17", "Q16")]),
    ("Q340", "Montreal", [], [("P31", "Q1549591"), ("P17", "Q16")]),
    ("Q24639", "Vancouver", [], [("P31", "Q1549591"), ("P17", "Q16")]),
    ("Q3130", "Sydney", [], [("P31", "Q1549591"), ("P17", "Q408")]),
    ("Q3141", "Melbourne", [], [("P31", "Q1549591"), ("P17", "Q408")]),
    ("Q1748", "Copenhagen", [], [("P31", "Q5119"), ("P17", "Q35")]),
    ("Q1754", "Stockholm", [], [("P31", "Q5119"), ("P17", "Q34")]),
    ("Q585", "Oslo", [], [("P31", "Q5119"), ("P17", "Q20")]),
    ("Q1757", "Helsinki", [], [("P31", "Q5119"), ("P17", "Q33")]),
    ("Q597", "Lisbon", [], [("P31", "Q5119"), ("P17", "Q45")]),
    ("Q1761", "Dublin", [], [("P31", "Q5119"), ("P17", "Q27")]),
    ("Q1741", "Vienna", [], [("P31", "Q5119"), ("P17", "Q40")]),
    ("Q239", "Brussels", [], [("P31", "Q5119"), ("P17", "Q31")]),
    ("Q270", "Warsaw", [], [("P31", "Q5119"), ("P17", "Q36")]),
    ("Q1524", "Athens", [], [("P31", "Q5119"), ("P17", "Q41")]),
    ("Q406", "Istanbul", [], [("P31", "Q1549591"), ("P17", "Q43")]),
    ("Q85", "Cairo", [], [("P31", "Q5119"), ("P17", "Q79")]),
    ("Q1489", "Mexico City", [], [("P31", "Q5119"), ("P17", "Q96")]),
    ("Q8678", "Rio de Janeiro", ["Rio"], [("P31", "Q1549591"), ("P17", "Q155")]),
    ("Q1486", "Buenos Aires", [], [("P31", "Q5119"), ("P17", "Q414")]),
    ("Q956", "Beijing", [], [("P31", "Q5119"), ("P17", "Q148")]),
    ("Q8686", "Shanghai", [], [("P31", "Q1549591"), ("P17", "Q148")]),
    ("Q1156", "Mumbai", ["Bombay"], [("P31", "Q1549591"), ("P17", "Q668")]),
    ("Q649", "Moscow", [], [("P31", "Q5119"), ("P17", "Q159")]),
    ("Q8684", "Seoul", [], [("P31", "Q5119"), ("P17", "Q884")]),
    ("Q23436", "Edinburgh", [], [("P31", "Q515"), ("P17", "Q145")]),
    ("Q18125", "Manchester", [], [("P31", "Q1549591"), ("P17", "Q145")]),
    ("Q72", "Zurich", ["Zürich"], [("P31", "Q1549591"), ("P17", "Q39")]),
    # foods and drinks
    ("Q177", "pizza", ["pizzas"], [("P31", "Q746549")]),
    ("Q6663", "hamburger", ["burger", "burgers", "hamburgers"], [("P31", "Q746549")]),
    ("Q178", "pasta", [], [("P279", "Q2095")]),
    ("Q28803", "sandwich", ["sandwiches"], [("P31", "Q746549")]),
    ("Q9266", "salad", ["salads"], [("P31", "Q746549")]),
    ("Q13276", "cake", ["cakes"], [("P279", "Q2095")]),
    ("Q13233", "ice cream", [], [("P279", "Q2095")]),
    ("Q195", "chocolate", [], [("P279", "Q2095")]),
    ("Q10943", "cheese", [], [("P279", "Q2095")]),
    ("Q7802", "bread", [], [("P279", "Q2095")]),
    ("Q5090", "rice", [], [("P279", "Q2095")]),
    ("Q89", "apple", ["apples"], [("P279", "Q2095")]),
    ("Q503", "banana", ["bananas"], [("P279", "Q2095")]),
    ("Q44541", "pancake", ["pancakes"], [("P31", "Q746549")]),
    ("Q8486", "coffee", [], [("P279", "Q40050")]),
    ("Q6097", "tea", [], [("P279", "Q40050")]),
    ("Q44", "beer", [], [("P279", "Q40050")]),
    ("Q282", "wine", [], [("P279", "Q40050")]),
    ("Q8495", "milk", [], [("P279", "Q40050")]),
    ("Q283", "water", [], [("P279", "Q40050")]),
    # animals
    ("Q726", "horse", ["horses"], [("P279", "Q729")]),
    ("Q780", "chicken", ["chickens"], [("P279", "Q729")]),
    ("Q787", "pig", ["pigs"], [("P279", "Q729")]),
    ("Q7368", "sheep", [], [("P279", "Q729")]),
    ("Q9394", "rabbit", ["rabbits", "bunny"], [("P279", "Q729")]),
    ("Q152", "fish", [], [("P279", "Q729")]),
    ("Q5113", "bird", ["birds"], [("P279", "Q729")]),
    ("Q2102", "snake", ["snakes"], [("P279", "Q729")]),
    ("Q140", "lion", ["lions"], [("P279", "Q729")]),
    ("Q19939", "tiger", ["tigers"], [("P279", "Q729")]),
    ("Q7378", "elephant", ["elephants"], [("P279", "Q729")]),
    ("Q18498", "wolf", ["wolves"], [("P279", "Q729")]),
    # sports
    ("Q2736", "association football", ["football", "soccer"], [("P31", "Q349")]),
    ("Q5372", "basketball", [], [("P31", "Q349")]),
    ("Q5369", "baseball", [], [("P31", "Q349")]),
    ("Q41323", "American football", [], [("P31", "Q349")]),
    ("Q847", "tennis", [], [("P31", "Q349")]),
    ("Q41466", "ice hockey", ["hockey"], [("P31", "Q349")]),
    ("Q5375", "cricket", [], [("P31", "Q349")]),
    ("Q31920", "swimming", [], [("P31", "Q349")]),
    ("Q542", "athletics", ["track and field"], [("P31", "Q349")]),
    ("Q1734", "volleyball", [], [("P31", "Q349")]),
    ("Q32112", "boxing", [], [("P31", "Q349")]),
    # teams
    ("Q9616", "Chelsea F.C.", ["Chelsea"], [("P31", "Q476028"), ("P641", "Q2736"), ("P17", "Q145")]),
    ("Q18656", "Manchester United F.C.", ["Manchester United", "Man United"], [("P31", "Q476028"), ("P641", "Q2736"), ("P17", "Q145")]),
    ("Q1130849", "Liverpool F.C.", ["Liverpool FC"], [("P31", "Q476028"), ("P641", "Q2736"), ("P17", "Q145")]),
    ("Q9617", "Arsenal F.C.", ["Arsenal"], [("P31", "Q476028"), ("P641", "Q2736"), ("P17", "Q145")]),
    ("Q7156", "FC Barcelona", ["Barca"], [("P31", "Q476028"), ("P641", "Q2736"), ("P17", "Q29")]),
    ("Q8682", "Real Madrid CF", ["Real Madrid"], [("P31", "Q476028"), ("P641", "Q2736"), ("P17", "Q29")]),
    ("Q15789", "FC Bayern Munich", ["Bayern Munich", "Bayern"], [("P31", "Q476028"), ("P641", "Q2736"), ("P17", "Q183")]),
    ("Q483020", "Paris Saint-Germain F.C.", ["PSG"], [("P31", "Q476028"), ("P641", "Q2736"), ("P17", "Q142")]),
    ("Q121783", "Los Angeles Lakers", ["Lakers"], [("P31", "Q12973014"), ("P641", "Q5372"), ("P17", "Q30")]),
    ("Q131371", "Chicago Bulls", ["Bulls"], [("P31", "Q12973014"), ("P641", "Q5372"), ("P17", "Q30")]),
    ("Q213959", "New York Yankees", ["Yankees"], [("P31", "Q12973014"), ("P641", "Q5369"), ("P17", "Q30")]),
    # music genres
    ("Q37073", "pop music", ["pop"], [("P31", "Q188451")]),
    ("Q83440", "country music", ["country"], [("P31", "Q188451")]),
    ("Q9730", "classical music", [], [("P31", "Q188451")]),
    ("Q11401", "hip hop music", ["hip hop", "rap"], [("P31", "Q188451")]),
    ("Q8341", "jazz", [], [("P31", "Q188451")]),
    ("Q38848", "heavy metal", ["metal"], [("P31", "Q188451")]),
    ("Q7749", "rock and roll", [], [("P31", "Q188451")]),
    ("Q45981", "rhythm and blues", ["r&b"], [("P31", "Q188451")]),
    ("Q43343", "folk music", ["folk"], [("P31", "Q188451")]),
    # bands and musicians
    ("Q15862", "Queen", [], [("P31", "Q215380"), ("P136", "Q11399")]),
    ("Q11036", "The Rolling Stones", ["Rolling Stones"], [("P31", "Q215380"), ("P136", "Q11399")]),
    ("Q11649", "Nirvana", [], [("P31", "Q215380"), ("P136", "Q11399")]),
    ("Q15920", "Metallica", [], [("P31", "Q215380"), ("P136", "Q38848")]),
    ("Q2331", "Led Zeppelin", [], [("P31", "Q215380"), ("P136", "Q11399")]),
    ("Q2306", "Pink Floyd", [], [("P31", "Q215380"), ("P136", "Q11399")]),
    ("Q396", "U2", [], [("P31", "Q215380"), ("P136", "Q11399")]),
    ("Q45188", "Coldplay", [], [("P31", "Q215380"), ("P136", "Q11399")]),
    ("Q44190", "Radiohead", [], [("P31", "Q215380"), ("P136", "Q11399")]),
    ("Q1744", "Madonna", [], [("P31", "Q5"), ("P106", "Q639669"), ("P136", "Q37073")]),
    ("Q26876", "Taylor Swift", [], [("P31", "Q5"), ("P106", "Q639669"), ("P136", "Q83440"), ("P136", "Q37073")]),
    ("Q2831", "Michael Jackson", [], [("P31", "Q5"), ("P106", "Q639669"), ("P136", "Q37073")]),
    ("Q303", "Elvis Presley", ["Elvis"], [("P31", "Q5"), ("P106", "Q639669"), ("P136", "Q7749")]),
    ("Q392", "Bob Dylan", [], [("P31", "Q5"), ("P106", "Q639669"), ("P136", "Q43343")]),
    ("Q254", "Wolfgang Amadeus Mozart", ["Mozart"], [("P31", "Q5"), ("P106", "Q639669"), ("P136", "Q9730")]),
    ("Q255", "Ludwig van Beethoven", ["Beethoven"], [("P31", "Q5"), ("P106", "Q639669"), ("P136", "Q9730")]),
    ("Q1339", "Johann Sebastian Bach", ["Bach"], [("P31", "Q5"), ("P106", "Q639669"), ("P136", "Q9730")]),
    ("Q23215", "Adele", [], [("P31", "Q5"), ("P106", "Q639669"), ("P136", "Q37073")]),
    ("Q5608", "Eminem", [], [("P31", "Q5"), ("P106", "Q639669"), ("P136", "Q11401")]),
    ("Q36153", "Beyoncé", ["Beyonce"], [("P31", "Q5"), ("P106", "Q639669"), ("P136", "Q45981")]),
    ("Q34086", "Justin Bieber", [], [("P31", "Q5"), ("P106", "Q639669"), ("P136", "Q37073")]),
    ("Q19848", "Lady Gaga", [], [("P31", "Q5"), ("P106", "Q639669"), ("P136", "Q37073")]),
    ("Q47447", "Ed Sheeran", [], [("P31", "Q5"), ("P106", "Q639669"), ("P136", "Q37073")]),
    ("Q42775", "Johnny Cash", [], [("P31", "Q5"), ("P106", "Q639669"), ("P136", "Q83440")]),
    ("Q15935", "Kanye West", [], [("P31", "Q5"), ("P106", "Q639669"), ("P136", "Q11401")]),
    ("Q42493", "Katy Perry", [], [("P31", "Q5"), ("P106", "Q639669"), ("P136", "Q37073")]),
    ("Q1450", "Bruno Mars", [], [("P31", "Q5"), ("P106", "Q639669"), ("P136", "Q37073")]),
    # occupations
    ("Q186360", "nurse", ["nurses"], [("P31", "Q28640")]),
    ("Q39631", "physician", ["doctor"], [("P31", "Q28640")]),
    ("Q37226", "teacher", [], [("P31", "Q28640")]),
    ("Q5482740", "programmer", ["software developer", "software engineer"], [("P31", "Q28640")]),
    ("Q42973", "architect", [], [("P31", "Q28640")]),
    ("Q81096", "engineer", [], [("P31", "Q28640")]),
    ("Q40348", "lawyer", ["attorney"], [("P31", "Q28640")]),
    ("Q33999", "actor", ["actress"], [("P31", "Q28640")]),
    ("Q36180", "writer", ["author"], [("P31", "Q28640")]),
    ("Q1028181", "painter", [], [("P31", "Q28640")]),
    ("Q3499072", "chef", ["cook"], [("P31", "Q28640")]),
    ("Q131512", "farmer", [], [("P31", "Q28640")]),
    ("Q82955", "politician", [], [("P31", "Q28640")]),
    ("Q33231", "photographer", [], [("P31", "Q28640")]),
    ("Q1930187", "journalist", [], [("P31", "Q28640")]),
    ("Q384593", "police officer", ["cop"], [("P31", "Q28640")]),
    ("Q107711", "firefighter", [], [("P31", "Q28640")]),
    ("Q901", "scientist", [], [("P31", "Q28640")]),
    ("Q774306", "surgeon", [], [("P31", "Q28640")]),
    ("Q27349", "dentist", [], [("P31", "Q28640")]),
    ("Q326653", "accountant", [], [("P31", "Q28640")]),
    ("Q327029", "mechanic", [], [("P31", "Q28640")]),
    ("Q182436", "librarian", [], [("P31", "Q28640")]),
    ("Q202883", "veterinarian", ["vet"], [("P31", "Q28640")]),
    ("Q177220", "singer", [], [("P31", "Q28640")]),
    # companies
    ("Q95", "Google", [], [("P31", "Q783794"), ("P17", "Q30")]),
    ("Q312", "Apple Inc.", ["Apple"], [("P31", "Q783794"), ("P17", "Q30")]),
    ("Q2283", "Microsoft", [], [("P31", "Q783794"), ("P17", "Q30")]),
    ("Q3884", "Amazon", [], [("P31", "Q783794"), ("P17", "Q30")]),
    ("Q37156", "IBM", [], [("P31", "Q783794"), ("P17", "Q30")]),
    ("Q907311", "Netflix", [], [("P31", "Q783794"), ("P17", "Q30")]),
    ("Q483551", "Walmart", [], [("P31", "Q783794"), ("P17", "Q30")]),
    ("Q37158", "Starbucks", [], [("P31", "Q783794"), ("P17", "Q30")]),
    ("Q38076", "McDonald's", ["mcdonalds"], [("P31", "Q783794"), ("P17", "Q30")]),
    ("Q483915", "Nike", [], [("P31", "Q783794"), ("P17", "Q30")]),
    ("Q7414", "The Walt Disney Company", ["Disney"], [("P31", "Q783794"), ("P17", "Q30")]),
    ("Q53268", "Toyota", [], [("P31", "Q783794"), ("P17", "Q17")]),
    ("Q246", "Volkswagen", [], [("P31", "Q783794"), ("P17", "Q183")]),
    ("Q248", "Intel", [], [("P31", "Q783794"), ("P17", "Q30")]),
    ("Q864407", "The Home Depot", ["Home Depot"], [("P31", "Q783794"), ("P17", "Q30")]),
    ("Q44294", "Ford Motor Company", ["Ford"], [("P31", "Q783794"), ("P17", "Q30")]),
    ("Q81230", "Siemens", [], [("P31", "Q783794"), ("P17", "Q183")]),
    ("Q26678", "BMW", [], [("P31", "Q783794"), ("P17", "Q183")]),
    ("Q689141", "Spotify", [], [("P31", "Q783794")]),
    # colours
    ("Q3142", "red", [], [("P31", "Q1075")]), ("Q3133", "green", [], [("P31", "Q1075")]),
    ("Q1088", "blue", [], [("P31", "Q1075")]), ("Q943", "yellow", [], [("P31", "Q1075")]),
    ("Q23445", "black", [], [("P31", "Q1075")]), ("Q23444", "white", [], [("P31", "Q1075")]),
    ("Q51401", "pink", [], [("P31", "Q1075")]), ("Q3257809", "purple", [], [("P31", "Q1075")]),
    # vehicles
    ("Q1420", "car", ["cars", "automobile"], [("P279", "Q42889")]),
    ("Q11442", "bicycle", ["bike"], [("P279", "Q42889")]),
    ("Q34493", "motorcycle", ["motorbike"], [("P279", "Q42889")]),
    ("Q43193", "truck", [], [("P279", "Q42889")]),
    # religions and diseases (special categories)
    ("Q5043", "Christianity", [], [("P31", "Q9174")]),
    ("Q432", "Islam", [], [("P31", "Q9174")]),
    ("Q9268", "Judaism", [], [("P31", "Q9174")]),
    ("Q748", "Buddhism", [], [("P31", "Q9174")]),
    ("Q9089", "Hinduism", [], [("P31", "Q9174")]),
    ("Q12206", "diabetes", [], [("P31", "Q12136")]),
    ("Q35869", "asthma", [], [("P31", "Q12136")]),
    # films and series
    ("Q44578", "Titanic", [], [("P31", "Q11424")]),
    ("Q47703", "The Godfather", [], [("P31", "Q11424")]),
    ("Q24871", "Avatar", [], [("P31", "Q11424")]),
    ("Q171048", "Toy Story", [], [("P31", "Q11424")]),
    ("Q79784", "Friends", [], [("P31", "Q5398426")]),
    ("Q23572", "Game of Thrones", [], [("P31", "Q5398426")]),
    ("Q1079", "Breaking Bad", [], [("P31", "Q5398426")]),
    ("Q886", "The Simpsons", [], [("P31", "Q5398426")]),
]
PERSONA_PROPS = {"P641": ("sport", "wikibase-item")}

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
    for pid, (label, dt) in PERSONA_PROPS.items():
        lines.append({"type": "property", "datatype": dt, "id": pid, "labels": text(label),
                      "descriptions": {}, "aliases": {}, "claims": {}})
    items = dict(ITEMS)
    for qid, label, aliases, claims in PERSONA:
        assert qid not in items, qid
        items[qid] = (label, "", aliases, None, [(p, "item", o) for p, o in claims])
    for qid, (label, desc, aliases, site, claims) in items.items():
        c = {}
        for n, (prop, kind, value) in enumerate(claims):
            c.setdefault(prop, []).append(snak(qid, n, prop, kind, value))
        ent = {"type": "item", "id": qid, "labels": text(label), "descriptions": text(desc) if desc else {},
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
