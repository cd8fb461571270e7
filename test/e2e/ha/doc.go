// Package ha is an end-to-end test of Ferrite's API in the shape of a production region: two
// ferrite-apiservers behind one kube-apiserver (an APIService whose Service has both as
// endpoints) on a three-member etcd cluster with TLS between members and to clients. While
// 10,000 Machines and a few hundred Networks are created, the etcd leader and one
// ferrite-apiserver are killed with SIGKILL and restarted. Afterwards it checks through the
// API and in etcd that every acknowledged create is stored exactly once, that the Networks'
// VNIs are unique across both apiservers, and that clients saw only errors that ask for a
// retry; it prints create rates before, during and after the kills, the errors by kind and
// the recovery times.
//
// It needs bin/etcd, bin/kube-apiserver, bin/kube-controller-manager and
// bin/ferrite-apiserver and runs with the e2e build tag: `make e2e-ha`.
package ha
