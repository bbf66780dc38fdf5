"""``delaysnn make-dataset``, ``encode-audio`` and ``demo``: data sets and the end-to-end demo."""

from __future__ import annotations

import click

from .common import CommaList, Finite, Workers, cli


@cli.command()
@click.option("--task", type=click.Choice(["synthetic", "spoken-digits"]), default="synthetic", show_default=True,
              help="spoken-digits: synthesized speech in SHD's layout (needs espeak-ng; made on first use).")
@click.option("--data", type=click.Path(), help="spoken-digits: data directory (default OUT/spoken-digits).")
@click.option("--out", "out_dir", type=click.Path(), default="demo-out", show_default=True, help="Where to write the demo's files.")
@click.option("--epochs", type=click.IntRange(min=1), help="Default: 10 (synthetic), 20 (spoken-digits).")
@click.option("--samples", type=click.IntRange(min=64), help="Training samples (default: 2048 synthetic, all spoken digits).")
@click.option("--seed", type=int, default=0, show_default=True)
def demo(task: str, data: str | None, out_dir: str, epochs: int | None, samples: int | None, seed: int) -> None:
    """End to end: train, quantize, export, verify, estimate.

    Trains the network with learned delays and the same network with delays fixed at 0,
    then prints both test accuracies, quantizes, exports to every target, checks parity and
    estimates costs. Exits 1, naming why, when a backend disagrees with the simulator or learned
    delays miss their bar (judged at the default epochs or more; a shorter run only reports it).

    \b
    Example:
      delaysnn demo --out demo-out
      delaysnn demo --task spoken-digits --out demo-speech
    """
    from ..app.demo import demo as run_demo
    from ..errors import DelaysnnError

    summary = run_demo(task, data, out_dir, epochs=epochs, samples=samples, seed=seed, echo=click.echo)
    click.echo("")
    click.echo(summary.table())
    if summary.failures:  # the exit status is the verdict: 1 when a claim of the table did not hold
        raise DelaysnnError(f"demo: {'; '.join(summary.failures)}")


@cli.command("make-dataset")
@click.argument("name", type=click.Choice(["spoken-digits"]))
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False), required=True,
              help="Directory to write shd_train.h5 and shd_test.h5 into (made if missing).")
@click.option("--per-class", type=click.IntRange(min=2), default=150, show_default=True,
              help="Utterances per class over both splits (20 classes; 20 % of them go to test).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--workers", type=Workers(), help="Processes (default: every core; more are capped at the cores).")
@click.option("--variants", type=CommaList(click.STRING), metavar="ID,ID,...",
              help="Only these espeak-ng voice variants (espeak-ng --voices=variant), e.g. m1,m2,f1,f3 for a small quick set.")
def make_dataset(name: str, out_dir: str, per_class: int, seed: int, workers: int | None, variants: list[str] | None) -> None:
    """Synthesize a data set in the SHD file layout (read by --task shd --data DIR).

    spoken-digits: the digits 0-9 in English and German (20 classes, SHD's label order)
    spoken by espeak-ng voices with random speed, pitch and noise, through the 700-channel
    cochlea. Test voices are never heard in training. Needs espeak-ng
    (apt-get install -y espeak-ng). Synthesized speech, not SHD.

    \b
    Example:
      delaysnn make-dataset spoken-digits -o data/spoken-digits
      delaysnn train --task shd --data data/spoken-digits -o digits.pt
    """
    from ..data.spoken_digits import make_spoken_digits

    info = make_spoken_digits(out_dir, per_class=per_class, seed=seed, workers=workers, variants=variants, echo=click.echo)
    for split, path in info["paths"].items():
        click.echo(f"{path}: {info['counts'][split]} utterances, {info['speakers'][split]} speakers "
                   f"({len(info['variants'][split])} voice variants)")
    click.echo(f"done in {info['seconds']:.1f} s (espeak-ng {info['espeak_version']}, seed {seed})")


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
