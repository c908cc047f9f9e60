"""The ``pys3local`` command line: serve, config, keys, obscure, cache, lifecycle."""

from __future__ import annotations

import sys

import click

from pys3local import __version__
from pys3local.cli.cache_cmd import cache
from pys3local.cli.config_cmd import config, obscure
from pys3local.cli.keys_cmd import keys
from pys3local.cli.lifecycle_cmd import lifecycle
from pys3local.cli.serve import serve
from pys3local.cli.tui_cmd import tui


class OneLineErrorGroup(click.Group):
    """A click group whose usage errors are one line (``Error: ...``), exit code 2."""

    def main(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
        try:
            result = super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[arg-type]
        except click.UsageError as exc:
            click.echo(f"Error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:  # a declined confirmation, or Ctrl-C at a prompt
            click.echo("Aborted!", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            sys.exit(130)
        # Without standalone mode click returns ctx.exit()'s code instead of exiting.
        sys.exit(result if isinstance(result, int) else 0)


@click.group(
    cls=OneLineErrorGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="pys3local")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Local S3-compatible server for backup software.

    Without a command, on a terminal, it opens the admin console (pys3local tui).
    """
    if ctx.invoked_subcommand is not None:
        return
    if sys.stdin.isatty() and sys.stdout.isatty():
        ctx.invoke(tui)
    else:
        click.echo(ctx.get_help())


main.add_command(serve)
main.add_command(config)
main.add_command(obscure)
main.add_command(cache)
main.add_command(tui)
main.add_command(keys)
main.add_command(lifecycle)
