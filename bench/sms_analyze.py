"""Measure how many SMS bodies per second analyze() handles on a mixed, seeded corpus."""

import random
import sys
import time
from collections import Counter
from pathlib import Path

# The package is not necessarily installed in the venv, so import it from this checkout.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from commsapp.services.sms_segments import analyze  # noqa: E402

SEED = 20240515
CORPUS_SIZE = 5000
MIN_SECONDS = 3.0

SENTENCES = {
    "de": [
        "Hallo {name}, dein Kurs {course} beginnt am Montag um 18:00 Uhr.",
        "Bitte bring eine Matte und ein Handtuch mit.",
        "Für nächste Woche sind noch drei Plätze frei.",
        "Die Stunde fällt wegen Krankheit aus, wir melden uns.",
        "Deine Zehnerkarte läuft Ende des Monats ab.",
        "Grüße aus dem Studio!",
    ],
    "fr": [
        "Bonjour {name}, votre cours {course} commence lundi à 18h.",
        "Merci d'être à l'heure, la salle ouvre à 17h45.",
        "Il reste deux places pour la séance de jeudi.",
        "Le cours est annulé, nous vous recontacterons très vite.",
        "N'oubliez pas votre tapis. À bientôt !",
    ],
    "it": [
        "Ciao {name}, il corso {course} inizia lunedì alle 18.",
        "Porta un asciugamano e una bottiglia d'acqua.",
        "Ci sono ancora posti liberi per venerdì.",
        "La lezione è rinviata, ti faremo sapere.",
    ],
    "en": [
        "Hi {name}, your {course} class starts Monday at 6pm.",
        "Please arrive ten minutes early to check in.",
        "Two spots are still open for Thursday.",
        "Class is cancelled today, sorry for the short notice.",
        "Reply STOP to unsubscribe.",
    ],
}
NAMES = ["Anna", "Jörg", "Zoë", "Luca", "Chloé", "Sam", "Françoise", "Ömer"]
COURSES = ["Yoga", "Pilates", "Töpfern", "Aquarelle", "Salsa", "Keramik"]
EXTRAS = ["Preis: 12 €.", "Code: {A7}", "Raum [2]", "Zahlung 15 € per Karte."]
EMOJI = ["😀", "🎉", "🧘‍♀️", "👍🏽", "❤️", "🇩🇪", "👨‍👩‍👧‍👦", "🙏"]
SMART = ["„Bitte“", "“See you”", "– bis gleich…", "« À bientôt »", "‘Thanks’", "10\u00a0€"]
CJK = [
    "您好，您的瑜伽课将于周一晚上六点开始。",
    "請準時到達，謝謝。",
    "明日のレッスンは午後六時からです。",
    "안녕하세요, 수업은 월요일에 시작합니다.",
]


def _plain(rng: random.Random, language: str) -> str:
    target = rng.randint(50, 400)
    parts: list[str] = []
    while sum(len(part) + 1 for part in parts) < target:
        sentence = rng.choice(SENTENCES[language])
        parts.append(sentence.format(name=rng.choice(NAMES), course=rng.choice(COURSES)))
    return " ".join(parts)[:target]


def make_corpus(rng: random.Random, size: int) -> list[str]:
    """Reminders in four languages, some with extension characters, emoji, smart quotes or CJK."""
    corpus = []
    for _ in range(size):
        text = _plain(rng, rng.choice(list(SENTENCES)))
        flavour = rng.random()
        if flavour < 0.15:
            text = f"{text} {rng.choice(EXTRAS)}"
        elif flavour < 0.30:
            text = f"{rng.choice(EMOJI)} {text} {rng.choice(EMOJI)}"
        elif flavour < 0.40:
            text = f"{rng.choice(SMART)} {text}"
        elif flavour < 0.45:
            text = "".join(rng.choice(CJK) for _ in range(rng.randint(1, 6)))
        corpus.append(text)
    return corpus


def main() -> None:
    """Print the corpus mix, then the throughput with smart=False."""
    corpus = make_corpus(random.Random(SEED), CORPUS_SIZE)
    encodings = Counter(analyze(text).encoding for text in corpus)
    for encoding, count in sorted(encodings.items()):
        print(f"{encoding}: {count} ({count / len(corpus):.0%})")

    analysed = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < MIN_SECONDS:
        for text in corpus:
            analyze(text)
        analysed += len(corpus)
    print(f"msgs_per_s={analysed / elapsed:.0f}")


if __name__ == "__main__":
    main()
