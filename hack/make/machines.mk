# Machines that really run (docs: test/e2e/machines/main_test.go): the control plane of `make run`
# with the local pool (local OCI registry, libvirtd and QEMU, libvirt-provider, machinepoollet),
# driven through kubectl, kubectl-ferrite and virsh. Installs libvirt and QEMU when missing (root
# on Debian); elsewhere the suite says why and skips.
.PHONY: e2e-machines guest-image
e2e-machines: build kube-apiserver kubectl
	$(GO) test -tags e2e -count=1 -v -timeout 40m ./test/e2e/machines/...

# The test guest (kernel + busybox initramfs + small root disk) in .ferrite/guest, built once.
guest-image:
	hack/guest-image.sh
