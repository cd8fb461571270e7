# The web console (docs/console.md): the single-page app in console/app, built with the
# machine's Node.js and npm from the npm registry, embedded into bin/ferrite-console.
.PHONY: console

console:
	hack/console-build.sh
