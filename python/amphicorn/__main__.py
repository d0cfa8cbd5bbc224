"""``python -m amphicorn``: the same CLI as the ``amphicorn`` command."""

from amphicorn.cli import main

if __name__ == "__main__":
    main()
