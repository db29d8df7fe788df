"""Loaded models on a Dask cluster (docs/api.md, "Many machines: Dask and Spark").

A two-process ``distributed.LocalCluster`` (127.0.0.1, no dashboard) classifies and tags a
small file of our own text with ``dask.bag.read_text(...).map_partitions(...)``; the model
travels to the workers pickled (as its model file's bytes) and the lines that come back
must be those ``rnntool classify`` / ``rnntool tag`` write, line for line. Run with
``-m dask`` (``-s`` shows the pickled sizes of the bundled models).
"""

import pickle
import sys
import time

import pytest

from helpers import alike, run_rnntool

pytest.importorskip("dask.bag")
pytest.importorskip("distributed")

import dask  # noqa: E402
import dask.bag as db  # noqa: E402

import rnntool  # noqa: E402

pytestmark = pytest.mark.dask

WAIT = 90  # seconds: the most any one step (cluster start, a computation, a CLI run) may take
BLOCKSIZE = 2_000  # bytes per partition: the ~15 kB sample spreads over both workers

# --- the sample: our own SMS-like lines and simple sentences ---------------------------------

MESSAGES = [
    "hey are you still coming over tonight",
    "Sorry I missed your call, I was in the shower",
    "Ok see you at the station at 6",
    "Can you pick up some milk and bread on the way home?",
    "Dinner is ready, come down before it gets cold",
    "I'll be late, the bus broke down again",
    "Happy birthday! Hope you have a lovely day",
    "Did you finish the report for Monday?",
    "lol that film was so bad it was good",
    "Mum says thanks for the flowers",
    "Running 10 mins late, save me a seat",
    "What time does the match start tomorrow",
    "Thanks for lunch, my turn next week",
    "Can't talk now, in a meeting. Call you after",
    "Don't forget your keys this time :)",
    "Is the party still on for Saturday?",
    "Good luck with the exam, you'll do great",
    "The cat knocked the plant over again",
    "Where did you park? I can't see the car",
    "Just landed, will text when I'm through security",
    "WINNER!! You have been selected to receive a 900 prize. Call 09061701461 to claim now",
    "URGENT! Your mobile number has won a 2000 bonus caller prize. Text CLAIM to 81010",
    "FREE entry in a weekly competition to win cup final tickets. Text WIN to 87121 now",
    "Congratulations! You've won a free holiday to the Canaries. Reply YES to claim",
    "You have 1 new voicemail. Please call 09058094455 to hear it",
    "Get a brand new phone for FREE with line rental. Call now on 0800 542 0578",
    "Your account has been credited with 500 reward points. Claim at www.rewards-now.example",
    "Last chance! Claim your £250 shopping voucher before midnight. Txt STOP to opt out",
    "Hot singles in your area want to chat. Reply DATE to 69911, 150p/msg",
    "Thank you for your order. To cancel call 0906 123 4567, calls cost £1.50/min",
]

SENTENCES = [
    "The dog sleeps under the old wooden table .",
    "She reads a book every night before bed .",
    "We walked to the market and bought fresh apples .",
    "My brother plays the guitar in a small band .",
    "It rained all day , so we stayed inside .",
    "They will visit their grandparents next summer .",
    "The train to London leaves at nine o'clock .",
    "I do n't know where he put the keys .",
    "Please close the window when you leave .",
    "Our teacher gave us a hard test on Friday .",
    "The children are playing football in the park .",
    "He quickly finished his homework and went out .",
    "Can you help me carry these boxes upstairs ?",
    "The new shop on the corner sells cheap shoes .",
    "Birds were singing in the tall green trees .",
    "I have lived in this town for ten years .",
    "Anna 's sister works at the city hospital .",
    "The coffee was too hot to drink .",
    "Nobody answered the phone this morning .",
    "We should leave early to avoid the traffic .",
]

NAMES = ["Sam", "Priya", "Tom", "Lucy", "Ben", "Aisha", "Jack", "Mei", "Omar", "Zoe"]


def sample_messages(n: int = 300) -> list[str]:
    """``n`` SMS-like lines: the messages above, some with a name or a number added."""
    out = []
    for i in range(n):
        text = MESSAGES[i % len(MESSAGES)]
        variant = (i // len(MESSAGES)) % 3
        if variant == 1:
            text = f"{NAMES[i % len(NAMES)]}, {text[0].lower()}{text[1:]}"
        elif variant == 2:
            text = f"{text} ({i})"
        out.append(text)
    return out


def sample_sentences(n: int = 300) -> list[str]:
    """``n`` pre-tokenized sentences (tokens between single spaces)."""
    out = []
    for i in range(n):
        tokens = SENTENCES[i % len(SENTENCES)].split()
        variant = (i // len(SENTENCES)) % 3
        if variant == 1:
            tokens = [NAMES[i % len(NAMES)], "said", "that", tokens[0].lower(), *tokens[1:]]
        elif variant == 2:
            tokens = [*tokens[:-1], "again", tokens[-1]]
        out.append(" ".join(tokens))
    return out


# --- the functions the workers run (shipped by value, see the client fixture) ----------------

def classify_partition_with(model):
    """fn(lines) -> the tsv lines ``rnntool classify`` writes; ``model`` is in the closure."""

    def classify_partition(lines):
        texts = (line.rstrip("\r\n") for line in lines)  # read_text keeps each line's "\n"
        return [f"{c.label}\t{c.probability:.4f}" for c in model.classify_many(texts)]

    return classify_partition


def tag_partition(lines, model):
    """fn(lines, model) -> the word/TAG lines ``rnntool tag --input tokens`` writes."""
    token_lists = (line.rstrip("\r\n").split() for line in lines)
    return [" ".join(f"{t.text}/{t.tag}" for t in doc.tokens)
            for doc in model.tag_many(token_lists, probabilities=False)]


def count_loads():
    """Run on each worker: count the models it unpickles (the unpickler calls ``load``)."""
    import rnntool.api.loading as loading

    if not hasattr(loading, "_dask_test_loads"):
        loading._dask_test_loads = 0
        real = loading.load

        def counted(*args, **kwargs):
            loading._dask_test_loads += 1
            return real(*args, **kwargs)

        loading.load = counted
    return loading._dask_test_loads


def worker_state():
    """Run on each worker: (models unpickled so far, whether torch was ever imported)."""
    import sys

    import rnntool.api.loading as loading

    return getattr(loading, "_dask_test_loads", None), "torch" in sys.modules


# --- fixtures --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def client(request):
    import cloudpickle
    from distributed import Client, LocalCluster

    # this module's functions go to the workers by value, so they never import the test module
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    request.addfinalizer(lambda: cloudpickle.unregister_pickle_by_value(sys.modules[__name__]))
    started = time.perf_counter()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None, timeout=WAIT)
    request.addfinalizer(cluster.close)
    client = Client(cluster, timeout=WAIT)
    request.addfinalizer(client.close)  # finalizers run last-in first-out: the client first
    client.wait_for_workers(2, timeout=WAIT)
    print(f"\nLocalCluster with 2 worker processes up in {time.perf_counter() - started:.1f} s")
    client.run(count_loads)
    return client


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("dask")


def label_and_probability(line: str) -> list:
    label, probability = line.split("\t")
    return [label, float(probability)]


def run_cli(*args) -> list[str]:
    result = run_rnntool(*args, timeout=WAIT)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode("utf-8").splitlines()


def loads_per_worker(client) -> dict[str, int]:
    return {worker: loads for worker, (loads, _) in client.run(worker_state).items()}


# --- tests -----------------------------------------------------------------------------------

def test_pickled_models_are_their_files_bytes():
    sizes = []
    for name in rnntool.bundled_names():
        model = rnntool.load(name)
        on_disk = model.path.stat().st_size
        pickled = len(pickle.dumps(model))
        sizes.append((name, type(model).__name__, on_disk, pickled))
        assert abs(pickled - on_disk) <= 0.01 * on_disk + 4096, (name, on_disk, pickled)
    print("\nbundled model           kind           file bytes    pickled bytes")
    for name, kind, on_disk, pickled in sizes:
        print(f"{name:<22}  {kind:<13}  {on_disk:>11,}  {pickled:>14,}")
    assert {"sms-spam", "en-ewt-upos"} <= {name for name, *_ in sizes}


def test_classify_on_dask_matches_the_cli(client, data_dir):
    path = data_dir / "messages.txt"
    path.write_text("".join(line + "\n" for line in sample_messages()), encoding="utf-8")
    model = rnntool.load("sms-spam")
    before = loads_per_worker(client)

    lines = db.read_text(str(path), blocksize=BLOCKSIZE)
    assert lines.npartitions > 2
    got = client.compute(lines.map_partitions(classify_partition_with(model))).result(timeout=WAIT)

    expected = run_cli("classify", "-q", "-m", "sms-spam", path)
    assert len(expected) == 300
    # the labels exactly; the probabilities' last digit depends on the texts sharing a batch
    assert alike([label_and_probability(line) for line in got], [label_and_probability(line) for line in expected])
    assert {line.split("\t")[0] for line in got} == {"ham", "spam"}  # the sample has both
    after = loads_per_worker(client)
    # the function goes out with each task: a worker unpickles the model once per partition it runs
    print(f"\nclassify: {lines.npartitions} partitions; models unpickled per worker "
          f"(closure): {sorted(after[w] - before[w] for w in after)}")


def test_tag_on_dask_matches_the_cli(client, data_dir):
    path = data_dir / "sentences.txt"
    path.write_text("".join(line + "\n" for line in sample_sentences()), encoding="utf-8")
    model = rnntool.load("en-ewt-upos")
    before = loads_per_worker(client)

    lines = db.read_text(str(path), blocksize=BLOCKSIZE)
    assert lines.npartitions > 2
    # the model as one key of the graph: each worker unpickles it once, whatever the partitions
    got = client.compute(lines.map_partitions(tag_partition, dask.delayed(model))).result(timeout=WAIT)

    expected = run_cli("tag", "-q", "-m", "en-ewt-upos", "--input", "tokens", path)
    assert len(expected) == 300
    assert got == expected
    assert all(len(line.split()) == len(sentence.split()) for line, sentence in zip(got, sample_sentences()))
    after = loads_per_worker(client)
    loaded = {w: after[w] - before[w] for w in after}
    print(f"\ntag: {lines.npartitions} partitions; models unpickled per worker (dask.delayed): "
          f"{sorted(loaded.values())}")
    assert all(n <= 1 for n in loaded.values()) and sum(loaded.values()) >= 1, loaded


def test_workers_never_import_torch(client):
    states = client.run(worker_state)
    assert states and not any(torch for _, torch in states.values()), states
