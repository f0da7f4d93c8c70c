# dockyard.fleet — the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
HOSTS ?= 3

.PHONY: setup demo test unit integration lint sanity lab-up lab-down lab-status bench clean

setup:
	@tools/setup

lab-up: setup
	@tools/lab up --hosts $(HOSTS)

lab-down:
	@tools/lab down

lab-status:
	@tools/lab status

demo: lab-up
	@ansible-playbook playbooks/demo.yml

# The whole suite: setup, unit tests, lint gates, then integration tests that
# start the lab themselves and tear it down even when they fail.
test: setup
	@tools/test

unit: setup
	@pytest -q tests/unit

integration: setup
	@pytest -q tests/integration

lint: setup
	@tools/lint

bench: setup
	@benchmarks/run

clean: lab-down
	rm -rf $(VENV) .lab build
