"""``pys3local lifecycle run``: apply the buckets' lifecycle rules once, now.

The server does the same every ``--lifecycle-interval``; this runs one sweep of a
local data directory at once (alongside a running server, which it waits for if it
is sweeping), printing each version it removed, object it expired, upload it aborted
and protected version it kept. Every failure is one ``Error: ...`` line and a
non-zero exit code.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path

import click

from pys3local.errors import S3Error
from pys3local.providers.lifecycle import LifecycleAction, LifecycleReport
from pys3local.providers.local import LocalStorageProvider


@click.group()
def lifecycle() -> None:
    """Bucket lifecycle rules (local backend)."""


@lifecycle.command("run")
@click.option(
    "--path",
    required=True,
    type=click.Path(path_type=Path),
    help="The data directory (serve --path).",
)
@click.option(
    "--now",
    "now_text",
    hidden=True,
    help="Apply the rules as of this ISO 8601 time instead of the clock (for tests).",
)
def run(path: Path, now_text: str | None) -> None:
    """Run one lifecycle sweep now and print what it did."""
    if not path.is_dir():
        raise click.ClickException(f"--path {path} is not a directory")
    if not (path / ".pys3local").is_dir():
        raise click.ClickException(f"--path {path} is not a pys3local data directory")
    now = _moment(now_text) if now_text is not None else None
    try:
        report = asyncio.run(_sweep(path, now))
    except (S3Error, OSError) as exc:
        raise click.ClickException(f"lifecycle sweep failed: {exc}") from None
    counts = report.counts
    click.echo(
        f"{report.buckets} bucket(s) with rules, {report.keys} key(s) looked at: "
        f"{counts.get('expired', 0)} expired, {counts.get('removed', 0)} removed, "
        f"{counts.get('aborted', 0)} upload(s) aborted, {counts.get('kept', 0)} kept (protected)"
    )


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 time", param_hint="--now") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


async def _sweep(path: Path, now: datetime | None) -> LifecycleReport:
    provider = LocalStorageProvider(path)
    await provider.open()
    try:
        report = await provider.run_lifecycle(now=now, on_action=_print_action)
    finally:
        await provider.close()
    assert report is not None  # without min_interval a sweep always runs to its end
    return report


def _print_action(action: LifecycleAction) -> None:
    where = f"{action.bucket}/{action.key}"
    rule = f"(rule {action.rule_id})"
    if action.action == "expired":
        marker = f" (delete marker {action.version_id})" if action.version_id else ""
        click.echo(f"expired  {where}{marker} {rule}")
    elif action.action == "aborted":
        click.echo(f"aborted  {where} upload {action.version_id} {rule}")
    elif action.action == "kept":
        click.echo(f"kept     {where} version {action.version_id}: protected by Object Lock")
    else:
        what = "delete marker" if action.delete_marker else "version"
        click.echo(f"removed  {where} {what} {action.version_id} {rule}")
