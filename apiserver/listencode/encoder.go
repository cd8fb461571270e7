package listencode

import (
	"io"
	"reflect"
	"slices"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// format is how one media type encodes lists and their items.
type format interface {
	// isList tells whether t, a struct, is a list this format writes itself.
	isList(t reflect.Type) bool
	// encodeItem encodes one item, a pointer to an element of the list's Items.
	encodeItem(item any) ([]byte, error)
	// cacheable tells whether the encoding of item depends only on its type, UID and
	// resourceVersion.
	cacheable(item any) bool
	// writeList writes the list with the given type, metadata and encoded items (nil when
	// the list's Items are nil).
	writeList(w io.Writer, typeMeta metav1.TypeMeta, listMeta *metav1.ListMeta, items [][]byte) error
}

// Encoder is the serializer of one media type of a negotiated serializer, except that lists
// of objects are written with their items' encodings from a Cache. Everything else, and lists
// it does not recognise, goes to the serializer it wraps. Its Identifier is that
// serializer's: the bytes are the same.
type Encoder struct {
	runtime.Serializer
	format    format
	formatID  byte
	cache     *Cache
	listTypes sync.Map // reflect.Type -> bool: whether format.isList
}

// NewProtobufEncoder wraps Kubernetes' protobuf serializer s.
func NewProtobufEncoder(s runtime.Serializer, cache *Cache) *Encoder {
	return &Encoder{Serializer: s, format: protobufFormat{}, formatID: 'p', cache: cache}
}

// NewJSONEncoder wraps Kubernetes' JSON serializer s (the compact one, which streams lists).
func NewJSONEncoder(s runtime.Serializer, cache *Cache) *Encoder {
	return &Encoder{Serializer: s, format: jsonFormat{}, formatID: 'j', cache: cache}
}

// Cache returns the cache of the encoder's items.
func (e *Encoder) Cache() *Cache { return e.cache }

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
	if v.Kind() != reflect.Pointer || v.IsNil() || !e.isList(v.Type().Elem()) {
		return false, nil
	}
	list := v.Elem()
	items := list.Field(2)
	var encoded [][]byte // nil for nil Items, which JSON writes as null
	if !items.IsNil() {
		encoded = make([][]byte, items.Len())
	}
	for i := range encoded {
		if encoded[i], err = e.item(items.Index(i).Addr().Interface()); err != nil {
			return true, err
		}
	}
	typeMeta := list.Field(0).Interface().(metav1.TypeMeta)
	return true, e.format.writeList(w, typeMeta, list.Field(1).Addr().Interface().(*metav1.ListMeta), encoded)
}

// item returns the encoding of one item, from the cache when it has it.
func (e *Encoder) item(item any) ([]byte, error) {
	object := item.(metav1.Object)
	k, resourceVersion := key{goType: reflect.TypeOf(item), format: e.formatID, uid: string(object.GetUID())}, object.GetResourceVersion()
	// Without a UID and a resourceVersion the content is not pinned down: encode, keep nothing.
	cacheable := k.uid != "" && resourceVersion != "" && e.format.cacheable(item)
	if cacheable {
		if b, ok := e.cache.get(k, resourceVersion); ok {
			return b, nil
		}
	}
	b, err := e.format.encodeItem(item)
	if err != nil {
		return nil, err
	}
	if cacheable {
		e.cache.put(k, resourceVersion, b)
	}
	return b, nil
}

// isList tells whether t is a list struct as Kubernetes' generators write them: TypeMeta,
// ListMeta and Items, whose elements are objects, with the tags the format checks.
func (e *Encoder) isList(t reflect.Type) bool {
	if ok, known := e.listTypes.Load(t); known {
		return ok.(bool)
	}
	ok := t.Kind() == reflect.Struct && t.NumField() == 3 &&
		t.Field(0).Type == reflect.TypeFor[metav1.TypeMeta]() &&
		t.Field(1).Type == reflect.TypeFor[metav1.ListMeta]() &&
		t.Field(2).Type.Kind() == reflect.Slice &&
		reflect.PointerTo(t.Field(2).Type.Elem()).Implements(reflect.TypeFor[metav1.Object]()) &&
		e.format.isList(t)
	e.listTypes.Store(t, ok)
	return ok
}

// negotiatedSerializer is a negotiated serializer whose protobuf and JSON serializers are
// Encoders.
type negotiatedSerializer struct {
	runtime.NegotiatedSerializer
	infos []runtime.SerializerInfo
}

// SupportedMediaTypes returns the wrapped serializer's media types with the protobuf and JSON
// serializers replaced.
func (n negotiatedSerializer) SupportedMediaTypes() []runtime.SerializerInfo { return n.infos }

// Wrap returns ns with lists encoded as protobuf and as JSON through cache. Pretty-printed
// JSON, YAML and CBOR are left as they are. A nil cache returns ns.
func Wrap(ns runtime.NegotiatedSerializer, cache *Cache) runtime.NegotiatedSerializer {
	if cache == nil {
		return ns
	}
	infos := slices.Clone(ns.SupportedMediaTypes())
	for i := range infos {
		switch infos[i].MediaType {
		case runtime.ContentTypeProtobuf:
			infos[i].Serializer = NewProtobufEncoder(infos[i].Serializer, cache)
		case runtime.ContentTypeJSON:
			infos[i].Serializer = NewJSONEncoder(infos[i].Serializer, cache)
		}
	}
	return negotiatedSerializer{NegotiatedSerializer: ns, infos: infos}
}
