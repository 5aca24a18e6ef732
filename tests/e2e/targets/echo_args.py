"""Prints its arguments as JSON and exits with the status given by --exit N."""
import json
import sys

args = sys.argv[1:]
sys.stdout.write(json.dumps(args) + "\n")
sys.stdout.flush()
status = 0
if "--exit" in args:
    status = int(args[args.index("--exit") + 1])
sys.exit(status)
