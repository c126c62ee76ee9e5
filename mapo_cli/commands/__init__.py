"""One module per `mapo` subcommand; each parses options and calls library code."""
