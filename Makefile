# One entry point per chore; each is a script in scripts/ so CI and people run the same thing.
.PHONY: build-dev format lint test all

build-dev:  ## build and install amphicorn into the current Python, editable
	pip install -e .

format:
	bash scripts/format.sh

lint:
	bash scripts/lint.sh

test:
	bash scripts/test.sh

all: format test
