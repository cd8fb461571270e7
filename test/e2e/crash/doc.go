// Package crash is an end-to-end test of durability under crashes: Machines are created
// through ferrite-apiserver while it is killed with SIGKILL and restarted, and etcd is read
// afterwards to prove that every acknowledged create is stored whole and exactly once. The
// clients and the checks are package durable's, which test/e2e/ha shares.
//
// It needs the ferrite-apiserver and etcd binaries (FERRITE_APISERVER, FERRITE_ETCD) and runs
// with the e2e build tag: `make e2e-crash`.
package crash
