// Package watchstream reads a watch of Ferrite objects event by event with protobuf on the
// wire. Each event's type is decoded, its object only when asked: a benchmark's watchers
// share the machine's CPUs with the apiserver, while real watchers run elsewhere, so they
// should cost this machine as little as possible. The API benchmark (hack/bench/api) and the
// Machine benchmark (hack/bench/machines) share it.
package watchstream

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/streaming"
	"k8s.io/client-go/rest"

	"github.com/ferrite-dev/ferrite/generated/clientset/versioned/scheme"
)

// Options say what a stream watches.
type Options struct {
	// Namespace is the namespace watched, "" for every namespace.
	Namespace string
	// ResourceVersion is where the watch starts.
	ResourceVersion string
	// FieldSelector and LabelSelector select the objects, as in metav1.ListOptions.
	FieldSelector, LabelSelector string
}

// Stream is one open watch.
type Stream struct {
	decoder streaming.Decoder
}

// Open watches resource (a plural such as "machines") of client's group version, for
// example versioned.Interface.ComputeV1alpha1().RESTClient().
func Open(ctx context.Context, client rest.Interface, resource string, o Options) (*Stream, error) {
	info, ok := runtime.SerializerInfoForMediaType(scheme.Codecs.SupportedMediaTypes(), runtime.ContentTypeProtobuf)
	if !ok || info.StreamSerializer == nil {
		return nil, fmt.Errorf("no protobuf stream serializer")
	}
	req := client.Get().Namespace(o.Namespace).Resource(resource).
		Param("watch", "true").Param("resourceVersion", o.ResourceVersion).
		SetHeader("Accept", runtime.ContentTypeProtobuf+";stream=watch")
	if o.FieldSelector != "" {
		req = req.Param("fieldSelector", o.FieldSelector)
	}
	if o.LabelSelector != "" {
		req = req.Param("labelSelector", o.LabelSelector)
	}
	body, err := req.Stream(ctx)
	if err != nil {
		return nil, err
	}
	frames := info.StreamSerializer.Framer.NewFrameReader(body)
	return &Stream{decoder: streaming.NewDecoder(frames, info.StreamSerializer.Serializer)}, nil
}

// Next returns the next event with its object still encoded; it fails when the watch ends.
func (s *Stream) Next() (*metav1.WatchEvent, error) {
	event := &metav1.WatchEvent{}
	if _, _, err := s.decoder.Decode(nil, event); err != nil {
		return nil, err
	}
	return event, nil
}

// Close ends the watch.
func (s *Stream) Close() { s.decoder.Close() }

// Decode decodes an event's object.
func Decode(event *metav1.WatchEvent) (runtime.Object, error) {
	obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(event.Object.Raw, nil, nil)
	return obj, err
}

// ResourceVersion decodes an event's object and returns its resource version.
func ResourceVersion(event *metav1.WatchEvent) (string, error) {
	obj, err := Decode(event)
	if err != nil {
		return "", err
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return "", fmt.Errorf("watch event holds %T", obj)
	}
	return m.GetResourceVersion(), nil
}
