#!/usr/bin/env python3
"""Deterministic demo / benchmark data generator for pg_cdp.

    python3 bench/gen_data.py --people N --seed 42 --out DIR \
        [--orders-per-person 3.0] [--events-per-person 2.0]

Writes one CSV per table of bench/schema.sql into DIR (web_signups.csv,
store_customers.csv, call_center_contacts.csv, app_users.csv, web_events.csv,
orders.csv, web_orders.csv, truth.csv): header row, csv-module quoting, UTF-8,
'\\n' line ends, NULL = unquoted empty field (never an empty string), columns in
table order.  Load with
    \\copy demo.<table> FROM 'DIR/<table>.csv' WITH (FORMAT csv, HEADER true)
Timestamps are written as 'YYYY-MM-DD HH:MM:SS+00'.

People 1..N each have true attributes; every person appears in 1-4 channel
tables with channel-specific formatting and independent noise.  demo.truth maps
every channel row (and every web cookie) to its person_id.

Standard library only; output depends only on the arguments (one
random.Random(seed), fixed reference date 2026-11-01, fixed chunk size).
"""

import argparse
import csv
import datetime
import math
import os
import sys
import time
import unicodedata

import random as _random_module

# --------------------------------------------------------------------------
# constants
# --------------------------------------------------------------------------

CHUNK = 10000                      # people per chunk (part of the output contract)
DAY0 = datetime.date(2010, 1, 1)   # day index 0
REF = datetime.date(2026, 11, 1)   # fixed "today"
REF_DAY = (REF - DAY0).days
SIGNUP_FIRST_DAY = (datetime.date(2015, 1, 1) - DAY0).days
FUTURE_FIRST_DAY = (datetime.date(2027, 1, 1) - DAY0).days
LAST_DAY = (datetime.date(2028, 12, 31) - DAY0).days
ORDER_WINDOW = 3 * 365 + 1         # orders: last 3 years before REF
EVENT_WINDOW = 365                 # web events: last year before REF

P_CHANNEL = (0.63, 0.53, 0.32, 0.43)   # web, store, call centre, app (before the "at least one" fix-up)
WEB, STORE, CC, APP = 0, 1, 2, 3
P_DUP = 0.085                      # 2 rows in one channel (re-registration)
DUP_EMAIL, DUP_PHONE, DUP_MOVED, DUP_BOTH = 1, 2, 3, 4   # kind of re-registration
P_HOUSEHOLD_START = 0.0215         # -> ~5% of people live in multi-person households

# ---------------------------------------------------------------------------
# name pools.  Order matters (earlier = more frequent, Zipf-like weights).
# ---------------------------------------------------------------------------

TR_MALE = """Mehmet Mustafa Ahmet Ali Hüseyin Hasan İbrahim İsmail Osman Yusuf Murat
Ömer Ramazan Halil Süleyman Abdullah Mahmut Recep Salih Fatih Kemal Hakan Emre Burak
Serkan Gökhan Volkan Onur Uğur Tolga Cem Can Barış Oğuz Erkan Erdem Kaan Emir Efe
Arda Berk Yiğit Şükrü İlker Tuncay Sinan Levent Kadir Orhan Selim Tarık Cengiz Doğan
Ertuğrul Necati Yavuz İlhan Bülent Erol Alper Batuhan Furkan Enes Eren Görkem Çetin
Ümit Özgür Çağrı Deniz""".split()
TR_FEMALE = """Ayşe Fatma Emine Hatice Zeynep Elif Meryem Şerife Zehra Sultan Hanife Merve
Özlem Esra Büşra Gül Yasemin Derya Sevgi Hülya Songül Gülsen Ebru Aslı Pınar Seda Burcu
Tuğba Duygu Gamze Işıl Ilgın İrem Dilek Şule Nur Nazlı Gizem Ceren Melek Selin Buse
Ecrin Defne Azra Nilüfer Şeyma Kübra Canan Çiğdem Gökçe Öykü Sıla Ülkü Müge Tülay Filiz
Nermin Hacer Leyla Özgür Çağrı Deniz Ümit""".split()
TR_LAST = """Yılmaz Kaya Demir Çelik Şahin Yıldız Yıldırım Öztürk Aydın Özdemir Arslan Doğan
Kılıç Aslan Çetin Kara Koç Kurt Özkan Şimşek Polat Özcan Korkmaz Çakır Erdoğan Yavuz Can
Acar Şen Aktaş Güler Yalçın Güneş Bozkurt Bulut Keskin Ünal Turan Gül Özer Işık Kaplan
Avcı Sarı Tekin Taş Köse Yüksel Ateş Aksoy Ekinci Çiftçi Uçar Altun Başaran Karakaya Tunç
Erdem Sönmez Akın Uysal Karaca Durmaz Coşkun Türk Bayram Kocabaş Gündoğdu Akbulut Ertürk
Cömert Çınar Kahraman Baysal Toprak Ağaoğlu Eroğlu Karadağ Süzer Ilıcak Ölmez Gökçe Öz
Şener Duman Tuna Günay Yücel Kılınç Dağ İnce Üstün""".split()

EN_MALE = """James John Robert Michael William David Richard Joseph Thomas Christopher
Daniel Matthew Anthony Mark Paul Steven Andrew Joshua Benjamin Samuel Nicholas Alexander
Oliver Harry Jack George Liam Noah""".split()
EN_FEMALE = """Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Emily
Emma Olivia Sophie Charlotte Katherine Margaret Rebecca Hannah Lucy Chloe Amelia""".split()
EN_LAST = """Smith Johnson Williams Brown Jones Taylor Davies Wilson Evans Thomas Roberts
Walker Wright Robinson Thompson White Hughes Edwards Green Hall Wood Harris Clarke Jackson
O'Brien O'Connor MacDonald Miller Davis Anderson""".split()

DE_MALE = """Thomas Michael Andreas Stefan Wolfgang Jürgen Klaus Uwe Matthias Lukas Jonas
Felix Maximilian Sebastian Tobias Johannes Friedrich Jörg""".split()
DE_FEMALE = """Sabine Petra Andrea Claudia Ursula Monika Anna Lena Lea Julia Katharina Sophie
Gisela Brigitte Hannelore Jürgen""".split()[:-1]
DE_LAST = """Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann
Schäfer Koch Bauer Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger
Hofmann Hartmann Lange Weiß Köhler Jäger Groß Vogel""".split()

FR_MALE = """Jean Pierre Michel Philippe Nicolas François Frédéric Jérôme Stéphane Julien
Théo Hugo Louis Gabriel Raphaël Benoît José""".split()
FR_FEMALE = """Marie Nathalie Isabelle Sylvie Catherine Hélène Céline Émilie Chloé Léa Manon
Camille Amélie Zoé Anaïs Françoise""".split()
FR_LAST = """Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon
Laurent Lefèvre Michel Garnier Faure Rousseau Blanc Guérin Chevalier Girard Bonnet Dupont
Lambert Fontaine""".split()

ES_MALE = """José Antonio Manuel Francisco Juan David Javier Jesús Carlos Miguel Alejandro
Rafael Pablo Sergio Álvaro Diego""".split()
ES_FEMALE = """María Carmen Ana Isabel Laura Lucía Cristina Marta Pilar Sofía Paula Elena
Raquel Inés Begoña Guadalupe""".split()
ES_LAST = """García Rodríguez González Fernández López Martínez Sánchez Pérez Gómez Martín
Jiménez Ruiz Hernández Díaz Moreno Muñoz Álvarez Romero Navarro Torres Domínguez Gutiérrez
Castillo Núñez Ortega""".split()

AR_MALE = """Mohammed Ahmed Ali Omar Khalid Youssef Ibrahim Hassan Abdullah Mahmoud Karim
Tariq Faisal Hamza Bilal Samir Nabil Walid""".split()
AR_FEMALE = """Fatima Aisha Mariam Nour Layla Sara Huda Zainab Amira Rania Yasmin Salma Leila
Dina Hana""".split()
AR_LAST = """Al-Sayed Hassan Hussein Ali Mohamed Ibrahim Abdullah Al-Rashid Al-Farsi Haddad
Khalil Nasser Saleh Mansour Aziz El-Amin Al-Masri Qureshi Rahman Habib Karam Bakr""".split()

# Greek / Cyrillic: (native, latin)
GR_MALE = [("Γιώργος", "Giorgos"), ("Νίκος", "Nikos"), ("Δημήτρης", "Dimitris"),
           ("Κώστας", "Kostas"), ("Γιάννης", "Giannis"), ("Παναγιώτης", "Panagiotis")]
GR_FEMALE = [("Μαρία", "Maria"), ("Ελένη", "Eleni"), ("Κατερίνα", "Katerina"),
             ("Σοφία", "Sofia"), ("Αναστασία", "Anastasia"), ("Δέσποινα", "Despoina")]
# surnames: (male native, male latin, female native, female latin)
GR_LAST = [("Παπαδόπουλος", "Papadopoulos", "Παπαδοπούλου", "Papadopoulou"),
           ("Γεωργίου", "Georgiou", "Γεωργίου", "Georgiou"),
           ("Οικονόμου", "Oikonomou", "Οικονόμου", "Oikonomou"),
           ("Παπαδάκης", "Papadakis", "Παπαδάκη", "Papadaki"),
           ("Νικολάου", "Nikolaou", "Νικολάου", "Nikolaou"),
           ("Βασιλείου", "Vasileiou", "Βασιλείου", "Vasileiou")]
RU_MALE = [("Александр", "Aleksandr"), ("Дмитрий", "Dmitriy"), ("Сергей", "Sergey"),
           ("Андрей", "Andrey"), ("Алексей", "Aleksey"), ("Иван", "Ivan"), ("Михаил", "Mikhail")]
RU_FEMALE = [("Елена", "Elena"), ("Ольга", "Olga"), ("Наталья", "Natalya"), ("Анна", "Anna"),
             ("Татьяна", "Tatyana"), ("Ирина", "Irina"), ("Екатерина", "Ekaterina")]
RU_LAST = [("Иванов", "Ivanov", "Иванова", "Ivanova"), ("Смирнов", "Smirnov", "Смирнова", "Smirnova"),
           ("Кузнецов", "Kuznetsov", "Кузнецова", "Kuznetsova"), ("Попов", "Popov", "Попова", "Popova"),
           ("Соколов", "Sokolov", "Соколова", "Sokolova"), ("Петров", "Petrov", "Петрова", "Petrova"),
           ("Волков", "Volkov", "Волкова", "Volkova"), ("Новиков", "Novikov", "Новикова", "Novikova")]

# nicknames / spelling variants (3% of rows); keyed by displayed form
NICK = {
    "Mehmet": ["Memo", "Memet"], "Mustafa": ["Musti", "Musto"], "Hüseyin": ["Hüso"],
    "İbrahim": ["İbo"], "Abdullah": ["Apo", "Abdallah"], "Fatma": ["Fatoş"],
    "Zeynep": ["Zeyno"], "Kemal": ["Kemo"], "Ahmet": ["Ahmed"], "Osman": ["Osmo"],
    "Ramazan": ["Ramo"], "Süleyman": ["Süleyman"], "Hatice": ["Hatçe"], "Emine": ["Emoş"],
    "William": ["Bill", "Will"], "Robert": ["Bob", "Rob"], "Elizabeth": ["Liz", "Beth"],
    "Alexander": ["Alex"], "Katherine": ["Kate", "Kathy"], "Michael": ["Mike"],
    "James": ["Jim", "Jimmy"], "Richard": ["Rick", "Dick"], "Thomas": ["Tom"],
    "Christopher": ["Chris"], "Jennifer": ["Jenny"], "Margaret": ["Maggie", "Peggy"],
    "Joseph": ["Joe"], "Daniel": ["Dan"], "Samuel": ["Sam"], "Benjamin": ["Ben"],
    "Matthew": ["Matt"], "Nicholas": ["Nick"], "Rebecca": ["Becky"], "Patricia": ["Pat"],
    "Johannes": ["Hans"], "Friedrich": ["Fritz"], "Katharina": ["Kathi"], "Maximilian": ["Max"],
    "Francisco": ["Paco"], "José": ["Pepe"], "Guadalupe": ["Lupe"], "Antonio": ["Toño"],
    "Mohammed": ["Muhammad", "Mohamed", "Mohammad"], "Youssef": ["Yusuf", "Yousef"],
    "Aisha": ["Ayesha", "Aysha"], "Fatima": ["Fatma"], "Mahmoud": ["Mahmud"],
    "Александр": ["Саша"], "Дмитрий": ["Дима"], "Екатерина": ["Катя"], "Наталья": ["Наташа"],
    "Aleksandr": ["Alexander", "Sasha"], "Dmitriy": ["Dmitry", "Dmitrii", "Dima"],
    "Sergey": ["Sergei"], "Natalya": ["Natalia"], "Tatyana": ["Tatiana"],
    "Ekaterina": ["Katya"], "Aleksey": ["Alexei"], "Γιώργος": ["Γιώργης"],
    "Giorgos": ["Georgios", "George"], "Nikos": ["Nikolaos"], "Giannis": ["Ioannis", "Yannis"],
}
SURNAME_VAR = {
    "Al-Sayed": ["El-Sayed", "Alsayed", "Al Sayed"], "Al-Rashid": ["Al Rashid", "Alrashid"],
    "Al-Farsi": ["Al Farsi", "Alfarsi"], "Al-Masri": ["El-Masri", "Almasri"],
    "El-Amin": ["Al-Amin", "Elamin"], "Mohamed": ["Mohammed", "Muhammad"],
    "Hussein": ["Husain", "Hussain"], "O'Brien": ["OBrien", "O Brien"],
    "O'Connor": ["OConnor", "O Connor"], "MacDonald": ["McDonald", "Macdonald"],
}

# culture -> weight, countries (code, weight)
CULTURES = [
    ("tr", 0.55, [("TR", 0.95), ("DE", 0.05)]),
    ("en", 0.14, [("GB", 0.45), ("US", 0.25), ("TR", 0.30)]),
    ("de", 0.08, [("DE", 0.70), ("TR", 0.30)]),
    ("fr", 0.05, [("FR", 0.70), ("TR", 0.30)]),
    ("es", 0.05, [("ES", 0.75), ("TR", 0.25)]),
    ("ar", 0.08, [("SA", 0.30), ("AE", 0.30), ("TR", 0.40)]),
    ("gr", 0.025, [("GR", 0.70), ("TR", 0.30)]),
    ("ru", 0.025, [("RU", 0.60), ("TR", 0.40)]),
]
POOLS = {
    "tr": (TR_MALE, TR_FEMALE, TR_LAST), "en": (EN_MALE, EN_FEMALE, EN_LAST),
    "de": (DE_MALE, DE_FEMALE, DE_LAST), "fr": (FR_MALE, FR_FEMALE, FR_LAST),
    "es": (ES_MALE, ES_FEMALE, ES_LAST), "ar": (AR_MALE, AR_FEMALE, AR_LAST),
    "gr": (GR_MALE, GR_FEMALE, GR_LAST), "ru": (RU_MALE, RU_FEMALE, RU_LAST),
}
P_MIDDLE = {"tr": 0.15, "en": 0.25, "de": 0.10, "fr": 0.10, "es": 0.20, "ar": 0.05,
            "gr": 0.0, "ru": 0.0}
P_COMPOUND_SURNAME = {"es": 0.5}

COUNTRY_NAME = {"TR": ["Turkey", "Türkiye"], "DE": ["Germany", "Deutschland"],
                "GB": ["United Kingdom", "UK"], "US": ["United States", "USA"],
                "FR": ["France"], "ES": ["Spain", "España"], "SA": ["Saudi Arabia"],
                "AE": ["United Arab Emirates", "UAE"], "GR": ["Greece"], "RU": ["Russia"]}

# ---------------------------------------------------------------------------
# geography: country -> [(city, region, weight, postcode kind, landline area codes)]
# ---------------------------------------------------------------------------

TR_CITIES = [  # city, region, weight, plate, landline area codes
    ("İstanbul", "Marmara", 30, "34", ("212", "216")), ("Ankara", "İç Anadolu", 10, "06", ("312",)),
    ("İzmir", "Ege", 8, "35", ("232",)), ("Bursa", "Marmara", 5, "16", ("224",)),
    ("Antalya", "Akdeniz", 5, "07", ("242",)), ("Adana", "Akdeniz", 4, "01", ("322",)),
    ("Konya", "İç Anadolu", 4, "42", ("332",)), ("Gaziantep", "Güneydoğu Anadolu", 3, "27", ("342",)),
    ("Kocaeli", "Marmara", 3, "41", ("262",)), ("Mersin", "Akdeniz", 3, "33", ("324",)),
    ("Kayseri", "İç Anadolu", 2.5, "38", ("352",)), ("Eskişehir", "İç Anadolu", 2, "26", ("222",)),
    ("Diyarbakır", "Güneydoğu Anadolu", 3, "21", ("412",)), ("Samsun", "Karadeniz", 2, "55", ("362",)),
    ("Trabzon", "Karadeniz", 2, "61", ("462",)), ("Erzurum", "Doğu Anadolu", 1.5, "25", ("442",)),
    ("Muğla", "Ege", 1.5, "48", ("252",)), ("Şanlıurfa", "Güneydoğu Anadolu", 2.5, "63", ("414",)),
    ("Denizli", "Ege", 1.5, "20", ("258",)), ("Sakarya", "Marmara", 1.5, "54", ("264",)),
    ("Tekirdağ", "Marmara", 1.5, "59", ("282",)), ("Van", "Doğu Anadolu", 1.5, "65", ("432",)),
    ("Malatya", "Doğu Anadolu", 1.2, "44", ("422",)), ("Çanakkale", "Marmara", 0.8, "17", ("286",)),
    ("Ağrı", "Doğu Anadolu", 0.6, "04", ("472",)), ("Kırşehir", "İç Anadolu", 0.4, "40", ("386",)),
]
# foreign: city, region, weight, postcode prefixes (strings), country
FOREIGN_CITIES = {
    "GB": [("London", "England", 5, ("SW", "SE", "N", "E", "W", "NW", "EC")),
           ("Manchester", "England", 2, ("M",)), ("Birmingham", "England", 2, ("B",)),
           ("Leeds", "England", 1, ("LS",)), ("Edinburgh", "Scotland", 1, ("EH",)),
           ("Glasgow", "Scotland", 1, ("G",))],
    "DE": [("Berlin", "Berlin", 4, ("10", "12", "13")), ("München", "Bayern", 3, ("80", "81")),
           ("Hamburg", "Hamburg", 2, ("20", "22")), ("Köln", "Nordrhein-Westfalen", 2, ("50", "51")),
           ("Frankfurt am Main", "Hessen", 2, ("60",)), ("Stuttgart", "Baden-Württemberg", 1, ("70",))],
    "US": [("New York", "NY", 4, ("100", "101", "112")), ("Los Angeles", "CA", 3, ("900",)),
           ("Chicago", "IL", 2, ("606",)), ("Houston", "TX", 2, ("770",))],
    "FR": [("Paris", "Île-de-France", 4, ("750",)), ("Lyon", "Auvergne-Rhône-Alpes", 2, ("690",)),
           ("Marseille", "Provence-Alpes-Côte d'Azur", 2, ("130",))],
    "ES": [("Madrid", "Comunidad de Madrid", 4, ("28",)), ("Barcelona", "Cataluña", 3, ("08",)),
           ("Sevilla", "Andalucía", 1, ("41",))],
    "SA": [("Riyadh", "Riyadh Province", 3, ("11", "12")), ("Jeddah", "Makkah Province", 2, ("21", "23"))],
    "AE": [("Dubai", "Dubai", 3, ()), ("Abu Dhabi", "Abu Dhabi", 2, ())],
    "GR": [("Athens", "Attica", 3, ("10", "11")), ("Thessaloniki", "Central Macedonia", 1, ("54", "56"))],
    "RU": [("Moscow", "Moscow", 3, ("101", "115", "125")), ("Saint Petersburg", "Saint Petersburg", 2, ("190", "197"))],
}
CITY_NATIVE = {"Athens": "Αθήνα", "Thessaloniki": "Θεσσαλονίκη", "Moscow": "Москва",
               "Saint Petersburg": "Санкт-Петербург", "München": "Munich", "Köln": "Cologne"}

# street names: per country, (base, kind)
TR_STREETS = [  # (base, kind) kind: C = cadde, S = sokak, B = bulvar
    ("Atatürk", "C"), ("Bağdat", "C"), ("İstiklal", "C"), ("Cumhuriyet", "C"), ("İnönü", "C"),
    ("Gazi Mustafa Kemal", "B"), ("Barbaros", "B"), ("Halaskargazi", "C"), ("Fevzi Çakmak", "S"),
    ("Menekşe", "S"), ("Gül", "S"), ("Lale", "S"), ("Papatya", "S"), ("Akasya", "S"),
    ("Çınar", "S"), ("Ihlamur", "S"), ("Millet", "C"), ("Vatan", "C"), ("Ankara", "C"),
    ("Hürriyet", "C"), ("Mimar Sinan", "C"), ("Fatih Sultan Mehmet", "B"), ("Kazım Karabekir", "C"),
    ("Necip Fazıl", "S"), ("Yunus Emre", "C"), ("Mevlana", "C"), ("Şehit Ahmet", "S"),
    ("Zübeyde Hanım", "C"), ("Kızılay", "S"), ("Güzelyalı", "S"), ("Kordon", "B"),
    ("Adnan Menderes", "B"), ("Cemal Gürsel", "C"), ("Karanfil", "S"), ("Yasemin", "S"),
    ("Bahçelievler", "S"), ("Kültür", "S"), ("Okul", "S"), ("Cami", "S"), ("Dere", "S"),
    ("Pınarbaşı", "S"),
]
TR_KIND = {  # kind -> renderings
    "C": ("Cad.", "Caddesi", "Cd.", "Cad."),
    "S": ("Sok.", "Sokak", "Sk.", "Sokağı"),
    "B": ("Bulvarı", "Blv.", "Bulv.", "Bulvarı"),
}
TR_MAH = """Caferağa Moda Kızıltoprak Bostancı Kadıköy Bahçelievler Çankaya Kızılay Alsancak
Karşıyaka Nilüfer Osmangazi Konyaaltı Seyhan Selçuklu Şahinbey İzmit Yenişehir Melikgazi
Tepebaşı Bağlar Atakum Ortahisar Yakutiye Menteşe Pamukkale Adapazarı Süleymanpaşa İpekyolu
Battalgazi Merkez""".split()
EN_STREETS = ["High", "Station", "Main", "Church", "Park", "Victoria", "Green", "Manor",
              "Kings", "Queens", "Baker", "Oxford", "Mill", "School", "North", "Elm", "Oak",
              "Maple", "Washington", "Lake"]
EN_KIND = [("St", "Street", "St."), ("Rd", "Road", "Rd."), ("Ave", "Avenue", "Ave."),
           ("Ln", "Lane", "Ln.")]
DE_STREETS = ["Haupt", "Bahnhof", "Schiller", "Goethe", "Garten", "Kirch", "Linden", "Berg",
              "Schul", "Wald", "Mozart", "Ring", "Friedrich", "Rosen"]
FR_STREETS = ["de la Paix", "Victor Hugo", "de la République", "Pasteur", "Jean Jaurès",
              "du Général de Gaulle", "des Lilas", "de Rivoli", "Nationale", "du Moulin"]
ES_STREETS = ["Mayor", "Real", "de Alcalá", "Gran Vía", "del Sol", "de la Iglesia", "Nueva",
              "San Vicente", "de Serrano", "Toledo"]
AR_STREETS = ["King Fahd", "Prince Sultan", "Olaya", "Tahlia", "Sheikh Zayed", "Al Wasl",
              "Jumeirah", "Al Khaleej", "Hamdan", "Corniche"]
GR_STREETS = [("Ερμού", "Ermou"), ("Σταδίου", "Stadiou"), ("Πατησίων", "Patision"),
              ("Εγνατία", "Egnatia"), ("Τσιμισκή", "Tsimiski")]
RU_STREETS = [("Тверская", "Tverskaya"), ("Ленина", "Lenina"), ("Арбат", "Arbat"),
              ("Невский проспект", "Nevsky prospekt"), ("Садовая", "Sadovaya")]

MOBILE_PREFIX = {
    "TR": ["501", "505", "506", "507", "530", "531", "532", "533", "534", "535", "536", "537",
           "538", "539", "541", "542", "543", "544", "545", "546", "547", "548", "549", "551",
           "552", "553", "554", "555", "559"],
    "GB": ["740", "741", "745", "770", "771", "776", "780", "783", "790", "791", "795", "797"],
    "DE": ["151", "152", "157", "160", "162", "170", "171", "172", "173", "175", "176", "177",
           "178", "179"],
    "US": ["212", "310", "312", "415", "646", "713", "718", "917"],
    "FR": ["61", "62", "66", "67", "68", "75", "77", "78"],
    "ES": ["60", "61", "62", "63", "65", "66", "67", "69"],
    "SA": ["50", "53", "54", "55", "56", "59"],
    "AE": ["50", "52", "54", "55", "56", "58"],
    "GR": ["690", "693", "694", "695", "697", "698", "699"],
    "RU": ["903", "905", "915", "916", "925", "926", "977", "985"],
}
DIAL = {"TR": "90", "GB": "44", "DE": "49", "US": "1", "FR": "33", "ES": "34", "SA": "966",
      "AE": "971", "GR": "30", "RU": "7"}

DOMAINS_TR = [("gmail.com", 45), ("hotmail.com", 20), ("yahoo.com", 5), ("outlook.com", 8),
              ("yandex.com.tr", 7), ("icloud.com", 7), ("*", 8)]
DOMAINS_INTL = [("gmail.com", 40), ("hotmail.com", 8), ("outlook.com", 10), ("yahoo.com", 10),
                ("icloud.com", 12), ("local", 10), ("*", 10)]
LOCAL_DOMAINS = {"DE": ["gmx.de", "web.de", "t-online.de"], "FR": ["orange.fr", "free.fr"],
                 "GB": ["btinternet.com", "sky.com"], "US": ["aol.com", "comcast.net"],
                 "ES": ["telefonica.net", "yahoo.es"], "RU": ["mail.ru", "yandex.ru"],
                 "GR": ["otenet.gr"], "SA": ["hotmail.com"], "AE": ["eim.ae"],
                 "TR": ["yandex.com.tr"]}
COMPANY_TR = ["ornekholding.com.tr", "marmaralojistik.com.tr", "egeyazilim.com.tr",
              "anadolutekstil.com.tr", "bogazicienerji.com.tr"]
COMPANY_INTL = ["acme-corp.com", "globex.de", "initech.com", "umbrella-group.co.uk",
                "contoso.com", "example-bank.fr"]
EMAIL_TYPO = {"gmail.com": ["gmial.com", "gmail.con", "gmai.com", "gnail.com", "gmail.co"],
              "hotmail.com": ["hotmial.com", "hotmail.con", "hotmai.com", "hotmil.com"],
              "yahoo.com": ["yaho.com", "yahooo.com", "yahoo.con"],
              "outlook.com": ["outlok.com", "outllok.com", "outlook.con"],
              "icloud.com": ["iclod.com", "icloud.con"], "yandex.com.tr": ["yandex.com", "yandx.com.tr"]}

SHOP_PHONES = ["0212 555 0101", "0216 555 0102", "0312 555 0103", "0232 555 0104",
               "0224 555 0105", "0242 555 0106", "0322 555 0107", "0332 555 0108",
               "0342 555 0109", "0262 555 0110"]
EVENT_TYPES = ["page_view"] * 55 + ["product_view"] * 30 + ["add_to_cart"] * 10 + ["checkout"] * 5
HOUR_TABLE = sum(([h] * w for h, w in enumerate(
    [1, 1, 1, 1, 1, 1, 2, 3, 5, 7, 8, 9, 10, 10, 9, 9, 9, 9, 10, 11, 12, 11, 8, 4])), [])
TYPO_CHARS = "aeiıoöuüsşcçgğnmrltkdyb"

# ---------------------------------------------------------------------------
# text helpers
# ---------------------------------------------------------------------------


def _build_fold():
    m = {"ı": "i", "İ": "I", "ß": "ss", "Æ": "AE", "æ": "ae", "Œ": "OE", "œ": "oe",
         "Ø": "O", "ø": "o", "Ł": "L", "ł": "l", "Đ": "D", "đ": "d"}
    for cp in range(0xC0, 0x250):
        ch = chr(cp)
        if ch in m:
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        if base and base != ch and base.isascii():
            m[ch] = base
    return str.maketrans(m)


FOLD = _build_fold()
DE_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"})
TR_UP = str.maketrans({"i": "İ", "ı": "I"})
ALNUM = set("abcdefghijklmnopqrstuvwxyz0123456789")


def email_token(s, de_style):
    if de_style:
        s = s.translate(DE_FOLD)
    s = s.translate(FOLD).lower()
    return "".join(c for c in s if c in ALNUM)


def is_latin(s):
    return s[0] < "\u0370"


def tr_upper(s):
    return s.translate(TR_UP).upper()


def zipf_cum(n, a=0.9):
    cum, t = [], 0.0
    for i in range(n):
        t += 1.0 / (i + 1.5) ** a
        cum.append(t)
    return cum


def tckn_from9(base9):
    d = [ord(c) - 48 for c in base9]
    d10 = ((d[0] + d[2] + d[4] + d[6] + d[8]) * 7 - (d[1] + d[3] + d[5] + d[7])) % 10
    d11 = (sum(d) + d10) % 10
    return base9 + chr(48 + d10) + chr(48 + d11)


def tckn_valid(s):
    if len(s) != 11 or not s.isdigit() or s[0] == "0":
        return False
    return tckn_from9(s[:9]) == s


# ---------------------------------------------------------------------------
# generator
# ---------------------------------------------------------------------------


class Person:
    __slots__ = ("pid", "cul", "gender", "first", "first_lat", "mid", "mid_lat", "last",
                 "last_lat", "by", "bm", "bd", "country", "city", "city_native", "region",
                 "street", "postcode", "area", "mob", "land", "natid", "emails", "device", "hh",
                 "de_style", "web_emails", "churn", "spend")


class Gen:
    def __init__(self, args):
        self.n = args.people
        self.opp = args.orders_per_person
        self.epp = args.events_per_person
        self.rng = rng = _random_module.Random(args.seed)
        self.out = args.out
        r = rng.randrange
        # bijections used to make ids / numbers unique without remembering them
        self.mob_b = r(10 ** 7)
        self.land_b = r(10 ** 7)
        self.tc_b = r(889000000)
        self.ykn_b = r(10 ** 7)
        self.email_b = r(9000000)
        self.cust_b = r(10 ** 7)
        self.used_emails = set()
        # culture / pool sampling tables
        self.cul_names = [c[0] for c in CULTURES]
        self.cul_cum = list(_acc([c[1] for c in CULTURES]))
        self.country_tab = {c[0]: ([x[0] for x in c[2]], list(_acc([x[1] for x in c[2]])))
                            for c in CULTURES}
        self.pool_cum = {}
        for cul, (m, f, l) in POOLS.items():
            self.pool_cum[cul] = (zipf_cum(len(m)), zipf_cum(len(f)), zipf_cum(len(l), 0.8))
        self.tr_city_cum = list(_acc([c[2] for c in TR_CITIES]))
        self.f_city_cum = {k: list(_acc([c[2] for c in v])) for k, v in FOREIGN_CITIES.items()}
        self.dom_tr_cum = list(_acc([d[1] for d in DOMAINS_TR]))
        self.dom_intl_cum = list(_acc([d[1] for d in DOMAINS_INTL]))
        by_w = []
        for y in range(1940, 2009):
            # bulk of customers born 1965-2000
            by_w.append(1.0 + 3.0 * math.exp(-((y - 1984) / 14.0) ** 2))
        self.by_cum = list(_acc(by_w))
        # timestamp formatting tables
        self.days = [(DAY0 + datetime.timedelta(days=i)).isoformat() + " " for i in range(LAST_DAY + 1)]
        self.tod = ["%02d:%02d:%02d+00" % (s // 3600, s // 60 % 60, s % 60) for s in range(86400)]
        self.counts = dict.fromkeys(TABLES, 0)
        self.ids = {"web": 0, "store": 0, "cc": 0, "event": 0, "order": 0, "web_order": 0}
        self.pending = [[], [], [], []]   # deferred re-registration rows per channel
        # ~65% of people are on the web with 1.5 cookies each; every cookie has >= 1 event
        self.event_mean_per_cookie = max(1.0, self.epp / (0.655 * 1.5))

    # ---------------------------------------------------------------- utils
    def ts(self, day):
        """timestamp text for day index at a realistic hour"""
        rnd = self.rng.random
        h = HOUR_TABLE[int(rnd() * len(HOUR_TABLE))]
        return self.days[day] + self.tod[h * 3600 + int(rnd() * 3600)]

    def mobile(self, p, k):
        """k-th mobile number of person p (k=0 main, 1 new, 2 old): (cc, national number)"""
        if k < len(p.mob):
            return p.mob[k]
        rng = self.rng
        while len(p.mob) <= k:
            kk = len(p.mob)
            sub = "%07d" % ((3141593 * (p.pid * 4 + kk) + self.mob_b) % 10 ** 7)
            c = p.country if (kk == 0 or rng.random() < 0.8) else "TR"
            pre = rng.choice(MOBILE_PREFIX[c])
            if c == "US" and sub[0] in "01":
                # NANP exchanges start 2-9: numbers whose unique suffix starts 0/1 get an area
                # code of their own (332 / 347), which keeps them unique
                pre = "332" if sub[0] == "0" else "347"
                sub = "5" + sub[1:]
            if c == "DE":
                if rng.random() < 0.5:
                    sub += str(rng.randrange(10))
                elif pre.startswith("15"):
                    # 015x mobiles have eight digits after the prefix (Bundesnetzagentur plan);
                    # 016x/017x seven or eight. A fixed digit keeps every other value as it was
                    sub += str((p.pid + kk) % 10)
            p.mob.append((DIAL[c], pre + sub))
        return p.mob[k]

    def email(self, p, k):
        """k-th email of person p (0 main, 1 new, 2 alternative/old); unique per person"""
        while len(p.emails) <= k:
            p.emails.append(self._make_email(p, len(p.emails)))
        return p.emails[k]

    def _make_email(self, p, k):
        rng = self.rng
        rnd = rng.random
        f = email_token(p.first_lat, p.de_style)
        l = email_token(p.last_lat, p.de_style)
        if not f:
            f = "user"
        if not l:
            l = "x"
        if p.country == "TR":
            d = DOMAINS_TR[_pick(self.dom_tr_cum, rnd() * self.dom_tr_cum[-1])][0]
        else:
            d = DOMAINS_INTL[_pick(self.dom_intl_cum, rnd() * self.dom_intl_cum[-1])][0]
            if d == "local":
                d = rng.choice(LOCAL_DOMAINS[p.country])
        company = d == "*"
        if company:
            d = rng.choice(COMPANY_TR if p.country == "TR" else COMPANY_INTL)
        yy = "%02d" % (p.by % 100)
        for _attempt in range(3):
            r = rnd()
            if company:
                loc = f + "." + l if r < 0.7 else f[0] + "." + l
            elif r < 0.30:
                loc = f + "." + l
            elif r < 0.48:
                loc = f + l
            elif r < 0.53:
                loc = f + "_" + l
            elif r < 0.63:
                loc = f[0] + l
            elif r < 0.68:
                loc = f[0] + "." + l
            elif r < 0.73:
                loc = l + "." + f
            elif r < 0.78:
                loc = l + f
            elif r < 0.83:
                loc = f + l[0]
            else:
                loc = f
            r = rnd()
            if loc == f or r < 0.20:
                loc += yy
            elif r < 0.30:
                loc += str(p.by)
            elif r < 0.45:
                loc += str(rng.randrange(1, 100))
            elif r < 0.55:
                loc += str(rng.randrange(100, 1000))
            e = loc + "@" + d
            # uniqueness per real mailbox: gmail ignores dots, so "ayse.kaya@gmail.com" and
            # "aysekaya@gmail.com" are one account and cannot belong to two people
            mailbox = (loc.replace(".", "") if d in ("gmail.com", "googlemail.com") else loc) + "@" + d
            if mailbox not in self.used_emails:
                self.used_emails.add(mailbox)
                return e
        # high-entropy fallback: 7 digits from a bijection of (pid, k) -> globally unique
        num = 1000000 + (7777777 * (p.pid * 4 + k) + self.email_b) % 9000000
        if p.pid * 4 + k >= 9000000:
            num = 10 ** 8 + p.pid * 4 + k
        sep = "." if rnd() < 0.6 else ""
        return f + sep + l + str(num) + "@" + d

    # --------------------------------------------------------------- people
    def make_people(self, first_pid, last_pid):
        rng = self.rng
        rnd = rng.random
        people = []
        hh_left = 0
        hh = None
        for pid in range(first_pid, last_pid + 1):
            p = Person()
            p.pid = pid
            p.gender = "F" if rnd() < 0.51 else "M"
            in_hh = hh_left > 0
            if in_hh:
                hh_left -= 1
                cul = hh.cul
            else:
                cul = self.cul_names[_pick(self.cul_cum, rnd())]
            p.cul = cul
            male, female, lasts = POOLS[cul]
            mcum, fcum, lcum = self.pool_cum[cul]
            pool, pcum = (female, fcum) if p.gender == "F" else (male, mcum)
            fi = _pick(pcum, rnd() * pcum[-1])
            if in_hh:
                # family member: different first name
                while pool[fi] in hh.firsts:
                    fi = _pick(pcum, rnd() * pcum[-1])
            fn = pool[fi]
            if isinstance(fn, tuple):
                p.first, p.first_lat = fn
            else:
                p.first = p.first_lat = fn
            p.mid = p.mid_lat = None
            if rnd() < P_MIDDLE[cul]:
                mi = _pick(pcum, rnd() * pcum[-1])
                if mi != fi and not isinstance(pool[mi], tuple):
                    p.mid = p.mid_lat = pool[mi]
            if in_hh:
                ln = hh.last
            else:
                ln = lasts[_pick(lcum, rnd() * lcum[-1])]
                if cul == "es" and rnd() < P_COMPOUND_SURNAME["es"]:
                    ln2 = lasts[_pick(lcum, rnd() * lcum[-1])]
                    if ln2 != ln:
                        ln = ln + " " + ln2
            if isinstance(ln, tuple):
                if p.gender == "F":
                    p.last, p.last_lat = ln[2], ln[3]
                else:
                    p.last, p.last_lat = ln[0], ln[1]
            else:
                p.last = p.last_lat = ln
            # birth date
            while True:
                by = 1940 + _pick(self.by_cum, rnd() * self.by_cum[-1])
                bm = 1 + int(rnd() * 12)
                bd = 1 + int(rnd() * _mdays(by, bm))
                if not in_hh or (by, bm, bd) not in hh.bdays:
                    break
            p.by, p.bm, p.bd = by, bm, bd
            p.de_style = cul == "de" and rnd() < 0.6
            p.emails = []
            p.mob = []
            p.web_emails = None
            p.churn = rnd() < 0.3
            p.spend = rng.gauss(0.0, 0.4)
            if in_hh:
                p.country, p.city, p.city_native, p.region = hh.country, hh.city, hh.city_native, hh.region
                p.street, p.postcode, p.land, p.area = hh.street, hh.postcode, hh.land, None
                p.device = hh.device if (hh.device and rnd() < 0.3) else None
                p.hh = hh
                hh.firsts.add(fn)
                hh.bdays.add((by, bm, bd))
                hh.members.append(p)
            else:
                ctry, ccum = self.country_tab[cul]
                p.country = ctry[_pick(ccum, rnd())]
                self._address(p)
                p.device = None
                p.hh = None
                if rnd() < P_HOUSEHOLD_START:
                    hh_left = 1 + _pick((0.7, 0.9, 1.0), rnd())
                    hh = Household()
                    hh.cul, hh.last = cul, ln
                    hh.country, hh.city, hh.city_native, hh.region = p.country, p.city, p.city_native, p.region
                    hh.street, hh.postcode = p.street, p.postcode
                    if p.country == "TR" and p.land is None and rnd() < 0.6:
                        p.land = self._landline(p)
                    hh.land = p.land
                    hh.device = None
                    hh.firsts = {fn}
                    hh.bdays = {(by, bm, bd)}
                    hh.members = [p]
                    hh.shared_email = rnd() < 0.25
                    p.hh = hh
            if p.device is None:
                if rnd() < 0.5:
                    h = "%032X" % rng.getrandbits(128)
                    p.device = "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])
                else:
                    p.device = "%016x" % rng.getrandbits(64)
                if p.hh is not None and p.hh.device is None:
                    p.hh.device = p.device
            # national id
            p.natid = None
            if p.country == "TR":
                if cul == "tr":
                    p.natid = tckn_from9(str(100000000 + (387420489 * pid + self.tc_b) % 889000000))
                elif rnd() < 0.5:   # foreigner id (YKN): starts with 99, same checksum rule
                    p.natid = tckn_from9("99" + "%07d" % ((3141593 * pid + self.ykn_b) % 10 ** 7))
            elif cul == "tr" and rnd() < 0.7:   # Turkish citizen living abroad
                p.natid = tckn_from9(str(100000000 + (387420489 * pid + self.tc_b) % 889000000))
            self.mobile(p, 0)
            people.append(p)
        return people

    def _landline(self, p):
        """Turkish landline (unique per founding person): area code + 7 digits"""
        sub = "%07d" % ((3141593 * p.pid + self.land_b) % 10 ** 7)
        return ("90", p.area + sub)

    def _address(self, p):
        rng = self.rng
        rnd = rng.random
        c = p.country
        p.land = None
        p.area = None
        if c == "TR":
            city, region, _w, plate, areas = TR_CITIES[_pick(self.tr_city_cum, rnd() * self.tr_city_cum[-1])]
            p.city, p.city_native, p.region = city, city, region
            p.postcode = plate + "%03d" % rng.randrange(0, 1000, 10)
            p.area = rng.choice(areas)
            base, kind = rng.choice(TR_STREETS)
            if rnd() < 0.15:
                base = "%d." % rng.randrange(1001, 3999)
                kind = "S"
            mah = rng.choice(TR_MAH) if rnd() < 0.3 else None
            p.street = ("TR", base, kind, 1 + int(rnd() ** 2 * 250), 1 + int(rnd() * 20), mah)
            if rnd() < 0.15:
                p.land = self._landline(p)
            return
        cities = FOREIGN_CITIES[c]
        city, region, _w, pcs = cities[_pick(self.f_city_cum[c], rnd() * self.f_city_cum[c][-1])]
        p.city, p.region = city, region
        p.city_native = CITY_NATIVE.get(city, city)
        num = 1 + int(rnd() ** 2 * 200)
        flat = 1 + int(rnd() * 30)
        if c == "GB":
            L = "ABDEFGHJLNPQRSTUWXYZ"
            p.postcode = "%s%d %d%s%s" % (rng.choice(pcs), rng.randrange(1, 20), rng.randrange(1, 10),
                                          rng.choice(L), rng.choice(L))
            p.street = ("GB", rng.choice(EN_STREETS), rng.randrange(len(EN_KIND)), num, flat, None)
        elif c == "US":
            p.postcode = rng.choice(pcs) + "%02d" % rng.randrange(1, 100)
            p.street = ("GB", rng.choice(EN_STREETS), rng.randrange(len(EN_KIND)), num * 7, flat, None)
        elif c == "DE":
            p.postcode = rng.choice(pcs) + "%03d" % rng.randrange(1000)
            p.street = ("DE", rng.choice(DE_STREETS), None, num, flat, None)
        elif c == "FR":
            p.postcode = rng.choice(pcs) + "%02d" % rng.randrange(1, 21)
            p.street = ("FR", rng.choice(FR_STREETS), None, num, flat, None)
        elif c == "ES":
            p.postcode = rng.choice(pcs) + "%03d" % rng.randrange(1000)
            p.street = ("ES", rng.choice(ES_STREETS), None, num, flat, None)
        elif c in ("SA", "AE"):
            p.postcode = (rng.choice(pcs) + "%03d" % rng.randrange(1000)) if pcs else None
            p.street = ("AR", rng.choice(AR_STREETS), None, num, flat, None)
        elif c == "GR":
            p.postcode = rng.choice(pcs) + "%03d" % rng.randrange(1000)
            p.street = ("GR", rng.choice(GR_STREETS), None, num, flat, None)
        else:  # RU
            p.postcode = rng.choice(pcs) + "%03d" % rng.randrange(1000)
            p.street = ("RU", rng.choice(RU_STREETS), None, num, flat, None)

    # ------------------------------------------------------------ rendering
    def render_street(self, st, upper_mode, fold):
        rng = self.rng
        rnd = rng.random
        style, base, kind, n, f, mah = st
        if style == "TR":
            kr = TR_KIND[kind][int(rnd() * 4)]
            r = rnd()
            if r < 0.35:
                s = "%s %s No:%d" % (base, kr, n)
            elif r < 0.6:
                s = "%s %s %d" % (base, kr, n)
            elif r < 0.8:
                s = "%s %s No:%d D:%d" % (base, kr, n, f)
            else:
                s = "%s %s No: %d/%d" % (base, kr, n, f)
            if mah and rnd() < 0.6:
                s = mah + (" Mah. " if rnd() < 0.7 else " Mahallesi ") + s
        elif style == "GB":
            kr = EN_KIND[kind][int(rnd() * 3)]
            s = "%d %s %s" % (n, base, kr)
            if rnd() < 0.2:
                s = ("Flat %d, " % f) + s
        elif style == "DE":
            s = "%s%s %d" % (base, "straße" if rnd() < 0.6 else "str.", n)
        elif style == "FR":
            s = "%d%s rue %s" % (n, "," if rnd() < 0.3 else "", base)
        elif style == "ES":
            s = ("Calle %s %d" if rnd() < 0.6 else "C/ %s, %d") % (base, n)
        elif style == "AR":
            s = "%s %s %d" % (base, "Road" if rnd() < 0.5 else "St", n)
        elif style == "GR":
            s = "%s %d" % (base[0] if rnd() < 0.3 else base[1], n)
        else:
            s = ("ул. %s, д. %d" % (base[0], n)) if rnd() < 0.3 else ("ul. %s %d" % (base[1], n))
        if fold:
            s = s.translate(FOLD)
        if upper_mode == 1:
            s = tr_upper(s)
        elif upper_mode == 2:
            s = s.upper()
        return s

    def typo(self, s):
        n = len(s)
        if n < 3:
            return s
        rng = self.rng
        r = rng.random()
        i = 1 + int(rng.random() * (n - 1))
        if r < 0.3:
            c = TYPO_CHARS[int(rng.random() * len(TYPO_CHARS))] if is_latin(s) else s[int(rng.random() * n)]
            if s[i].isupper():
                c = c.upper()
            return s[:i] + c + s[i + 1:]
        if r < 0.55:
            return s[:i] + s[i - 1] + s[i:]
        if r < 0.8:
            return s[:i] + s[i + 1:]
        return s[:i - 1] + s[i] + s[i - 1] + s[i + 1:]

    def names(self, p, native_ok, mid_p=0.5):
        """(first, middle or None, last) for one row, with typo/nickname/swap noise"""
        rnd = self.rng.random
        if native_ok and p.first != p.first_lat and rnd() < 0.5:
            f, m, l = p.first, p.mid, p.last
        else:
            f, m, l = p.first_lat, p.mid_lat, p.last_lat
        if m is not None and rnd() >= mid_p:
            m = None
        r = rnd()
        if r < 0.03:
            nk = NICK.get(f)
            if nk:
                f = nk[int(rnd() * len(nk))]
        elif r < 0.045:
            sv = SURNAME_VAR.get(l)
            if sv:
                l = sv[int(rnd() * len(sv))]
        if " " in l and p.cul == "es" and rnd() < 0.3:
            l = l.split(" ")[0]
        r = rnd()
        if r < 0.08:
            if r < 0.04:
                f = self.typo(f)
            else:
                l = self.typo(l)
        if rnd() < 0.02:
            f, l = l, f
        return f, m, l

    def junk(self):
        rng = self.rng
        r = rng.random()
        if r < 0.4:
            return "".join(rng.choice("asdfghjklqwertyuiop") for _ in range(rng.randrange(200, 600)))
        if r < 0.7:
            return ("lorem ipsum dolor sit amet " * rng.randrange(10, 60)).strip()
        return "x" * rng.randrange(256, 2048)

    def ws(self, s):
        """whitespace noise"""
        r = self.rng.random()
        if r < 0.35:
            return s + " "
        if r < 0.6:
            return " " + s
        if r < 0.9 and " " in s:
            return s.replace(" ", "  ", 1)
        return "  " + s + " "

    def email_noise(self, e):
        rng = self.rng
        rnd = rng.random
        r = rnd()
        if r < 0.02:  # typo
            loc, _, dom = e.partition("@")
            t = EMAIL_TYPO.get(dom)
            if t and rnd() < 0.7:
                return loc + "@" + t[int(rnd() * len(t))]
            if len(loc) > 3:
                i = 1 + int(rnd() * (len(loc) - 1))
                return loc[:i] + loc[i + 1:] + "@" + dom
            return e
        if r < 0.025:  # invalid
            loc, _, dom = e.partition("@")
            r2 = rnd()
            if r2 < 0.4:
                return loc + dom
            if r2 < 0.7:
                return loc + "@@" + dom
            return loc + "@" + dom.split(".")[0]
        if r < 0.03:
            return "test@test.com"
        if r < 0.06:  # case
            loc, _, dom = e.partition("@")
            if rnd() < 0.5:
                return e.upper()
            return ".".join(x[:1].upper() + x[1:] for x in loc.split(".")) + "@" + dom
        return e

    def row_email(self, p, k):
        """email for a row: k = 0 main / 1 re-registration; 5% use an alternative address"""
        if k == 0 and self.rng.random() < 0.05:
            k = 2
        return self.email_noise(self.email(p, k))

    def row_phone(self, p, k, allow_land):
        """(cc, nsn) for a row or a string placeholder"""
        rnd = self.rng.random
        r = rnd()
        if r < 0.005:
            return "0000000000"
        if allow_land and p.land is not None and r < allow_land:
            return p.land
        if k == 0 and rnd() < 0.05:
            k = 2
        return self.mobile(p, k)

    def bdate(self, p, text_ok):
        """(y, m, d) with noise; text_ok allows impossible dates"""
        rnd = self.rng.random
        y, m, d = p.by, p.bm, p.bd
        r = rnd()
        if r < 0.02:
            r2 = rnd()
            if r2 < 0.4 and d <= 12 and d != m:
                m, d = d, m
            elif r2 < 0.7:
                y += 1 if rnd() < 0.5 else -1
                if d > 28 and m == 2:
                    d = _mdays(y, 2)   # 29 Feb of a non-leap year must not appear by accident
            else:
                d = d + 1 if d < 28 else d - 1
        elif text_ok and r < 0.023:
            if rnd() < 0.5:
                m, d = 2, 30
            else:
                m, d = (4, 6, 9, 11)[int(rnd() * 4)], 31
        return y, m, d

    # --- channel rows.  Each returns the row list; key (index 0) is filled later.
    def web_row(self, p, dup, reg):
        rnd = self.rng.random
        email = None if rnd() < 0.04 else self.row_email(p, 1 if dup in (DUP_EMAIL, DUP_BOTH) else 0)
        name = None
        r = rnd()
        if r < 0.005:
            name = "N/A"
        elif r < 0.0055:
            name = self.junk()
        elif r >= 0.12:
            f, m, l = self.names(p, True)
            if p.cul == "tr" and rnd() < 0.15:
                f, l = f.translate(FOLD), l.translate(FOLD)
                m = m.translate(FOLD) if m else m
            name = (f + " " + m + " " + l) if m else (f + " " + l)
            r = rnd()
            if r < 0.04:
                name = name.lower()
            elif r < 0.06:
                name = tr_upper(name) if p.cul == "tr" else name.upper()
            if rnd() < 0.03:
                name = self.ws(name)
        phone = None
        if rnd() >= 0.25:
            ph = self.row_phone(p, 1 if dup in (DUP_PHONE, DUP_BOTH) else 0, 0)
            phone = ph if isinstance(ph, str) else fmt_web(ph, rnd())
        bdate = None
        if rnd() >= 0.22:
            y, m, d = self.bdate(p, True)
            bdate = "%04d-%02d-%02d" % (y, m, d)
        city = None
        if rnd() >= 0.15:
            city = city_variant(p, rnd(), rnd)
        return [0, email, name, phone, bdate, city, self.ts(reg)]

    def store_row(self, p, dup, reg):
        rng = self.rng
        rnd = rng.random
        r = rnd()
        fold = rnd() < 0.2            # legacy system without Turkish letters
        # upper case: 1 = Turkish-aware (Ali -> ALİ), 2 = naive (Ali -> ALI)
        upper_mode = (1 if (p.cul == "tr" and not fold and rnd() < 0.6) else 2) if r < 0.35 else 0
        f, m, l = self.names(p, False, 0.6)
        if m:
            f = f + " " + m
        if fold:
            f, l = f.translate(FOLD), l.translate(FOLD)
        if upper_mode == 1:
            f, l = tr_upper(f), tr_upper(l)
        elif upper_mode == 2:
            f, l = f.upper(), l.upper()
        r = rnd()
        if r < 0.005:
            f = "N/A"
        elif r < 0.025:
            f = None
        elif r < 0.028:
            f = self.ws(f)
        r = rnd()
        if r < 0.02:
            l = None
        elif r < 0.023:
            l = self.ws(l)
        elif r < 0.0235:
            l = self.junk()
        phone = None
        r = rnd()
        if r < 0.002:
            phone = SHOP_PHONES[int(rnd() * len(SHOP_PHONES))]
        elif r >= 0.10:
            ph = self.row_phone(p, 1 if dup in (DUP_PHONE, DUP_BOTH) else 0, 0.3)
            phone = ph if isinstance(ph, str) else fmt_store(ph, rnd())
        st = p.street
        pc = p.postcode
        if dup == DUP_MOVED:
            st = (st[0], st[1], st[2], st[3] + 1 + int(rnd() * 40), st[4], st[5])
        street = None if rnd() < 0.15 else self.render_street(st, upper_mode, fold)
        r = rnd()
        if r < 0.005:
            pc = "00000"
        elif r < 0.2:
            pc = None
        elif pc and p.country == "GB" and r < 0.25:
            pc = pc.replace(" ", "") if rnd() < 0.5 else pc.lower()
        city = None
        if rnd() >= 0.10:
            city = p.city
            if fold:
                city = city.translate(FOLD)
            if upper_mode == 1:
                city = tr_upper(city)
            elif upper_mode == 2:
                city = city.upper()
        gender = None
        r = rnd()
        if r >= 0.15:
            if r < 0.25:
                gender = p.gender
            else:
                gender = "K" if p.gender == "F" else "E"
        nid = None
        if p.natid is not None:
            r = rnd()
            if r < 0.01:
                i = int(rnd() * 11)
                nid = p.natid[:i] + str((int(p.natid[i]) + 1 + int(rnd() * 8)) % 10) + p.natid[i + 1:]
            elif r < 0.013:
                nid = "11111111111"
            elif r >= 0.25:
                nid = p.natid
        created = None if rnd() < 0.01 else self.ts(reg)
        return [0, f, l, phone, street, pc, city, gender, nid, created]

    def cc_row(self, p, dup, reg):
        rng = self.rng
        rnd = rng.random
        name = None
        r = rnd()
        if r < 0.005:
            name = "N/A"
        elif r < 0.0055:
            name = self.junk()
        elif r >= 0.05:
            f, m, l = self.names(p, False, 0.3)
            if rnd() < 0.25:
                f, l = f.translate(FOLD), l.translate(FOLD)
            if m:
                f = f + " " + m
            r = rnd()
            if r < 0.70:
                name = f + " " + l
            elif r < 0.85:
                name = l + ", " + f
            elif r < 0.95:
                if rnd() < 0.15:
                    h = "Dr. "
                elif p.cul == "tr" or (p.country == "TR" and rnd() < 0.5):
                    h = "Bayan " if p.gender == "F" else "Bay "
                else:
                    h = ("Mrs " if rnd() < 0.6 else "Ms ") if p.gender == "F" else "Mr "
                name = h + f + " " + l
            elif p.cul == "tr":
                name = f + (" Hanım" if p.gender == "F" else " Bey")
            else:
                name = f + " " + l
            if rnd() < 0.03:
                name = self.ws(name)
            elif rnd() < 0.1:
                name = tr_upper(name) if p.cul == "tr" else name.upper()
        phone = None
        r = rnd()
        if r >= 0.08:
            ph = self.row_phone(p, 1 if dup in (DUP_PHONE, DUP_BOTH) else 0, 0.2)
            if isinstance(ph, str):
                phone = ph
            elif rnd() < 0.5:
                phone = ph[0] + ph[1]
            else:
                phone = "+" + ph[0] + ph[1]
        email = None
        if rnd() >= 0.45:
            hh = p.hh
            if hh is not None and hh.shared_email and hh.members[0] is not p and rnd() < 0.5:
                email = self.email(hh.members[0], 0)   # family email
            else:
                email = self.row_email(p, 1 if dup in (DUP_EMAIL, DUP_BOTH) else 0)
            if rnd() < 0.1:
                email = email.lower() if rnd() < 0.5 else email.upper()
        dob = None
        if rnd() >= 0.35:
            y, m, d = self.bdate(p, True)
            dob = ("%02d.%02d.%04d" if rnd() < 0.65 else "%02d/%02d/%04d") % (d, m, y)
        region = None if rnd() < 0.2 else p.region
        return [0, name, phone, email, dob, region, self.ts(reg)]

    def app_row(self, p, dup, reg):
        rng = self.rng
        rnd = rng.random
        f, m, l = self.names(p, True, 0.5)
        if m:
            if p.cul in ("en", "de", "fr") and rnd() < 0.4:
                f = f + " " + m[0] + "."
            else:
                f = f + " " + m
        if p.cul == "tr" and rnd() < 0.1:
            f, l = f.translate(FOLD), l.translate(FOLD)
        r = rnd()
        if r < 0.005:
            f = "N/A"
        elif r < 0.105:
            f = None
        elif r < 0.12:
            f = self.ws(f)
        r = rnd()
        if r < 0.15:
            l = None
        elif r < 0.16:
            l = l.lower()
        elif r < 0.1605:
            l = self.junk()
        email = None if rnd() < 0.05 else self.row_email(p, 1 if dup in (DUP_EMAIL, DUP_BOTH) else 0)
        phone = None
        if rnd() >= 0.20:
            ph = self.row_phone(p, 1 if dup in (DUP_PHONE, DUP_BOTH) else 0, 0)
            phone = ph if isinstance(ph, str) else "+" + ph[0] + ph[1]
        dev = None
        if rnd() >= 0.05:
            dev = p.device
            if dup and rnd() < 0.5:   # new phone -> new device
                dev = "%016x" % rng.getrandbits(64)
        bd = None
        if rnd() >= 0.25:
            y, mo, d = self.bdate(p, False)
            bd = "%04d-%02d-%02d" % (y, mo, d)
        country = None
        r = rnd()
        if r >= 0.10:
            country = p.country
            if r < 0.15:
                names = COUNTRY_NAME[country]
                country = names[int(rnd() * len(names))]
        h = "%032x" % rng.getrandbits(128)
        uid = "%s-%s-4%s-%s%s-%s" % (h[:8], h[8:12], h[13:16], "89ab"[int(h[16], 16) & 3], h[17:20], h[20:])
        return [uid, f, l, email, phone, dev, bd, country, self.ts(reg)]

    # ------------------------------------------------------------ per chunk
    def chunk(self, first_pid, last_pid, writers):
        rng = self.rng
        rnd = rng.random
        people = self.make_people(first_pid, last_pid)
        items = [[], [], [], []]          # per channel: [row, person, n_orders]
        later = [[], [], [], []]          # re-registrations, emitted with the next chunk
        renders = (self.web_row, self.store_row, self.cc_row, self.app_row)
        web_people = []
        opp = self.opp
        for p in people:
            chs = [c for c in range(4) if rnd() < P_CHANNEL[c]]
            if not chs:
                chs = [_pick((0.6 / 1.8, 1.1 / 1.8, 1.4 / 1.8, 1.0), rnd())]
            dupc = chs[int(rnd() * len(chs))] if rnd() < P_DUP else -1
            prow = []   # this person's order-capable rows [(channel, item, weight)]
            for c in chs:
                reg = SIGNUP_FIRST_DAY + int(rnd() ** 0.7 * (REF_DAY - SIGNUP_FIRST_DAY))
                if c == CC:   # contacts are recent
                    reg = REF_DAY - 1 - int(rnd() * 5 * 365)
                it = [renders[c](p, 0, reg), p, 0, reg]
                items[c].append(it)
                if c <= STORE:
                    prow.append((c, it, 3.0))
                if c == dupc:
                    reg2 = reg + int(rnd() * (REF_DAY - reg))
                    r = rnd()
                    if c == STORE:   # no email column: new phone or moved house
                        kind = DUP_PHONE if r < 0.6 else DUP_MOVED
                    else:
                        kind = DUP_EMAIL if r < 0.6 else (DUP_PHONE if r < 0.85 else DUP_BOTH)
                    it2 = [renders[c](p, kind, reg2), p, 0, reg2]
                    later[c].append(it2)
                    if c <= STORE:
                        prow.append((c, it2, 1.0))
            if WEB in chs:
                web_people.append(p)
            # orders for this person, split over store/web rows
            if prow and opp > 0:
                lam = rng.gammavariate(0.4, opp / 0.4)
                k = int(lam + rnd())
                if k:
                    if len(prow) == 1:
                        prow[0][1][2] += k
                    else:
                        tot = sum(w for _, _, w in prow)
                        for _ in range(k):
                            x = rnd() * tot
                            for _c, it, w in prow:
                                x -= w
                                if x <= 0:
                                    break
                            it[2] += 1
        # emit channel rows: last chunk's deferred rows + this chunk's rows, shuffled
        store_orders, web_orders, truth = [], [], []
        tnames = ("demo.web_signups", "demo.store_customers", "demo.call_center_contacts",
                  "demo.app_users")
        last_chunk = last_pid >= self.n
        for c in range(4):
            lst = self.pending[c] + items[c]
            if last_chunk:
                lst += later[c]
                self.pending[c] = []
            else:
                self.pending[c] = later[c]
            rng.shuffle(lst)
            tn = tnames[c]
            rows = []
            for it in lst:
                row = it[0]
                if c == WEB:
                    self.ids["web"] += 1
                    key = self.ids["web"]
                    row[0] = key
                    skey = str(key)
                elif c == STORE:
                    self.ids["store"] += 1
                    skey = "S%07d" % ((9765623 * self.ids["store"] + self.cust_b) % 10 ** 7)
                    row[0] = skey
                elif c == CC:
                    self.ids["cc"] += 1
                    key = self.ids["cc"]
                    row[0] = key
                    skey = str(key)
                else:
                    skey = row[0]
                rows.append(row)
                truth.append((tn, skey, it[1].pid))
                if it[2]:
                    self.orders_for(it, row[0], store_orders if c == STORE else web_orders)
            writers[TABLES[c]].writerows(rows)
            self.counts[TABLES[c]] += len(rows)
        # events
        events = self.events(web_people, items[WEB] + later[WEB], truth) if self.epp > 0 else []
        rng.shuffle(events)
        eid = self.ids["event"]
        for e in events:
            eid += 1
            e[0] = eid
        self.ids["event"] = eid
        for name, lst, idk in (("orders", store_orders, "order"), ("web_orders", web_orders, "web_order")):
            rng.shuffle(lst)
            oid = self.ids[idk]
            for o in lst:
                oid += 1
                o[0] = oid
            self.ids[idk] = oid
            writers[name].writerows(lst)
            self.counts[name] += len(lst)
        writers["web_events"].writerows(events)
        self.counts["web_events"] += len(events)
        writers["truth"].writerows(truth)
        self.counts["truth"] += len(truth)

    def orders_for(self, it, key, out):
        rng = self.rng
        rnd = rng.random
        p = it[1]
        n = it[2]
        reg = it[3]
        lo = max(REF_DAY - ORDER_WINDOW, reg)
        if lo >= REF_DAY:
            lo = REF_DAY - 1
        if p.churn:
            hi = lo + int((REF_DAY - lo) * rnd() * 0.6)
        else:
            hi = REF_DAY - int(rng.expovariate(1 / 30.0))
        if hi <= lo:
            hi = lo + 1
        span = hi - lo
        mu = 5.5915 + p.spend
        ts = self.ts
        lnv = rng.lognormvariate
        for _ in range(n):
            a = lnv(mu, 0.8)
            if a < 5.0:
                a = 5.0 + a
            elif a > 50000.0:
                a = 50000.0
            amount = "%.2f" % a
            day = lo + int(rnd() * span)
            if day >= REF_DAY:
                day = REF_DAY - 1
            cur = "TRY"
            r = rnd()
            if r < 0.0045:
                if r < 0.001:
                    amount = None
                elif r < 0.002:
                    amount = "-" + amount          # refund
                elif r < 0.003:
                    day = None
                elif r < 0.004:
                    day = FUTURE_FIRST_DAY + int(rnd() * 365)
                else:
                    cur = "EUR" if rnd() < 0.5 else "USD"
            out.append([0, key, amount, cur, None if day is None else ts(day)])

    def events(self, web_people, web_items, truth):
        """web events for this chunk's web people; appends cookie truth rows"""
        rng = self.rng
        rnd = rng.random
        mean_extra = self.event_mean_per_cookie - 1.0
        # int(Exp(lam)) is geometric with mean 1/(e^lam - 1)
        lam = math.log(1.0 + 1.0 / mean_extra) if mean_extra > 0 else 0.0
        ts = self.ts
        ev = []
        # login emails per person: their web rows' emails as stored
        for it in web_items:
            p = it[1]
            if p.web_emails is None:
                p.web_emails = []
            if it[0][1] is not None:
                p.web_emails.append(it[0][1])
        cookies = []   # (cid, person, first_day)
        for p in web_people:
            r = rnd()
            nc = 1 if r < 0.6 else (2 if r < 0.9 else 3)
            for _ in range(nc):
                cid = "%032x" % rng.getrandbits(128)
                first = REF_DAY - 2 - int(rnd() * (EVENT_WINDOW - 1))
                cookies.append((cid, p, first))
                truth.append(("demo.web_events.cookie", cid, p.pid))
        npeople = len(web_people)
        for cid, p, first in cookies:
            n = 1 + (int(rng.expovariate(lam)) if lam > 0 else 0)
            span = REF_DAY - first
            days = sorted(first + min(span - 1, int(rng.expovariate(1.0 / 20.0))) for _ in range(n))
            days[0] = first
            shared = npeople > 1 and rnd() < 0.01
            login = shared or rnd() < 0.4
            evs = [[0, cid, None, EVENT_TYPES[int(rnd() * 100)], ts(d)] for d in days]
            if login:
                # on shared cookies the owner logs in first (before any co-user event)
                i = 0 if shared else int(rnd() * n)
                evs[i][2] = self.login_email(p)
                evs[i][3] = "login"
                if n > 4 and rnd() < 0.3:
                    j = int(rnd() * n)
                    evs[j][2] = evs[i][2]
                    evs[j][3] = "login"
            if shared:
                others = []
                hh = p.hh
                if hh is not None:
                    others = [q for q in hh.members if q is not p and q.web_emails is not None]
                k = 1 + int(rnd() * 3)
                tries = 0
                while len(others) < k and tries < 10:
                    q = web_people[int(rnd() * npeople)]
                    if q is not p and q not in others:
                        others.append(q)
                    tries += 1
                for q in others[:k]:
                    for j in range(1 + int(rnd() * 3)):
                        d = first + 1 + int(rnd() * max(1, span - 1))
                        if d >= REF_DAY:
                            d = REF_DAY - 1
                        if j == 0:
                            evs.append([0, cid, self.login_email(q), "login", ts(d)])
                        else:
                            evs.append([0, cid, None, EVENT_TYPES[int(rnd() * 100)], ts(d)])
            # the owner's first event is the cookie's first event (strictly earliest day)
            ev.extend(evs)
        return ev

    def login_email(self, p):
        we = p.web_emails
        if we:
            e = we[int(self.rng.random() * len(we))] if len(we) > 1 else we[0]
        else:
            e = self.email(p, 0)
        if self.rng.random() < 0.05:
            e = e.lower() if self.rng.random() < 0.5 else e.capitalize()
        return e


class Household:
    __slots__ = ("cul", "last", "country", "city", "city_native", "region", "street", "postcode",
                 "land", "device", "firsts", "bdays", "members", "shared_email")


TABLES = ("web_signups", "store_customers", "call_center_contacts", "app_users", "web_events",
          "orders", "web_orders", "truth")
HEADERS = {
    "web_signups": ["signup_id", "email", "full_name", "phone", "birth_date", "city", "signed_up_at"],
    "store_customers": ["customer_no", "first_name", "last_name", "phone", "street", "postcode", "city",
                        "gender", "national_id", "created_at"],
    "call_center_contacts": ["contact_id", "caller_name", "phone", "email", "dob", "region", "contacted_at"],
    "app_users": ["user_id", "given_name", "family_name", "email", "phone", "device_id", "birth_date",
                  "country", "registered_at"],
    "web_events": ["event_id", "cookie_id", "login_email", "event_type", "occurred_at"],
    "orders": ["order_id", "customer_no", "amount", "currency", "ordered_at"],
    "web_orders": ["order_id", "signup_id", "amount", "currency", "ordered_at"],
    "truth": ["source_table", "source_key", "person_id"],
}


def _acc(ws):
    t = 0.0
    for w in ws:
        t += w
        yield t


def _pick(cum, x):
    """index of the first cumulative weight > x (cum ascending)"""
    lo, hi = 0, len(cum) - 1
    while lo < hi:
        mid = (lo + hi) >> 1
        if cum[mid] > x:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _mdays(y, m):
    if m == 2:
        return 29 if (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)) else 28
    return 30 if m in (4, 6, 9, 11) else 31


def fmt_web(ph, r):
    cc, n = ph
    if cc == "90":
        if r < 0.5:
            return "+90 %s %s %s %s" % (n[:3], n[3:6], n[6:8], n[8:])
        if r < 0.9:
            return "0" + n
        return "%s %s %s %s" % (n[:3], n[3:6], n[6:8], n[8:])
    if r < 0.5:
        return "+%s %s %s %s" % (cc, n[:3], n[3:6], n[6:])
    if r < 0.8:
        return "+" + cc + n
    return "00" + cc + n


def fmt_store(ph, r):
    cc, n = ph
    if cc == "90":
        if r < 0.6:
            return "0%s %s %s" % (n[:3], n[3:6], n[6:])
        return "(%s) %s-%s-%s" % (n[:3], n[3:6], n[6:8], n[8:])
    if r < 0.6:
        return "+%s %s %s" % (cc, n[:3], n[3:])
    return "00%s %s" % (cc, n)   # e.g. 0044 7911123456


def city_variant(p, r, rnd):
    c = p.city
    if r < 0.6:
        return c if p.city_native == c or rnd() < 0.5 else p.city_native
    if r < 0.8:
        return c.translate(FOLD)
    if r < 0.93:
        return c.translate(FOLD).lower()
    if r < 0.97:
        return tr_upper(c) if p.country == "TR" else c.upper()
    return c + " " if r < 0.985 else c.lower()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--people", type=int, required=True)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", required=True)
    ap.add_argument("--orders-per-person", type=float, default=3.0)
    ap.add_argument("--events-per-person", type=float, default=2.0)
    args = ap.parse_args(argv)
    if args.people < 1:
        ap.error("--people must be >= 1")
    if args.orders_per_person < 0 or args.events_per_person < 0:
        ap.error("rates must be >= 0")
    t0 = time.perf_counter()   # only for the stderr summary
    os.makedirs(args.out, exist_ok=True)
    g = Gen(args)
    files, writers = {}, {}
    try:
        for t in TABLES:
            f = open(os.path.join(args.out, t + ".csv"), "w", encoding="utf-8", newline="",
                     buffering=1 << 20)
            files[t] = f
            w = csv.writer(f, lineterminator="\n")
            w.writerow(HEADERS[t])
            writers[t] = w
        for start in range(1, args.people + 1, CHUNK):
            g.chunk(start, min(args.people, start + CHUNK - 1), writers)
    finally:
        for f in files.values():
            f.close()
    c = g.counts
    print("people=%d " % args.people + " ".join("%s=%d" % (t, c[t]) for t in TABLES)
          + " (%.1fs)" % (time.perf_counter() - t0), file=sys.stderr)


if __name__ == "__main__":
    main()
