package dpdk

import (
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/ferrite-dev/ferrite/net/dataplane/dpdk/fastpathpb"
)

// Error is how a fast path written in Go refuses a call: a gRPC status with code c carrying an
// ErrorDetail that names the reason and the subject (e.g. the missing device).
func Error(c codes.Code, code pb.ErrorCode, subject, msg string) error {
	st, err := status.New(c, msg).WithDetails(&pb.ErrorDetail{Code: code, Subject: subject})
	if err != nil {
		return status.Error(c, msg) // only fails for a nil detail
	}
	return st.Err()
}

// NoSuchDevice is the fast path's answer to CreateInterface for a device that does not exist.
func NoSuchDevice(device string) error {
	return Error(codes.FailedPrecondition, pb.ErrorCode_ERROR_CODE_NO_SUCH_DEVICE, device, "no such device "+device)
}

// ErrorCode returns the fast path's reason for refusing a call, or ERROR_CODE_UNSPECIFIED.
func ErrorCode(err error) pb.ErrorCode {
	var se interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &se) {
		return pb.ErrorCode_ERROR_CODE_UNSPECIFIED
	}
	for _, d := range se.GRPCStatus().Details() {
		if e, ok := d.(*pb.ErrorDetail); ok {
			return e.GetCode()
		}
	}
	return pb.ErrorCode_ERROR_CODE_UNSPECIFIED
}
