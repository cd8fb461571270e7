package listencode

import (
	"encoding/binary"
	"fmt"
	"io"
	"reflect"

	"google.golang.org/protobuf/encoding/protowire"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// protobufPrefix starts every protobuf object Kubernetes serves ("k8s" and a zero byte).
var protobufPrefix = []byte{0x6b, 0x38, 0x73, 0x00}

// The wire tags of a list's fields: ListMeta is field 1 and Items field 2, both length-delimited.
const (
	listMetaTag = 1<<3 | 2
	itemsTag    = 2<<3 | 2
)

// reverseMarshaller is what the generated protobuf code of every served type implements.
type reverseMarshaller interface {
	Size() int
	MarshalToSizedBuffer([]byte) (int, error)
}

// protobufFormat writes lists as Kubernetes' protobuf serializer does: the prefix, then a
// runtime.Unknown whose raw bytes are the list message.
type protobufFormat struct{}

// isList checks the protobuf tags as Kubernetes' streaming encoder checks them: TypeMeta is
// not encoded, ListMeta is field 1 and Items field 2, and the items have generated marshalling.
func (protobufFormat) isList(t reflect.Type) bool {
	return t.Field(0).Tag.Get("protobuf") == "" &&
		t.Field(1).Tag.Get("protobuf") == "bytes,1,opt,name=metadata" &&
		t.Field(2).Tag.Get("protobuf") == "bytes,2,rep,name=items" &&
		reflect.PointerTo(t.Field(2).Type.Elem()).Implements(reflect.TypeFor[reverseMarshaller]())
}

// cacheable: an item's protobuf encoding leaves out its TypeMeta, so it depends on the
// object's content alone.
func (protobufFormat) cacheable(any) bool { return true }

// encodeItem encodes item with its generated marshalling.
func (protobufFormat) encodeItem(item any) ([]byte, error) {
	m := item.(reverseMarshaller)
	size := m.Size()
	b := make([]byte, size)
	n, err := m.MarshalToSizedBuffer(b)
	if err != nil {
		return nil, err
	}
	if n != size {
		return nil, fmt.Errorf("encoding %T: %d bytes written, %d expected", item, n, size)
	}
	return b, nil
}

// writeList writes the prefix and the Unknown holding the list, whose type is the list's
// group, version and kind as Kubernetes' serializer reads them.
func (protobufFormat) writeList(w io.Writer, typeMeta metav1.TypeMeta, listMeta *metav1.ListMeta, items [][]byte) error {
	kind := typeMeta.GroupVersionKind()
	meta, err := listMeta.Marshal()
	if err != nil {
		return err
	}
	rawSize := 1 + protowire.SizeBytes(len(meta))
	for _, b := range items {
		rawSize += 1 + protowire.SizeBytes(len(b))
	}
	// The prefix on its own: Kubernetes' response writer decides on gzip after the first
	// 128 KiB only when the first write is as short as a streaming encoder's.
	if _, err := w.Write(protobufPrefix); err != nil {
		return err
	}
	unknown := runtime.Unknown{TypeMeta: runtime.TypeMeta{APIVersion: kind.GroupVersion().String(), Kind: kind.Kind}}
	_, err = unknown.MarshalToWriter(w, rawSize, func(w io.Writer) (int, error) {
		header := make([]byte, 0, 1+10)
		written := 0
		write := func(tag byte, b []byte) error {
			header = binary.AppendUvarint(append(header[:0], tag), uint64(len(b)))
			n, err := w.Write(header)
			written += n
			if err != nil {
				return err
			}
			n, err = w.Write(b)
			written += n
			return err
		}
		if err := write(listMetaTag, meta); err != nil {
			return written, err
		}
		for _, b := range items {
			if err := write(itemsTag, b); err != nil {
				return written, err
			}
		}
		return written, nil
	})
	return err
}
