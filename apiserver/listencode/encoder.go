package listencode

import (
	"fmt"
	"io"
	"math/bits"
	"reflect"
	"slices"
	"sync"

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

// Encoder is the protobuf serializer of a negotiated serializer, except that lists of objects
// are written with their items' encodings from a Cache. Everything else, and lists it does not
// recognise, goes to the serializer it wraps. Its Identifier is that serializer's: the bytes
// are the same.
type Encoder struct {
	runtime.Serializer
	cache *Cache
}

// NewEncoder wraps the protobuf serializer s.
func NewEncoder(s runtime.Serializer, cache *Cache) *Encoder {
	return &Encoder{Serializer: s, cache: cache}
}

// Encode writes obj to w.
func (e *Encoder) Encode(obj runtime.Object, w io.Writer) error {
	if done, err := e.encodeList(obj, w); done {
		return err
	}
	return e.Serializer.Encode(obj, w)
}

// EncodeWithAllocator writes obj to w; the allocator serves objects other than lists.
func (e *Encoder) EncodeWithAllocator(obj runtime.Object, w io.Writer, memAlloc runtime.MemoryAllocator) error {
	if done, err := e.encodeList(obj, w); done {
		return err
	}
	if inner, ok := e.Serializer.(runtime.EncoderWithAllocator); ok {
		return inner.EncodeWithAllocator(obj, w, memAlloc)
	}
	return e.Serializer.Encode(obj, w)
}

// encodeList writes obj if it is a list of the form generated lists have; done is false when
// it is not and nothing was written.
func (e *Encoder) encodeList(obj runtime.Object, w io.Writer) (done bool, err error) {
	switch obj.(type) {
	case runtime.CacheableObject, *runtime.Unknown:
		return false, nil
	}
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.IsNil() || !isCachedList(v.Type().Elem()) {
		return false, nil
	}
	list := v.Elem()
	listMeta := list.Field(1).Addr().Interface().(*metav1.ListMeta)
	items := list.Field(2)

	encoded := make([][]byte, items.Len())
	listMetaSize := listMeta.Size()
	rawSize := 1 + varintSize(listMetaSize) + listMetaSize
	for i := range encoded {
		b, err := e.item(items.Index(i).Addr().Interface())
		if err != nil {
			return true, err
		}
		encoded[i] = b
		rawSize += 1 + varintSize(len(b)) + len(b)
	}

	kind := obj.GetObjectKind().GroupVersionKind()
	unknown := runtime.Unknown{TypeMeta: runtime.TypeMeta{APIVersion: kind.GroupVersion().String(), Kind: kind.Kind}}
	if _, err := w.Write(protobufPrefix); err != nil {
		return true, err
	}
	_, err = unknown.MarshalToWriter(w, rawSize, func(w io.Writer) (int, error) {
		header := make([]byte, 0, 1+10)
		written := 0
		write := func(tag byte, b []byte) error {
			header = appendVarint(append(header[:0], tag), len(b))
			n, err := w.Write(header)
			written += n
			if err != nil {
				return err
			}
			n, err = w.Write(b)
			written += n
			return err
		}
		meta, err := listMeta.Marshal()
		if err != nil {
			return written, err
		}
		if err := write(listMetaTag, meta); err != nil {
			return written, err
		}
		for _, b := range encoded {
			if err := write(itemsTag, b); err != nil {
				return written, err
			}
		}
		return written, nil
	})
	return true, err
}

// item returns the encoding of one item, from the cache when it has it.
func (e *Encoder) item(item any) ([]byte, error) {
	object := item.(metav1.Object)
	k, resourceVersion := key{goType: reflect.TypeOf(item), uid: string(object.GetUID())}, object.GetResourceVersion()
	// Without a UID and a resourceVersion the content is not pinned down: encode, keep nothing.
	cacheable := k.uid != "" && resourceVersion != ""
	if cacheable {
		if b, ok := e.cache.get(k, resourceVersion); ok {
			return b, nil
		}
	}
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
	if cacheable {
		e.cache.put(k, resourceVersion, b)
	}
	return b, nil
}

// cachedListTypes remembers which list types isCachedList accepted.
var cachedListTypes sync.Map // reflect.Type -> bool

// isCachedList tells whether t is a list struct as go-to-protobuf generates them, whose items
// are objects with generated marshalling: TypeMeta (not encoded), ListMeta as field 1 and
// Items as field 2, checked by their protobuf tags as Kubernetes' streaming encoder checks them.
func isCachedList(t reflect.Type) bool {
	if ok, known := cachedListTypes.Load(t); known {
		return ok.(bool)
	}
	ok := t.Kind() == reflect.Struct && t.NumField() == 3 &&
		t.Field(0).Type == reflect.TypeFor[metav1.TypeMeta]() && t.Field(0).Tag.Get("protobuf") == "" &&
		t.Field(1).Type == reflect.TypeFor[metav1.ListMeta]() && t.Field(1).Tag.Get("protobuf") == "bytes,1,opt,name=metadata" &&
		t.Field(2).Type.Kind() == reflect.Slice && t.Field(2).Tag.Get("protobuf") == "bytes,2,rep,name=items"
	if ok {
		item := reflect.PointerTo(t.Field(2).Type.Elem())
		ok = item.Implements(reflect.TypeFor[reverseMarshaller]()) && item.Implements(reflect.TypeFor[metav1.Object]())
	}
	cachedListTypes.Store(t, ok)
	return ok
}

// varintSize is the length of v as a protobuf varint.
func varintSize(v int) int { return (bits.Len64(uint64(v)|1) + 6) / 7 }

// appendVarint appends v as a protobuf varint.
func appendVarint(b []byte, v int) []byte {
	u := uint64(v)
	for u >= 0x80 {
		b = append(b, byte(u)|0x80)
		u >>= 7
	}
	return append(b, byte(u))
}

// negotiatedSerializer is a negotiated serializer whose protobuf serializer is an Encoder.
type negotiatedSerializer struct {
	runtime.NegotiatedSerializer
	infos []runtime.SerializerInfo
}

// SupportedMediaTypes returns the wrapped serializer's media types with the protobuf one's
// serializer replaced.
func (n negotiatedSerializer) SupportedMediaTypes() []runtime.SerializerInfo { return n.infos }

// Wrap returns ns with lists encoded as protobuf through cache. A nil cache returns ns.
func Wrap(ns runtime.NegotiatedSerializer, cache *Cache) runtime.NegotiatedSerializer {
	if cache == nil {
		return ns
	}
	infos := slices.Clone(ns.SupportedMediaTypes())
	for i := range infos {
		if infos[i].MediaType == runtime.ContentTypeProtobuf {
			infos[i].Serializer = NewEncoder(infos[i].Serializer, cache)
		}
	}
	return negotiatedSerializer{NegotiatedSerializer: ns, infos: infos}
}
