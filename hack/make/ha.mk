# High availability (issue 15, docs/performance.md): two ferrite-apiservers behind one
# kube-apiserver (an APIService whose Service has both as endpoints) on a three-member etcd
# with TLS. 10,000 Machine and 300 Network creates while the etcd leader and one
# ferrite-apiserver are killed with SIGKILL and restarted: nothing acknowledged is lost or
# duplicated, VNIs stay unique, clients see only retryable errors. Prints rates, errors by
# kind and recovery times.
.PHONY: e2e-ha
e2e-ha: build kube-apiserver api-etcd
	$(GO) test -tags e2e -count=1 -v -timeout 10m ./test/e2e/ha/...
