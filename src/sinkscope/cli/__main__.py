"""`python -m sinkscope.cli` runs the command-line app (the same as the `sinkscope` command)."""

from sinkscope.cli import main

main()
