"""The memories and questions of ``bench.memory``, written for it.

``TARGETS`` pairs 40 memories with a question that needs each one, worded
so that most share few or no words with the memory (the vectors must find
them, not only the keywords). The other 460 memories come from the lists
below: facts of the same kinds (people, places, health, work, tastes,
things owned, habits), several close to a target on purpose (another doctor,
another allergy, another relative), so the right one has to be told apart.
"""

from __future__ import annotations

import random

TARGETS: list[tuple[str, str]] = [
    ("I am vegetarian.", "What should I cook for dinner tonight?"),
    ("My daughter Maya turns seven in June.", "How old will my girl be this summer?"),
    ("I am allergic to penicillin.", "Which antibiotics should I stay away from?"),
    ("My dentist is Dr. Okafor on Elm Street.", "Who should I call about my toothache?"),
    ("I write in British English.", "Should it be 'color' or 'colour' in my report?"),
    ("My dog Rufus is a beagle.", "What breed is my pet?"),
    ("I live in Porto.", "Which city's weather should you check for me?"),
    ("I work as a nurse on night shifts.", "When do I usually sleep?"),
    ("My partner Sam is lactose intolerant.", "Can I make a cheese fondue for my partner?"),
    ("I drive a blue Volvo estate.", "What kind of car do I have?"),
    ("I am training for the Lisbon half marathon in April.", "Which race am I preparing for?"),
    ("My boss is called Henrietta Lang.", "Who is my manager?"),
    ("I play the cello in an amateur orchestra.", "What instrument do I play?"),
    ("My flat is on the fourth floor with no lift.", "Is moving a sofa into my home easy?"),
    ("I am learning Japanese on Tuesday evenings.", "Which language course do I attend?"),
    ("My mother lives in Galway.", "Where does my mum live?"),
    ("I have type 1 diabetes.", "Do I need to watch my blood sugar on a long hike?"),
    ("My laptop is a ThinkPad X1 Carbon.", "Which notebook computer do I use?"),
    ("I prefer tea to coffee.", "What hot drink do I like in the morning?"),
    ("My son Theo is afraid of the dark.", "How do I help my boy sleep at night?"),
    ("I support FC Porto.", "Which football team do I follow?"),
    ("My wedding anniversary is on 12 September.", "When should I book a dinner for us two?"),
    ("I cannot eat gluten.", "Is a wheat bagel fine for my breakfast?"),
    ("I am a secondary school chemistry teacher.", "What subject do I teach?"),
    ("My bank is Millennium BCP.", "Which bank holds my account?"),
    ("I take the 7:40 train to work.", "What time do I leave for my commute?"),
    ("My sister Ingrid lives in Trondheim.", "Where in Norway does my sibling live?"),
    ("I am scared of flying.", "Should I go to Madrid by plane or by train?"),
    ("My blood type is O negative.", "What should I tell the blood donation centre?"),
    ("I use Linux with the Sway window manager.", "Which operating system is on my desktop?"),
    ("My cat Pixel needs her thyroid pills twice a day.", "How often does my pet get medicine?"),
    ("I go climbing at the Boulder Lab on Fridays.", "Where do I exercise at the end of the week?"),
    ("My grandfather was born in Cork in 1931.", "When was grandad born?"),
    ("I am colour blind (red-green).", "Which chart colours should I avoid in my slides?"),
    ("My favourite author is Ursula K. Le Guin.", "Whose novels do I love most?"),
    ("I have a peanut allergy.", "Can I eat satay chicken?"),
    ("My company is called Tidewater Analytics.", "Where do I work?"),
    ("I speak Portuguese and German.", "Which foreign languages do I know?"),
    ("My car insurance renews in March.", "When do I need to compare motor cover quotes?"),
    ("I keep my passwords in KeePassXC.", "Which password manager do I use?"),
]

_NAMES = [
    "Aiko", "Bruno", "Chiara", "Dmitri", "Elif", "Farah", "Gustav", "Hana", "Ivo", "Jonas",
    "Kasia", "Lior", "Marta", "Nils", "Oona", "Pavel", "Quinn", "Rosa", "Sven", "Tomasz",
    "Uma", "Viktor", "Wen", "Ximena", "Yusuf", "Zofia", "Amara", "Bastian", "Camille", "Dario",
]  # fmt: skip
_CITIES = [
    "Bergen", "Ghent", "Bilbao", "Lyon", "Graz", "Aarhus", "Turin", "Leeds", "Krakow", "Malmo",
    "Utrecht", "Seville", "Bologna", "Tartu", "Cluj", "Zagreb", "Lille", "Basel", "Cardiff",
    "Tampere",
]  # fmt: skip
_RELATIONS = [
    "cousin", "neighbour", "colleague", "uncle", "aunt", "godmother", "flatmate", "brother-in-law",
    "niece", "old school friend", "running partner", "landlord",
]  # fmt: skip
_JOBS = [
    "architect", "baker", "pharmacist", "electrician", "translator", "vet", "pilot", "librarian",
    "plumber", "physiotherapist", "journalist", "accountant",
]  # fmt: skip
_THINGS = [
    ("film", ["Paddington 2", "Spirited Away", "Heat", "Amelie", "Arrival", "The Apartment"]),
    ("band", ["Radiohead", "ABBA", "Khruangbin", "Portishead", "Madredeus", "Sigur Ros"]),
    ("board game", ["Carcassonne", "Azul", "Wingspan", "Catan", "Codenames", "Go"]),
    ("season", ["autumn", "spring", "late summer", "winter"]),
    ("fruit", ["mango", "quince", "blackberry", "persimmon", "fig", "gooseberry"]),
    ("podcast", ["In Our Time", "99% Invisible", "Radiolab", "The Rest Is History"]),
    ("painter", ["Vermeer", "Hokusai", "Hilma af Klint", "Turner", "Frida Kahlo"]),
    ("holiday spot", ["the Azores", "Skye", "Lake Bled", "the Dolomites", "Crete"]),
]
_HEALTH = [
    "I get migraines when I skip lunch.",
    "I had my knee operated on in 2019.",
    "I wear glasses for reading only.",
    "I am mildly allergic to cats.",
    "I have asthma that flares up in cold air.",
    "I take vitamin D in the winter months.",
    "My GP is Dr. Lindqvist at the health centre.",
    "My optician is on Rua Santa Catarina.",
    "I am allergic to bee stings.",
    "I had chickenpox as a child.",
    "My physiotherapist is called Joana.",
    "I avoid caffeine after 3 pm.",
]
_HABITS = [
    "I walk to the market on Saturday mornings.",
    "I read before bed most nights.",
    "I cycle to the office when it is dry.",
    "I meditate for ten minutes after waking up.",
    "I batch-cook soup on Sundays.",
    "I call my father every Wednesday.",
    "I swim at the municipal pool on Mondays.",
    "I keep a paper diary.",
    "I water the balcony plants every second evening.",
    "I back up my photos on the first of each month.",
    "I take the bus when it rains.",
    "I bake bread on rainy weekends.",
]
_WORK = [
    "My team uses Jira for tickets.",
    "Our stand-up meeting is at 9:30.",
    "I am on call one week a month.",
    "My desk is on the second floor by the window.",
    "I present the quarterly figures to the board.",
    "Our office closes early on Fridays.",
    "I mentor two junior colleagues.",
    "My employer pays for one conference a year.",
    "I write most of my reports in LaTeX.",
    "I share an office with the finance team.",
]
_OWNED = [
    "I own a Brompton folding bike.",
    "My phone is a Pixel 7.",
    "I have an old Fender Stratocaster.",
    "My camera is a Fujifilm X100V.",
    "My kettle is a Bosch with a temperature dial.",
    "I have a small allotment garden by the river.",
    "My printer is a Brother laser printer.",
    "My headphones are Sony noise-cancelling ones.",
    "I have a sourdough starter called Gertrude.",
    "My watch is a Casio F-91W.",
]
_FOOD = [
    "I dislike coriander.",
    "I love spicy food.",
    "I never eat mushrooms.",
    "My favourite dessert is pastel de nata.",
    "I drink oat milk.",
    "I do not drink alcohol on weekdays.",
    "My brother is allergic to shellfish.",
    "My father cannot eat salt because of his heart.",
    "I like my steak well done.",  # near the vegetarian target: a different person's habit once
    "My colleague Dario is vegan.",
]


def distractors(count: int = 460, seed: int = 20) -> list[str]:
    """``count`` other memories, the same for every run (seeded)."""
    rng = random.Random(seed)
    pool: list[str] = []
    pool += _HEALTH + _HABITS + _WORK + _OWNED + _FOOD
    for name, relation in zip(_NAMES, _RELATIONS * 3, strict=False):
        pool.append(f"My {relation} {name} lives in {rng.choice(_CITIES)}.")
    for name, job in zip(reversed(_NAMES), _JOBS * 3, strict=False):
        pool.append(f"My friend {name} works as a {job}.")
    for name in _NAMES:
        month = rng.choice(["January", "March", "May", "July", "October", "December"])
        pool.append(f"{name}'s birthday is on {rng.randint(1, 28)} {month}.")
    for city in _CITIES:
        pool.append(f"I visited {city} in {rng.randint(2008, 2024)} and loved it.")
        pool.append(f"I would like to spend a long weekend in {city} one day.")
    for kind, values in _THINGS:
        for value in values:
            pool.append(f"I really like the {kind} {value}.")
    for n in range(1, 40):
        pool.append(f"My locker at the gym is number {n * 3 + 11}.")
        pool.append(f"Order number {4000 + n * 17} was the garden chairs I returned.")
    for name in _NAMES:
        pool.append(f"I owe {name} {rng.randint(5, 60)} euros from the last dinner.")
        pool.append(f"{name} recommended the book {rng.choice(_BOOKS)} to me.")
    for n in range(60):
        pool.append(
            f"The {rng.choice(_ROOMS)} {rng.choice(_FIXES)} was fixed in "
            f"{rng.choice(['spring', 'autumn', 'winter', 'summer'])} {2015 + n % 10}."
        )
    for name in _NAMES:
        pool.append(f"{name} has a {rng.choice(_PETS)} called {rng.choice(_PET_NAMES)}.")
    for room in _ROOMS:
        pool.append(f"The {room} was painted {rng.choice(_COLOURS)} last year.")
    pool = list(dict.fromkeys(pool))
    rng.shuffle(pool)
    if len(pool) < count:
        raise RuntimeError(f"only {len(pool)} distractors")
    return pool[:count]


_BOOKS = [
    "Middlemarch", "The Overstory", "Piranesi", "Stoner", "The Remains of the Day",
    "Blindness", "Kindred", "The Name of the Rose", "Beloved", "Circe",
]  # fmt: skip
_PETS = ["tortoise", "parrot", "greyhound", "rabbit", "goldfish", "ferret", "terrier"]
_PET_NAMES = ["Biscuit", "Olga", "Momo", "Captain", "Luna", "Pepper", "Waffles", "Zeus"]
_COLOURS = ["sage green", "pale yellow", "white", "terracotta", "navy blue"]
_ROOMS = ["kitchen", "bathroom", "hallway", "bedroom", "balcony", "attic", "cellar", "study"]
_FIXES = ["tap", "window latch", "light switch", "radiator valve", "door hinge", "floorboard"]


def memories() -> list[str]:
    """All 500: the 40 targets among the 460 others, in a fixed mixed order."""
    items = [t for t, _ in TARGETS] + distractors()
    random.Random(7).shuffle(items)
    return items
