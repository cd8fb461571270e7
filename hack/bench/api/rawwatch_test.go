package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
)

// TestRawWatchCounts counts the events of a protobuf stream (length-prefixed frames) and of a
// JSON stream (one event per line) without decoding them.
func TestRawWatchCounts(t *testing.T) {
	var proto bytes.Buffer
	for _, frame := range []string{"k8s\x00one", "", "k8s\x00three\nwith a newline"} {
		var header [4]byte
		binary.BigEndian.PutUint32(header[:], uint32(len(frame)))
		proto.Write(header[:])
		proto.WriteString(frame)
	}
	json := `{"type":"ADDED","object":{"a":"b\nc"}}` + "\n" + `{"type":"MODIFIED","object":{}}` + "\n"
	for _, c := range []struct {
		mediaType string
		body      []byte
		want      int64
	}{
		{runtime.ContentTypeProtobuf, proto.Bytes(), 3},
		{runtime.ContentTypeJSON, []byte(json), 2},
	} {
		s := &rawWatchers{}
		w := &rawWatcher{body: io.NopCloser(bytes.NewReader(c.body))}
		s.count(context.Background(), w, c.mediaType)
		if got := w.got.Load(); got != c.want || s.received.Load() != c.want || !w.ended.Load() {
			t.Errorf("%s: %d events (%d received, ended %v), want %d", c.mediaType, got, s.received.Load(), w.ended.Load(), c.want)
		}
	}
}
