"""Multimodal sentiment sequences with planted ground truth: the offline stand-in for CMU-MOSI.

Each sample is a segment of T = 20 word-aligned steps with three streams in the official MOSI shapes,
language (300-d, word-vector-like), acoustic (5-d, COVAREP-like) and visual (20-d, FACET-like), and a
sentiment label y in [-3, 3]. The generator plants what the MFM interpretation checks look for, and returns it
with the data, so a check can be scored against the truth.

Generative process (all randomness from one `numpy.random.Generator` seeded by `seed`):

1. World. A sentiment direction u (unit vector, 300-d) and an acoustic direction v (unit vector, 5-d); a word
   vector e(w) ~ N(0, 0.3^2 I) for every word of a small vocabulary, with its component along u removed (a word's
   identity never carries the label along u); one style offset per speaker type for language and acoustic, the K
   offsets of a stream orthogonal and of equal length (the types are equally far apart). Visual has no type
   offset (version 2): its style is the speaker's own.
2. Speakers. Each split has its own speakers (speaker-disjoint splits, as MOSI is split by video), about 50
   segments each. Speaker j of a split has speaker type k = j mod K (K = 5 types) and a personal offset per stream.
3. Segment. Label y ~ Uniform(-3, 3). What the language states is y_l = y + e_l and what the voice carries y_a =
   y + e_a, with e_l ~ N(0, sigma_l^2) and e_a ~ N(0, sigma_a^2) per segment, independent of each other and of y
   (version 3): each stream knows the label only approximately, and their errors differ, so the acoustic stream
   carries label information the language lacks. Its speaker's type k selects the template of label-bearing steps
   TEMPLATES[k] = {2k, 2k+1, 2k+10, 2k+11}: two two-word phrases, one in each half of the segment. The five
   templates partition the 20 steps, so over the data every step is label-bearing equally often (an untrained
   decoder, whose sensitivity decays with time, cannot pass a check against these masks). The planted steps are
   tied to the speaker type, and the language and acoustic styles reveal that type, so a model can learn where
   the label goes (random steps per segment would make the masks unlearnable: `placement="random"` builds that
   negative control). The visual style does not reveal it: the visual stream shares nothing with the label or
   with where it goes, so a factor that carries the label (and the type, to place it) has no reason to shape
   the generated visual stream. (In version 1 the visual style revealed the type too; F_y then carried
   information about X̂_visual through the type, and I(F_y; X̂_visual) measured that confound, not the label.)
4. Style (per segment, per stream): s_m = type offset + speaker offset + segment jitter, constant over the steps.
5. Streams, for step t with planted mask m_t in {0, 1}:
      language  x_t = e(w_t) + s_language + m_t * beta  * y_l * u + eps_t            eps_t ~ N(0, 0.05^2 I)
      acoustic  a_t = c * (    s_acoustic + m_t * gamma * y_a * v + AR(1) noise (phi 0.6) )
      visual    f_t =          s_visual                           + AR(1) noise (phi 0.8)
   Words: at planted steps the first word of a phrase is an intensifier and the second a sentiment word whose
   polarity and strength follow y_l ("very profound", "really awful"); elsewhere filler words ("um", "the", ...).
   The acoustic stream is emphasised on the same steps as the sentiment words; the visual stream never carries
   the label (its mask is all False).

Per-stream variances (the defaults of `SentimentConfig`, per element of a step; set on purpose):

   stream    style (type / speaker / segment std)   stated label at planted steps       other
   language  0.15 / 0.06 / 0.04  (var 0.028)        beta = 4, sigma_l = 0.6: var 54     word vectors var 0.09
   acoustic  0.40 / 0.15 / 0.15  (var 0.21)         gamma = 1, sigma_a = 0.6: var 3.4   AR(1) noise std 0.3
   visual    0.00 / 0.55 / 0.28  (var 0.38)         none                                AR(1) noise std 0.3

(The stated label's variance is Var(y) + sigma^2 = 3.36, times the strength squared, along u or v.)
Language is strong and easy to read: along u its label dwarfs style and word noise, and a linear model on the raw
language stream reaches ridge R^2 about 0.88 on the test split, near the ceiling 3 / 3.36 = 0.89 that the
language's own error e_l sets for a linear model. Acoustic is weaker and hidden in its style: along v the stated
label's variance (3.4) is many times the style's (0.21), yet averaged over the steps (it sits at 4 of 20) it is
below the style's summed over the stream, and a linear model that does not know the template is swamped by the
per-segment offset (ridge R^2 about 0.46). Visual carries no label at all (ridge R^2 about 0). Per step, the ratio
of stated-label energy to style energy is about 1.29 (language), 0.66 (acoustic) and 0 (visual): the order an
information-based check should recover. What the acoustic stream adds: reading both streams at the planted steps
(their planted-step mean minus the other steps' mean, a ridge model) gives R^2 about 0.94 against 0.89 from the
language alone, and adding visual changes nothing. So, as planted, a model's metrics drop the most without
language, less without acoustic, and (up to noise) not at all without visual, on every metric including the
correlation (in version 2, with exact labels in the language, the language alone ranked the segments almost
perfectly and acoustic could not change r).
The acoustic stream is finally scaled by c = 10 (`acoustic_scale`), COVAREP-like magnitudes: with the
reference reconstruction weights l / a / v = 1.0 / 0.01 / 0.5 on unstandardised inputs, the three weighted
reconstruction losses of a mean predictor are then of one order (about 0.15, 0.38, 0.23), so the acoustic
decoder is trained at all.
The scale changes no ratio above; a model that standardises its inputs is unaffected.

Measured in a prototype on version 2 (a small MFM-like model: LSTM encoders, LSTM-cell decoders from [F_y; F_i], 15
epochs, about a minute on one CPU core): the per-step gradient norm of the language reconstruction with respect to
F_y ranks the planted steps with AUROC 0.999 (0.51 untrained; 0.50 with `placement="random"`).

Returned extras per split: "mask/<modality>" (N, T) bool, "words" (N, T) str, "speaker" (N,) int,
"speaker_type" (N,) int, "style/<modality>/offset" (N, D) float32 (the per-segment style s_m),
"stated/language" and "stated/acoustic" (N,) float32 (y_l and y_a).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from mfm.data.types import SPLIT_NAMES, MultimodalDataset, Split
from mfm.errors import DataError
from mfm.progress import Progress

GENERATOR_VERSION = 3
SEGMENT_STEPS = 20
MODALITIES: tuple[str, ...] = ("language", "acoustic", "visual")
FEATURE_DIMS: dict[str, int] = {"language": 300, "acoustic": 5, "visual": 20}
DEFAULT_SIZES: tuple[int, int, int] = (2000, 400, 600)
GENERATION_BLOCK = 256
"""Segments generated at a time (bounds the generator's float64 work, not its result)."""

# Template k: two phrases of two steps, at 2k and 2k + 10; the five templates partition the 20 steps.
TEMPLATES: tuple[tuple[int, ...], ...] = tuple((2 * k, 2 * k + 1, 2 * k + 10, 2 * k + 11) for k in range(5))

FILLER_WORDS: tuple[str, ...] = (
    "the", "a", "and", "i", "it", "was", "movie", "this", "um", "uh", "so", "like", "just", "that", "you",
    "know", "film", "to", "of", "is", "kind", "then", "he", "she", "they", "saw", "story", "actor", "scene",
    "there", "with", "but", "me", "basically", "guess", "in", "at", "end", "watched", "yeah",
)  # fmt: skip
INTENSIFIERS: tuple[tuple[str, ...], ...] = (
    ("kinda", "somewhat", "fairly"),
    ("pretty", "quite", "rather"),
    ("really", "very", "so"),
    ("extremely", "incredibly", "truly"),
)
# Sentiment words by strength bucket (|y_l| in [0, 0.75), [0.75, 1.5), [1.5, 2.25), [2.25, inf)) and polarity.
POSITIVE_WORDS: tuple[tuple[str, ...], ...] = (
    ("okay", "fine", "decent"),
    ("good", "nice", "pleasant", "fun"),
    ("great", "wonderful", "beautiful", "impressive"),
    ("amazing", "brilliant", "profound", "perfect", "excellent"),
)
NEGATIVE_WORDS: tuple[tuple[str, ...], ...] = (
    ("meh", "mediocre", "average"),
    ("bad", "dull", "weak", "boring"),
    ("awful", "annoying", "stupid", "painful"),
    ("horrible", "worst", "pathetic", "dreadful", "disgusting"),
)


@dataclass(frozen=True)
class SentimentConfig:
    """Strengths and variances of the planted sentiment data (see the module docstring for their roles)."""

    language_strength: float = 4.0  # beta: label content along u at planted steps
    acoustic_strength: float = 1.0  # gamma: label content along v at planted steps
    language_label_noise: float = 0.6  # sigma_l: the language states y + e_l, e_l ~ N(0, sigma_l^2)
    acoustic_label_noise: float = 0.6  # sigma_a: the voice carries y + e_a, independent of e_l
    word_std: float = 0.3
    language_noise_std: float = 0.05
    language_style_std: tuple[float, float, float] = (0.15, 0.06, 0.04)  # type, speaker, segment
    acoustic_style_std: tuple[float, float, float] = (0.40, 0.15, 0.15)
    visual_style_std: tuple[float, float, float] = (
        0.0,
        0.55,
        0.28,
    )  # no type offset: see the module docstring
    acoustic_noise: tuple[float, float] = (0.3, 0.6)  # stationary std, AR(1) coefficient
    visual_noise: tuple[float, float] = (0.3, 0.8)
    acoustic_scale: float = 10.0  # the whole acoustic stream is multiplied by this (COVAREP-like magnitudes)
    segments_per_speaker: int = 50
    placement: str = (
        "speaker"  # "speaker": steps from the speaker type's template; "random": negative control
    )

    def __post_init__(self) -> None:
        if self.placement not in ("speaker", "random"):
            raise DataError(
                f"sentiment generator: placement must be 'speaker' or 'random', got {self.placement!r}"
            )
        if self.segments_per_speaker < 1:
            raise DataError("sentiment generator: segments_per_speaker must be at least 1")
        if not (self.language_label_noise >= 0 and self.acoustic_label_noise >= 0):
            raise DataError("sentiment generator: label noise standard deviations must not be negative")


def make_sentiment(
    seed: int = 0,
    *,
    sizes: tuple[int, int, int] = DEFAULT_SIZES,
    config: SentimentConfig | None = None,
    progress: Progress | None = None,
) -> MultimodalDataset:
    """Generate the planted sentiment data set ("sentiment"): `sizes` segments for train / valid / test.

    Deterministic for a seed. Returns a regression `MultimodalDataset` with modalities language (N, 20, 300),
    acoustic (N, 20, 5) and visual (N, 20, 20), labels float32 in [-3, 3], and the planted truth in the extras.
    """
    config = config or SentimentConfig()
    if len(sizes) != 3 or any(int(n) < 1 for n in sizes):
        raise DataError(
            f"sentiment generator: sizes must be three positive counts (train, valid, test), got {sizes}"
        )
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), GENERATOR_VERSION]))
    world = _make_world(rng, config)
    splits: dict[str, Split] = {}
    first_speaker = 0
    total = sum(int(n) for n in sizes)
    done = 0
    for split_name, size in zip(SPLIT_NAMES, sizes, strict=True):
        if progress is not None:
            progress(done, total, f"generating {split_name} segments")
        split, n_speakers = _make_split(rng, world, config, int(size), first_speaker)
        splits[split_name] = split
        first_speaker += n_speakers
        done += int(size)
    if progress is not None:
        progress(total, total, "generating segments")
    info = {
        "description": "synthetic multimodal sentiment segments with planted label-bearing steps and styles",
        "source": "generated by mfm.data.sentiment (see its module docstring for the generative process)",
        "generator_version": GENERATOR_VERSION,
        "seed": int(seed),
        "steps": SEGMENT_STEPS,
        "templates": [list(t) for t in TEMPLATES],
        "planted_strength": {
            "language": config.language_strength,
            "acoustic": config.acoustic_strength,
            "visual": 0.0,
        },
        "label_energy_over_style_energy": label_to_style_energy(config),
        "modality_order_expected": ["language", "acoustic", "visual"],
        "config": asdict(config),
        "label_distribution": "uniform on [-3, 3]",
    }
    return MultimodalDataset(
        name="sentiment",
        task="regression",
        num_classes=None,
        modalities=MODALITIES,
        shapes={m: (SEGMENT_STEPS, FEATURE_DIMS[m]) for m in MODALITIES},
        splits=splits,
        info=info,
    )


def label_to_style_energy(config: SentimentConfig) -> dict[str, float]:
    """Per step, the expected energy of what a stream states about the label over its style's (analytic, 3 d.p.).

    A stream states y + e with e ~ N(0, sigma^2) independent of y ~ Uniform(-3, 3), of variance 3 + sigma^2.
    """
    planted_fraction = len(TEMPLATES[0]) / SEGMENT_STEPS
    out = {}
    for modality, strength, noise in (
        ("language", config.language_strength, config.language_label_noise),
        ("acoustic", config.acoustic_strength, config.acoustic_label_noise),
        ("visual", 0.0, 0.0),
    ):
        style_std = getattr(config, f"{modality}_style_std")
        style_energy = FEATURE_DIMS[modality] * sum(s * s for s in style_std)
        stated_var = 3.0 + noise**2
        out[modality] = round(planted_fraction * strength**2 * stated_var / style_energy, 3)
    return out


@dataclass(frozen=True)
class _World:
    sentiment_direction: np.ndarray  # (300,) unit
    acoustic_direction: np.ndarray  # (5,) unit
    vocabulary: tuple[str, ...]
    word_vectors: np.ndarray  # (V, 300)
    type_offsets: dict[str, np.ndarray]  # modality -> (K, D)


def _unit(rng: np.random.Generator, dim: int) -> np.ndarray:
    vector = rng.standard_normal(dim)
    return vector / np.linalg.norm(vector)


def _make_world(rng: np.random.Generator, config: SentimentConfig) -> _World:
    u = _unit(rng, FEATURE_DIMS["language"])
    v = _unit(rng, FEATURE_DIMS["acoustic"])
    vocabulary = tuple(
        dict.fromkeys(
            FILLER_WORDS
            + tuple(w for group in INTENSIFIERS for w in group)
            + tuple(w for group in POSITIVE_WORDS + NEGATIVE_WORDS for w in group)
        )
    )
    vectors = rng.normal(0.0, config.word_std, size=(len(vocabulary), FEATURE_DIMS["language"]))
    vectors -= np.outer(vectors @ u, u)  # a word's identity carries nothing along u
    type_offsets = {}
    for modality in MODALITIES:
        # Orthogonal offsets of equal length: the speaker types are equally far apart in every stream.
        dim = FEATURE_DIMS[modality]
        basis, _ = np.linalg.qr(rng.standard_normal((dim, len(TEMPLATES))))  # (D, K) orthonormal columns
        type_std = getattr(config, f"{modality}_style_std")[0]
        type_offsets[modality] = basis.T * type_std * np.sqrt(dim)  # (K, D), per-element std about type_std
    return _World(u, v, vocabulary, vectors, type_offsets)


def _make_split(
    rng: np.random.Generator, world: _World, config: SentimentConfig, size: int, first_speaker: int
) -> tuple[Split, int]:
    n_types = len(TEMPLATES)
    # Balanced speaker types: the number of speakers is a multiple of the number of types.
    n_speakers = n_types * max(1, round(size / (config.segments_per_speaker * n_types)))
    speaker_types = np.arange(n_speakers) % n_types  # (S,)
    local_speaker = rng.permutation(np.arange(size) % n_speakers)  # (N,) near-equal segments per speaker
    speaker_type = speaker_types[local_speaker]  # (N,)
    labels = rng.uniform(-3.0, 3.0, size=size)  # (N,)
    # What each stream states: the label plus its own per-segment error (independent across streams).
    stated = {
        "language": labels + rng.normal(0.0, config.language_label_noise, size=size),
        "acoustic": labels + rng.normal(0.0, config.acoustic_label_noise, size=size),
    }

    masks = np.zeros((size, SEGMENT_STEPS), dtype=bool)  # (N, T)
    if config.placement == "speaker":
        templates = np.zeros((n_types, SEGMENT_STEPS), dtype=bool)
        for k, steps in enumerate(TEMPLATES):
            templates[k, list(steps)] = True
        masks = templates[speaker_type]
    else:
        for i in range(size):
            masks[i, rng.choice(SEGMENT_STEPS, size=len(TEMPLATES[0]), replace=False)] = True

    inputs: dict[str, np.ndarray] = {}
    extras: dict[str, np.ndarray] = {}
    for modality in MODALITIES:
        dim = FEATURE_DIMS[modality]
        _, speaker_std, segment_std = getattr(config, f"{modality}_style_std")
        speaker_offsets = rng.normal(0.0, speaker_std, size=(n_speakers, dim))  # (S, D)
        style = (
            world.type_offsets[modality][speaker_type]
            + speaker_offsets[local_speaker]
            + rng.normal(0.0, segment_std, size=(size, dim))
        )  # (N, D)
        extras[f"style/{modality}/offset"] = style.astype(np.float32)

    word_ids = _choose_words(rng, world, stated["language"], masks)  # (N, T)
    # Built a block of segments at a time (the float64 work of all N at once held about 190 MB): the same
    # operations on the same rows, and the noise drawn block after block, which is the same stream as one draw.
    language = np.empty((size, SEGMENT_STEPS, FEATURE_DIMS["language"]), dtype=np.float32)  # (N, T, 300)
    for start in range(0, size, GENERATION_BLOCK):
        rows = slice(start, start + GENERATION_BLOCK)
        block = world.word_vectors[word_ids[rows]] + extras["style/language/offset"][rows, None, :]
        block += masks[rows, :, None] * (
            config.language_strength * stated["language"][rows, None, None] * world.sentiment_direction
        )
        block += rng.normal(0.0, config.language_noise_std, size=block.shape)
        language[rows] = block  # the float32 cast of astype
    inputs["language"] = language

    acoustic = extras["style/acoustic/offset"][:, None, :] + _ar1_noise(rng, size, 5, *config.acoustic_noise)
    acoustic += masks[:, :, None] * (
        config.acoustic_strength * stated["acoustic"][:, None, None] * world.acoustic_direction
    )
    acoustic *= config.acoustic_scale
    extras["style/acoustic/offset"] *= np.float32(config.acoustic_scale)
    inputs["acoustic"] = acoustic.astype(np.float32)  # (N, T, 5)

    visual = extras["style/visual/offset"][:, None, :] + _ar1_noise(rng, size, 20, *config.visual_noise)
    inputs["visual"] = visual.astype(np.float32)  # (N, T, 20)

    extras["mask/language"] = masks.copy()
    extras["mask/acoustic"] = masks.copy()
    extras["mask/visual"] = np.zeros_like(masks)
    extras["words"] = np.asarray(world.vocabulary)[word_ids]
    extras["stated/language"] = stated["language"].astype(np.float32)
    extras["stated/acoustic"] = stated["acoustic"].astype(np.float32)
    extras["speaker"] = (local_speaker + first_speaker).astype(np.int64)
    extras["speaker_type"] = speaker_type.astype(np.int64)
    split = Split(inputs=inputs, labels=labels.astype(np.float32), extras=extras)
    return split, n_speakers


def _ar1_noise(rng: np.random.Generator, size: int, dim: int, std: float, phi: float) -> np.ndarray:
    """Stationary AR(1) noise (N, T, D) with marginal standard deviation `std` and coefficient `phi`."""
    noise = np.empty((size, SEGMENT_STEPS, dim))
    noise[:, 0] = rng.normal(0.0, std, size=(size, dim))
    innovation_std = std * np.sqrt(1.0 - phi**2)
    for t in range(1, SEGMENT_STEPS):
        noise[:, t] = phi * noise[:, t - 1] + rng.normal(0.0, innovation_std, size=(size, dim))
    return noise


def _choose_words(
    rng: np.random.Generator, world: _World, labels: np.ndarray, masks: np.ndarray
) -> np.ndarray:
    """Word index per step (N, T): intensifier + sentiment word on planted phrases, filler words elsewhere."""
    index = {word: i for i, word in enumerate(world.vocabulary)}
    filler = np.array([index[w] for w in FILLER_WORDS])
    word_ids = filler[rng.integers(len(filler), size=masks.shape)]  # (N, T)
    strength = np.minimum((np.abs(labels) / 0.75).astype(int), 3)  # (N,) bucket 0..3
    for i, t in zip(*np.nonzero(masks), strict=True):
        phrase_ends = t + 1 >= masks.shape[1] or not masks[i, t + 1]
        if phrase_ends:
            groups = POSITIVE_WORDS if labels[i] >= 0 else NEGATIVE_WORDS
            choices = groups[strength[i]]
        else:
            choices = INTENSIFIERS[strength[i]]
        word_ids[i, t] = index[choices[rng.integers(len(choices))]]
    return word_ids
