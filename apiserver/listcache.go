package apiserver

import (
	"fmt"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/ferrite-dev/ferrite/apiserver/listencode"
)

// DefaultListCacheSize is the default budget of the cache of encoded LIST items: a
// generation holds the items of a LIST of about 30,000 Machines, and both together at most
// twice as much. Measured in docs/performance.md (issue 15, "Encoded LIST items").
const DefaultListCacheSize = "32Mi"

// ListCacheOptions size the cache of encoded LIST items (package listencode).
type ListCacheOptions struct {
	// Size is a quantity such as 32Mi; 0 turns the cache off.
	Size string
}

// AddFlags adds --list-cache-size to fs.
func (o *ListCacheOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Size, "list-cache-size", o.Size, "Bytes of encoded objects (protobuf and JSON) kept for LIST responses, by UID and resourceVersion (a quantity such as 32Mi; the cache holds up to twice this; 0: off). A LIST encodes only the objects that changed since they were last listed.")
}

// Validate checks --list-cache-size.
func (o *ListCacheOptions) Validate() []error {
	if _, err := o.bytes(); err != nil {
		return []error{err}
	}
	return nil
}

func (o *ListCacheOptions) bytes() (int64, error) {
	q, err := resource.ParseQuantity(o.Size)
	if err != nil || q.Sign() < 0 {
		return 0, fmt.Errorf("--list-cache-size %q: want a quantity such as 32Mi, or 0 for no cache", o.Size)
	}
	return q.Value(), nil
}

// cache returns the cache the options ask for, nil for none.
func (o *ListCacheOptions) cache() *listencode.Cache {
	n, err := o.bytes()
	if err != nil || n == 0 {
		return nil
	}
	return listencode.NewCache(int(n))
}
