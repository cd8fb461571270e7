package image

import (
	"context"
	"errors"
)

// PushFiles names what a pushed image holds: a root disk (raw or qcow2, detected by its magic)
// and/or a kernel with an optional initramfs and command line.
type PushFiles struct {
	RootDisk  string
	Kernel    string
	Initramfs string
	Cmdline   string
}

// PushOption configures Push.
type PushOption func(*pushOptions)

type pushOptions struct {
	plainHTTP bool
}

// WithPlainHTTP makes Push speak plain HTTP to the reference's registry (a local registry).
func WithPlainHTTP() PushOption {
	return func(o *pushOptions) { o.plainHTTP = true }
}

// Push builds a Ferrite image from files and pushes it to ref; it returns the manifest digest.
func Push(ctx context.Context, ref string, files PushFiles, opts ...PushOption) (digest string, err error) {
	return "", errors.New("image.Push: not implemented yet")
}
