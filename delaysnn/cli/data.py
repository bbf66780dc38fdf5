"""``delaysnn make-dataset``, ``encode-audio`` and ``demo``: data sets and the end-to-end demo."""

from __future__ import annotations

import click

from .common import CommaList, Finite, Workers, cli


@cli.command()
@click.option("--task", type=click.Choice(["synthetic", "spoken-digits", "fsdd"]), default="synthetic", show_default=True,
              help="spoken-digits: synthesized speech in SHD's layout (needs espeak-ng; made on first use); "
                   "fsdd: real recordings (FSDD), made from --from on first use.")
@click.option("--data", type=click.Path(), help="spoken-digits, fsdd: data directory (default OUT/spoken-digits, OUT/fsdd).")
@click.option("--from", "source", type=click.Path(exists=True, file_okay=False), metavar="DIR",
              help="fsdd: a clone of FSDD (its recordings/), encoded into --data on first use.")
@click.option("--out", "out_dir", type=click.Path(), default="demo-out", show_default=True, help="Where to write the demo's files.")
@click.option("--epochs", type=click.IntRange(min=1), help="Default: 10 (synthetic), 20 (spoken-digits).")
@click.option("--samples", type=click.IntRange(min=64), help="Training samples (default: 2048 synthetic, all spoken digits).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--backends", type=CommaList(click.STRING), default="lava,netx,onnx,nir", show_default=True,
              help="Backends to verify the deployed networks against (lava/netx: in Lava's Python 3.10 environment where this Python lacks Lava; skipped where there is none).")
def demo(task: str, data: str | None, source: str | None, out_dir: str, epochs: int | None, samples: int | None, seed: int,
         backends: list[str]) -> None:
    """End to end: train, quantize, export, verify, estimate.

    Trains the network with learned delays and the same network with delays fixed at 0,
    then prints both test accuracies, quantizes, exports to every target, checks parity and
    estimates costs. Exits 1, naming why, when a backend disagrees with the simulator or learned
    delays miss their bar (judged at the default epochs or more; a shorter run only reports it).

    \b
    Example:
      delaysnn demo --out demo-out
      delaysnn demo --task spoken-digits --out demo-speech
      delaysnn demo --task fsdd --from free-spoken-digit-dataset --out demo-fsdd
      delaysnn demo --backends onnx,nir   # without Lava
    """
    from ..app.demo import demo as run_demo
    from ..errors import DelaysnnError

    if source is not None and task != "fsdd":
        raise click.UsageError(f"--from applies to --task fsdd, not {task}; drop it")
    summary = run_demo(task, data, out_dir, epochs=epochs, samples=samples, seed=seed, echo=click.echo, backends=backends,
                       source=source)
    click.echo("")
    click.echo(summary.table())
    if summary.failures:  # the exit status is the verdict: 1 when a claim of the table did not hold
        raise DelaysnnError(f"demo: {'; '.join(summary.failures)}")


@cli.command("make-dataset")
@click.argument("name", type=click.Choice(["spoken-digits", "fsdd"]))
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False), required=True,
              help="Directory to write shd_train.h5 and shd_test.h5 into (made if missing).")
@click.option("--from", "from_dir", type=click.Path(), metavar="DIR",
              help="fsdd: a clone of FSDD (or its recordings/ folder) with {digit}_{speaker}_{index}.wav files.")
@click.option("--test-speakers", type=CommaList(click.STRING), metavar="NAME,...",
              help="fsdd: speakers held out for test, never heard in training (default: george).")
@click.option("--split", type=click.Choice(["speakers", "official"]), default="speakers", show_default=True,
              help="fsdd: speakers (held-out test speakers) or official (FSDD's own: indices 0-4 test).")
@click.option("--per-class", type=click.IntRange(min=2), default=150, show_default=True,
              help="spoken-digits: utterances per class over both splits (20 classes; 20 % of them go to test).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="spoken-digits: voices and utterances; fsdd: the cochlea's spontaneous spikes (0: as encode-audio).")
@click.option("--workers", type=Workers(), help="Processes (default: every core; more are capped at the cores).")
@click.option("--variants", type=CommaList(click.STRING), metavar="ID,ID,...",
              help="spoken-digits: only these espeak-ng voice variants (espeak-ng --voices=variant), e.g. m1,m2,f1,f3 for a small quick set.")
@click.pass_context
def make_dataset(ctx: click.Context, name: str, out_dir: str, from_dir: str | None, test_speakers: list[str] | None,
                 split: str, per_class: int, seed: int, workers: int | None, variants: list[str] | None) -> None:
    """Make a data set in the SHD file layout (read by --task shd --data DIR).

    spoken-digits: the digits 0-9 in English and German (20 classes, SHD's label order)
    spoken by espeak-ng voices with random speed, pitch and noise, through the 700-channel
    cochlea. Test voices are never heard in training. Needs espeak-ng
    (apt-get install -y espeak-ng). Synthesized speech, not SHD.

    fsdd: real recordings of the digits 0-9 (10 classes) from the Free Spoken Digit Dataset
    (CC BY-SA 4.0: the files carry its attribution), through the same cochlea (at 8 kHz its
    700 channels span 50-4000 Hz). Test speakers are never heard in training unless
    --split official.

    \b
    Example:
      delaysnn make-dataset spoken-digits -o data/spoken-digits
      git clone https://github.com/Jakobovski/free-spoken-digit-dataset
      delaysnn make-dataset fsdd --from free-spoken-digit-dataset -o data/fsdd
      delaysnn train --task shd --data data/fsdd -o fsdd.pt
    """
    from click.core import ParameterSource

    own = {"spoken-digits": {"per_class", "variants"}, "fsdd": {"from_dir", "test_speakers", "split"}}
    for param in ctx.command.params:  # an option of the other data set is refused, not ignored
        other = next((k for k, v in own.items() if k != name and param.name in v), None)
        if other and ctx.get_parameter_source(param.name) is ParameterSource.COMMANDLINE:
            raise click.UsageError(f"{param.opts[-1]} applies to make-dataset {other}, not {name}; drop it")
    if name == "fsdd":
        _make_fsdd(from_dir, out_dir, test_speakers, split, seed, workers)
        return
    from ..data.spoken_digits import make_spoken_digits

    info = make_spoken_digits(out_dir, per_class=per_class, seed=seed, workers=workers, variants=variants, echo=click.echo)
    for split_name, path in info["paths"].items():
        click.echo(f"{path}: {info['counts'][split_name]} utterances, {info['speakers'][split_name]} speakers "
                   f"({len(info['variants'][split_name])} voice variants)")
    click.echo(f"done in {info['seconds']:.1f} s (espeak-ng {info['espeak_version']}, seed {seed})")


def _make_fsdd(from_dir: str | None, out_dir: str, test_speakers: list[str] | None, split: str, seed: int,
               workers: int | None) -> None:
    from ..data.fsdd import make_fsdd

    if from_dir is None:
        raise click.UsageError("make-dataset fsdd needs --from DIR, a clone of FSDD "
                               "(git clone https://github.com/Jakobovski/free-spoken-digit-dataset)")
    if test_speakers and split == "official":
        raise click.UsageError("--test-speakers and --split official exclude each other; give one of them")
    info = make_fsdd(from_dir, out_dir, test_speakers=test_speakers, split=split, seed=seed, workers=workers, echo=click.echo)
    for split_name, path in info["paths"].items():
        click.echo(f"{path}: {info['counts'][split_name]} recordings, speakers {', '.join(info['speakers'][split_name])}")
    bands = "; ".join(f"{lo:g}-{hi:g} Hz at {rate} Hz" for rate, (lo, hi) in info["band_hz"].items())
    click.echo(f"done in {info['seconds']:.1f} s (cochlea band {bands}, seed {seed}); FSDD is CC BY-SA 4.0: share what you derive alike")


@cli.command("encode-audio")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(), metavar="WAVS_OR_DIRS...")
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="SHD-layout HDF5 file to write.")
@click.option("--labels", type=click.Path(dir_okay=False), help="CSV with columns file,label[,speaker]; one row per audio file (default: every label 0).")
@click.option("--cochlea", type=click.Choice(["ours", "lauscher"]), default="ours", show_default=True,
              help="ours: fast gammatone front end (~0.05 s per utterance); lauscher: SHD's own cochlea (pip install lauscher; minutes per utterance).")
@click.option("--spontaneous-rate", type=Finite(min=0.0), default=None, metavar="HZ",
              help="ours: spontaneous spikes per second and channel (default 3, as the spoken-digits set; 0: none).")
def encode_audio(inputs: tuple[str, ...], output: str, labels: str | None, cochlea: str, spontaneous_rate: float | None) -> None:
    """Encode recordings into spike trains in the SHD file layout (700 channels).

    INPUTS are WAV files or directories (their *.wav files, sorted). The file reads with
    --task shd --data DIR once named shd_train.h5 / shd_test.h5.

    \b
    Example:
      delaysnn encode-audio recordings/ -o shd_train.h5 --labels labels.csv
      delaysnn encode-audio a.wav b.wav -o two.h5 --cochlea lauscher
    """
    from ..data.audio_files import encode_files
    from ..data.cochlea import CochleaConfig
    from ..errors import DataError

    try:  # the bound is the front end's (a tenth of its internal rate), stated once there
        config = None if spontaneous_rate is None else CochleaConfig(spontaneous_rate=spontaneous_rate)
    except DataError as err:
        raise click.BadParameter(str(err), param_hint="'--spontaneous-rate'") from None
    info = encode_files(list(inputs), output, labels=labels, cochlea=cochlea, config=config)
    click.echo(f"{info['path']}: {info['files']} files, {info['spikes']} spikes ({cochlea} cochlea, {info['seconds']:.1f} s)")
