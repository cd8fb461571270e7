package network

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/storage"
)

// writeRecord is what the storage learnt about the last etcd write of one create request.
type writeRecord struct {
	attempted bool
	err       error
}

type writeRecordKey struct{}

// withWriteRecord gives a create request a place to record its etcd write in.
func withWriteRecord(ctx context.Context) context.Context {
	return context.WithValue(ctx, writeRecordKey{}, &writeRecord{})
}

// takeWriteRecord returns the record of the request's last write and clears it: a create
// with a generated name tries again under another name after AlreadyExists, each try with
// its own VNI claim.
func takeWriteRecord(ctx context.Context) writeRecord {
	record, ok := ctx.Value(writeRecordKey{}).(*writeRecord)
	if !ok {
		return writeRecord{}
	}
	out := *record
	*record = writeRecord{}
	return out
}

// nothingStored reports whether a failed create certainly left nothing in etcd: its write was
// never sent (refused by validation or admission), or etcd refused it because the name was
// taken. Any other failure of the write (a lost connection, a timeout, a leader change) leaves
// the outcome open: the write may still commit after the apiserver has answered, even after a
// read has found nothing.
func nothingStored(record writeRecord) bool {
	return !record.attempted || storage.IsExist(record.err)
}

// recordingStorage passes every call to the storage of networks and records the outcome of
// each create in the request's writeRecord.
type recordingStorage struct {
	storage.Interface
}

// Create writes obj and records the outcome.
func (s recordingStorage) Create(ctx context.Context, key string, obj, out runtime.Object, ttl uint64) error {
	err := s.Interface.Create(ctx, key, obj, out, ttl)
	if record, ok := ctx.Value(writeRecordKey{}).(*writeRecord); ok {
		*record = writeRecord{attempted: true, err: err}
	}
	return err
}
