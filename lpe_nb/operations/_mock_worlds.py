"""The offline mock's worlds, voices and styles: one entry per built-in namespace, persona and style.

Each built-in gets its own wording, so a projection in ``medieval-realm`` by the ``critic`` in ``archaic``
style reads visibly different from one in ``cyberpunk-future`` by the ``artist`` in ``technical`` style. An
entry a user added (a configuration job) gets a generic entry built from its name. Everything is picked
by :func:`~lpe_nb.llm.text_features.stable_hash`, so the same input always gives the same reply.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from lpe_nb.llm.text_features import stable_hash
from lpe_nb.operations._mock_story import a_or_an, sentence_case

__all__ = ["PERSONAS", "STYLES", "WORLDS", "Persona", "World", "persona", "stylize", "world"]


@dataclass(frozen=True)
class World:
    """A namespace as the mock retells into it: its name in a sentence, people, places and things."""

    title: str  # "the Lamish Galaxy": fits "in {title}" and "the story, set in {title}"
    setting: str  # "where ideas travel as energy through the Pulse": follows the title
    given_names: tuple[str, ...] = ()
    family_names: tuple[str, ...] = ()
    creatures: tuple[str, ...] = ()  # instead of names, where people become creatures or particles
    creature_kind: str = "creature"
    roles: tuple[str, ...] = ("envoy", "keeper", "messenger", "warden", "guide", "traveller")
    places: tuple[str, ...] = ("Aster", "Brennor", "Calloway", "Dunmore", "Elsmere", "Farrow")
    place_kind: str = "a place in that world"
    institutions: tuple[str, ...] = ("the council", "the guild", "the assembly")
    words: dict[str, str] = field(default_factory=dict)  # common nouns of the original -> this world's
    when: str = "in {year}"

    def counterpart(self, name: str, taken: set[str]) -> tuple[str, str]:
        """(name in this world, what they are) for a named actor, different from those ``taken``: a
        person gets a person (or creature), a body ("Town Council") one of this world's bodies."""
        if name.split()[-1].lower() in _INSTITUTIONS:
            for attempt in range(64):
                found = _pick(self.institutions, name, attempt)
                if found not in taken:
                    taken.add(found)
                    return found, f"the body that holds the same place in {self.title}"
        for attempt in range(64):
            role = _pick(self.roles, name, attempt, "role")
            if self.creatures:
                found = _pick(self.creatures, name, attempt)
            else:
                given = _pick(self.given_names, name, attempt, "given")
                found = f"{given} {_pick(self.family_names, name, attempt, 'family')}"
            if found not in taken:
                taken.add(found)
                kind = self.creature_kind if self.creatures else role
                return found, f"{a_or_an(kind)} of {self.title}"
        raise AssertionError("unreachable: more actors than names")

    def place(self, name: str, taken: set[str]) -> str:
        for attempt in range(64):
            found = _pick(self.places, name, attempt)
            if found not in taken:
                taken.add(found)
                return found
        raise AssertionError("unreachable: more places than names")

    def role(self, phrase: str, taken: set[str]) -> str:
        """What an unnamed actor ("the child", "the villagers") becomes: one of this world's roles, in
        the plural for a plural, different from those ``taken``."""
        head = phrase.split()[-1]
        plural = head in _PLURALS or (head.endswith("s") and not head.endswith("ss"))
        for attempt in range(64):
            role = _pick(self.roles, phrase, attempt, "unnamed")
            if role not in taken:
                taken.add(role)
                return role + "s" if plural else role
        return _pick(self.roles, phrase)


_INSTITUTIONS = frozenset(  # the last word of a name that names a body, not a person
    """council committee company government union party church court army board assembly parliament
    senate congress program programme agency bank university school club league""".split()  # noqa: SIM905
)
_PLURALS = frozenset(
    {"children", "men", "women", "people", "fishermen", "crowd", "crew", "army", "council", "team"}
)


def _pick(options: tuple[str, ...], *seed: object) -> str:
    return options[stable_hash(*seed) % len(options)]


WORLDS: dict[str, World] = {
    "lamish-galaxy": World(
        "the Lamish Galaxy", "where ideas travel as energy through the Pulse",
        given_names=("Ilsa", "Toren", "Vael", "Maro", "Senne", "Kiro", "Anvi", "Dace"),
        family_names=("Varn", "Quill", "Hadan", "Restrel", "Sorrel", "Kethani"),
        roles=("courier", "navigator", "signal-keeper", "relay engineer", "cadet", "pilot"),
        places=("Kethra", "Aster Station", "Oru Deep", "Sundar Reach", "Halcyon Ring", "Meridian"),
        place_kind="a relay station on the Pulse",
        institutions=("the Relay Council", "the Pulse Authority", "the Guild of Navigators"),
        words={"bus": "shuttle", "train": "transit beam", "ship": "starship", "city": "orbital city",
               "town": "outpost", "law": "Pulse code", "court": "relay tribunal", "police": "Pulse wardens",
               "government": "Relay Council", "army": "fleet", "company": "consortium", "school": "academy",
               "newspaper": "broadcast", "money": "credits", "king": "Prime Relay"},
        when="in cycle {year}",
    ),
    "medieval-realm": World(
        "the medieval realm", "a land of knights, quests and dragons guarding wisdom",
        given_names=("Rowena", "Aldric", "Maud", "Godwin", "Isolde", "Edric", "Elowen", "Osric"),
        family_names=("Blackwood", "Thorne", "Fairbairn", "Mallory", "Greaves", "Ashdown"),
        roles=("squire", "knight", "miller", "herald", "smith", "pilgrim"),
        places=("Ashford", "Wendmere", "Harrowgate", "Stonebridge", "Thornwick", "Eldham"),
        place_kind="a market town of the realm",
        institutions=("the Lord's Council", "the Guild of Carters", "the Abbey chapter"),
        words={"bus": "carriage", "train": "caravan", "ship": "galleon", "city": "walled city",
               "town": "village", "law": "royal decree", "court": "lord's court", "police": "watchmen",
               "government": "crown", "army": "host", "company": "guild", "school": "cloister school",
               "newspaper": "town crier", "money": "silver", "king": "king"},
        when="in the year {year}",
    ),
    "corporate-dystopia": World(
        "the corporate dystopia", "where megacorporations and their algorithms hold all power",
        given_names=("Dana", "Jules", "Morgan", "Kai", "Remy", "Sasha", "Lior", "Tam"),
        family_names=("Voss", "Kade", "Lorne", "Mercer", "Pike", "Holt"),
        roles=("operator", "clerk", "contractor", "analyst", "courier", "night-shift supervisor"),
        places=("Sector Nine", "Helix Park", "Arcology Four", "Tower District", "Grid Seven", "Port Omni"),
        place_kind="a district owned by the Consortium",
        institutions=("the Board", "the Compliance Office", "the Algorithm Committee"),
        words={"bus": "company shuttle", "train": "commuter pod", "ship": "cargo drone",
               "city": "company town", "town": "company town", "law": "terms of service",
               "court": "arbitration board", "police": "security contractors", "government": "Board",
               "army": "security division", "company": "megacorp", "school": "training programme",
               "newspaper": "feed", "money": "credits", "king": "chief executive"},
        when="in fiscal year {year}",
    ),
    "natural-world": World(
        "the natural world", "an ecology in which each creature has its role",
        creatures=("the grey heron", "the old beaver", "the swift", "the she-wolf", "the badger",
                   "the otter", "the red kite", "the salmon"),
        roles=("wren", "heron", "beaver", "otter", "sparrow", "badger"),
        places=("Reedmarsh", "Alder Hollow", "Stonebrook", "Fernvale", "Mossbank", "Willowmere"),
        place_kind="a stretch of marsh and river",
        institutions=("the council of elders", "the beaver colony", "the rookery"),
        words={"bus": "log raft", "train": "migrating herd", "ship": "drifting log", "city": "colony",
               "town": "warren", "law": "custom of the marsh", "court": "gathering of elders",
               "police": "watchful crows", "government": "council of elders", "army": "swarm",
               "company": "hive", "school": "nursery", "newspaper": "birdsong", "money": "winter stores",
               "king": "oldest stag"},
        when="one spring",
    ),
    "quantum-realm": World(
        "the quantum realm", "where observation makes possibility real",
        creatures=("the observer", "the entangled photon", "the lone electron", "the wave",
                   "the measuring eye", "the stray particle", "the quiet boson", "the spinning quark"),
        roles=("observer", "particle", "photon", "electron", "probe", "detector"),
        creature_kind="particle",
        places=("Hilbert", "Planck Reach", "Eigenvale", "Bosonia", "Fermiport", "Qubit Flats"),
        place_kind="a region of the probability field",
        institutions=("the measuring apparatus", "the field", "the ensemble"),
        words={"bus": "wave packet", "train": "particle beam", "ship": "probability current",
               "city": "lattice", "town": "node", "law": "conservation law", "court": "measurement",
               "police": "observers", "government": "Hamiltonian", "army": "ensemble", "company": "field",
               "school": "ground state", "newspaper": "signal", "money": "energy", "king": "dominant state"},
        when="at time step {year}",
    ),
    "steampunk-era": World(
        "the steampunk era", "an age of brass, steam and clockwork invention",
        given_names=("Cornelia", "Barnaby", "Theodora", "Silas", "Perpetua", "Jasper", "Winifred", "Ambrose"),
        family_names=("Cogsworth", "Brassington", "Vane", "Holloway", "Ashcombe", "Sprocket"),
        roles=("mechanic", "aeronaut", "inventor", "stoker", "engineer", "clockmaker"),
        places=("Gearhaven", "Coalmere", "Brassport", "Ironbridge", "Vaporton", "Smokestack Row"),
        place_kind="a soot-dark industrial town",
        institutions=("the Ministry of Steam", "the Engineers' Guild", "the Brass Parliament"),
        words={"bus": "omnibus", "train": "steam locomotive", "ship": "airship", "city": "smog-bound city",
               "town": "mill town", "law": "ordinance", "court": "magistrate's bench",
               "police": "constabulary", "government": "Ministry", "army": "regiment",
               "company": "engine company", "school": "mechanics' institute", "newspaper": "broadsheet",
               "money": "sovereigns", "king": "Lord Protector"},
        when="in the year {year}",
    ),
    "cyberpunk-future": World(
        "the cyberpunk future", "a future of neon cities, hackers and implants under corporate rule",
        given_names=("Nyx", "Rook", "Juno", "Case", "Mira", "Dex", "Vega", "Sol"),
        family_names=("Okafor", "Zhen", "Volkov", "Reyes", "Tanaka", "Kell"),
        roles=("netrunner", "fixer", "courier", "street medic", "hacker", "drone pilot"),
        places=("Neo-Kowloon", "Chrome Street", "Sprawl Nine", "Neon Heights", "Gridlock City", "Port Zero"),
        place_kind="a neon district of the megacity",
        institutions=("the Syndicate board", "the street collective", "the security council"),
        words={"bus": "maglev", "train": "maglev line", "ship": "hover-freighter", "city": "megacity",
               "town": "arcology", "law": "corporate code", "court": "arbitration AI",
               "police": "enforcement drones", "government": "Syndicate", "army": "private militia",
               "company": "zaibatsu", "school": "training sim", "newspaper": "newsfeed", "money": "crypto",
               "king": "kingpin"},
        when="in {year}",
    ),
}  # fmt: skip

_GENERIC_NAMES = (
    ("Aren", "Bela", "Cato", "Dara", "Ewan", "Fen"),
    ("Ashe", "Brook", "Crane", "Dale", "Ember"),
)


def world(namespace: str, description: str = "") -> World:
    """The built-in world of ``namespace``, or one made from a user entry's name and description."""
    found = WORLDS.get(namespace)
    if found is not None:
        return found
    setting = description.strip().rstrip(".") or "a world of its own"
    return World(
        f"the world of {namespace.replace('-', ' ')}",
        setting if setting.split(" ", 1)[0].lower() in ("where", "in", "with") else f"which is {setting}",
        given_names=_GENERIC_NAMES[0],
        family_names=_GENERIC_NAMES[1],
    )


@dataclass(frozen=True)
class Persona:
    """How a persona opens and closes a retelling, reads an allegory and what it draws from it.

    The templates take ``{world}`` (a world's title and setting), ``{hero}`` (the protagonist's
    counterpart) and ``{original}`` (the protagonist as the narrative names them).
    """

    opening: str
    closing: str
    lens: str
    lesson: str


PERSONAS: dict[str, Persona] = {
    "neutral": Persona(
        "This is an account of what happened, set in {world}.",
        "Those are the events, set down without taking sides.",
        "Set in {world}, the story of {original} can be read without the weight of its familiar details.",
        "A reader can compare the two tellings and decide which details really mattered.",
    ),
    "advocate": Persona(
        "This is a story of courage in {world}, and it deserves to be told well.",
        "It came at a cost, but what {hero} did was worth it.",
        "Set in {world}, the story of {original} shows its strengths more plainly: one act of resolve changed "
        "what came after.",
        "A reader can learn that a single act, done at the right moment, can carry others with it.",
    ),
    "critic": Persona(
        "The tidy version of this story leaves out the hard questions, so here it is again, set in {world}.",
        "Notice what even this telling does not explain: why it took so long, and who gained from the delay.",
        "Set in {world}, the story of {original} loses the comfort of hindsight, which makes its weak points "
        "easier to see.",
        "A reader should ask what the allegory simplifies, and who is missing from both versions.",
    ),
    "philosopher": Persona(
        "In {world}, as anywhere, events raise questions about what people owe one another.",
        "What the story of {hero} leaves behind is a question: how can one act change everything that "
        "follows?",
        "Set in {world}, the story of {original} becomes a question about choice and consequence rather "
        "than a record of facts.",
        "A reader can ask what, in their own world, would play the same part.",
    ),
    "storyteller": Persona(
        "Gather round, for this is the tale of {hero}, told in {world}.",
        "And that, as the old tellers say, is how it came to pass.",
        "Set in {world}, the story of {original} becomes a tale again, with a beginning, a turn and an end.",
        "A reader can carry the tale away and tell it again in another setting.",
    ),
    "scientist": Persona(
        "Consider the sequence of causes and effects, observed in {world}.",
        "Each step followed from the one before it; none of it was inevitable, and all of it can be traced.",
        "Set in {world}, the story of {original} becomes a system whose causes and effects can be traced "
        "one by one.",
        "A reader can test the claim that the outcome depended on the sequence of events, not on the setting.",
    ),
    "artist": Persona(
        "Picture {world}, and {hero} standing in it.",
        "What stays is an image: one figure, and everything that moved around it.",
        "Set in {world}, the story of {original} becomes an image: a single figure against a changing "
        "background.",
        "A reader is left with an image rather than the facts, and may see the facts differently because of "
        "it.",
    ),
}


def persona(name: str) -> Persona:
    """The built-in persona ``name``, or a generic voice named after a user's entry."""
    found = PERSONAS.get(name)
    if found is not None:
        return found
    speaker = f"the {name.replace('-', ' ')}"
    return Persona(
        f"This is the story as {speaker} tells it, set in {{world}}.",
        f"So ends the story, as {speaker} would have it.",
        f"Set in {{world}}, the story of {{original}} shows what {speaker} looks for in it.",
        f"A reader can ask how {speaker} would weigh what changed and what stayed the same.",
    )


def _sentences_of(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


def _archaic(text: str) -> str:
    swaps = {"later": "thereafter", "before": "ere", "often": "oft", "until": "till", "perhaps": "mayhap"}
    return re.sub(r"\b(later|before|often|until|perhaps)\b", lambda m: swaps[m.group(1)], text)


STYLES: dict[str, Callable[[str], str]] = {
    "standard": lambda text: text,
    "academic": lambda text: (
        f"The following account documents a sequence of events. {text} In summary, the outcome follows "
        "from the actions described above."
    ),
    "poetic": lambda text: "\n".join(
        ["Listen.", *_sentences_of(text), "And the quiet after was its own kind of song."]
    ),
    "technical": lambda text: "\n".join(
        ["Sequence of events:", *(f"{i}. {s}" for i, s in enumerate(_sentences_of(text), 1))]
    ),
    "casual": lambda text: f"So, here's how it went. {text} Pretty remarkable, right?",
    "formal": lambda text: f"Let it be recorded as follows. {text} Thus the matter was concluded.",
    "archaic": lambda text: (
        f"Hearken, for this is a tale of days long past. {_archaic(text)} Thus it was, and thus it is told."
    ),
    "futuristic": lambda text: f"Archive record, reconstructed. {text} End of record.",
}


def stylize(style: str, text: str) -> str:
    """``text`` rewritten in ``style`` (a user's style: introduced by its name)."""
    rewrite = STYLES.get(style)
    if rewrite is not None:
        return rewrite(text)
    return sentence_case(f"{a_or_an(style.replace('-', ' '))} telling: {text}")
