"""`python -m services.events`: run the events service."""

from services.events.app import build_spec
from services.runtime.service import run

if __name__ == "__main__":
    run(build_spec())
