package apiserver_test

import (
	"bytes"
	"io"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/endpoints/handlers"
	genericapiserver "k8s.io/apiserver/pkg/server"

	"github.com/ferrite-dev/ferrite/apis/compute"
	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver"
)

// countingObject stands in for the watch cache's cachingObject: it keeps one serialization per
// encoder identifier and counts how often an encoder actually ran.
type countingObject struct {
	runtime.Object
	mu      sync.Mutex
	encoded map[runtime.Identifier][]byte
	runs    map[runtime.Identifier]int
}

func (o *countingObject) CacheEncode(id runtime.Identifier, encode func(runtime.Object, io.Writer) error, w io.Writer) error {
	o.mu.Lock()
	raw, ok := o.encoded[id]
	if !ok {
		var buf bytes.Buffer
		if err := encode(o.GetObject(), &buf); err != nil {
			o.mu.Unlock()
			return err
		}
		raw = buf.Bytes()
		o.encoded[id] = raw
		o.runs[id]++
	}
	o.mu.Unlock()
	_, err := w.Write(raw)
	return err
}

func (o *countingObject) GetObject() runtime.Object { return o.Object.DeepCopyObject() }

// noTimeout never ends a watch.
type noTimeout struct{}

func (noTimeout) TimeoutCh() (<-chan time.Time, func() bool) {
	return nil, func() bool { return false }
}

// TestWatchEventEncodedOncePerFormat serves one cached event to several watchers per media type
// through the generic apiserver's WatchServer, built as serveWatchHandler builds it from the
// serializer Ferrite's groups are installed with. The watch cache wraps every event it
// dispatches in a runtime.CacheableObject; the event is encoded once per format only if
// Ferrite's encoders honour that wrapper and give every watcher the same identifier.
func TestWatchEventEncodedOncePerFormat(t *testing.T) {
	serializer := genericapiserver.NewDefaultAPIGroupInfo(compute.GroupName, apiserver.Scheme, metav1.ParameterCodec, apiserver.Codecs).NegotiatedSerializer
	machine := &compute.Machine{ObjectMeta: metav1.ObjectMeta{Name: "m", Namespace: "ns", ResourceVersion: "7", Labels: map[string]string{"app": "web"}},
		Spec: compute.MachineSpec{Image: "img", MachinePoolSelector: map[string]string{"zone": "a"}}}
	gv := computev1alpha1.SchemeGroupVersion
	const watchers = 5
	for _, mediaType := range []string{runtime.ContentTypeProtobuf, runtime.ContentTypeJSON, runtime.ContentTypeCBOR} {
		t.Run(mediaType, func(t *testing.T) {
			info, ok := runtime.SerializerInfoForMediaType(serializer.SupportedMediaTypes(), mediaType)
			if !ok || info.StreamSerializer == nil {
				t.Fatalf("no stream serializer for %s", mediaType)
			}
			event := &countingObject{Object: machine, encoded: map[runtime.Identifier][]byte{}, runs: map[runtime.Identifier]int{}}
			var bodies []string
			for range watchers {
				fake := watch.NewFakeWithChanSize(1, false)
				fake.Add(event)
				fake.Stop()
				ws := &handlers.WatchServer{
					Watching:        fake,
					Scope:           &handlers.RequestScope{Resource: gv.WithResource("machines"), Kind: gv.WithKind("Machine")},
					MediaType:       mediaType,
					Framer:          info.StreamSerializer.Framer,
					Encoder:         serializer.EncoderForVersion(runtime.UseNondeterministicEncoding(info.StreamSerializer.Serializer), gv),
					EmbeddedEncoder: serializer.EncoderForVersion(runtime.UseNondeterministicEncoding(info.Serializer), gv),
					TimeoutFactory:  noTimeout{},
				}
				rec := httptest.NewRecorder()
				ws.HandleHTTP(rec, httptest.NewRequest("GET", "/apis/compute.ferrite.dev/v1alpha1/machines?watch=true", nil))
				if rec.Body.Len() == 0 {
					t.Fatalf("watcher got no bytes")
				}
				bodies = append(bodies, rec.Body.String())
			}
			if len(event.runs) != 1 {
				t.Errorf("%d watchers encoded the event under %d identifiers, want 1: %v", watchers, len(event.runs), keys(event.runs))
			}
			for id, n := range event.runs {
				if id == "" || n != 1 {
					t.Errorf("identifier %q encoded %d times", id, n)
				}
			}
			for i, b := range bodies {
				if b != bodies[0] {
					t.Errorf("watcher %d got other bytes than watcher 0", i)
				}
			}
		})
	}
}

func keys(m map[runtime.Identifier]int) []runtime.Identifier {
	var out []runtime.Identifier
	for k := range m {
		out = append(out, k)
	}
	return out
}
