"""``python -m flowise_async``: the ``flowise-async`` command line."""

from flowise_async.cli import run


if __name__ == "__main__":
    run()
