// Package statusdetail builds and reads gRPC statuses that carry one typed detail message, such
// as the OUT_OF_RANGE status with a RevisionTooOld detail with which a runtime's Watch ends. The
// machine and the volume runtime share it, so their RevisionTooOld helpers differ only in their
// detail types and the list calls that resync.
package statusdetail

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
)

// Error returns a status error with code, msg and detail. When the detail cannot be attached
// (only a message that cannot be marshaled fails) the status has no detail.
func Error(code codes.Code, msg string, detail proto.Message) error {
	st, err := status.New(code, msg).WithDetails(protoadapt.MessageV1Of(detail))
	if err != nil {
		return status.Error(code, msg)
	}
	return st.Err()
}

// As returns the detail of type D of err when err is a status with code that carries one.
func As[D proto.Message](err error, code codes.Code) (D, bool) {
	var zero D
	var se interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &se) {
		return zero, false
	}
	st := se.GRPCStatus()
	if st.Code() != code {
		return zero, false
	}
	for _, d := range st.Details() {
		if detail, ok := d.(D); ok {
			return detail, true
		}
	}
	return zero, false
}

// RevisionTooOld returns the OUT_OF_RANGE status with which a runtime's Watch ends when it
// cannot continue from requested (older than oldest, or newer than current after the runtime's
// state was reset), with detail (the API's RevisionTooOld message). resync names the list calls
// that resync the caller, such as "ListMachines".
func RevisionTooOld(requested, oldest, current uint64, resync string, detail proto.Message) error {
	var msg string
	if requested > current {
		msg = fmt.Sprintf("revision %d is newer than the runtime's current revision %d (its state was reset): resync with %s", requested, current, resync)
	} else {
		msg = fmt.Sprintf("revision %d is too old: the oldest retained is %d, the current %d; resync with %s", requested, oldest, current, resync)
	}
	return Error(codes.OutOfRange, msg, detail)
}
