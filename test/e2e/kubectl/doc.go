// Package kubectl is the end-to-end suite of ferrite-apiserver driven by a real kubectl: the
// binary `make run` starts (bin/ferrite-apiserver, standalone on embedded etcd) and the kubectl
// hack/build-kubectl.sh builds from k8s.io/kubectl. It applies config/samples/, reads tables,
// categories, describe and explain output, exercises server-side apply and validation, and
// deletes everything again.
//
// The tests carry the build tag e2e, so `go test ./...` skips them; run them with
// `make e2e-kubectl` or `go test -tags e2e -count=1 ./test/e2e/kubectl/...`. FERRITE_APISERVER
// and KUBECTL override the binaries (default: bin/ at the repository root, built when missing).
// The suite starts its own server on a free loopback port with a temporary --data-dir, unless
// FERRITE_E2E_KUBECONFIG names the kubeconfig of a server already running (`make run`'s), which
// must not hold the samples yet.
package kubectl
