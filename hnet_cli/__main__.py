from hnet_cli.cli import run

run()
