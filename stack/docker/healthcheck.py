"""Container healthcheck for the Python services: the image has no curl or wget.

``healthcheck.py URL`` exits 0 when GET URL answers 200; ``healthcheck.py --process NAME``
exits 0 while PID 1 is still the process whose command line contains NAME (Celery beat
serves no port).
"""
import sys
import urllib.request


def main(argv: list[str]) -> int:
    if argv[:1] == ["--process"]:
        with open("/proc/1/cmdline", "rb") as f:
            return 0 if argv[1].encode() in f.read().replace(b"\0", b" ") else 1
    try:
        with urllib.request.urlopen(argv[0], timeout=4) as response:
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"{argv[0]}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
