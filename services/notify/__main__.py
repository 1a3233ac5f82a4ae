"""`python -m services.notify`: run the notify service."""

from services.notify.app import build_spec
from services.runtime.service import run

if __name__ == "__main__":
    run(build_spec())
