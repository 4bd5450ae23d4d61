"""One module per subcommand. Each exposes run(args, out) -> exit code."""
