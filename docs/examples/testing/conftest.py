pytest_plugins = ["flowise_async.pytest_plugin"]
