"""Fixed vocabularies the generator draws from: names, places, domains, bio phrases.

Names are per country so surnames repeat within a country (hard negatives for ID matching)
and a few carry accents (cleaning normalises Unicode).
"""

from __future__ import annotations

# country -> (weight, first names, last names)
COUNTRIES: dict[str, tuple[float, tuple[str, ...], tuple[str, ...]]] = {
    "GB": (
        0.55,
        ("Oliver", "George", "Harry", "Jack", "Jacob", "Noah", "Charlie", "Thomas", "Oscar", "William",
         "James", "Daniel", "Samuel", "Joseph", "Henry", "Alfie", "Olivia", "Amelia", "Isla", "Ava",
         "Emily", "Sophie", "Grace", "Lily", "Jessica", "Chloe", "Ella", "Mia", "Ruby", "Evie",
         "Charlotte", "Hannah", "Lucy", "Megan", "Rebecca", "Zoë", "Priya", "Mohammed", "Aisha", "Ravi"),
        ("Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas", "Johnson",
         "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards", "Hughes", "Green", "Hall",
         "Lewis", "Harris", "Clarke", "Patel", "Jackson", "Wood", "Turner", "Martin", "Cooper", "Hill",
         "Ward", "Morris", "Moore", "Clark", "Lee", "King", "Baker", "Harrison", "Khan", "Ahmed"),
    ),
    "IE": (
        0.10,
        ("Seán", "Conor", "Cian", "Oisín", "Darragh", "Liam", "Jack", "Patrick", "Aoife", "Saoirse",
         "Niamh", "Ciara", "Sinéad", "Róisín", "Emma", "Grace", "Siobhán", "Eoin", "Fionn", "Orla"),
        ("Murphy", "Kelly", "O'Sullivan", "Walsh", "Smith", "O'Brien", "Byrne", "Ryan", "O'Connor",
         "O'Neill", "Reilly", "Doyle", "McCarthy", "Gallagher", "Doherty", "Kennedy", "Lynch", "Murray",
         "Quinn", "Moore"),
    ),
    "DE": (
        0.10,
        ("Lukas", "Leon", "Finn", "Paul", "Jonas", "Felix", "Maximilian", "Jan", "Tobias", "Jürgen",
         "Lena", "Anna", "Lea", "Hannah", "Marie", "Sophie", "Laura", "Katharina", "Jana", "Sabine"),
        ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz",
         "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann",
         "Schwarz", "Zimmermann"),
    ),
    "FR": (
        0.10,
        ("Gabriel", "Louis", "Raphaël", "Jules", "Adam", "Lucas", "Hugo", "Arthur", "Nathan", "Théo",
         "Emma", "Jade", "Louise", "Alice", "Chloé", "Léa", "Manon", "Camille", "Inès", "Zoé"),
        ("Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois", "Moreau",
         "Laurent", "Simon", "Michel", "Lefebvre", "Leroy", "Roux", "David", "Bertrand", "Morel",
         "Fournier", "Girard"),
    ),
    "NL": (
        0.08,
        ("Daan", "Sem", "Lucas", "Levi", "Finn", "Milan", "Bram", "Thijs", "Ruben", "Jesse",
         "Emma", "Julia", "Sophie", "Tess", "Sanne", "Fleur", "Anouk", "Lotte", "Eva", "Iris"),
        ("de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Janssen", "Visser",
         "Smit", "Meijer", "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters", "Hendriks",
         "van Leeuwen", "Dekker", "Brouwer"),
    ),
    "ES": (
        0.07,
        ("Hugo", "Martín", "Lucas", "Mateo", "Leo", "Daniel", "Alejandro", "Pablo", "Manuel", "Álvaro",
         "Lucía", "Sofía", "Martina", "María", "Julia", "Paula", "Valeria", "Emma", "Daniela", "Carmen"),
        ("García", "Rodríguez", "González", "Fernández", "López", "Martínez", "Sánchez", "Pérez",
         "Gómez", "Martín", "Jiménez", "Ruiz", "Hernández", "Díaz", "Moreno", "Muñoz", "Álvarez",
         "Romero", "Alonso", "Gutiérrez"),
    ),
}

# What web and partner forms sometimes send instead of the ISO code (cleaning maps these).
COUNTRY_VARIANTS: dict[str, tuple[str, ...]] = {
    "GB": ("gb", "uk", "UK", "united kingdom", "United Kingdom", "England"),
    "IE": ("ie", "Ireland", "ireland"),
    "DE": ("de", "Germany", "Deutschland"),
    "FR": ("fr", "France", "france"),
    "NL": ("nl", "Netherlands", "The Netherlands", "Holland"),
    "ES": ("es", "Spain", "spain"),
}

PHONE_COUNTRY_CODES = {"GB": "44", "IE": "353", "DE": "49", "FR": "33", "NL": "31", "ES": "34"}

EMAIL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "icloud.com", "proton.me")
COUNTRY_EMAIL_DOMAINS = {
    "GB": ("btinternet.com", "hotmail.co.uk", "yahoo.co.uk", "sky.com"),
    "IE": ("eircom.net", "gmail.com"),
    "DE": ("web.de", "gmx.de", "t-online.de"),
    "FR": ("orange.fr", "free.fr", "laposte.net"),
    "NL": ("ziggo.nl", "kpnmail.nl", "hotmail.nl"),
    "ES": ("telefonica.net", "yahoo.es", "hotmail.es"),
}
DISPOSABLE_DOMAINS = ("mailinator.com", "guerrillamail.com", "10minutemail.com", "yopmail.com",
                      "trashmail.com", "sharklasers.com")
SPAMMY_NAMES = (("Cash", "Prize"), ("Free", "Money"), ("Best", "Offer"), ("Crypto", "King"),
                ("Win", "Now"), ("Loan", "Fast"), ("Hot", "Deals"), ("Click", "Here"))

GB_POSTCODE_AREAS = ("SW", "SE", "E", "N", "NW", "W", "EC", "M", "B", "LS", "L", "G", "EH", "CF", "BS",
                     "NE", "S", "NG", "OX", "CB", "BT", "RG", "BN", "PL")
IE_ROUTING_KEYS = ("D01", "D02", "D04", "D06", "D08", "D15", "D24", "T12", "T23", "H91", "V94", "A94",
                   "W91", "X91", "F94")

# Templated bios of ordinary users (spam accounts carry SMS spam instead).
BIO_ROLES = ("Software developer", "Nurse", "Teacher", "Accountant", "Graphic designer", "Chef",
             "Electrician", "Marketing manager", "Data analyst", "Sales assistant", "Student",
             "Project manager", "Mechanic", "Pharmacist", "Warehouse operative", "Barista",
             "Civil engineer", "Customer service advisor", "Photographer", "HR officer")
BIO_PLACES = ("London", "Manchester", "Leeds", "Glasgow", "Bristol", "Dublin", "Cork", "Berlin",
              "Munich", "Paris", "Lyon", "Amsterdam", "Rotterdam", "Madrid", "Barcelona", "Cardiff")
BIO_INTERESTS = ("Into hiking and good coffee.", "Love football at the weekend.",
                 "Learning Spanish in my spare time.", "Keen cyclist.", "Proud parent of two.",
                 "Enjoys cooking for friends.", "Amateur photographer.", "Volunteer at the local food bank.",
                 "Big reader, mostly crime novels.", "Runs a small pottery business on the side.",
                 "", "")
# A phrase job seekers use more often: a weak text signal, as in real profiles.
BIO_SEEKING = ("Open to new opportunities.", "Looking for my next role.", "Available immediately.",
               "Keen to move into a new sector.")
BIO_SETTLED = ("Happy where I am.", "Not looking right now.", "")
