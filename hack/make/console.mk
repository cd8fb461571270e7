# The web console (docs/console.md): the single-page app in console/app, built with the
# machine's Node.js and npm from the npm registry and embedded into bin/ferrite-console.
.PHONY: console console-test e2e-console

console:
	hack/console-build.sh

# The app's unit tests (Vitest).
console-test:
	hack/console-build.sh --test

# The console in Debian's Chromium (headless, driven through chromedp) against `make run`'s
# control plane with its local pool: log in, forms, a machine to Running, its serial console,
# power, delete, a read-only user, a live list of 1,000 machines. Screenshots of every step go
# to _output/e2e-console. Needs root on Debian; installs Chromium, libvirt and QEMU when
# missing.
e2e-console: build-deps console build kube-apiserver kubectl
	$(GO) test -tags e2e -count=1 -v -timeout 30m ./test/e2e/console/...
