# Ferrite build entry points. Area-specific targets live in hack/make/*.mk.
SHELL := /usr/bin/env bash
GO ?= go
BIN := $(CURDIR)/bin
DATA_DIR ?= $(CURDIR)/.ferrite
# libvirt-provider loads libvirt at run time (libvirt.org/go/libvirt's dlopen mode), so the
# project builds on machines without libvirt's headers; the provider needs libvirt0 to run.
# ceph-provider links librados and librbd (go-ceph, built for Ceph pacific, Debian bookworm's
# 16.2); hack/go-packages.sh leaves it out where their headers are missing.
GOFLAGS += -tags=libvirt_dlopen,pacific
export GOFLAGS
# The apiserver reports a Kubernetes-style version; kubectl needs a parseable one.
VERSION := v1.37.2+ferrite.$(shell git rev-parse --short HEAD 2>/dev/null || echo dev)
LDFLAGS := -X k8s.io/component-base/version.gitVersion=$(VERSION) \
	-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37 \
	-X k8s.io/component-base/version.gitCommit=$(shell git rev-parse HEAD 2>/dev/null)

.PHONY: all build build-deps run run-standalone kube-apiserver test generate verify lint clean
all: build

build:
	@echo ">> building ./cmd/... into bin/ (the first build compiles Kubernetes libraries and takes a few minutes)"
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ $$(hack/go-packages.sh ./cmd/...)

# The C libraries' headers that cgo needs for ceph-provider (installed as root on Debian; elsewhere
# `make build` leaves ceph-provider out and says so).
build-deps:
	@hack/install-packages.sh librados-dev librbd-dev

# The whole local control plane: etcd, kube-apiserver, ferrite-apiserver behind APIServices and
# the controller manager, with state under $(DATA_DIR), the web console on 127.0.0.1:8090, and
# (as root on Debian) the local MachinePool "local" running real machines under libvirt and
# QEMU. Ctrl-C stops it.
run: build-deps console build kube-apiserver kubectl
	$(GO) build -o $(BIN)/ ./hack/ferrite-local
	$(BIN)/ferrite-local --data-dir $(DATA_DIR) --bin-dir $(BIN)

# ferrite-apiserver alone on an embedded etcd: the quickest way to try the API.
run-standalone: build
	$(BIN)/ferrite-apiserver --data-dir $(DATA_DIR)-standalone

# A real kube-apiserver, kube-controller-manager and etcd built from the module proxy (slow the
# first time).
kube-apiserver:
	hack/build-kube-apiserver.sh

# Unit and integration tests (real apiserver on embedded etcd, in process), then the web console
# app's unit tests (Vitest, with Node.js and npm). As root on Debian it
# first installs what the provider and image tests use (libvirt's library, qemu-img, the guest's
# packages); elsewhere those tests skip and say why.
test:
	hack/test-deps.sh
	$(GO) test -count=1 -timeout 15m $$(hack/go-packages.sh ./...)
	hack/console-build.sh --test

generate:
	hack/update-codegen.sh

verify:
	hack/verify-codegen.sh

lint:
	hack/lint.sh

clean:
	rm -rf $(BIN) _output

include $(wildcard hack/make/*.mk)
