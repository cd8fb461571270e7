package objectmeta_test

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ferrite-dev/ferrite/poollet/runtime/objectmeta"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
)

func TestID(t *testing.T) {
	for id, ok := range map[string]bool{"": false, "a.b_c-1": true, "a/b": false, strings.Repeat("x", objectmeta.MaxIDLength): true, strings.Repeat("x", objectmeta.MaxIDLength+1): false} {
		err := objectmeta.ID("volume_id", id)
		if (err == nil) != ok {
			t.Errorf("ID(%q) = %v, want ok=%v", id, err, ok)
		}
		if err != nil && (status.Code(err) != codes.InvalidArgument || !strings.HasPrefix(status.Convert(err).Message(), "volume_id: ")) {
			t.Errorf("ID(%q) = %v, want INVALID_ARGUMENT naming volume_id", id, err)
		}
	}
	if err := objectmeta.Labels("labels", map[string]string{"": "x"}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("Labels with an empty key = %v, want INVALID_ARGUMENT", err)
	}
}

func TestSelect(t *testing.T) {
	objects := map[string]*runtimev1alpha1.ObjectMetadata{
		"b": {Id: "b", Labels: map[string]string{"pool": "x", "tier": "1"}},
		"a": {Id: "a", Labels: map[string]string{"pool": "x"}},
		"c": {Id: "c"},
	}
	md := func(m *runtimev1alpha1.ObjectMetadata) objectmeta.Metadata { return m }
	ids := func(list []*runtimev1alpha1.ObjectMetadata) string {
		var out []string
		for _, m := range list {
			out = append(out, m.Id)
		}
		return strings.Join(out, ",")
	}
	for _, c := range []struct {
		filter *runtimev1alpha1.ObjectFilter
		want   string
	}{
		{nil, "a,b,c"},
		{&runtimev1alpha1.ObjectFilter{Id: "b"}, "b"},
		{&runtimev1alpha1.ObjectFilter{LabelSelector: map[string]string{"pool": "x"}}, "a,b"},
		{&runtimev1alpha1.ObjectFilter{Id: "a", LabelSelector: map[string]string{"tier": "1"}}, ""},
	} {
		if got := ids(objectmeta.Select(objects, c.filter, md)); got != c.want {
			t.Errorf("Select(%v) = %q, want %q", c.filter, got, c.want)
		}
	}
	if got := ids(objectmeta.Select(objects, nil, md)); got != "a,b,c" {
		t.Errorf("Select(nil filter) = %q", got)
	}
}
