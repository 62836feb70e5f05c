#!/usr/bin/env python3
"""Registry-style people data with ground truth, for bench/registry_bench.

    python3 bench/gen_registry.py --records N --seed S --out FILE.csv

What a public registry or a hand-keyed customer file holds: first name, last name, birth date,
street address, suburb, postcode and a hand-typed national id; no e-mail, no phone. Every person
has an original record and up to 9 corrupted copies (most people have none, a few have many).
A copy carries 1 to 3 corrupted fields, each one to two edits:
  - names: a typo (substitution of a neighbouring key, insertion, deletion, transposition), a
    phonetic spelling, a nickname, first and last name swapped, or missing;
  - birth date: a digit typo, day and month swapped, another year, or missing;
  - address: a typo, the street number changed, the street type abbreviated, the postcode
    mistyped, or missing;
  - national id, independently of the above: most copies carry a *different* id (a neighbour's,
    or a mistyped form typed again from scratch), some a one-character typo, some none; the
    original's id is right.
Columns: rec_id, given_name, surname, date_of_birth, street, suburb, postcode, national_id,
person_id. NULL is an empty field. Output depends only on the arguments.
"""

import argparse
import csv
import datetime
import random

GIVEN_M = """James John Robert Michael William David Richard Joseph Thomas Christopher Charles Daniel
Matthew Anthony Mark Donald Steven Paul Andrew Joshua Kenneth Kevin Brian George Timothy Ronald
Edward Jason Jeffrey Ryan Jacob Gary Nicholas Eric Jonathan Stephen Larry Justin Scott Brandon
Benjamin Samuel Gregory Alexander Frank Patrick Raymond Jack Dennis Jerry Tyler Aaron Jose Adam
Nathan Henry Douglas Zachary Peter Kyle Ethan Walter Noah Jeremy Christian Keith Roger Terry Gerald
Harold Sean Austin Carl Arthur Lawrence Dylan Jesse Jordan Bryan Billy Joe Bruce Gabriel Logan
Albert Willie Alan Juan Wayne Elijah Randy Roy Vincent Ralph Eugene Russell Bobby Mason Philip
Louis Liam Oliver Lachlan Cooper Riley Mitchell Hamish Angus Declan Callum Fergus Rhys""".split()
GIVEN_F = """Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Lisa Nancy
Betty Margaret Sandra Ashley Kimberly Emily Donna Michelle Carol Amanda Dorothy Melissa Deborah
Stephanie Rebecca Sharon Laura Cynthia Kathleen Amy Angela Shirley Anna Brenda Pamela Emma Nicole
Helen Samantha Katherine Christine Debra Rachel Carolyn Janet Catherine Maria Heather Diane Ruth
Julie Olivia Joyce Virginia Victoria Kelly Lauren Christina Joan Evelyn Judith Megan Andrea Cheryl
Hannah Jacqueline Martha Gloria Teresa Ann Sara Madison Frances Kathryn Janice Jean Abigail Alice
Judy Sophia Grace Denise Amber Doris Marilyn Danielle Beverly Isabella Theresa Diana Natalie
Brittany Charlotte Marie Kayla Alexis Lori Chloe Mia Ella Zoe Matilda Ruby Isla Sienna Tahlia""".split()
SURNAMES = """Smith Jones Williams Brown Wilson Taylor Johnson White Martin Anderson Thompson Nguyen
Thomas Walker Harris Lee Ryan Robinson Kelly King Davis Wright Evans Roberts Green Hall Wood Jackson
Clarke Patel Khan Lewis James Phillips Mason Mitchell Rose Davies Rodriguez Cox Alexander Morris
Moore Baker Allen Clark Young Scott Hill Adams Campbell Edwards Turner Parker Collins Stewart
Morgan Murphy Cook Rogers Bell Ward Bailey Cooper Richardson Howard Watson Brooks Sanders Price
Bennett Wood Barnes Ross Henderson Coleman Jenkins Perry Powell Long Patterson Hughes Flores
Washington Butler Simmons Foster Gonzales Bryant Russell Griffin Hayes Myers Ford Hamilton Graham
Sullivan Wallace Woods Cole West Jordan Owens Reynolds Fisher Ellis Harrison Gibson McDonald Cruz
Marshall Ortiz Gomez Murray Freeman Wells Webb Simpson Stevens Tucker Porter Hunter Hicks Crawford
Henry Boyd Mason Morales Kennedy Warren Dixon Ramos Reyes Burns Gordon Shaw Holmes Rice Robertson
Hunt Black Daniels Palmer Mills Nichols Grant Knight Ferguson Stone Hawkins Dunn Perkins Hudson
Spencer Gardner Stephens Payne Pierce Berry Matthews Arnold Wagner Willis Ray Watkins Olson
Carroll Duncan Snyder Hart Cunningham Bradley Lane Andrews Ruiz Harper Fox Riley Armstrong
Carpenter Weaver Greene Lawrence Elliott Chavez Sims Austin Peters Kelley Franklin Lawson Fields
Nowak Kowalski Papadopoulos Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco
Bruno Gallo Conti DeLuca Costa Giordano Mancini Rizzo Lombardi Moretti Tran Le Pham Huynh Hoang
Vo Dang Bui Do Ho Ngo Duong Ly Chen Wang Li Zhang Liu Yang Huang Zhao Wu Zhou Xu Sun Ma Zhu Hu""".split()
SUBURBS = """Richmond Carlton Fitzroy Brunswick Northcote Preston Coburg Footscray Yarraville
Williamstown Altona Sunshine Werribee Hoppers Crossing Frankston Mornington Dandenong Springvale
Clayton Oakleigh Glen Waverley Box Hill Doncaster Ringwood Croydon Lilydale Belgrave Ferntree
Gully Boronia Bayswater Wantirna Knoxfield Rowville Mulgrave Noble Park Keysborough Braeside
Mentone Cheltenham Sandringham Brighton Elsternwick Caulfield Malvern Toorak Prahran Windsor
Kew Hawthorn Camberwell Canterbury Balwyn Surrey Hills Mitcham Nunawading Vermont Heathmont
Parramatta Blacktown Penrith Liverpool Campbelltown Bankstown Hurstville Kogarah Rockdale
Randwick Bondi Manly Chatswood Hornsby Epping Ryde Strathfield Burwood Ashfield Marrickville
Newtown Glebe Balmain Leichhardt Petersham Redfern Waterloo Zetland Mascot Botany Maroubra
Coogee Kensington Kingsford Matraville Cronulla Sutherland Miranda Caringbah Engadine""".split()
STREETS = """Station High Main Church Park Victoria George King Queen Elizabeth William Albert
Charles Edward Market Bridge Mill School Railway River Hill North South East West Green Forest
Lake Ocean Beach Harbour Bay Cliff Ridge Valley Spring Garden Orchard Meadow Grove Cedar Oak Pine
Maple Elm Willow Wattle Banksia Acacia Eucalypt Jarrah Karri Waratah Boronia Grevillea Hakea
Melaleuca Callistemon Flinders Collins Bourke Swanston Elizabeth Russell Exhibition Spring
Lonsdale Latrobe Spencer Hoddle Punt Chapel Toorak Glenferrie Burke Warrigal Springvale Blackburn
Canterbury Whitehorse Maroondah Burwood Riversdale Barkers Cotham Doncaster Bulleen Heidelberg""".split()
KINDS = [("Street", "St"), ("Road", "Rd"), ("Avenue", "Ave"), ("Crescent", "Cres"), ("Place", "Pl"),
         ("Court", "Ct"), ("Drive", "Dr"), ("Parade", "Pde"), ("Lane", "Ln"), ("Terrace", "Tce")]
NICK = {"William": "Bill", "Robert": "Bob", "Richard": "Dick", "James": "Jim", "John": "Jack",
        "Michael": "Mike", "Thomas": "Tom", "Christopher": "Chris", "Joseph": "Joe", "Daniel": "Dan",
        "Matthew": "Matt", "Anthony": "Tony", "Steven": "Steve", "Andrew": "Andy", "Kenneth": "Ken",
        "Edward": "Ted", "Timothy": "Tim", "Jonathan": "Jon", "Nicholas": "Nick", "Benjamin": "Ben",
        "Samuel": "Sam", "Alexander": "Alex", "Patrick": "Pat", "Elizabeth": "Liz", "Margaret": "Peggy",
        "Katherine": "Kate", "Catherine": "Cathy", "Jennifer": "Jenny", "Patricia": "Pat",
        "Deborah": "Debbie", "Rebecca": "Becky", "Victoria": "Vicky", "Samantha": "Sam",
        "Christine": "Chris", "Susan": "Sue", "Abigail": "Abby", "Jacqueline": "Jackie"}
PHONETIC = [("ph", "f"), ("f", "ph"), ("c", "k"), ("k", "c"), ("ie", "y"), ("y", "ie"), ("ll", "l"),
            ("l", "ll"), ("tt", "t"), ("mm", "m"), ("ou", "o"), ("ae", "e"), ("z", "s"), ("s", "z"),
            ("th", "t"), ("ey", "ay"), ("son", "sen"), ("sen", "son"), ("er", "a")]
KEYS = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]
NEIGHBOURS = {}
for row_i, row in enumerate(KEYS):
    for i, ch in enumerate(row):
        near = set()
        for dr in (-1, 0, 1):
            r = row_i + dr
            if 0 <= r < len(KEYS):
                for dj in (-1, 0, 1):
                    j = i + dj
                    if 0 <= j < len(KEYS[r]) and KEYS[r][j] != ch:
                        near.add(KEYS[r][j])
        NEIGHBOURS[ch] = sorted(near)
DIGIT_NEAR = {"0": "98", "1": "27", "2": "13", "3": "248", "4": "35", "5": "46", "6": "57",
              "7": "168", "8": "79", "9": "80"}


def zipf_weights(n, a=1.0):
    return [1.0 / (i + 1) ** a for i in range(n)]


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.wm = zipf_weights(len(GIVEN_M), 0.8)
        self.wf = zipf_weights(len(GIVEN_F), 0.8)
        self.ws = zipf_weights(len(SURNAMES), 0.7)
        self.used_ids = set()

    def national_id(self):
        while True:
            v = "".join(self.r.choice("0123456789") for _ in range(7))
            if v[0] != "0" and v not in self.used_ids and len(set(v)) > 2:
                self.used_ids.add(v)
                return v

    def person(self):
        r = self.r
        female = r.random() < 0.5
        given = r.choices(GIVEN_F if female else GIVEN_M, self.wf if female else self.wm)[0]
        surname = r.choices(SURNAMES, self.ws)[0]
        born = datetime.date(1930, 1, 1) + datetime.timedelta(days=r.randrange(0, 365 * 75))
        street = f"{r.randint(1, 250)} {r.choice(STREETS)} {r.choice(KINDS)[0]}"
        return {"given_name": given, "surname": surname, "date_of_birth": born.strftime("%Y%m%d"),
                "street": street, "suburb": r.choice(SUBURBS), "postcode": str(r.randint(2000, 3999)),
                "national_id": self.national_id()}

    # ---- edits ----
    def typo(self, s):
        r = self.r
        if not s:
            return s
        i = r.randrange(len(s))
        kind = r.random()
        if kind < 0.35:                                  # neighbouring key / digit
            c = s[i]
            if c.isdigit():
                return s[:i] + r.choice(DIGIT_NEAR[c]) + s[i + 1:]
            near = NEIGHBOURS.get(c.lower())
            if not near:
                return s
            n = r.choice(near)
            return s[:i] + (n.upper() if c.isupper() else n) + s[i + 1:]
        if kind < 0.55 and len(s) > 3:                   # deletion
            return s[:i] + s[i + 1:]
        if kind < 0.75:                                  # insertion (a doubled letter)
            return s[:i] + s[i] + s[i:]
        if len(s) > 2:                                   # transposition
            i = min(i, len(s) - 2)
            return s[:i] + s[i + 1] + s[i] + s[i + 2:]
        return s

    def phonetic(self, s):
        options = [(a, b) for a, b in PHONETIC if a in s.lower()]
        if not options:
            return self.typo(s)
        a, b = self.r.choice(options)
        low = s.lower()
        i = low.index(a)
        out = s[:i] + b + s[i + len(a):]
        return out[:1].upper() + out[1:] if s[:1].isupper() else out

    def corrupt_name(self, rec, field):
        r = self.r
        x = r.random()
        v = rec[field]
        if v is None:
            return
        if x < 0.45:
            rec[field] = self.typo(v)
        elif x < 0.65:
            rec[field] = self.phonetic(v)
        elif x < 0.75 and field == "given_name" and v in NICK:
            rec[field] = NICK[v]
        elif x < 0.85:
            rec["given_name"], rec["surname"] = rec["surname"], rec["given_name"]
        else:
            rec[field] = None

    def corrupt_date(self, rec):
        r = self.r
        v = rec["date_of_birth"]
        if v is None:
            return
        y, m, d = v[:4], v[4:6], v[6:]
        x = r.random()
        if x < 0.4:
            i = r.randrange(8)
            v2 = v[:i] + r.choice(DIGIT_NEAR[v[i]]) + v[i + 1:]
            rec["date_of_birth"] = v2
        elif x < 0.6 and int(d) <= 12:
            rec["date_of_birth"] = y + d + m
        elif x < 0.8:
            rec["date_of_birth"] = str(int(y) + r.choice([-1, 1, -10, 10])) + m + d
        else:
            rec["date_of_birth"] = None

    def corrupt_address(self, rec):
        r = self.r
        x = r.random()
        if x < 0.3 and rec["street"]:
            rec["street"] = self.typo(rec["street"])
        elif x < 0.45 and rec["street"]:
            parts = rec["street"].split(" ", 1)
            rec["street"] = f"{r.randint(1, 250)} {parts[1]}"
        elif x < 0.6 and rec["street"]:
            for long, short in KINDS:
                if rec["street"].endswith(long):
                    rec["street"] = rec["street"][: -len(long)] + short
                    break
        elif x < 0.7 and rec["suburb"]:
            rec["suburb"] = self.typo(rec["suburb"])
        elif x < 0.85 and rec["postcode"]:
            rec["postcode"] = self.typo(rec["postcode"])
        else:
            rec[r.choice(["street", "suburb", "postcode"])] = None

    def copy(self, orig):
        r = self.r
        rec = dict(orig)
        fields = ["given_name", "surname", "date_of_birth", "address"]
        for f in r.sample(fields, r.choice([1, 1, 2, 2, 3])):
            for _ in range(r.choice([1, 1, 2])):
                if f in ("given_name", "surname"):
                    self.corrupt_name(rec, f)
                elif f == "date_of_birth":
                    self.corrupt_date(rec)
                else:
                    self.corrupt_address(rec)
        x = r.random()
        if x < 0.50:
            rec["national_id"] = self.national_id()          # a different id typed in
        elif x < 0.65:
            rec["national_id"] = self.typo(orig["national_id"])
        elif x < 0.75:
            rec["national_id"] = None
        return rec


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    g = Gen(a.seed)
    # copies per person: most none, a few up to 9 (mean ~0.8 copies)
    copies_w = [0.58, 0.14, 0.08, 0.055, 0.045, 0.035, 0.025, 0.02, 0.012, 0.008]
    rows = []
    person = 0
    while len(rows) < a.records:
        person += 1
        orig = g.person()
        if g.r.random() < 0.05:
            orig["national_id"] = None
        recs = [orig] + [g.copy(orig) for _ in range(g.r.choices(range(10), copies_w)[0])]
        for rec in recs:
            if len(rows) < a.records:
                rows.append((rec, person))
    g.r.shuffle(rows)
    with open(a.out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["rec_id", "given_name", "surname", "date_of_birth", "street", "suburb", "postcode",
                    "national_id", "person_id"])
        for i, (rec, p) in enumerate(rows, 1):
            w.writerow([i] + [rec[k] if rec[k] is not None else "" for k in
                              ("given_name", "surname", "date_of_birth", "street", "suburb", "postcode",
                               "national_id")] + [p])


if __name__ == "__main__":
    main()
