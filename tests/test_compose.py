"""deploy/compose.yaml, checked without a container engine (this machine has none):
every command it runs is a real `companion` command with real options, every variable
it uses is documented, and the files and secrets it names are where it says."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import click
import pytest

from cli import main
from companion.config import DEFAULT_CONFIG, load_config
from tests.support.compose_file import COMPOSE, DEPLOY, argv, compose, entrypoint, services
from tests.support.paths import REPO

ENV_EXAMPLE = DEPLOY / "companion.env.example"


def remaining(ctx: click.Context) -> list[str]:
    """A group context's unparsed arguments: the subcommand and what follows it."""
    protected = ctx._protected_args if hasattr(ctx, "_protected_args") else ctx.protected_args
    return [*protected, *ctx.args]


def resolve(args: list[str]) -> click.Context:
    """Parse ``companion <args>`` down to its leaf command without running anything:
    an unknown command, an unknown option, a bad value or a missing required option
    raises click's error."""
    command: click.Command = main
    ctx = main.make_context("companion", list(args))
    while isinstance(command, click.Group):
        rest = remaining(ctx)
        assert rest, f"`companion {' '.join(args)}`: no subcommand"
        sub = command.get_command(ctx, rest[0])
        if sub is None:
            raise click.UsageError(f"no such command {rest[0]!r}", ctx)
        command = sub
        ctx = command.make_context(rest[0], rest[1:], parent=ctx)
    return ctx


def companion_commands() -> dict[str, list[str]]:
    out = {}
    for name, service in services().items():
        line = argv(service)
        if line and line[0] == "companion":
            out[name] = line[1:]
    return out


def test_the_image_runs_companion() -> None:
    assert entrypoint() == ["companion"]
    # the replicas, the captioners, the archiver and the posters all run `companion`
    assert len(companion_commands()) >= 7


@pytest.mark.parametrize("name", sorted(companion_commands()))
def test_every_command_is_a_real_one(name: str) -> None:
    ctx = resolve(companion_commands()[name])
    assert ctx.command.callback is not None


@pytest.mark.parametrize(
    "args",
    [
        ["worker", "captoin", "--floor"],  # a typo in a subcommand
        ["serve", "--no-worker"],  # ...in an option
        ["serve", "--port", "eighty"],  # a bad value
        ["worker", "post"],  # a missing required option
        ["worker"],  # no subcommand at all
    ],
)
def test_the_check_catches_a_wrong_command(args: list[str]) -> None:
    with pytest.raises((click.UsageError, AssertionError)):
        resolve(args)


def test_the_topology_matches_the_default_config() -> None:
    config = load_config(DEFAULT_CONFIG, env={})
    commands = companion_commands()
    serve = [n for n, a in commands.items() if a[:1] == ["serve"]]
    assert len(serve) == 2
    for name in serve:
        assert "--no-workers" in commands[name]
        assert commands[name][commands[name].index("--host") + 1] == "0.0.0.0"
    captions = [a for a in commands.values() if a[:2] == ["worker", "caption"]]
    booths = {a[a.index("--booth") + 1] for a in captions if "--booth" in a}
    assert booths == {b.id for b in config.booths}
    assert any("--floor" in a for a in captions) == (config.floor is not None)
    posted = {a[a.index("--channel") + 1] for a in commands.values() if a[:2] == ["worker", "post"]}
    assert posted == {c.id for c in config.channels}
    assert [a for a in commands.values() if a[:2] == ["worker", "archive"]]


def test_redis_is_append_only_and_everything_is_checked() -> None:
    all_services = services()
    redis = all_services["redis"]
    command = " ".join(argv(redis))
    assert "--appendonly yes" in command
    assert "--appendfsync always" in command  # docs/security.md, "Faults"
    assert any(v.endswith(":/data") for v in redis["volumes"])
    assert "redis-cli" in redis["healthcheck"]["test"]
    for name, service in all_services.items():
        line = argv(service)
        if line[:2] == ["companion", "serve"]:
            test = " ".join(service["healthcheck"]["test"])
            assert "/readyz" in test or "/healthz" in test, name
            port = line[line.index("--port") + 1]
            assert f":{port}/" in test, name
        if "build" in service:
            assert service["depends_on"]["redis"]["condition"] == "service_healthy", name
            assert service["environment"]["REDIS_URL"].startswith("redis://redis:"), name
            assert service["restart"] == "unless-stopped", name


def test_nginx_gets_the_replicas_and_its_files() -> None:
    all_services = services()
    nginx = all_services["nginx"]
    mounted = {}
    for volume in nginx["volumes"]:
        source, target = volume.split(":")[:2]
        mounted[Path(target).name] = (DEPLOY / source).resolve()
    for name in ("nginx.conf", "upstream.conf", "listen.conf"):
        assert mounted[name].is_file(), name
    assert mounted["nginx.conf"] == (DEPLOY / "nginx" / "nginx.conf").resolve()
    # the includes sit beside the main file, where nginx.conf reads them
    targets = {Path(v.split(":")[1]).parent for v in nginx["volumes"] if v.endswith(".conf:ro")}
    assert len(targets) == 1
    upstreams = re.findall(
        r"^server\s+([\w.-]+):(\d+);", mounted["upstream.conf"].read_text(), re.M
    )
    replicas = {n for n, s in all_services.items() if argv(s)[:2] == ["companion", "serve"]}
    assert {host for host, _ in upstreams} == replicas
    for host, port in upstreams:
        line = argv(all_services[host])
        assert line[line.index("--port") + 1] == port
    assert "listen 80;" in mounted["listen.conf"].read_text()


def test_volumes_for_the_archive_and_the_model_cache() -> None:
    data = compose()
    assert {"archive", "model-cache", "redis-data"} <= set(data["volumes"])
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    cache = re.search(r"COMPANION_CACHE_DIR=(\S+)", dockerfile)
    assert cache
    for service in data["services"].values():
        line = argv(service)
        mounts = dict(v.split(":")[:2] for v in service.get("volumes", []))
        if line[:3] == ["companion", "worker", "caption"]:
            assert mounts.get("model-cache") == cache.group(1)
        if line[:3] == ["companion", "worker", "archive"]:
            assert mounts.get("archive") == service["environment"]["COMPANION_ARCHIVE_DIR"]


def documented_variables() -> list[re.Pattern[str]]:
    """The variables of docs/configuration.md's environment table, `<ID>` a wildcard."""
    doc = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    names = re.findall(r"^\| `([A-Z][A-Z0-9_<>]*)` \|", doc, re.M)
    assert "REDIS_URL" in names
    return [re.compile(re.escape(n).replace(re.escape("<ID>"), "[A-Z0-9_]+") + "$") for n in names]


def used_variables() -> set[str]:
    text = COMPOSE.read_text(encoding="utf-8")
    used = set(re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)", text))
    for service in services().values():
        used |= set(service.get("environment") or {})
    example = ENV_EXAMPLE.read_text(encoding="utf-8")
    used |= set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", example, re.M))
    return used


def undocumented(names: set[str]) -> set[str]:
    patterns = documented_variables()
    return {n for n in names if not any(p.match(n) for p in patterns)}


def test_every_variable_is_documented() -> None:
    used = used_variables()
    assert {"REDIS_URL", "COMPANION_ORGANIZER_TOKEN", "COMPANION_CAPTION_URL_KO"} <= used
    assert undocumented(used) == set()
    assert undocumented({"COMPANION_SORUCE_FLOOR", "REDIS_URI"}) == {
        "COMPANION_SORUCE_FLOOR",
        "REDIS_URI",
    }


def test_the_example_names_every_secret_the_default_config_needs() -> None:
    config = load_config(DEFAULT_CONFIG, env={})
    example = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.M))
    wanted = {"COMPANION_ORGANIZER_TOKEN", "COMPANION_SOURCE_FLOOR"}
    wanted |= {"COMPANION_TOKEN_" + i.upper().replace("-", "_") for i in config.interpreter_ids()}
    wanted |= {"COMPANION_SOURCE_" + b.id.upper().replace("-", "_") for b in config.booths}
    wanted |= {"COMPANION_CAPTION_URL_" + c.id.upper() for c in config.channels}
    assert wanted <= example
    # secrets ship empty
    for line in ENV_EXAMPLE.read_text().splitlines():
        if re.match(
            r"(COMPANION_TOKEN_|COMPANION_ORGANIZER|COMPANION_CAPTION_URL_|YOUTUBE_)", line
        ):
            assert line.endswith("="), line


def git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)


def test_the_env_file_is_gitignored_and_not_in_the_repository() -> None:
    if git("rev-parse", "--git-dir").returncode != 0:
        pytest.skip("not a git checkout")
    files = {s.get("env_file") for s in services().values()} - {None}
    assert files == {"companion.env"}
    for name in files:
        path = (DEPLOY / name).relative_to(REPO).as_posix()
        assert git("check-ignore", "-q", path).returncode == 0, f"{path} is not gitignored"
        assert git("ls-files", "--error-unmatch", path).returncode != 0, f"{path} is committed"
    assert git("check-ignore", "-q", "deploy/compose.yaml").returncode != 0
