// Package standalone provides what ferrite-apiserver needs to run without a Kubernetes control
// plane: an embedded etcd, a private certificate authority with serving and admin
// certificates, and an admin kubeconfig.
package standalone
