// Package v1alpha1 is the machine runtime interface: the MachineRuntime gRPC service that machine
// providers serve on a unix socket and the machinepoollet calls. api.proto defines it and
// documents every call; api.pb.go and api_grpc.pb.go are generated from it by
// hack/update-runtime-proto.sh ('make generate'). This file is the only hand-written one: the
// status a Watch ends with when it cannot continue.
package v1alpha1

import (
	"google.golang.org/grpc/codes"

	"github.com/ferrite-dev/ferrite/poollet/runtime/statusdetail"
)

// NewRevisionTooOldError returns the status with which Watch ends when it cannot continue from
// requested: OUT_OF_RANGE with a RevisionTooOld detail. oldest is the oldest revision the provider
// can continue from, current its latest.
func NewRevisionTooOldError(requested, oldest, current uint64) error {
	return statusdetail.RevisionTooOld(requested, oldest, current, "ListMachines", &RevisionTooOld{
		RequestedRevision: requested,
		OldestRevision:    oldest,
		CurrentRevision:   current,
	})
}

// AsRevisionTooOld returns the RevisionTooOld detail of err when err is the status with which Watch
// ends when it cannot continue: the caller must resync with ListMachines.
func AsRevisionTooOld(err error) (*RevisionTooOld, bool) {
	return statusdetail.As[*RevisionTooOld](err, codes.OutOfRange)
}
