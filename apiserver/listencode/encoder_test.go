package listencode_test

import (
	"bytes"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/api/apitesting/fuzzer"
	"k8s.io/apimachinery/pkg/api/meta"
	metafuzzer "k8s.io/apimachinery/pkg/apis/meta/fuzzer"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"sigs.k8s.io/randfill"

	computefuzzer "github.com/ferrite-dev/ferrite/apis/compute/fuzzer"
	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	corefuzzer "github.com/ferrite-dev/ferrite/apis/core/fuzzer"
	ipamfuzzer "github.com/ferrite-dev/ferrite/apis/ipam/fuzzer"
	networkingfuzzer "github.com/ferrite-dev/ferrite/apis/networking/fuzzer"
	storagefuzzer "github.com/ferrite-dev/ferrite/apis/storage/fuzzer"
	"github.com/ferrite-dev/ferrite/apiserver"
	"github.com/ferrite-dev/ferrite/apiserver/listencode"
)

// served is the negotiated serializer of a Ferrite group as the generic apiserver builds it
// (with the streaming list encoders and CBOR).
var served = genericapiserver.NewDefaultAPIGroupInfo("compute.ferrite.dev", apiserver.Scheme, metav1.ParameterCodec, apiserver.Codecs).NegotiatedSerializer

// serializerFor returns the server's serializer of a media type.
func serializerFor(t *testing.T, mediaType string) runtime.Serializer {
	t.Helper()
	info, ok := runtime.SerializerInfoForMediaType(served.SupportedMediaTypes(), mediaType)
	if !ok {
		t.Fatalf("no %s serializer", mediaType)
	}
	return info.Serializer
}

// protobufSerializer returns the server's protobuf serializer.
func protobufSerializer(t *testing.T) runtime.Serializer {
	return serializerFor(t, runtime.ContentTypeProtobuf)
}

// format is a media type with its Encoder.
type format struct {
	mediaType string
	wrap      func(runtime.Serializer, *listencode.Cache) *listencode.Encoder
}

var formats = []format{
	{runtime.ContentTypeProtobuf, listencode.NewProtobufEncoder},
	{runtime.ContentTypeJSON, listencode.NewJSONEncoder},
}

// encode encodes obj in the served version of its group with s, as a LIST response is encoded.
func encode(t *testing.T, s runtime.Encoder, obj runtime.Object) []byte {
	t.Helper()
	gvks, _, err := apiserver.Scheme.ObjectKinds(obj)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	gv := gvks[0].GroupVersion()
	gv.Version = "v1alpha1"
	if err := apiserver.Codecs.EncoderForVersion(s, gv).Encode(obj, &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestListsEncodeAsKubernetesDoes encodes fuzzed lists of every kind of every Ferrite group
// through an Encoder of each format, twice (the items encoded, then from the cache), and
// compares the bytes with what Kubernetes' serializer of the media type writes for the same
// list.
func TestListsEncodeAsKubernetesDoes(t *testing.T) {
	funcs := fuzzer.MergeFuzzerFuncs(metafuzzer.Funcs, computefuzzer.Funcs, corefuzzer.Funcs, ipamfuzzer.Funcs,
		networkingfuzzer.Funcs, storagefuzzer.Funcs)
	f := fuzzer.FuzzerFor(funcs, rand.NewSource(15), apiserver.Codecs).NilChance(0.2).NumElements(1, 6)
	for _, format := range formats {
		t.Run(format.mediaType, func(t *testing.T) {
			inner := serializerFor(t, format.mediaType)
			testListsEncodeAsKubernetesDoes(t, f, inner, format.wrap(inner, listencode.NewCache(1<<20)))
		})
	}
}

func testListsEncodeAsKubernetesDoes(t *testing.T, f *randfill.Filler, inner runtime.Serializer, encoder *listencode.Encoder) {
	lists := 0
	for gvk := range apiserver.Scheme.AllKnownTypes() {
		if gvk.Version != runtime.APIVersionInternal || !strings.HasSuffix(gvk.Kind, "List") || !strings.HasSuffix(gvk.Group, ".ferrite.dev") {
			continue
		}
		lists++
		t.Run(gvk.Group+"/"+gvk.Kind, func(t *testing.T) {
			for round := range 10 {
				list, err := apiserver.Scheme.New(gvk)
				if err != nil {
					t.Fatal(err)
				}
				f.Fill(list)
				i := 0
				if err := meta.EachListItem(list, func(item runtime.Object) error {
					object, err := meta.Accessor(item)
					if err != nil {
						return err
					}
					// Unique in the cache: a round's objects are new ones.
					object.SetUID(types.UID(fmt.Sprintf("%s-%d-%d", gvk.Kind, round, i)))
					object.SetResourceVersion(fmt.Sprint(10 + i))
					i++
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				want := encode(t, inner, list)
				before := encoder.Cache().Stats()
				for pass := range 2 {
					if got := encode(t, encoder, list); !bytes.Equal(got, want) {
						t.Fatalf("round %d pass %d: %d bytes, Kubernetes writes %d:\n%q\n%q", round, pass, len(got), len(want), got, want)
					}
				}
				if after := encoder.Cache().Stats(); after.Hits-before.Hits != uint64(i) || after.Misses-before.Misses != uint64(i) {
					t.Fatalf("round %d: %d items gave %d hits and %d misses, want one each", round, i,
						after.Hits-before.Hits, after.Misses-before.Misses)
				}
			}
		})
	}
	if lists < 15 {
		t.Fatalf("only %d list kinds found", lists)
	}
}

// machineList is a list of n Machines of one shape.
func machineList(n int, resourceVersion string) *computev1alpha1.MachineList {
	list := &computev1alpha1.MachineList{ListMeta: metav1.ListMeta{ResourceVersion: "99"}}
	for i := range n {
		list.Items = append(list.Items, computev1alpha1.Machine{ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("m-%d", i), Namespace: "a", UID: types.UID(fmt.Sprintf("uid-%d", i)),
			ResourceVersion: resourceVersion, Labels: map[string]string{"rv": resourceVersion},
		}})
	}
	return list
}

// decodeMachines decodes a protobuf MachineList.
func decodeMachines(t *testing.T, b []byte) *computev1alpha1.MachineList {
	t.Helper()
	list := &computev1alpha1.MachineList{}
	if _, _, err := apiserver.Codecs.UniversalDeserializer().Decode(b, nil, list); err != nil {
		t.Fatal(err)
	}
	return list
}

// TestNewVersionsAreEncodedAgain: an object at a new resourceVersion is encoded from the
// object, not taken from the cache, and replaces the older encoding; items without a UID or
// resourceVersion are never cached.
func TestNewVersionsAreEncodedAgain(t *testing.T) {
	cache := listencode.NewCache(1 << 20)
	encoder := listencode.NewProtobufEncoder(protobufSerializer(t), cache)
	encode(t, encoder, machineList(3, "5"))
	list := decodeMachines(t, encode(t, encoder, machineList(3, "6")))
	for _, m := range list.Items {
		if m.Labels["rv"] != "6" || m.ResourceVersion != "6" {
			t.Fatalf("%s: labels %v at resourceVersion %s, want those of 6", m.Name, m.Labels, m.ResourceVersion)
		}
	}
	if s := cache.Stats(); s.Hits != 0 || s.Misses != 6 {
		t.Fatalf("stats %+v, want 6 misses", s)
	}

	unpinned := machineList(2, "")
	encode(t, encoder, unpinned)
	unpinned.Items[0].Labels["rv"] = "changed"
	if got := decodeMachines(t, encode(t, encoder, unpinned)); got.Items[0].Labels["rv"] != "changed" {
		t.Fatalf("an item without resourceVersion came from the cache: %v", got.Items[0].Labels)
	}
	if s := cache.Stats(); s.Entries != 3 {
		t.Fatalf("%d entries, want 3: one per object (version 6 replaced 5), none for items without resourceVersion", s.Entries)
	}
}

// TestOtherObjectsPassThrough: single objects and empty lists are encoded as Kubernetes does,
// in every format.
func TestOtherObjectsPassThrough(t *testing.T) {
	for _, format := range formats {
		inner := serializerFor(t, format.mediaType)
		cache := listencode.NewCache(1 << 20)
		encoder := format.wrap(inner, cache)
		machine := &machineList(1, "3").Items[0]
		for _, obj := range []runtime.Object{machine, &computev1alpha1.MachineList{}, &metav1.Status{Status: "Failure", Code: 404}} {
			if got, want := encode(t, encoder, obj), encode(t, inner, obj); !bytes.Equal(got, want) {
				t.Fatalf("%s %T: %q, want %q", format.mediaType, obj, got, want)
			}
		}
		if s := cache.Stats(); s.Entries != 0 {
			t.Fatalf("%s: %d entries after encoding no list items", format.mediaType, s.Entries)
		}
		if encoder.Identifier() != inner.Identifier() {
			t.Fatalf("identifier %q, want the wrapped serializer's %q", encoder.Identifier(), inner.Identifier())
		}
	}
}

// TestJSONItemsWithKindAreNotCached: an item that carries its apiVersion and kind is encoded
// with them, every time, and never cached (lists from the watch cache leave them empty).
func TestJSONItemsWithKindAreNotCached(t *testing.T) {
	inner := serializerFor(t, runtime.ContentTypeJSON)
	cache := listencode.NewCache(1 << 20)
	encoder := listencode.NewJSONEncoder(inner, cache)
	list := machineList(2, "4")
	list.Items[1].APIVersion, list.Items[1].Kind = "compute.ferrite.dev/v1alpha1", "Machine"
	for range 2 {
		if got, want := encode(t, encoder, list), encode(t, inner, list); !bytes.Equal(got, want) {
			t.Fatalf("%q, want %q", got, want)
		}
	}
	if s := cache.Stats(); s.Entries != 1 || s.Hits != 1 {
		t.Fatalf("stats %+v, want one entry and one hit (the item without kind)", s)
	}
}

// TestCacheIsBounded lists more than the budget holds: memory stays within two generations,
// and a list that fits is served from the cache when listed again.
func TestCacheIsBounded(t *testing.T) {
	small := machineList(1, "1")
	itemSize := len(encode(t, protobufSerializer(t), small)) // about one item and the envelope
	budget := 40 * itemSize
	cache := listencode.NewCache(budget)
	encoder := listencode.NewProtobufEncoder(protobufSerializer(t), cache)
	for rv := range 20 {
		encode(t, encoder, machineList(30, fmt.Sprint(rv+1)))
		if s := cache.Stats(); s.Bytes > 2*budget {
			t.Fatalf("%d bytes held, budget %d per generation", s.Bytes, budget)
		}
	}
	before := cache.Stats()
	encode(t, encoder, machineList(30, "20"))
	if s := cache.Stats(); s.Hits-before.Hits != 30 {
		t.Fatalf("%d of 30 items of the last list came from the cache", s.Hits-before.Hits)
	}
}

// TestWrapReplacesProtobufAndJSON: YAML, CBOR and pretty JSON keep their serializers.
func TestWrapReplacesProtobufAndJSON(t *testing.T) {
	wrapped := listencode.Wrap(served, listencode.NewCache(1024))
	for i, info := range wrapped.SupportedMediaTypes() {
		original := served.SupportedMediaTypes()[i]
		_, isEncoder := info.Serializer.(*listencode.Encoder)
		wrap := info.MediaType == runtime.ContentTypeProtobuf || info.MediaType == runtime.ContentTypeJSON
		if isEncoder != wrap || (!isEncoder && info.Serializer != original.Serializer) || info.PrettySerializer != original.PrettySerializer {
			t.Fatalf("%s: serializer %T", info.MediaType, info.Serializer)
		}
	}
	if _, same := listencode.Wrap(served, nil).(serializer.CodecFactory); !same {
		t.Fatal("a nil cache must leave the serializer as it is")
	}
}

// TestPartialObjectMetadataLists: the metadata-only lists that metadata informers ask for
// (as=PartialObjectMetadataList) are written as Kubernetes writes them, in both formats,
// whether or not their items carry a kind.
func TestPartialObjectMetadataLists(t *testing.T) {
	list := &metav1.PartialObjectMetadataList{ListMeta: metav1.ListMeta{ResourceVersion: "12"}}
	list.SetGroupVersionKind(metav1.SchemeGroupVersion.WithKind("PartialObjectMetadataList"))
	for i, m := range machineList(3, "11").Items {
		item := metav1.PartialObjectMetadata{ObjectMeta: m.ObjectMeta}
		if i == 1 {
			item.SetGroupVersionKind(metav1.SchemeGroupVersion.WithKind("PartialObjectMetadata"))
		}
		list.Items = append(list.Items, item)
	}
	// JSON does not keep the item with a kind.
	cached := map[string]int{runtime.ContentTypeProtobuf: 3, runtime.ContentTypeJSON: 2}
	for _, format := range formats {
		inner := serializerFor(t, format.mediaType)
		encoder := format.wrap(inner, listencode.NewCache(1<<20))
		var want bytes.Buffer
		if err := inner.Encode(list, &want); err != nil {
			t.Fatal(err)
		}
		for pass := range 2 {
			var got bytes.Buffer
			if err := encoder.Encode(list, &got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Fatalf("%s pass %d:\n%q\nKubernetes writes\n%q", format.mediaType, pass, got.Bytes(), want.Bytes())
			}
		}
		if s := encoder.Cache().Stats(); s.Entries != cached[format.mediaType] || s.Hits != uint64(s.Entries) {
			t.Errorf("%s: stats %+v, want %d entries, each hit once", format.mediaType, s, cached[format.mediaType])
		}
	}
}

// TestConcurrentLists: LISTs served at once share the cache; with a budget small enough to
// start new generations all the time, every one is still what Kubernetes writes. Run with
// -race to check the locking.
func TestConcurrentLists(t *testing.T) {
	inner := protobufSerializer(t)
	encoder := listencode.NewProtobufEncoder(inner, listencode.NewCache(4<<10))
	lists := make([]*computev1alpha1.MachineList, 4)
	want := make([][]byte, len(lists))
	for i := range lists {
		lists[i] = machineList(20, fmt.Sprint(i%2+1))
		want[i] = encode(t, inner, lists[i])
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Go(func() {
			for round := range 50 {
				i := (g + round) % len(lists)
				// A list of its own, as each request has: encoding sets the list's kind. Its
				// items are the same objects, as the watch cache's are.
				var got bytes.Buffer
				list := &computev1alpha1.MachineList{ListMeta: lists[i].ListMeta, Items: lists[i].Items}
				err := apiserver.Codecs.EncoderForVersion(encoder, computev1alpha1.SchemeGroupVersion).Encode(list, &got)
				if err != nil || !bytes.Equal(got.Bytes(), want[i]) {
					errs <- fmt.Sprintf("goroutine %d round %d: list %d differs (%v)", g, round, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
