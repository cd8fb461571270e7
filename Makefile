# Ferrite build entry points. Area-specific targets live in hack/make/*.mk.
SHELL := /usr/bin/env bash
GO ?= go
BIN := $(CURDIR)/bin
export GOFLAGS ?=

.PHONY: all build run test generate verify lint clean e2e
all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

run: build
	$(BIN)/ferrite-apiserver --data-dir $(CURDIR)/.ferrite

# Unit and integration tests (real apiserver on embedded etcd, in process).
test:
	$(GO) test -count=1 -timeout 15m ./...

generate:
	hack/update-codegen.sh

verify:
	hack/verify-codegen.sh

lint:
	hack/lint.sh

clean:
	rm -rf $(BIN) _output

include $(wildcard hack/make/*.mk)
