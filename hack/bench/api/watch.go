package main

import (
	"context"
	"fmt"
	"io"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/streaming"

	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned/scheme"
)

// eventStream is one watch of a namespace's Machines, read event by event with protobuf on
// the wire. Each event's type is decoded, its object only when asked: the benchmark's
// watchers share the machine's CPUs with the apiserver, while real watchers run elsewhere,
// so they should cost this machine as little as possible.
type eventStream struct {
	body    io.ReadCloser
	decoder streaming.Decoder
}

// openStream watches the Machines of namespace from resourceVersion on, through the
// generated clientset's REST client.
func openStream(ctx context.Context, client versioned.Interface, namespace, resourceVersion string) (*eventStream, error) {
	info, ok := runtime.SerializerInfoForMediaType(scheme.Codecs.SupportedMediaTypes(), runtime.ContentTypeProtobuf)
	if !ok || info.StreamSerializer == nil {
		return nil, fmt.Errorf("no protobuf stream serializer")
	}
	body, err := client.ComputeV1alpha1().RESTClient().Get().Namespace(namespace).Resource("machines").
		Param("watch", "true").Param("resourceVersion", resourceVersion).
		SetHeader("Accept", runtime.ContentTypeProtobuf+";stream=watch").Stream(ctx)
	if err != nil {
		return nil, err
	}
	frames := info.StreamSerializer.Framer.NewFrameReader(body)
	return &eventStream{body: body, decoder: streaming.NewDecoder(frames, info.StreamSerializer.Serializer)}, nil
}

// next returns the next event with its object still encoded.
func (s *eventStream) next() (*metav1.WatchEvent, error) {
	event := &metav1.WatchEvent{}
	if _, _, err := s.decoder.Decode(nil, event); err != nil {
		return nil, err
	}
	return event, nil
}

// Close ends the watch.
func (s *eventStream) Close() { s.decoder.Close() }

// resourceVersionOf decodes an event's object and returns its resource version.
func resourceVersionOf(event *metav1.WatchEvent) (string, error) {
	obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(event.Object.Raw, nil, nil)
	if err != nil {
		return "", err
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return "", fmt.Errorf("watch event holds %T", obj)
	}
	return m.GetResourceVersion(), nil
}
