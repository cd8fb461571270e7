package listencode

import (
	"encoding/json"
	"io"
	"reflect"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// jsonFormat writes lists as Kubernetes' JSON serializer streams them: kind, apiVersion,
// metadata, then the items, each as encoding/json writes it, and a newline.
type jsonFormat struct{}

// isList checks the JSON tags as Kubernetes' streaming encoder checks them; a list with a
// marshaller of its own is left to the serializer.
func (jsonFormat) isList(t reflect.Type) bool {
	typeMetaTag, tagged := t.Field(0).Tag.Lookup("json")
	return t.Field(0).Anonymous && tagged && (typeMetaTag == "" || typeMetaTag == ",inline") &&
		t.Field(1).Tag.Get("json") == "metadata,omitempty" &&
		t.Field(2).Tag.Get("json") == "items" &&
		!reflect.PointerTo(t).Implements(reflect.TypeFor[json.Marshaler]())
}

// cacheable: an item's JSON encoding includes its apiVersion and kind, which objects in lists
// leave empty; an item that sets them is encoded every time.
func (jsonFormat) cacheable(item any) bool {
	return item.(runtime.Object).GetObjectKind().GroupVersionKind().Empty()
}

// encodeItem encodes item as the streaming encoder does (json.Marshal's bytes).
func (jsonFormat) encodeItem(item any) ([]byte, error) { return json.Marshal(item) }

// writeList writes the list object, with its kind and apiVersion as they are.
func (jsonFormat) writeList(w io.Writer, typeMeta metav1.TypeMeta, listMeta *metav1.ListMeta, items [][]byte) error {
	// The brace on its own: Kubernetes' response writer decides on gzip after the first
	// 128 KiB only when the first write is as short as a streaming encoder's.
	if _, err := w.Write([]byte("{")); err != nil {
		return err
	}
	var buf []byte
	for _, field := range [][2]string{{"kind", typeMeta.Kind}, {"apiVersion", typeMeta.APIVersion}} {
		if field[1] == "" {
			continue
		}
		value, err := json.Marshal(field[1])
		if err != nil {
			return err
		}
		buf = append(append(append(buf, `"`+field[0]+`":`...), value...), ',')
	}
	meta, err := json.Marshal(*listMeta)
	if err != nil {
		return err
	}
	buf = append(append(append(buf, `"metadata":`...), meta...), `,"items":`...)
	if items == nil {
		_, err := w.Write(append(buf, "null}\n"...))
		return err
	}
	if _, err := w.Write(append(buf, '[')); err != nil {
		return err
	}
	for i, b := range items {
		if i > 0 {
			if _, err := w.Write([]byte{','}); err != nil {
				return err
			}
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	_, err = w.Write([]byte("]}\n"))
	return err
}
